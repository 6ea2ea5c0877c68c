"""Users, roles and API tokens. Tokens are random, shown once, and stored only as their sha256.

Roles rank inspector < manager < admin; inspectors and managers see only their sites, admins all sites.
Nothing here knows HTTP: ``server/api/deps.py`` turns it into the one authorisation dependency.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, false, func, select, true
from sqlalchemy.orm import Session

from server.db import ApiToken, User, utcnow

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
    """A new token for ``user`` (random unless given); only its hash is stored."""
    token = token or secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_sha256=hash_token(token), label=label, created_at=utcnow()))
    session.flush()
    return token


def authenticate(session: Session, token: str) -> Principal | None:
    digest = hash_token(token)
    row = session.scalars(select(ApiToken).where(ApiToken.token_sha256 == digest)).first()
    # The index lookup finds the candidate; the comparison itself is constant-time.
    if row is None or not hmac.compare_digest(row.token_sha256, digest):
        return None
    user = row.user
    return Principal(user.id, user.name, user.role, frozenset(user.sites or []))


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
