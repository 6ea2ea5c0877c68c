"""The database: typed ORM models (SQLAlchemy 2), the engine, and Alembic migrations run at start.

SQLite (one box) and PostgreSQL (several replicas) are both first-class. Every write that reads first runs in a
transaction that cannot lose a race: SQLite transactions start with ``BEGIN IMMEDIATE`` (one writer at a time),
PostgreSQL ones take an advisory lock on the key they decide about (see :func:`lock_key`).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    create_engine,
    event,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class EventRow(Base):
    """One contract event as received; ``clip_status``: none | pending | stored | incomplete | corrupt."""

    __tablename__ = "events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(128), index=True)
    camera_id: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    confidence: Mapped[float] = mapped_column(Float)
    floor: Mapped[str | None] = mapped_column(String(64))
    column: Mapped[str | None] = mapped_column(String(64))
    zone: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    clip_status: Mapped[str] = mapped_column(String(16))
    clip_sha256: Mapped[str | None] = mapped_column(String(64))
    clip_bytes: Mapped[int | None] = mapped_column(Integer)
    clip_chunks: Mapped[int] = mapped_column(Integer, default=0)
    chunk_bytes: Mapped[int] = mapped_column(Integer, default=262144)
    clip_key: Mapped[str | None] = mapped_column(String(512))
    snapshot_sha256: Mapped[str | None] = mapped_column(String(64))
    violation_id: Mapped[int | None] = mapped_column(ForeignKey("violations.id"), index=True)

    violation: Mapped[Violation | None] = relationship(back_populates="events")

    __table_args__ = (Index("ix_events_clip_status_received", "clip_status", "received_at"),)


class ClipChunk(Base):
    """A clip chunk waiting for the rest of its clip; shared by all replicas, deleted once the clip is stored."""

    __tablename__ = "clip_chunks"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Violation(Base):
    """A case: one or more events of one camera, type and place merged within the rules' window.

    ``status``: open | confirmed | dismissed."""

    __tablename__ = "violations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(128))
    camera_id: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    building: Mapped[str | None] = mapped_column(String(200))
    restaurant: Mapped[str | None] = mapped_column(String(200))
    floor: Mapped[str | None] = mapped_column(String(64))
    column: Mapped[str | None] = mapped_column(String(64))
    zone: Mapped[str | None] = mapped_column(String(128))
    place: Mapped[str] = mapped_column(String(400))
    recurrence_place: Mapped[str] = mapped_column(String(400))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    event_count: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="open")
    assignee: Mapped[str | None] = mapped_column(String(64))
    dismiss_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    events: Mapped[list[EventRow]] = relationship(back_populates="violation", order_by="EventRow.started_at")

    __table_args__ = (
        Index("ix_violations_site_first_seen", "site", "first_seen"),
        Index("ix_violations_case", "camera_id", "type", "last_seen"),
        Index("ix_violations_recurrence", "type", "recurrence_place", "first_seen"),
    )


class Alert(Base):
    """Recurrence: ``count`` violations of ``type`` at one place within ``period_s``."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(128), index=True)
    type: Mapped[str] = mapped_column(String(64))
    place: Mapped[str] = mapped_column(String(400))
    count: Mapped[int] = mapped_column(Integer)
    period_s: Mapped[float] = mapped_column(Float)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_alerts_place", "type", "place", "last_seen"),)


class Camera(Base):
    """A camera seen on the status topic (its retained heartbeat) or in an event."""

    __tablename__ = "cameras"

    site: Mapped[str] = mapped_column(String(128), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(16))
    heartbeat: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class User(Base):
    """role: inspector | manager | admin; ``sites``: the sites the user may see (admins see all)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    sites: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    password_hash: Mapped[str | None] = mapped_column(String(255))  # server/passwords.py format; None: no password
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None


class ApiToken(Base):
    """An API token, stored only as the sha256 of the random token.

    ``kind``: ``api`` (issued by an admin, no expiry unless given) or ``session`` (made by a password sign-in,
    always with ``expires_at``; revoked by signing out or a new password)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    kind: Mapped[str] = mapped_column(String(16), default="api", server_default="api")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="tokens")


class LoginAttempt(Base):
    """Every password sign-in attempt (never updated): the audit of sign-ins and what throttling counts.

    ``user_name`` is what was typed (lower-cased), whether or not such a user exists, so that throttling and the
    answers are the same for unknown names. ``outcome``: ok | bad_credentials | throttled."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    user_name: Mapped[str] = mapped_column(String(64))
    client_ip: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))

    __table_args__ = (Index("ix_login_attempts_user", "user_name", "at"),
                      Index("ix_login_attempts_ip", "client_ip", "at"))


class AuditEntry(Base):
    """Who did what to a violation, when (never updated, never deleted)."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    violation_id: Mapped[int] = mapped_column(ForeignKey("violations.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- engine, sessions, migrations ------------------------------------------------------------------------------

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def normalize_url(url: str) -> str:
    """``postgresql://`` means psycopg2 here (SQLAlchemy 2.1 would otherwise pick psycopg 3)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url.removeprefix(prefix)
    return url


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` transactions."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (pysqlite's own is deferred)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def is_postgres(session_or_engine: Session | Engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "postgresql"


def lock_key(session: Session, key: str) -> None:
    """Serialise decisions about ``key`` across replicas for the rest of the transaction (PostgreSQL advisory
    lock; SQLite's ``BEGIN IMMEDIATE`` already serialises all writers)."""
    if is_postgres(session):
        k = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": k})


def insert_ignore(session: Session, model: type[Base], values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when a row was inserted (idempotency without exceptions)."""
    dialect = session.get_bind().dialect.name
    ins = postgresql.insert(model) if dialect == "postgresql" else sqlite.insert(model)
    result = session.execute(ins.values(**values).on_conflict_do_nothing())
    return bool(getattr(result, "rowcount", 0))


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision; safe when several replicas start at once."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(7283001)"))  # one migrator at a time
            conn.commit()
        try:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
        finally:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(7283001)"))
                conn.commit()
