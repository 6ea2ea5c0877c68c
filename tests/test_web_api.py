"""The web app's server side without a browser: static files, calibration fit/preview/versions, sign-in cookie;
password sign-in: sessions, logout, expiry, throttling, the audit of attempts, admin password resets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_server_helpers import REPO, server_config

from server.app import create_app, create_context
from server.db import ApiToken, LoginAttempt, User
from server.passwords import (
    PasswordPolicy,
    WeakPasswordError,
    check_password_rules,
    hash_password,
    needs_rehash,
    verify_password,
)

ADMIN = {"Authorization": "Bearer admin-token-0123456789"}
POINTS = REPO / "calibration" / "examples" / "caima-b3-east.points.yaml"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    ctx = create_context(server_config(f"sqlite:///{tmp_path / 'web.db'}", tmp_path))
    with TestClient(create_app(ctx, run_ingest=False)) as c:
        yield c
    ctx.engine.dispose()


def test_static_files_and_nothing_else(client: TestClient) -> None:
    assert "<main" in client.get("/").text
    assert client.get("/app/app.js").headers["content-type"].startswith("text/javascript")
    for path in ("/app/..%2Fapp.py", "/app/router.py", "/app/missing.js"):
        assert client.get(path).status_code == 404, path


def test_fit_preview_and_versions(client: TestClient) -> None:
    points = yaml.safe_load(POINTS.read_text())
    fit = client.post("/api/v1/calibrations/fit", json={"points": points}, headers=ADMIN)
    assert fit.status_code == 200, fit.text
    body = fit.json()
    assert body["rms_px"] < 2.0 and len(body["residuals_px"]) == len(points["points"])
    kinds = [g["kind"] for g in body["grid"]]
    assert kinds.count("storey") == 20 and kinds.count("roof") == 1 and kinds.count("column") == 6
    assert all(len(piece) > 1 for g in body["grid"] for piece in g["pieces"])
    preview = client.post("/api/v1/calibrations/preview", json={"calibration": body["calibration"]}, headers=ADMIN)
    assert preview.json()["grid"] == body["grid"]

    too_few = {**points, "points": points["points"][:3]}
    bad = client.post("/api/v1/calibrations/fit", json={"points": too_few}, headers=ADMIN)
    assert bad.status_code == 422 and "6" in bad.json()["detail"]

    url = "/api/v1/calibrations/caima/caima-b3-east"
    assert client.get(url, headers=ADMIN).json() == {"current": None, "versions": []}
    for _ in range(2):
        assert client.post(url, json={"calibration": body["calibration"]}, headers=ADMIN).status_code == 201
    got = client.get(url, headers=ADMIN).json()
    assert [v["version"] for v in got["versions"]] == [2, 1] and got["current"]["saved_by"] == "admin"
    wrong = client.post("/api/v1/calibrations/caima/other-cam", json={"calibration": body["calibration"]},
                        headers=ADMIN)
    assert wrong.status_code == 422 and "camera_id" in wrong.json()["detail"]


def test_sign_in_sets_a_strict_http_only_cookie(client: TestClient) -> None:
    assert client.post("/web/session", json={"token": "nope"}).status_code == 401
    r = client.post("/web/session", json={"token": "admin-token-0123456789"})
    assert r.status_code == 200 and r.json()["role"] == "admin"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/web" in cookie
    assert client.delete("/web/session").status_code == 204


# --- password sign-in -------------------------------------------------------------------------------------------


def make_user(client: TestClient, name: str, password: str | None, role: str = "inspector",
              sites: tuple[str, ...] = ("caima",)) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "role": role, "sites": list(sites)}
    if password is not None:
        body["password"] = password
    r = client.post("/api/v1/users", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    return dict(r.json())


def login(client: TestClient, name: str, password: str) -> Any:
    return client.post("/api/v1/auth/login", json={"username": name, "password": password})


def test_password_login_gives_an_expiring_session_token_and_logout_revokes_it(client: TestClient) -> None:
    made = make_user(client, "ina", "lantern-harbour-7")
    assert made["user"]["has_password"] is True
    r = login(client, "Ina ", "lantern-harbour-7")  # phones capitalise the first letter
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["user"]["name"] == "ina" and "set-cookie" not in r.headers
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(hours=11.9) < expires - datetime.now(UTC) <= timedelta(hours=12)
    auth = {"Authorization": f"Bearer {body['token']}"}
    assert client.get("/api/v1/me", headers=auth).json()["name"] == "ina"
    assert client.get("/api/v1/violations", headers=auth).status_code == 200
    # The web app trades it for the media cookie, which expires with the session.
    cookie = client.post("/web/session", json={"token": body["token"]}).headers["set-cookie"]
    assert "Max-Age=" in cookie and "HttpOnly" in cookie
    max_age = int(cookie.split("Max-Age=")[1].split(";")[0])
    assert 11.9 * 3600 < max_age <= 12 * 3600

    with Session(client.app.state.ctx.engine) as s:  # type: ignore[attr-defined]
        row = s.scalars(select(ApiToken).where(ApiToken.kind == "session")).one()
        assert row.label == "web session" and row.token_sha256 != body["token"]
        stored = s.scalars(select(User).where(User.name == "ina")).one().password_hash
        assert stored is not None and stored.startswith("scrypt$ln=15,r=8,p=1$") and "lantern" not in stored

    assert client.post("/api/v1/auth/logout", headers=auth).status_code == 204
    assert client.get("/api/v1/me", headers=auth).status_code == 401
    assert client.post("/api/v1/auth/logout", headers=auth).status_code == 401
    # Signing out with an admin-issued API token leaves that token working (scripts use it).
    api_token = {"Authorization": f"Bearer {made['token']}"}
    assert client.post("/api/v1/auth/logout", headers=api_token).status_code == 204
    assert client.get("/api/v1/me", headers=api_token).status_code == 200


def test_expired_session_is_refused(client: TestClient) -> None:
    make_user(client, "ina", "lantern-harbour-7")
    token = login(client, "ina", "lantern-harbour-7").json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=auth).status_code == 200
    with Session(client.app.state.ctx.engine) as s, s.begin():  # type: ignore[attr-defined]
        row = s.scalars(select(ApiToken).where(ApiToken.kind == "session")).one()
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert client.get("/api/v1/me", headers=auth).status_code == 401
    assert client.post("/web/session", json={"token": token}).status_code == 401
    # The next sign-in clears expired sessions out of the table.
    login(client, "ina", "lantern-harbour-7")
    with Session(client.app.state.ctx.engine) as s:  # type: ignore[attr-defined]
        assert len(s.scalars(select(ApiToken).where(ApiToken.kind == "session")).all()) == 1


def test_unknown_user_and_wrong_password_get_the_same_answer_and_are_audited(client: TestClient) -> None:
    make_user(client, "ina", "lantern-harbour-7")
    make_user(client, "tok", None)  # token only: no password sign-in
    answers = [login(client, name, pw) for name, pw in
               (("ina", "lantern-harbour-8"), ("nobody", "lantern-harbour-7"), ("tok", "anything-at-all"))]
    assert {(r.status_code, r.json()["detail"]) for r in answers} == {(401, "wrong user name or password")}
    assert login(client, "ina", "lantern-harbour-7").status_code == 200
    with Session(client.app.state.ctx.engine) as s:  # type: ignore[attr-defined]
        attempts = [(a.user_name, a.outcome, a.client_ip) for a in
                    s.scalars(select(LoginAttempt).order_by(LoginAttempt.id)).all()]
    assert attempts == [("ina", "bad_credentials", "testclient"), ("nobody", "bad_credentials", "testclient"),
                        ("tok", "bad_credentials", "testclient"), ("ina", "ok", "testclient")]
    # The audit keeps attempts for auth.attempts_kept_days (90): older ones go at the next successful sign-in.
    age_attempts(client, "nobody", 91 * 86400)
    assert login(client, "ina", "lantern-harbour-7").status_code == 200
    with Session(client.app.state.ctx.engine) as s:  # type: ignore[attr-defined]
        names = [a.user_name for a in s.scalars(select(LoginAttempt).order_by(LoginAttempt.id)).all()]
    assert names == ["ina", "tok", "ina", "ina"]


def test_failed_logins_are_throttled_per_user_name_then_released(client: TestClient) -> None:
    make_user(client, "ina", "lantern-harbour-7")
    auth_cfg = client.app.state.ctx.config.auth  # type: ignore[attr-defined]
    for _ in range(auth_cfg.free_failures_per_user):
        assert login(client, "ina", "guess-guess-guess").status_code == 401
    # Locked now, even with the right password, and the same for a name that does not exist.
    r = login(client, "ina", "lantern-harbour-7")
    assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= auth_cfg.backoff_s
    assert "try again in" in r.json()["detail"]
    for _ in range(auth_cfg.free_failures_per_user):
        login(client, "ghost", "guess-guess-guess")
    assert login(client, "ghost", "guess-guess-guess").status_code == 429
    # Throttled tries are audited but do not count as failures (they do not extend the wait).
    with Session(client.app.state.ctx.engine) as s:  # type: ignore[attr-defined]
        outcomes = [a.outcome for a in s.scalars(select(LoginAttempt).where(LoginAttempt.user_name == "ina")).all()]
    assert outcomes == ["bad_credentials"] * auth_cfg.free_failures_per_user + ["throttled"]

    age_attempts(client, "ina", auth_cfg.backoff_s + 1)  # the back-off has passed
    assert login(client, "ina", "guess-guess-guess").status_code == 401  # one more failure: a doubled wait
    r = login(client, "ina", "lantern-harbour-7")
    assert r.status_code == 429 and auth_cfg.backoff_s < int(r.headers["retry-after"]) <= 2 * auth_cfg.backoff_s
    age_attempts(client, "ina", 2 * auth_cfg.backoff_s + 1)
    assert login(client, "ina", "lantern-harbour-7").status_code == 200
    # A success clears the user name's failures.
    assert login(client, "ina", "guess-guess-guess").status_code == 401
    assert login(client, "ina", "lantern-harbour-7").status_code == 200


def test_failed_logins_are_throttled_per_client_address(client: TestClient) -> None:
    make_user(client, "ina", "lantern-harbour-7")
    client.app.state.ctx.config.auth.free_failures_per_ip = 3  # type: ignore[attr-defined]
    for name in ("a1", "a2", "a3"):  # spraying one guess over many names
        assert login(client, name, "guess-guess-guess").status_code == 401
    assert login(client, "ina", "lantern-harbour-7").status_code == 429


def age_attempts(client: TestClient, name: str, seconds: float) -> None:
    """Move ``name``'s recorded sign-in attempts ``seconds`` into the past (instead of sleeping)."""
    with Session(client.app.state.ctx.engine) as s, s.begin():  # type: ignore[attr-defined]
        for a in s.scalars(select(LoginAttempt).where(LoginAttempt.user_name == name)).all():
            a.at = a.at - timedelta(seconds=seconds)


