"""Helpers the server tests share (a fake edge publisher, event builders, a server fixture), plus unit tests of
the pure parts: byte ranges, config errors, rules, place labels."""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy import text

from edge.events import new_ulid
from edgewatch.errors import UserError
from server.app import create_context, start_ingest
from server.config import AdminBootstrap, IngestConfig, MqttConfig, ServerConfig, load_config
from server.context import ServerContext
from server.ranges import RangeNotSatisfiableError, parse_range
from server.rules import load_rules
from server.tagging import place_label

REPO = Path(__file__).resolve().parents[1]
CHUNK = 262144
RULES_YAML = """
merge_window_s: 600
violations:
  falling_object: {violation: falling_object, severity: high}
  missing_chef_hat: {violation: missing_chef_hat, severity: low}
  uncovered_bin: {violation: uncovered_bin, severity: medium}
cameras:
  caima-b3-east: {site: caima, building: "Caima block 3"}
  kitchen-07: {site: shenglihe, restaurant: "Shenglihe noodles"}
recurrence:
  - {violation: falling_object, count: 3, period_s: 86400}
"""


# --- building events and clips --------------------------------------------------------------------------------


def make_event(site: str = "caima", camera: str = "caima-b3-east", *, type: str = "falling_object",
               floor: str | None = "12", column: str | None = "B", clip: bytes | None = None,
               started_at: str = "2026-11-22T10:15:03.480Z", event_id: str | None = None,
               chunk_bytes: int = CHUNK, snapshot: bytes | None = None, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": event_id or new_ulid(), "type": type, "camera_id": camera, "site": site,
        "start": 12.48, "end": 14.12, "started_at": started_at, "confidence": 0.93,
        "clip": None, "clip_chunks": 0, "chunk_bytes": chunk_bytes,
        "snapshot_sha256": hashlib.sha256(snapshot).hexdigest() if snapshot else None,
    }
    if type == "falling_object":
        event["release"] = None if floor is None else {
            "floor": floor, "column": column, "x": 5.1, "y": -0.8, "z": 34.2,
            "floor_probabilities": {floor: 0.9}}
        event["track"] = [{"t": 12.48, "u": 903.5, "v": 211.0}]
    else:
        event["zone"] = extra.pop("zone", "prep-1")
        event["boxes"] = [[1, 2, 3, 4]]
    if clip is not None:
        event["clip"] = {"path": f"/spool/{event['event_id']}.mp4", "sha256": hashlib.sha256(clip).hexdigest(),
                         "bytes": len(clip)}
        event["clip_chunks"] = math.ceil(len(clip) / chunk_bytes)
    event.update(extra)
    return event


def chunks_of(clip: bytes, chunk_bytes: int = CHUNK) -> list[bytes]:
    return [clip[i:i + chunk_bytes] for i in range(0, len(clip), chunk_bytes)]


def topic(site: str, camera: str, *rest: str) -> str:
    return "/".join(["edgewatch/v1", site, camera, *rest])


