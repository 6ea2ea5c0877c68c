"""Password sign-in: throttling of failed attempts, the audit of every attempt, and the session it opens.

An unknown user name and a wrong password get the same answer and take the same time. Failed attempts are
counted per typed user name (existing or not) and per client address within ``auth.window_s``; past the free
ones each further try must wait ``backoff_s``, doubling with every failure, up to ``window_s``. A success clears
the user name's count (not the address's). The counts live in the database (``login_attempts``), so every
replica throttles alike. Nothing here knows HTTP.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from server.auth import find_user, issue_session, purge_expired_sessions, set_password
from server.config import AuthConfig
from server.db import LoginAttempt, User, utcnow
from server.passwords import (
    PasswordPolicy,
    burn_equal_time,
    check_password_rules,
    hash_password,
    needs_rehash,
    verify_password,
)

log = logging.getLogger(__name__)

NAME_CHARS = 64


@dataclass(frozen=True)
class SignedIn:
    user: User
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class Refused:
    """Wrong user name or password (deliberately not saying which)."""


@dataclass(frozen=True)
class Throttled:
    retry_after_s: int


SignInResult = SignedIn | Refused | Throttled


def throttle_key(name: str) -> str:
    return name.strip().lower()[:NAME_CHARS]


def wait_after_failures(failures: list[datetime], free: int, config: AuthConfig, now: datetime) -> float:
    """Seconds still to wait given the failure times in the window (oldest first): none for the first ``free``
    failures, then ``backoff_s · 2**(n - free)`` after the latest one, at most ``window_s``."""
    extra = len(failures) - free
    if extra < 0:
        return 0.0
    wait_s = min(config.window_s, config.backoff_s * 2.0 ** min(extra, 30))
    return max(0.0, (failures[-1] + timedelta(seconds=wait_s) - now).total_seconds())


def _failures(session: Session, since: datetime, *, user_name: str | None = None,
              client_ip: str | None = None) -> list[datetime]:
    q = select(LoginAttempt.at).where(LoginAttempt.outcome == "bad_credentials", LoginAttempt.at > since)
    if user_name is not None:
        last_ok = session.scalar(select(func.max(LoginAttempt.at)).where(
            LoginAttempt.user_name == user_name, LoginAttempt.outcome == "ok"))
        q = q.where(LoginAttempt.user_name == user_name)
        if last_ok is not None and last_ok > since:
            q = q.where(LoginAttempt.at > last_ok)
    if client_ip is not None:
        q = q.where(LoginAttempt.client_ip == client_ip)
    return list(session.scalars(q.order_by(LoginAttempt.at)).all())


def retry_after_s(session: Session, user_name: str, client_ip: str, config: AuthConfig) -> float:
    """Seconds before ``user_name`` may try again from ``client_ip`` (0: now)."""
    now = utcnow()
    since = now - timedelta(seconds=config.window_s)
    return max(
        wait_after_failures(_failures(session, since, user_name=user_name), config.free_failures_per_user,
                            config, now),
        wait_after_failures(_failures(session, since, client_ip=client_ip), config.free_failures_per_ip,
                            config, now))


def _record(session: Session, user_name: str, client_ip: str, outcome: str) -> None:
    session.add(LoginAttempt(at=utcnow(), user_name=user_name, client_ip=client_ip[:64], outcome=outcome))


def check_credentials(session: Session, name: str, password: str, client_ip: str,
                      config: AuthConfig) -> User | Refused | Throttled:
    """Throttle, check ``name`` and ``password``, and record the attempt; the user when they match.

    Commits ``session``: the attempt is recorded whatever the outcome (a match is recorded by the caller, with
    what it then does). The password is checked outside any transaction, so SQLite's single writer is not held
    for the 0.1 s of scrypt."""
    key = throttle_key(name)
    policy = PasswordPolicy(log2_n=config.scrypt_log2_n)
    wait_s = retry_after_s(session, key, client_ip, config)
    user = find_user(session, name) if wait_s <= 0 else None
    session.commit()
    if wait_s > 0:
        _record(session, key, client_ip, "throttled")
        session.commit()
        log.warning("sign-in as %r from %s throttled: retry in %.0f s", key, client_ip, wait_s)
        return Throttled(max(1, math.ceil(wait_s)))

    stored = user.password_hash if user is not None else None
    if stored is None:
        burn_equal_time(password, policy)
        ok = False
    else:
        ok = verify_password(password, stored)
    if not ok or user is None or stored is None:
        _record(session, key, client_ip, "bad_credentials")
        session.commit()
        log.warning("sign-in as %r from %s refused (%s)", key, client_ip,
                    "unknown user" if user is None else "no password set" if stored is None else "wrong password")
        return Refused()
    if needs_rehash(stored, policy):
        user.password_hash = hash_password(password, policy)  # raised cost: upgrade while we know the password
    return user


def _open_session(session: Session, user: User, client_ip: str, config: AuthConfig, label: str) -> SignedIn:
    # Housekeeping rides on successful sign-ins (a few a minute at most): expired sessions, and attempts past the
    # audit's retention, so that neither table grows without end.
    purge_expired_sessions(session)
    session.execute(delete(LoginAttempt).where(
        LoginAttempt.at < utcnow() - timedelta(days=config.attempts_kept_days)))
    token, expires_at = issue_session(session, user, timedelta(hours=config.session_hours), label=label)
    _record(session, throttle_key(user.name), client_ip, "ok")
    session.commit()
    return SignedIn(user, token, expires_at)


def sign_in(session: Session, name: str, password: str, client_ip: str, config: AuthConfig,
            label: str = "web session") -> SignInResult:
    """Check ``name`` and ``password`` and open a session (a token that expires after ``auth.session_hours``).
    Commits ``session``."""
    checked = check_credentials(session, name, password, client_ip, config)
    if not isinstance(checked, User):
        return checked
    signed_in = _open_session(session, checked, client_ip, config, label)
    log.info("%s signed in from %s (session until %s)", checked.name, client_ip, signed_in.expires_at.isoformat())
    return signed_in


def change_password(session: Session, name: str, current: str, new: str, client_ip: str, config: AuthConfig,
                    label: str = "web session") -> SignInResult:
    """The signed-in user ``name`` changes their own password: ``current`` is checked (and throttled) exactly like
    a sign-in, the new one must pass the rules (:class:`server.passwords.WeakPasswordError` otherwise, checked
    first), every session of the user is revoked, and a new one is opened for the caller. Commits ``session``."""
    check_password_rules(new, name)
    checked = check_credentials(session, name, current, client_ip, config)
    if not isinstance(checked, User):
        return checked
    revoked = set_password(session, checked, new, PasswordPolicy(log2_n=config.scrypt_log2_n))
    signed_in = _open_session(session, checked, client_ip, config, label)
    log.info("%s changed their password from %s (%d session(s) revoked)", checked.name, client_ip, revoked)
    return signed_in
