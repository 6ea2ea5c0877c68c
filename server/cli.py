"""`edgewatch server --config server.yaml`: the API, MQTT ingest and the clip store in one process.

`edgewatch server user add|passwd|list … --config server.yaml`: admins manage users and passwords straight in
the database (no running server needed; the same migrations and admin bootstrap run first).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from edgewatch.errors import UserError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from server.config import ServerConfig

ROLES = ("inspector", "manager", "admin")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "server",
        help="run the server: MQTT ingest, violation tagging, storage and the inspectors' API; manage users",
        description="Run the edgewatch server: migrates the database, ingests events and clips from MQTT "
        "(shared subscription, so several replicas may run), and serves the REST API (OpenAPI at /docs) and the "
        "web app. `edgewatch server user …` manages users and their passwords. See docs/server.md and "
        "examples/server.yaml.",
    )
    p.add_argument("--config", type=Path, help="server.yaml (see examples/server.yaml); required")
    p.add_argument("--no-ingest", action="store_true", help="serve the API only (no MQTT ingest)")
    p.set_defaults(func=run, server_parser=p)

    server_sub = p.add_subparsers(dest="server_command", metavar="user")
    user = server_sub.add_parser(
        "user", help="add users, set or reset their passwords, list them",
        description="Users and passwords, written straight to the server's database (works while the server "
        "runs, and before its first start). Passwords are prompted for without echo (twice), read from stdin "
        "with --password-stdin (one line, for scripts), or generated with --generate (printed once on stdout).")
    user_sub = user.add_subparsers(dest="user_command", metavar="add|passwd|list", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        # SUPPRESS: `edgewatch server --config X user …` keeps the X given before the sub-command.
        q.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="server.yaml")

    def password_source(q: argparse.ArgumentParser) -> None:
        g = q.add_mutually_exclusive_group()
        g.add_argument("--password-stdin", action="store_true", help="read the password from stdin (one line)")
        g.add_argument("--generate", action="store_true",
                       help="generate a random password and print it once on stdout")

    add = user_sub.add_parser("add", help="create a user with a password",
                              description="Create a user with a role, sites and a password.")
    add.add_argument("name", help="user name (what they type to sign in)")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--site", action="append", default=[], metavar="SITE",
                     help="a site the user may see (repeat for several; admins see all)")
    add.add_argument("--token", action="store_true", help="also issue an API token (printed once on stdout)")
    common(add)
    password_source(add)
    add.set_defaults(func=run_user_add)

    passwd = user_sub.add_parser("passwd", help="set or reset a user's password (revokes their sign-in sessions)",
                                 description="Set or reset a user's password. Their open sign-in sessions are "
                                 "revoked; their API tokens stay valid.")
    passwd.add_argument("name", help="user name")
    common(passwd)
    password_source(passwd)
    passwd.set_defaults(func=run_user_passwd)

    ls = user_sub.add_parser("list", help="list users, their roles, sites and whether they have a password")
    common(ls)
    ls.set_defaults(func=run_user_list)


def run(args: argparse.Namespace) -> int:
    if args.config is None:
        args.server_parser.error("the following arguments are required: --config")
    import uvicorn

    from server.app import create_app, create_context
    from server.config import load_config

    config = load_config(args.config)
    logging.getLogger("server").setLevel(config.log_level.upper())
    if not logging.getLogger().handlers:
        logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx = create_context(config)
    app = create_app(ctx, run_ingest=False if args.no_ingest else None)
    uvicorn.run(app, host=config.http.host, port=config.http.port, log_level=config.log_level)
    return 0


# --- users ------------------------------------------------------------------------------------------------------


def _database(args: argparse.Namespace) -> tuple[ServerConfig, sessionmaker[Session]]:
    if getattr(args, "config", None) is None:
        raise UserError("which server? pass --config server.yaml (the file `edgewatch server` runs with)")
    from server.app import open_database
    from server.config import load_config

    config = load_config(args.config)
    _engine, sessions = open_database(config)
    return config, sessions


def read_password(args: argparse.Namespace, user_name: str) -> tuple[str, bool]:
    """The new password and whether it was generated (then it must be shown)."""
    from server.passwords import WeakPasswordError, check_password_rules, generate_password

    if args.generate:
        return generate_password(), True
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass(f"New password for {user_name}: ")
        if getpass.getpass("Again: ") != password:
            raise UserError("the two passwords differ; nothing changed")
    else:
        raise UserError("stdin is not a terminal: pass --password-stdin to read the password from it, or "
                        "--generate for a random one")
    try:
        check_password_rules(password, user_name)
    except WeakPasswordError as exc:
        raise UserError(f"{exc}; nothing changed") from None
    return password, False


def run_user_add(args: argparse.Namespace) -> int:
    import re

    from sqlalchemy import select

    from server.auth import create_user, find_user, issue_token, set_password
    from server.config import ID_PATTERN
    from server.db import User
    from server.passwords import PasswordPolicy

    for site in args.site:
        if not re.match(ID_PATTERN, site):
            raise UserError(f"site {site!r}: use letters, digits, '.', '_' and '-' (as in rules.yaml)")
    config, sessions = _database(args)
    with sessions() as s:
        if s.scalars(select(User).where(User.name == args.name)).first() is not None or find_user(s, args.name):
            raise UserError(f"user {args.name!r} exists: use `edgewatch server user passwd {args.name}` to reset "
                            "the password")
    password, generated = read_password(args, args.name)
    with sessions.begin() as s:
        user = create_user(s, args.name, args.role, args.site)
        set_password(s, user, password, PasswordPolicy(log2_n=config.auth.scrypt_log2_n))
        token = issue_token(s, user, label="created (cli)") if args.token else None
    print(f"created {args.role} {args.name!r}" + (f" for sites {', '.join(sorted(set(args.site)))}"
                                                  if args.site else ""), file=sys.stderr)
    if generated:
        print(f"password: {password}")
    if token:
        print(f"token: {token}")
    return 0


def run_user_passwd(args: argparse.Namespace) -> int:
    from server.auth import find_user, set_password
    from server.passwords import PasswordPolicy

    config, sessions = _database(args)
    with sessions() as s:
        if find_user(s, args.name) is None:
            raise UserError(f"no user {args.name!r}: `edgewatch server user list --config …` shows them; "
                            "`edgewatch server user add` creates one")
    password, generated = read_password(args, args.name)
    with sessions.begin() as s:
        user = find_user(s, args.name)
        if user is None:
            raise UserError(f"user {args.name!r} was deleted meanwhile; nothing changed")
        revoked = set_password(s, user, password, PasswordPolicy(log2_n=config.auth.scrypt_log2_n))
        name = user.name
    print(f"password of {name!r} set; {revoked} sign-in session(s) revoked", file=sys.stderr)
    if generated:
        print(f"password: {password}")
    return 0


def run_user_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from server.db import User

    _config, sessions = _database(args)
    with sessions() as s:
        users = s.scalars(select(User).order_by(User.id)).all()
        print(f"{'name':<24} {'role':<10} {'password':<9} sites")
        for u in users:
            sites = "(all)" if u.role == "admin" else ", ".join(u.sites or []) or "(none)"
            print(f"{u.name:<24} {u.role:<10} {'yes' if u.has_password else 'no':<9} {sites}")
    return 0