def test_admin_sets_a_password_which_revokes_sessions(client: TestClient) -> None:
    made = make_user(client, "ina", None)
    uid = made["user"]["id"]
    ina_api = {"Authorization": f"Bearer {made['token']}"}
    url = f"/api/v1/users/{uid}/password"
    assert client.put(url, json={"password": "short"}, headers=ADMIN).status_code == 422
    r = client.put(url, json={"password": "INA"}, headers=ADMIN)
    assert r.status_code == 422 and "8 characters" in r.json()["detail"]
    r = client.put(url, json={"password": "inaxxxxxxxx"}, headers=ADMIN)
    assert r.status_code == 204
    assert client.put(url, json={"password": "whatever-123"}, headers=ina_api).status_code == 403
    assert client.put("/api/v1/users/999/password", json={"password": "whatever-123"}, headers=ADMIN).status_code == 404
    session = {"Authorization": f"Bearer {login(client, 'ina', 'inaxxxxxxxx').json()['token']}"}
    assert client.get("/api/v1/me", headers=session).status_code == 200
    assert client.put(url, json={"password": "second-password"}, headers=ADMIN).status_code == 204
    assert client.get("/api/v1/me", headers=session).status_code == 401  # the reset revoked it
    assert client.get("/api/v1/me", headers=ina_api).status_code == 200  # API tokens stay
    assert login(client, "ina", "inaxxxxxxxx").status_code == 401
    assert login(client, "ina", "second-password").status_code == 200
    r = client.post("/api/v1/users", json={"name": "bob", "role": "inspector", "password": "bob"}, headers=ADMIN)
    assert r.status_code == 422
    r = client.post("/api/v1/users", json={"name": "INA", "role": "inspector"}, headers=ADMIN)
    assert r.status_code == 409 and "ignore case" in r.json()["detail"]


