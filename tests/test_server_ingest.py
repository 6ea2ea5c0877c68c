"""MQTT ingest through the real Mosquitto broker, on SQLite and on PostgreSQL: events and clips in, violations
out, acks published; duplicates, out-of-order and missing chunks; malformed messages; two replicas."""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from test_server_helpers import (
    DATABASES,
    FakeEdge,
    chunks_of,
    make_event,
    pick_db_url,
    running_server,
    server_config,
    topic,
)

from server.db import Alert, Camera, ClipChunk, EventRow, Violation
from server.metrics import COUNTERS


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return pick_db_url(request, tmp_path)


@pytest.fixture
def edge(mosquitto):  # type: ignore[no-untyped-def]
    e = FakeEdge(mosquitto.host, mosquitto.port)
    yield e
    e.close()


def test_event_and_clip_out_of_order_become_a_violation(db_url: str, tmp_path: Path, mosquitto, edge) -> None:  # type: ignore[no-untyped-def]
    cfg = server_config(db_url, tmp_path, mosquitto.host, mosquitto.port)
    clip = os.urandom(700_000)  # 3 chunks
    event = make_event(clip=clip)
    parts = chunks_of(clip)
    with running_server(cfg) as ctx:
        edge.send_chunk(event, 2, parts[2])          # chunks before the event, out of order …
        edge.send_chunk(event, 0, parts[0])
        edge.send_event(event)
        edge.send_chunk(event, 0, parts[0])          # … duplicated
        edge.send_chunk(event, 1, parts[1])
        edge.wait_ack(event["event_id"], "stored")
        edge.send_event(event)                       # the edge asks again (its ack was lost): stored again
        edge.send_chunk(event, 1, parts[1])          # a late duplicate chunk is ignored
        time.sleep(0.3)
        assert sum(1 for a in edge.acks if a["status"] == "stored") >= 2
        assert not [a for a in edge.acks if a["status"] in ("rejected", "missing")]
        with ctx.sessions() as s:
            ev = s.get(EventRow, event["event_id"])
            assert ev is not None and ev.clip_status == "stored" and ev.clip_key
            assert s.scalar(select(func.count()).select_from(EventRow)) == 1
            assert s.scalar(select(func.count()).select_from(ClipChunk)) == 0
            v = s.get(Violation, ev.violation_id)
            assert v is not None and v.place == "Caima block 3, floor 12, column B"
            assert (v.site, v.type, v.severity, v.event_count) == ("caima", "falling_object", "high", 1)
        with ctx.store.open(ev.clip_key) as f:
            assert hashlib.sha256(f.read()).hexdigest() == event["clip"]["sha256"]


def test_merge_window_and_recurrence_alert(db_url: str, tmp_path: Path, mosquitto, edge) -> None:  # type: ignore[no-untyped-def]
    cfg = server_config(db_url, tmp_path, mosquitto.host, mosquitto.port)
    events = [
        make_event(floor="12", column="B", started_at="2026-11-22T10:00:00.000Z"),
        make_event(floor="12", column="B", started_at="2026-11-22T10:05:00.000Z"),  # same case (within 10 min)
        make_event(floor="12", column="B", started_at="2026-11-22T11:00:00.000Z"),  # new case, same place
        make_event(floor="14", column="B", started_at="2026-11-22T12:00:00.000Z"),  # 3rd case under column B
        make_event(floor="14", column="C", started_at="2026-11-22T12:00:00.000Z"),  # another column
        make_event("shenglihe", "kitchen-07", type="missing_chef_hat", started_at="2026-11-22T12:00:00.000Z"),
    ]
    with running_server(cfg) as ctx:
        for e in events:
            edge.send_event(e)
            edge.wait_ack(e["event_id"], "stored")
        with ctx.sessions() as s:
            cases = s.scalars(select(Violation).order_by(Violation.id)).all()
            assert [c.event_count for c in cases] == [2, 1, 1, 1, 1]
            assert cases[-1].place == "Shenglihe noodles, zone prep-1"
            assert cases[-1].severity == "low"
            alerts = s.scalars(select(Alert)).all()
            assert len(alerts) == 1
            assert (alerts[0].type, alerts[0].place, alerts[0].count) == ("falling_object",
                                                                          "Caima block 3, column B", 3)


