"""Users, roles, passwords and tokens. Tokens are random, shown once, and stored only as their sha256.

Two kinds of token: ``api`` tokens an admin issues (for scripts and the API; no expiry), and ``session`` tokens a
password sign-in makes (``server/signin.py``): they expire, and signing out or a new password revokes them.

Roles rank inspector < manager < admin; inspectors and managers see only their sites, admins all sites.
Nothing here knows HTTP: ``server/api/deps.py`` turns it into the one authorisation dependency.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, delete, false, func, select, true
from sqlalchemy.orm import Session

from server.db import ApiToken, User, utcnow
from server.passwords import PasswordPolicy, check_password_rules, hash_password

log = logging.getLogger(__name__)

Role = Literal["inspector", "manager", "admin"]
RANK: dict[str, int] = {"inspector": 1, "manager": 2, "admin": 3}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    user_id: int
    name: str
    role: str
    sites: frozenset[str]
    token_id: int | None = None
    token_kind: str = "api"
    expires_at: datetime | None = None

    @property
    def all_sites(self) -> bool:
        return self.role == "admin"

    def has_role(self, role: str) -> bool:
        return RANK.get(self.role, 0) >= RANK[role]

    def can_see(self, site: str) -> bool:
        return self.all_sites or site in self.sites

    def site_filter(self, column: Any) -> ColumnElement[bool]:
        """A WHERE clause restricting ``column`` (a site column) to what the caller may see."""
        if self.all_sites:
            return true()
        if not self.sites:
            return false()
        return column.in_(sorted(self.sites))


def create_user(session: Session, name: str, role: str, sites: list[str]) -> User:
    user = User(name=name, role=role, sites=sorted(set(sites)), created_at=utcnow())
    session.add(user)
    session.flush()
    return user


def issue_token(session: Session, user: User, label: str = "", token: str | None = None) -> str:
    """A new API token for ``user`` (random unless given); only its hash is stored."""
    token = token or secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_sha256=hash_token(token), label=label, created_at=utcnow()))
    session.flush()
    return token


def issue_session(session: Session, user: User, lifetime: timedelta,
                  label: str = "web session") -> tuple[str, datetime]:
    """A new session token for ``user`` that expires after ``lifetime``; returns it and its expiry."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    expires_at = now + lifetime
    session.add(ApiToken(user_id=user.id, token_sha256=hash_token(token), label=label, created_at=now,
                         kind="session", expires_at=expires_at))
    session.flush()
    return token, expires_at


def authenticate(session: Session, token: str) -> Principal | None:
    """The caller a token belongs to; None for an unknown, revoked or expired token."""
    digest = hash_token(token)
    row = session.scalars(select(ApiToken).where(ApiToken.token_sha256 == digest)).first()
    # The index lookup finds the candidate; the comparison itself is constant-time.
    if row is None or not hmac.compare_digest(row.token_sha256, digest):
        return None
    if row.expires_at is not None and row.expires_at <= utcnow():
        return None
    user = row.user
    return Principal(user.id, user.name, user.role, frozenset(user.sites or []), token_id=row.id,
                     token_kind=row.kind, expires_at=row.expires_at)


def still_valid(session: Session, principal: Principal) -> bool:
    """Whether the token ``principal`` signed in with still opens the API: long-lived responses (the live feed)
    re-check it, so signing out, a password reset or the session's expiry also ends them."""
    if principal.token_id is None:
        return True
    row = session.get(ApiToken, principal.token_id)
    return row is not None and (row.expires_at is None or row.expires_at > utcnow())


def revoke_session(session: Session, principal: Principal) -> bool:
    """Delete the session token ``principal`` signed in with; API tokens are left alone (an admin issued them
    for scripts: signing out of a browser must not break those). True when one was revoked."""
    if principal.token_kind != "session" or principal.token_id is None:
        return False
    result = session.execute(delete(ApiToken).where(ApiToken.id == principal.token_id, ApiToken.kind == "session"))
    return bool(getattr(result, "rowcount", 0))


def purge_expired_sessions(session: Session) -> int:
    """Delete session tokens past their expiry (they already authenticate nothing); returns how many."""
    result = session.execute(delete(ApiToken).where(ApiToken.kind == "session", ApiToken.expires_at <= utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)


def set_password(session: Session, user: User, password: str, policy: PasswordPolicy | None = None) -> int:
    """Give ``user`` a new password (policy-checked, scrypt-hashed) and revoke the user's sign-in sessions, so
    a reset locks out whoever knew the old one; returns how many sessions were revoked. API tokens stay.

    Raises :class:`server.passwords.WeakPasswordError` with a message for the user."""
    check_password_rules(password, user.name)
    user.password_hash = hash_password(password, policy)
    user.password_changed_at = utcnow()
    result = session.execute(delete(ApiToken).where(ApiToken.user_id == user.id, ApiToken.kind == "session"))
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)


def find_user(session: Session, name: str) -> User | None:
    """The user called ``name``, ignoring case and surrounding spaces (phones capitalise the first letter); an
    exact match wins when two names differ only in case."""
    wanted = name.strip()
    rows = session.scalars(select(User).where(func.lower(User.name) == wanted.lower())).all()
    exact = [u for u in rows if u.name == wanted]
    if exact:
        return exact[0]
    return rows[0] if len(rows) == 1 else None


def bootstrap_admin(session: Session, name: str, token: str | None) -> bool:
    """Create the first admin (with ``token``) when there is no user at all; True when it did."""
    if session.scalar(select(func.count(User.id))):
        return False
    if token is None:
        log.warning("no users and no admin token configured (admin.token or EDGEWATCH_ADMIN_TOKEN): "
                    "nobody can use the API yet")
        return False
    user = create_user(session, name, "admin", [])
    issue_token(session, user, label="bootstrap", token=token)
    log.info("created admin user %r from the configured bootstrap token", name)
    return True
