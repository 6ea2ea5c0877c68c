"""`edgewatch server --config …` as a user runs it: a real process, real Mosquitto, HTTP on a free port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from services.mosquitto import MosquittoBroker
from services.process import free_port, stop_process
from test_server_helpers import RULES_YAML, FakeEdge, make_event

COMMAND = [sys.executable, "-c", "from edgewatch.cli import main; raise SystemExit(main())", "server"]


def test_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "server.yaml"
    cfg.write_text("mqtt: {port: not-a-port}\n")
    r = subprocess.run([*COMMAND, "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "mqtt.port" in r.stderr


def test_server_command_ingests_and_serves(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    port = free_port()
    (tmp_path / "rules.yaml").write_text(RULES_YAML)
    (tmp_path / "server.yaml").write_text(
        f"database_url: sqlite:///db.sqlite\nclip_dir: clips\nrules: rules.yaml\n"
        f"http: {{port: {port}}}\n"
        f"mqtt: {{host: {mosquitto.host}, port: {mosquitto.port}, client_id: cli-test, session_expiry_s: 0}}\n")
    env = {**os.environ, "EDGEWATCH_ADMIN_TOKEN": "cli-admin-token-0123456789"}
    proc = subprocess.Popen([*COMMAND, "--config", str(tmp_path / "server.yaml")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    edge = FakeEdge(mosquitto.host, mosquitto.port)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).json().get("mqtt") == "connected":
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not come up"
            time.sleep(0.2)
        clip = os.urandom(300_000)
        event = make_event(clip=clip)
        edge.send_event(event)
        edge.send_chunk(event, 0, clip[:262144])
        edge.send_chunk(event, 1, clip[262144:])
        edge.wait_ack(event["event_id"], "stored")
        auth = {"Authorization": "Bearer cli-admin-token-0123456789"}
        page = httpx.get(f"{base}/api/v1/violations", headers=auth, timeout=5).json()
        assert page["total"] == 1 and page["items"][0]["place"] == "Caima block 3, floor 12, column B"
        r = httpx.get(f"{base}/api/v1/events/{event['event_id']}/clip", headers={**auth, "Range": "bytes=0-9"})
        assert r.status_code == 206 and r.content == clip[:10]
        assert (tmp_path / "db.sqlite").exists() and any((tmp_path / "clips").rglob("*.mp4"))
    finally:
        edge.close()
        stop_process(proc)


def test_user_commands_set_passwords_that_sign_in(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from server.app import create_app, create_context
    from server.config import load_config

    cfg = tmp_path / "server.yaml"
    cfg.write_text("database_url: sqlite:///db.sqlite\nadmin: {token: cli-admin-token-0123456789}\n")

    def user(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([*COMMAND, "user", *args, "--config", str(cfg)], input=stdin, capture_output=True,
                              text=True, timeout=120)

    r = user("add", "ina", "--role", "inspector", "--site", "caima", "--password-stdin", stdin="lantern-harbour-7\n")
    assert r.returncode == 0 and "created inspector 'ina'" in r.stderr and r.stdout == "", r.stderr
    assert "exists" in user("add", "ina", "--role", "inspector", "--generate").stderr
    r = user("passwd", "ina", "--password-stdin", stdin="short\n")
    assert r.returncode == 2 and "at least 8 characters; nothing changed" in r.stderr
    r = user("passwd", "ina")  # stdin is a pipe, not a terminal: no prompt that would hang a script
    assert r.returncode == 2 and "--password-stdin" in r.stderr
    assert "no user 'bob'" in user("passwd", "bob", "--generate").stderr
    # The bootstrap admin exists before the server ever ran, so the first admin can get a password.
    r = user("passwd", "admin", "--generate")
    assert r.returncode == 0, r.stderr
    admin_password = r.stdout.removeprefix("password: ").strip()
    listing = user("list").stdout.splitlines()
    assert listing[1].split() == ["admin", "admin", "yes", "(all)"] and listing[2].split() == [
        "ina", "inspector", "yes", "caima"]
    # `edgewatch server --config X user …` (config before the sub-command) works too.
    r = subprocess.run([*COMMAND, "--config", str(cfg), "user", "list"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "ina" in r.stdout

    ctx = create_context(load_config(cfg))
    with TestClient(create_app(ctx, run_ingest=False)) as client:
        for name, password in (("ina", "lantern-harbour-7"), ("admin", admin_password)):
            answer = client.post("/api/v1/auth/login", json={"username": name, "password": password})
            assert answer.status_code == 200, answer.text
        token = answer.json()["token"]
        assert client.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        # A reset from the command line revokes the open session.
        assert user("passwd", "admin", "--password-stdin", stdin="another-password-1\n").returncode == 0
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    ctx.engine.dispose()