def test_raised_scrypt_cost_upgrades_the_hash_at_the_next_sign_in(client: TestClient) -> None:
    make_user(client, "ina", "lantern-harbour-7")
    client.app.state.ctx.config.auth.scrypt_log2_n = 16  # type: ignore[attr-defined]
    assert login(client, "ina", "lantern-harbour-7").status_code == 200  # the old hash still verifies
    with Session(client.app.state.ctx.engine) as s:  # type: ignore[attr-defined]
        stored = s.scalars(select(User).where(User.name == "ina")).one().password_hash
    assert stored is not None and stored.startswith("scrypt$ln=16,")
    assert login(client, "ina", "lantern-harbour-7").status_code == 200


def test_password_hashes() -> None:
    policy = PasswordPolicy(log2_n=14)
    a, b = hash_password("lantern-harbour-7", policy), hash_password("lantern-harbour-7", policy)
    assert a != b  # per-user salt
    assert verify_password("lantern-harbour-7", a) and not verify_password("lantern-harbour-8", a)
    assert not verify_password("lantern-harbour-7", "") and not verify_password("x", "scrypt$ln=99,r=8,p=1$AA==$AA==")
    assert needs_rehash(a) and not needs_rehash(a, policy) and not needs_rehash(hash_password("p" * 8))
    # RFC 7914 section 12's second test vector, through the same call the hashes use.
    from server.passwords import _scrypt
    assert _scrypt("password", b"NaCl", 10, 8, 16).hex() == \
        "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
    for bad in ("short", "x" * 1025):
        with pytest.raises(WeakPasswordError):
            check_password_rules(bad)
    with pytest.raises(WeakPasswordError, match="user name"):
        check_password_rules("Inspector", "inspector")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0003_keeps_users_and_tokens_of_an_older_database(backend: str, tmp_path: Path,
                                                                     request: pytest.FixtureRequest) -> None:
    """A database made by 0001–0002 (users and API tokens, no passwords) upgrades in place on both backends."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from services.postgres import ScratchDatabase
    from sqlalchemy import text

    from server.auth import authenticate, hash_token, set_password
    from server.config import AuthConfig
    from server.db import MIGRATIONS_DIR, Base, make_engine, make_sessionmaker, migrate
    from server.signin import SignedIn, sign_in

    scratch = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        request.getfixturevalue("postgres_database")  # fails like the other PostgreSQL tests when there is none
        scratch = ScratchDatabase().create()  # a database of its own: the shared one is already at head
        url = scratch.url
    engine = make_engine(url)
    try:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        with engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0002_camera_calibrations")
            conn.execute(text("INSERT INTO users (name, role, sites, created_at) "
                              "VALUES ('ina', 'inspector', '[\"caima\"]', :t)"), {"t": datetime(2026, 11, 1)})
            conn.execute(text("INSERT INTO api_tokens (user_id, token_sha256, label, created_at) "
                              "VALUES (1, :h, 'issued', :t)"), {"h": hash_token("old-token-0123456789"),
                                                                "t": datetime(2026, 11, 1)})
            conn.commit()
        migrate(engine)
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        sessions = make_sessionmaker(engine)
        with sessions() as s:
            principal = authenticate(s, "old-token-0123456789")
            assert principal is not None and principal.token_kind == "api" and principal.expires_at is None
            user = s.get(User, 1)
            assert user is not None and user.password_hash is None
            set_password(s, user, "lantern-harbour-7")
            s.commit()
            result = sign_in(s, "ina", "lantern-harbour-7", "10.0.0.9", AuthConfig())
            assert isinstance(result, SignedIn) and authenticate(s, result.token) is not None
    finally:
        engine.dispose()
        if scratch is not None:
            scratch.drop()


def test_live_feed_ends_when_its_session_is_revoked(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from server.api import live

    monkeypatch.setattr(live, "TOKEN_RECHECK_S", 0.2)
    make_user(client, "ina", "lantern-harbour-7")
    auth = {"Authorization": f"Bearer {login(client, 'ina', 'lantern-harbour-7').json()['token']}"}
    logged_out = threading.Event()

    def sign_out_soon() -> None:
        time.sleep(0.5)
        assert client.post("/api/v1/auth/logout", headers=auth).status_code == 204
        logged_out.set()

    threading.Thread(target=sign_out_soon, daemon=True).start()
    t0 = time.monotonic()
    with client.stream("GET", "/api/v1/live", headers=auth) as r:
        assert r.status_code == 200
        body = "".join(r.iter_text())  # returns only when the server ends the stream
    # The server ends the stream as soon as it handles the logout, which can be before the signing-out thread
    # gets its response back and sets the event: wait for it rather than race it.
    assert logged_out.wait(2.0) and body.startswith("retry:") and time.monotonic() - t0 < 5
    assert client.get("/api/v1/live", headers=auth).status_code == 401  # the reconnect is refused


def test_users_change_their_own_password(client: TestClient) -> None:
    made = make_user(client, "ina", "lantern-harbour-7")
    first = {"Authorization": f"Bearer {login(client, 'ina', 'lantern-harbour-7').json()['token']}"}
    other = {"Authorization": f"Bearer {login(client, 'ina', 'lantern-harbour-7').json()['token']}"}  # her laptop

    def change(auth: dict[str, str], current: str, new: str) -> Any:
        return client.post("/api/v1/auth/password", json={"current_password": current, "new_password": new},
                           headers=auth)

    r = change(first, "lantern-harbour-8", "a-new-password-1")
    assert r.status_code == 403 and r.json()["detail"] == "the current password is wrong"
    assert client.get("/api/v1/me", headers=first).status_code == 200  # a wrong current password keeps her in
    r = change(first, "lantern-harbour-7", "ina")
    assert r.status_code == 422 and "8 characters" in r.json()["detail"]
    r = change(first, "lantern-harbour-7", "a-new-password-1")
    assert r.status_code == 200, r.text
    fresh = {"Authorization": f"Bearer {r.json()['token']}"}
    assert client.get("/api/v1/me", headers=fresh).json()["name"] == "ina"
    for old in (first, other):  # every earlier session is signed out
        assert client.get("/api/v1/me", headers=old).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {made['token']}"}).status_code == 200
    assert login(client, "ina", "lantern-harbour-7").status_code == 401
    assert login(client, "ina", "a-new-password-1").status_code == 200
    # Guessing the current password through this route is throttled like signing in.
    for _ in range(5):  # the sign-in just before cleared the earlier failures
        assert change(fresh, "guess-guess-guess", "another-password-2").status_code == 403
    r = change(fresh, "a-new-password-1", "another-password-2")
    assert r.status_code == 429 and "retry-after" in r.headers
    # An API-token caller without a password has nothing to change.
    tok = make_user(client, "tok", None)
    r = change({"Authorization": f"Bearer {tok['token']}"}, "anything-at-all", "another-password-2")
    assert r.status_code == 403
