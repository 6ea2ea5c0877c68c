"""Password hashing with scrypt (``hashlib.scrypt``, memory-hard, in the standard library).

A stored hash names its own parameters, so they can be raised later without locking anyone out: a hash made with
weaker ones still verifies, and :func:`needs_rehash` tells the sign-in to store a new one::

    scrypt$ln=15,r=8,p=1$<salt, base64>$<derived key, base64>

``ln`` is log2 of scrypt's cost N. The default (N = 2**15, r = 8) needs 128·r·N = 32 MiB and about 0.1 s per
hash on one core: enough to make offline guessing expensive, small enough that a few sign-ins at once do not
starve an edge-sized server. Nothing here knows users, databases or HTTP.

>>> stored = hash_password("correct horse battery staple", PasswordPolicy(log2_n=14))
>>> verify_password("correct horse battery staple", stored), verify_password("Tr0ub4dor&3", stored)
(True, False)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

SCHEME = "scrypt"
SALT_BYTES = 16
KEY_BYTES = 32
MIN_LENGTH = 8
MAX_LENGTH = 1024  # a longer "password" is a denial-of-service attempt, not a secret
_FORMAT = re.compile(r"^scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$")


class WeakPasswordError(ValueError):
    """The password breaks the policy; the message says which rule, for the user to read."""


@dataclass(frozen=True)
class PasswordPolicy:
    """scrypt cost of new hashes: N = 2**log2_n, block size r, parallelism p."""

    log2_n: int = 15
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if not (10 <= self.log2_n <= 20 and 1 <= self.r <= 32 and 1 <= self.p <= 16):
            raise ValueError(f"scrypt parameters out of range: ln={self.log2_n}, r={self.r}, p={self.p}")


def check_password_rules(password: str, user_name: str = "") -> None:
    """Length 8 to 1024 characters, not the user name (NIST SP 800-63B: length over composition rules)."""
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"a password may have at most {MAX_LENGTH} characters")
    if user_name and password.strip().lower() == user_name.strip().lower():
        raise WeakPasswordError("the password must not be the user name")


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 1 << log2_n
    # maxmem must cover 128·r·N (plus slack), or OpenSSL refuses costs above its 32 MiB default.
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=KEY_BYTES,
                          maxmem=129 * r * n * p + (1 << 20))


def hash_password(password: str, policy: PasswordPolicy | None = None) -> str:
    """A new salted hash of ``password`` in the self-describing format above."""
    policy = policy or PasswordPolicy()
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, policy.log2_n, policy.r, policy.p)
    b64 = base64.b64encode
    return f"{SCHEME}$ln={policy.log2_n},r={policy.r},p={policy.p}${b64(salt).decode()}${b64(key).decode()}"


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    m = _FORMAT.match(stored or "")
    if m is None:
        return None
    try:
        log2_n, r, p = int(m[1]), int(m[2]), int(m[3])
        PasswordPolicy(log2_n, r, p)  # refuses parameters no hash of ours has (a tampered row must not hang us)
        return log2_n, r, p, base64.b64decode(m[4], validate=True), base64.b64decode(m[5], validate=True)
    except ValueError:
        return None


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` hashes to ``stored``; the comparison is constant-time. A malformed or missing
    hash verifies nothing."""
    parsed = _parse(stored)
    if parsed is None or len(password) > MAX_LENGTH:
        return False
    log2_n, r, p, salt, key = parsed
    return hmac.compare_digest(_scrypt(password, salt, log2_n, r, p), key)


def needs_rehash(stored: str, policy: PasswordPolicy | None = None) -> bool:
    """True when ``stored`` was made with weaker parameters than ``policy`` (re-hash at the next sign-in)."""
    policy = policy or PasswordPolicy()
    parsed = _parse(stored)
    if parsed is None:
        return True
    log2_n, r, p, _, _ = parsed
    return log2_n < policy.log2_n or r < policy.r or p < policy.p


_DUMMY: dict[PasswordPolicy, str] = {}


def burn_equal_time(password: str, policy: PasswordPolicy | None = None) -> None:
    """Spend the time one verification takes, for a user that does not exist: an unknown name and a wrong
    password must be indistinguishable, in the answer and in its timing."""
    policy = policy or PasswordPolicy()
    if policy not in _DUMMY:
        _DUMMY[policy] = hash_password(secrets.token_urlsafe(16), policy)
    verify_password(password, _DUMMY[policy])


def generate_password(words: int = 4) -> str:
    """A random password for demos and resets: 4 groups of 5 characters from an unambiguous alphabet (about
    99 bits)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(words))