class FakeEdge:
    """An MQTT 5 client that publishes like an edge box and records the server's acks."""

    def __init__(self, host: str, port: int) -> None:
        self.acks: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"edge-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        subscribed = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe([("edgewatch/v1/+/+/ack", SubscribeOptions(qos=1))])
        self.client.connect(host, port)
        self.client.loop_start()
        assert subscribed.wait(10), "fake edge could not subscribe to acks"

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.acks.append({"topic": msg.topic, **json.loads(msg.payload)})
            self._cond.notify_all()

    def publish(self, t: str, payload: bytes | str, retain: bool = False) -> None:
        self.client.publish(t, payload, qos=1, retain=retain)

    def send_event(self, event: dict[str, Any]) -> None:
        self.publish(topic(event["site"], event["camera_id"], "event"), json.dumps(event))

    def send_chunk(self, event: dict[str, Any], seq: int, data: bytes) -> None:
        self.publish(topic(event["site"], event["camera_id"], "clip", event["event_id"], str(seq)), data)

    def wait_ack(self, event_id: str | None, status: str, timeout_s: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for ack in self.acks:
                    if ack["event_id"] == event_id and ack["status"] == status:
                        return ack
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {status!r} ack for {event_id} within {timeout_s} s: {self.acks[-5:]}")
                self._cond.wait(left)

    def wait_count(self, status: str, n: int, timeout_s: float) -> set[str]:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                ids = {a["event_id"] for a in self.acks if a["status"] == status}
                if len(ids) >= n or time.monotonic() > deadline:
                    return ids
                self._cond.wait(0.2)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- servers ------------------------------------------------------------------------------------------------------


def reset_database(url: str) -> None:
    """Empty every table of the shared scratch PostgreSQL database (tests share it across the session)."""
    if not url.startswith("postgresql"):
        return
    from server.db import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        tables = [r[0] for r in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'"))]
        if tables:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()


def server_config(db_url: str, tmp: Path, host: str = "127.0.0.1", port: int = 1883, rules: Path | None = None,
                  **ingest: Any) -> ServerConfig:
    if rules is None:
        rules = tmp / "rules.yaml"
        rules.write_text(RULES_YAML)
    return ServerConfig(
        database_url=db_url, clip_dir=tmp / "clips", rules=rules,
        mqtt=MqttConfig(host=host, port=port, client_id=f"srv-{uuid.uuid4().hex[:8]}", session_expiry_s=0),
        ingest=IngestConfig(**{"missing_grace_s": 0, "sweep_interval_s": 0.2, **ingest}),
        admin=AdminBootstrap(name="admin", token="admin-token-0123456789"),
    )


@contextmanager
def running_server(config: ServerConfig) -> Iterator[ServerContext]:
    ctx = create_context(config)
    mq = start_ingest(ctx)
    try:
        assert mq.wait_ready(10), "server ingest did not subscribe"
        yield ctx
    finally:
        mq.stop()
        ctx.engine.dispose()


DATABASES = ["sqlite", "postgresql"]


def pick_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """For a fixture parametrized over DATABASES: a fresh SQLite file, or the emptied scratch PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'edgewatch.db'}"
    url: str = request.getfixturevalue("postgres_url")
    reset_database(url)
    return url


# --- unit tests of the pure parts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "expected"), [
    ("bytes=0-99", (0, 99)), ("bytes=100-", (100, 999)), ("bytes=-100", (900, 999)), ("bytes=990-5000", (990, 999)),
    (None, None), ("items=0-1", None), ("bytes=0-1,5-6", None), ("bytes=x-y", None),
])
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5-2", "bytes=-0"])
def test_unsatisfiable_range(header: str) -> None:
    with pytest.raises(RangeNotSatisfiableError):
        parse_range(header, 1000)


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "server.yaml"
    path.write_text("mqtt: {port: 99999}\ningest: {clip_timeout_s: -1}\nhttp: {prot: 1}\n")
    with pytest.raises(UserError) as err:
        load_config(path)
    message = str(err.value)
    assert "mqtt.port" in message and "ingest.clip_timeout_s" in message and "http.prot: unknown key" in message


def test_examples_load() -> None:
    cfg = load_config(REPO / "examples/server.yaml")
    assert cfg.rules is not None and cfg.rules.name == "rules.yaml"
    rules = load_rules(cfg.rules)
    assert rules.violations["falling_object"].severity in ("high", "critical")
    assert rules.cameras and rules.recurrence


def test_rules_errors_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("cameras: {cam1: {site: '../etc'}}\n")
    with pytest.raises(UserError, match=r"cameras\.cam1\.site"):
        load_rules(path)


def test_place_labels() -> None:
    assert place_label("Caima block 3", None, "c", "12", "B", None, True) == "Caima block 3, floor 12, column B"
    assert place_label(None, "Shenglihe", "k", None, None, "prep-1", False) == "Shenglihe, zone prep-1"


def test_admin_token_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "server.yaml"
    path.write_text("database_url: sqlite:///db.sqlite\n")
    monkeypatch.setenv("EDGEWATCH_ADMIN_TOKEN", "from-env-0123456789")
    cfg = load_config(path)
    assert cfg.admin.token == "from-env-0123456789"
    assert cfg.database_url == f"sqlite:///{(tmp_path / 'db.sqlite').resolve()}"
    assert os.path.isabs(cfg.clip_dir)


def test_migrations_build_exactly_the_orm_schema(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from server.db import Base, make_engine, migrate

    engine = make_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    migrate(engine)
    migrate(engine)  # a second start finds nothing to do
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()
