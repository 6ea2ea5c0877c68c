"""The REST API: every route, 401/403, site isolation, Range downloads, reviews and their audit trail, SSE."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_server_helpers import make_event, server_config, topic

from server.app import create_app, create_context
from server.context import ServerContext
from server.ingest import Ingest

ADMIN = {"Authorization": "Bearer admin-token-0123456789"}
CLIP = os.urandom(600_000)
SNAPSHOT = b"\xff\xd8\xff\xe0" + os.urandom(2000) + b"\xff\xd9"


class World:
    def __init__(self, ctx: ServerContext, client: TestClient) -> None:
        self.ctx, self.client = ctx, client
        self.acks: list[Any] = []
        self.ingest = Ingest(ctx.sessions, ctx.store, ctx.rules, ctx.config.ingest, self.acks.append)
        self.tokens: dict[str, dict[str, str]] = {"admin": ADMIN}

    def feed(self, event: dict[str, Any], clip: bytes | None = None, snapshot: bytes | None = None) -> None:
        site, cam = event["site"], event["camera_id"]
        self.ingest.handle(topic(site, cam, "event"), json.dumps(event).encode())
        for seq in range(event["clip_chunks"]):
            assert clip is not None
            self.ingest.handle(topic(site, cam, "clip", event["event_id"], str(seq)),
                               clip[seq * 262144:(seq + 1) * 262144])
        if snapshot is not None:
            self.ingest.handle(topic(site, cam, "snapshot", event["event_id"]), snapshot)

    def user(self, name: str, role: str, sites: list[str]) -> dict[str, str]:
        r = self.client.post("/api/v1/users", json={"name": name, "role": role, "sites": sites}, headers=ADMIN)
        assert r.status_code == 201, r.text
        self.tokens[name] = {"Authorization": f"Bearer {r.json()['token']}"}
        return self.tokens[name]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    cfg = server_config(f"sqlite:///{tmp_path / 'api.db'}", tmp_path)
    ctx = create_context(cfg)
    with TestClient(create_app(ctx, run_ingest=False)) as client:
        w = World(ctx, client)
        w.caima_event = make_event(clip=CLIP, snapshot=SNAPSHOT, started_at="2026-11-22T10:00:00.000Z")
        w.feed(w.caima_event, CLIP, SNAPSHOT)
        w.feed(make_event(floor="14", column="C", started_at="2026-11-22T11:00:00.000Z"))
        w.kitchen_event = make_event("shenglihe", "kitchen-07", type="missing_chef_hat",
                                     started_at="2026-11-22T12:00:00.000Z")
        w.feed(w.kitchen_event)
        w.ingest.handle(topic("caima", "caima-b3-east", "status"),
                        json.dumps({"state": "online", "t": 1.0, "fps_in": 25.0}).encode())
        w.user("ina", "inspector", ["caima"])
        w.user("kit", "inspector", ["shenglihe"])
        w.user("max", "manager", ["caima"])
        yield w
    ctx.engine.dispose()


def violation_of(w: World, event: dict[str, Any]) -> int:
    r = w.client.get(f"/api/v1/events/{event['event_id']}", headers=ADMIN)
    return int(r.json()["violation_id"])


ROUTES = [
    ("GET", "/api/v1/violations"), ("GET", "/api/v1/violations/1"), ("POST", "/api/v1/violations/1/review"),
    ("GET", "/api/v1/violations/1/audit"), ("GET", "/api/v1/events/X"), ("GET", "/api/v1/events/X/clip"),
    ("GET", "/api/v1/events/X/snapshot"), ("GET", "/api/v1/cameras"), ("GET", "/api/v1/alerts"),
    ("GET", "/api/v1/live"), ("GET", "/api/v1/me"), ("GET", "/api/v1/users"), ("POST", "/api/v1/users"),
    ("POST", "/api/v1/users/1/tokens"), ("POST", "/api/v1/calibrations/fit"), ("POST", "/api/v1/calibrations/preview"),
    ("GET", "/api/v1/calibrations/caima/cam"), ("POST", "/api/v1/calibrations/caima/cam"),
    ("PUT", "/api/v1/users/1/password"), ("POST", "/api/v1/auth/logout"), ("POST", "/api/v1/auth/password"),
]
PUBLIC_ROUTES = [("POST", "/api/v1/auth/login")]  # signing in is how one gets a token (tests/test_web_api.py)


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_api_route_needs_a_valid_token(world: World, method: str, path: str) -> None:
    assert world.client.request(method, path).status_code == 401
    r = world.client.request(method, path, headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_every_api_route_is_documented_and_covered(world: World) -> None:
    spec = world.client.get("/openapi.json").json()
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops if p.startswith("/api/v1")}
    assert len(documented) == len(ROUTES) + len(PUBLIC_ROUTES)
    assert world.client.get("/docs").status_code == 200


def test_violations_list_filters_and_paging(world: World) -> None:
    c = world.client
    page = c.get("/api/v1/violations", headers=ADMIN).json()
    assert page["total"] == 3 and [v["site"] for v in page["items"]] == ["shenglihe", "caima", "caima"]
    assert c.get("/api/v1/violations?site=caima", headers=ADMIN).json()["total"] == 2
    assert c.get("/api/v1/violations?type=missing_chef_hat", headers=ADMIN).json()["total"] == 1
    assert c.get("/api/v1/violations?building=Caima block 3&floor=14", headers=ADMIN).json()["total"] == 1
    assert c.get("/api/v1/violations?status=open", headers=ADMIN).json()["total"] == 3
    ranged = c.get("/api/v1/violations", params={"since": "2026-11-22T10:30:00Z", "until": "2026-11-22T11:30:00Z"},
                   headers=ADMIN).json()
    assert [v["floor"] for v in ranged["items"]] == ["14"]
    paged = c.get("/api/v1/violations?limit=1&offset=1", headers=ADMIN).json()
    assert paged["total"] == 3 and len(paged["items"]) == 1 and paged["items"][0]["floor"] == "14"
    assert c.get("/api/v1/violations?limit=0", headers=ADMIN).status_code == 422


def test_inspectors_see_only_their_site(world: World) -> None:
    c, ina, kit = world.client, world.tokens["ina"], world.tokens["kit"]
    assert {v["site"] for v in c.get("/api/v1/violations", headers=ina).json()["items"]} == {"caima"}
    assert c.get("/api/v1/violations?site=shenglihe", headers=ina).json()["total"] == 0
    caima_id = violation_of(world, world.caima_event)
    ev = world.caima_event["event_id"]
    for path in (f"/api/v1/violations/{caima_id}", f"/api/v1/violations/{caima_id}/audit", f"/api/v1/events/{ev}",
                 f"/api/v1/events/{ev}/clip", f"/api/v1/events/{ev}/snapshot"):
        assert c.get(path, headers=kit).status_code == 404, path
        assert c.get(path, headers=ina).status_code == 200, path
    assert c.post(f"/api/v1/violations/{caima_id}/review", json={"action": "confirm"}, headers=kit).status_code == 404
    assert [x["camera_id"] for x in c.get("/api/v1/cameras", headers=kit).json()] == ["kitchen-07"]
    assert c.get("/api/v1/alerts", headers=kit).json() == []
    assert c.get("/api/v1/users", headers=ina).status_code == 403
    assert c.post("/api/v1/users", json={"name": "x", "role": "admin"}, headers=world.tokens["max"]).status_code == 403


def test_violation_detail_has_its_events(world: World) -> None:
    vid = violation_of(world, world.caima_event)
    body = world.client.get(f"/api/v1/violations/{vid}", headers=ADMIN).json()
    assert body["place"] == "Caima block 3, floor 12, column B"
    assert [e["event_id"] for e in body["events"]] == [world.caima_event["event_id"]]
    assert body["events"][0]["clip_status"] == "stored"
    assert body["events"][0]["payload"]["release"]["floor"] == "12"
    assert world.client.get("/api/v1/violations/9999", headers=ADMIN).status_code == 404


def test_clip_download_with_ranges(world: World) -> None:
    c, ev = world.client, world.caima_event["event_id"]
    whole = c.get(f"/api/v1/events/{ev}/clip", headers=ADMIN)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "video/mp4" and hashlib.sha256(whole.content).digest() == \
        hashlib.sha256(CLIP).digest()
    part = c.get(f"/api/v1/events/{ev}/clip", headers={**ADMIN, "Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == CLIP[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(CLIP)}" and part.headers["content-length"] == "1000"
    tail = c.get(f"/api/v1/events/{ev}/clip", headers={**ADMIN, "Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == CLIP[-10:]
    seek = c.get(f"/api/v1/events/{ev}/clip", headers={**ADMIN, "Range": "bytes=599000-"})
    assert seek.status_code == 206 and seek.content == CLIP[599000:]
    bad = c.get(f"/api/v1/events/{ev}/clip", headers={**ADMIN, "Range": f"bytes={len(CLIP)}-"})
    assert bad.status_code == 416 and bad.headers["content-range"] == f"bytes */{len(CLIP)}"
    no_clip = world.kitchen_event["event_id"]
    assert c.get(f"/api/v1/events/{no_clip}/clip", headers=ADMIN).status_code == 404


def test_snapshot(world: World) -> None:
    c = world.client
    r = c.get(f"/api/v1/events/{world.caima_event['event_id']}/snapshot", headers=ADMIN)
    assert r.status_code == 200 and r.content == SNAPSHOT and r.headers["content-type"] == "image/jpeg"
    assert c.get(f"/api/v1/events/{world.kitchen_event['event_id']}/snapshot", headers=ADMIN).status_code == 404


def test_review_and_audit_trail(world: World) -> None:
    c, ina, mx = world.client, world.tokens["ina"], world.tokens["max"]
    vid = violation_of(world, world.caima_event)
    url = f"/api/v1/violations/{vid}/review"
    assert c.post(url, json={"action": "dismiss"}, headers=ina).status_code == 422  # a reason is required
    assert c.post(url, json={"action": "assign", "assignee": "ina"}, headers=ina).status_code == 403
    assert c.post(url, json={"action": "explode"}, headers=ina).status_code == 422
    r = c.post(url, json={"action": "confirm", "note": "clearly from 12B"}, headers=ina)
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    r = c.post(url, json={"action": "assign", "assignee": "ina"}, headers=mx)
    assert r.json()["assignee"] == "ina"
    assert c.post(url, json={"action": "note", "note": "called the building manager"}, headers=ina).status_code == 200
    r = c.post(url, json={"action": "dismiss", "reason": "a bird"}, headers=ina)
    assert (r.json()["status"], r.json()["dismiss_reason"]) == ("dismissed", "a bird")
    trail = c.get(f"/api/v1/violations/{vid}/audit", headers=ina).json()
    assert [(a["actor"], a["action"]) for a in trail] == [
        ("ingest", "created"), ("ina", "confirm"), ("max", "assign"), ("ina", "note"), ("ina", "dismiss")]
    assert trail[-1]["detail"] == {"reason": "a bird"}
    assert c.get("/api/v1/violations?status=dismissed", headers=ina).json()["total"] == 1


def test_cameras_alerts_and_users(world: World) -> None:
    c = world.client
    cams = {x["camera_id"]: x for x in c.get("/api/v1/cameras", headers=world.tokens["ina"]).json()}
    assert cams["caima-b3-east"]["state"] == "online" and cams["caima-b3-east"]["heartbeat"]["fps_in"] == 25.0
    assert cams["caima-b3-east"]["last_heartbeat_at"] is not None
    assert cams["caima-b3-east"]["offline_reason"] is None
    # The worker is connected but its camera's stream is down: inspectors see the camera offline, and why.
    world.ingest.handle(topic("caima", "caima-b3-east", "status"), json.dumps(
        {"state": "online", "t": 2.0, "stream": "down", "stream_since": "2026-11-22T10:00:05.000Z"}).encode())
    cam = c.get("/api/v1/cameras", headers=world.tokens["ina"]).json()[0]
    assert cam["state"] == "offline" and cam["offline_reason"] == "camera stream down since 2026-11-22T10:00:05.000Z"
    world.ingest.handle(topic("caima", "caima-b3-east", "status"), json.dumps({"state": "offline"}).encode())
    cam = c.get("/api/v1/cameras", headers=world.tokens["ina"]).json()[0]
    assert cam["state"] == "offline" and cam["offline_reason"].startswith("edge worker offline")
    world.ingest.handle(topic("caima", "caima-b3-east", "status"), json.dumps(
        {"state": "online", "t": 3.0, "stream": "up", "fps_in": 25.0}).encode())
    cam = c.get("/api/v1/cameras", headers=world.tokens["ina"]).json()[0]
    assert cam["state"] == "online" and cam["offline_reason"] is None
    world.feed(make_event(floor="3", column="B", started_at="2026-11-22T13:00:00.000Z"))  # 2nd case under column B
    world.feed(make_event(floor="5", column="B", started_at="2026-11-22T14:00:00.000Z"))  # 3rd: alert
    alerts = c.get("/api/v1/alerts", headers=world.tokens["ina"]).json()
    assert [(a["place"], a["count"]) for a in alerts] == [("Caima block 3, column B", 3)]
    assert c.get("/api/v1/alerts?site=shenglihe", headers=ADMIN).json() == []
    me = c.get("/api/v1/me", headers=world.tokens["kit"]).json()
    assert (me["name"], me["role"], me["sites"]) == ("kit", "inspector", ["shenglihe"])
    assert len(c.get("/api/v1/users", headers=ADMIN).json()) == 4
    assert c.post("/api/v1/users", json={"name": "kit", "role": "inspector"}, headers=ADMIN).status_code == 409
    assert c.post("/api/v1/users", json={"name": "y", "role": "inspector", "sites": ["../x"]},
                  headers=ADMIN).status_code == 422
    kit_id = me["id"]
    token = c.post(f"/api/v1/users/{kit_id}/tokens", headers=ADMIN).json()["token"]
    assert c.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()["name"] == "kit"
    with world.ctx.sessions() as s:  # tokens are stored hashed only
        from sqlalchemy import select

        from server.db import ApiToken
        stored = set(s.scalars(select(ApiToken.token_sha256)).all())
    assert token not in stored and hashlib.sha256(token.encode()).hexdigest() in stored


def read_sse(world: World, query: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    with world.client.stream("GET", f"/api/v1/live?{query}", headers=headers) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        body = "".join(r.iter_text())
    return [json.loads(line.removeprefix("data: ")) for line in body.splitlines() if line.startswith("data: ")]


def test_live_feed_sends_violations_as_sse_scoped_to_sites(world: World) -> None:
    assert [e["id"] for e in read_sse(world, "after=0&max_events=3", ADMIN)] == [1, 2, 3]
    assert [e["site"] for e in read_sse(world, "after=0&max_events=1", world.tokens["kit"])] == ["shenglihe"]
    resumed = read_sse(world, "max_events=1", {**world.tokens["ina"], "Last-Event-ID": "1"})
    assert [e["id"] for e in resumed] == [2]


def test_healthz_and_metrics(world: World) -> None:
    c = world.client
    assert c.get("/healthz").json() == {"status": "ok", "database": "ok", "mqtt": "disabled"}
    text = c.get("/metrics").text
    assert "# TYPE edgewatch_ingest_messages_total counter" in text
    assert 'edgewatch_violations{status="open"} 3' in text
    assert 'edgewatch_events{clip_status="stored"} 1' in text
