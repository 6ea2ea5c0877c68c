"""A scratch PostgreSQL database, created under a unique name and dropped afterwards."""

from __future__ import annotations

import getpass
import os
import uuid
from urllib.parse import quote

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import make_dsn, parse_dsn

from .process import ServiceUnavailableError

ADMIN_DSN_ENV = "EDGEWATCH_TEST_PG"


def admin_dsn_candidates() -> list[str]:
    """Admin connections to try, first that works wins: ``$EDGEWATCH_TEST_PG`` alone when set; otherwise the
    ``postgres`` role over TCP on localhost (a trust-auth CI or dev setup), then the current OS user over the
    Unix socket (peer auth; scripts/install-system-deps.sh creates that role when it installs PostgreSQL)."""
    if os.environ.get(ADMIN_DSN_ENV):
        return [os.environ[ADMIN_DSN_ENV]]
    return [
        "host=127.0.0.1 port=5432 user=postgres dbname=postgres",
        f"port=5432 user={getpass.getuser()} dbname=postgres",
    ]


def dsn_to_url(dsn: str) -> str:
    """A libpq key/value DSN as a ``postgresql://`` URL (which psycopg2, libpq and SQLAlchemy all accept)."""
    params = parse_dsn(dsn)
    user = quote(params.get("user", ""), safe="")
    password = params.get("password")
    auth = f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
    host = params.get("host", "")
    query = ""
    if host.startswith("/"):  # a Unix socket directory goes in the query string
        query, host = f"?host={quote(host, safe='')}", ""
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgresql://{auth}{host}{port}/{quote(params.get('dbname', ''), safe='')}{query}"


class ScratchDatabase:
    """A fresh database named ``edgewatch_test_<random>`` on the server of the first admin DSN that connects.

    >>> db = ScratchDatabase().create()  # doctest: +SKIP
    >>> engine = sqlalchemy.create_engine(db.url); ...; db.drop()  # doctest: +SKIP
    """

    def __init__(self, admin_dsn: str | None = None, prefix: str = "edgewatch_test") -> None:
        self._candidates = [admin_dsn] if admin_dsn else admin_dsn_candidates()
        self.name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.admin_dsn: str | None = None
        self.dsn = ""

    @property
    def url(self) -> str:
        return dsn_to_url(self.dsn)

    def connect(self) -> psycopg2.extensions.connection:
        return psycopg2.connect(self.dsn)

    def create(self) -> ScratchDatabase:
        errors = []
        for dsn in self._candidates:
            try:
                conn = psycopg2.connect(dsn, connect_timeout=5)
            except psycopg2.OperationalError as exc:
                errors.append(f"  {dsn!r}: {str(exc).strip()}")
                continue
            try:
                conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
                with conn.cursor() as cur:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
            except psycopg2.Error as exc:
                raise ServiceUnavailableError(
                    f"connected to PostgreSQL with {dsn!r} but could not create a database: {exc}\n"
                    f"Give that role CREATEDB, or point {ADMIN_DSN_ENV} at one that has it."
                ) from exc
            finally:
                conn.close()
            self.admin_dsn = dsn
            self.dsn = make_dsn(dsn, dbname=self.name)
            return self
        raise ServiceUnavailableError(
            "cannot connect to PostgreSQL:\n" + "\n".join(errors) + "\n"
            "Start it (or install it) with `make system-deps` (scripts/install-system-deps.sh), or set "
            f"{ADMIN_DSN_ENV} to the DSN of a role that may create databases, "
            "e.g. 'host=db.example user=ci password=… dbname=postgres'."
        )

    def drop(self) -> None:
        """Drop the database, disconnecting any session a test left open."""
        if self.admin_dsn is None:
            return
        conn = psycopg2.connect(self.admin_dsn, connect_timeout=5)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))
        finally:
            conn.close()
        self.admin_dsn = None

    def __repr__(self) -> str:
        return f"<ScratchDatabase {self.name} {'created' if self.admin_dsn else 'not created'}>"