def test_incomplete_clip_is_kept_flagged_and_completes_later(db_url: str, tmp_path: Path, mosquitto, edge) -> None:  # type: ignore[no-untyped-def]
    cfg = server_config(db_url, tmp_path, mosquitto.host, mosquitto.port, clip_timeout_s=0.5)
    clip = os.urandom(3 * 262144 - 10)
    event = make_event(clip=clip)
    parts = chunks_of(clip)
    with running_server(cfg) as ctx:
        edge.send_event(event)
        edge.send_chunk(event, 0, parts[0])
        ack = edge.wait_ack(event["event_id"], "missing", timeout_s=10)
        assert ack["missing_chunks"] == [1, 2]
        with ctx.sessions() as s:
            ev = s.get(EventRow, event["event_id"])
            assert ev is not None and ev.clip_status == "incomplete" and ev.violation_id is not None
        edge.send_event(event)                       # asking again lists what is still missing
        edge.send_chunk(event, 1, parts[1])
        edge.send_chunk(event, 2, parts[2])
        edge.wait_ack(event["event_id"], "stored")
        with ctx.sessions() as s:
            ev = s.get(EventRow, event["event_id"])
            assert ev is not None and ev.clip_status == "stored"


def test_malformed_messages_are_rejected_and_ingest_goes_on(db_url: str, tmp_path: Path, mosquitto, edge) -> None:  # type: ignore[no-untyped-def]
    cfg = server_config(db_url, tmp_path, mosquitto.host, mosquitto.port, max_event_bytes=65536)
    rejected_before = COUNTERS.get("edgewatch_ingest_messages_total", kind="event", result="rejected")
    bad_types = make_event(confidence="very")
    huge = make_event(zone="x" * 100_000)
    long_field = make_event(zone="x" * 1000)
    traversal = make_event(camera="../../etc")
    wrong_site = make_event(site="other-site")        # the rules put caima-b3-east in site caima
    clip = os.urandom(1000)
    bad_hash = make_event(clip=clip)
    unknown_type = make_event(type="explosion")
    with running_server(cfg) as ctx:
        t = topic("caima", "caima-b3-east", "event")
        edge.publish(t, b"{not json")
        edge.publish(t, b"\xff\xfe")
        edge.publish(t, b"[1, 2, 3]")
        edge.publish(t, json.dumps(bad_types))
        edge.publish(t, json.dumps(huge))
        edge.publish(t, json.dumps(long_field))
        edge.publish(t, json.dumps(unknown_type))
        edge.publish(topic("caima", "..", "event"), json.dumps(traversal))
        edge.publish(topic("caima", "caima-b3-east", "clip", "..", "0"), b"x")
        edge.publish(topic("caima", "caima-b3-east", "clip", bad_hash["event_id"], "-1"), b"x")
        edge.publish(t, json.dumps(traversal))          # camera_id differs from the topic
        edge.publish(topic("other-site", "caima-b3-east", "event"), json.dumps(wrong_site))
        edge.publish(topic("caima", "caima-b3-east", "status"), b'{"state": "sideways"}')
        edge.send_event(bad_hash)
        edge.send_chunk(bad_hash, 0, b"y" * 1000)       # right size, wrong bytes
        for e in (bad_types, unknown_type, wrong_site, bad_hash, long_field):
            edge.wait_ack(e["event_id"], "rejected")
        assert any("exceeds" in (a["reason"] or "") for a in edge.acks if a["event_id"] is None)  # too big to read
        good = make_event(clip=clip)
        edge.send_event(good)
        edge.send_chunk(good, 0, clip)
        edge.wait_ack(good["event_id"], "stored")        # still ingesting
        edge.publish(topic("caima", "caima-b3-east", "status"), json.dumps(
            {"state": "online", "t": "2026-11-22T10:00:00Z", "fps_in": 25.0, "fps_out": 25.0, "decode_lag_s": 0.1,
             "dropped_frames": 0, "spool_events": 0, "spool_bytes": 0, "reconnects": 1, "version": "0.1.0"}),
            retain=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with ctx.sessions() as s:
                cam = s.get(Camera, ("caima", "caima-b3-east"))
                if cam is not None and cam.state == "online":
                    break
            time.sleep(0.1)
        assert cam is not None and cam.heartbeat is not None and cam.heartbeat["fps_in"] == 25.0
        with ctx.sessions() as s:
            ids = set(s.scalars(select(EventRow.event_id)).all())
            assert ids == {good["event_id"], bad_hash["event_id"]}
            bad = s.get(EventRow, bad_hash["event_id"])
            assert bad is not None and bad.clip_status == "corrupt"  # the event is kept; the clip is not
        edge.publish(topic("caima", "caima-b3-east", "status"), b"", retain=True)
    assert COUNTERS.get("edgewatch_ingest_messages_total", kind="event", result="rejected") - rejected_before >= 8


def test_two_replicas_share_the_ingest_without_loss_or_duplicates(db_url: str, tmp_path: Path, mosquitto,  # type: ignore[no-untyped-def]
                                                                  edge) -> None:
    # 2,000 on PostgreSQL (the multi-replica deployment); SQLite (one box, one writer at a time) gets 500 to keep
    # the suite inside its time budget on a shared 2-core CI machine. EDGEWATCH_TEST_REPLICA_EVENTS overrides.
    n = int(os.environ.get("EDGEWATCH_TEST_REPLICA_EVENTS", "2000" if db_url.startswith("postgresql") else "500"))
    cfg_a = server_config(db_url, tmp_path, mosquitto.host, mosquitto.port)
    cfg_b = server_config(db_url, tmp_path, mosquitto.host, mosquitto.port, rules=cfg_a.rules)
    assert cfg_a.clip_dir == cfg_b.clip_dir  # one shared clip store, as replicas on one volume (or one S3 bucket)
    window = 500
    rng = random.Random(6)
    events = []
    for i in range(n):
        clip = rng.randbytes(64)
        e = make_event(clip=clip, floor=str(i % 30), column="ABCD"[i % 4],
                       started_at=f"2026-11-22T{10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z")
        events.append((e, clip))
    with running_server(cfg_a) as ctx_a, running_server(cfg_b):
        handled_before = COUNTERS.get("edgewatch_ingest_messages_total", kind="event", result="ok")
        t0 = time.monotonic()
        for i, (e, clip) in enumerate(events):
            if i >= window and i % 50 == 0:  # like an edge spool: a bounded number of events awaiting their ack
                edge.wait_count("stored", i - window, timeout_s=60)
            if rng.random() < 0.5:
                edge.send_chunk(e, 0, clip)
                edge.send_event(e)
            else:
                edge.send_event(e)
                edge.send_chunk(e, 0, clip)
            if rng.random() < 0.05:
                edge.send_event(e)  # QoS 1 redelivery
        stored = edge.wait_count("stored", n, timeout_s=120)
        elapsed = time.monotonic() - t0
        print(f"\n{n} events (+64 B clips) through 2 replicas in {elapsed:.1f} s ({n / elapsed:.0f} events/s)")
        assert len(stored) == n
        with ctx_a.sessions() as s:
            assert s.scalar(select(func.count()).select_from(EventRow)) == n
            assert s.scalar(select(func.count()).select_from(EventRow).where(EventRow.clip_status == "stored")) == n
            assert s.scalar(select(func.count()).select_from(ClipChunk)) == 0
            assert s.scalar(select(func.sum(Violation.event_count))) == n
        assert COUNTERS.get("edgewatch_ingest_messages_total", kind="event", result="ok") - handled_before >= n
