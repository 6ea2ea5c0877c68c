"""Server benchmark: sustained ingest of events with 1 MB clips, violations-list latency under concurrent load,
and the time from an event's last clip chunk to its clip being available through the API.

Runs against a private Mosquitto and, per backend, a fresh SQLite file or scratch PostgreSQL database (the test
suite's services), loopback only, bounded in count:

    .venv/bin/python -m benchmarks.server_bench [--events 100] [--clip-mb 1] [--clients 8] [--requests 50]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import uvicorn
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge.events import new_ulid
from server.app import create_app, create_context, start_ingest
from server.config import IngestConfig, MqttConfig, ServerConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from services.mosquitto import MosquittoBroker
from services.postgres import ScratchDatabase
from services.process import free_port

TOKEN = "bench-admin-token-0123456789"
CHUNK = 262144
RULES = "cameras: {bench-cam: {site: bench, building: 'Bench tower'}}\n"


class Publisher:
    def __init__(self, host: str, port: int) -> None:
        self.stored: dict[str, float] = {}
        self.cond = threading.Condition()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:6]}",
                             protocol=mqtt.MQTTv5)
        self.c.max_inflight_messages_set(64)
        ready = threading.Event()
        self.c.on_connect = lambda c, *a: c.subscribe([("edgewatch/v1/+/+/ack", SubscribeOptions(qos=1))])
        self.c.on_subscribe = lambda *a: ready.set()
        self.c.on_message = self._ack
        self.c.connect(host, port)
        self.c.loop_start()
        ready.wait(10)

    def _ack(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        ack = json.loads(msg.payload)
        if ack["status"] == "stored":
            with self.cond:
                self.stored.setdefault(ack["event_id"], time.perf_counter())
                self.cond.notify_all()

    def send(self, i: int, clip: bytes) -> tuple[str, float]:
        """Publish one event and its chunks; returns its id and the time the last chunk was handed over."""
        eid = new_ulid()
        event = {"event_id": eid, "type": "falling_object", "camera_id": "bench-cam", "site": "bench",
                 "start": 1.0, "end": 2.0, "started_at": f"2026-11-22T10:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
                 "confidence": 0.9, "release": {"floor": str(i % 40), "column": "ABCDEF"[i % 6], "x": 1.0,
                                                "y": -1.0, "z": 3.0, "floor_probabilities": {}},
                 "clip": {"path": "x.mp4", "sha256": hashlib.sha256(clip).hexdigest(), "bytes": len(clip)},
                 "clip_chunks": math.ceil(len(clip) / CHUNK), "chunk_bytes": CHUNK, "snapshot_sha256": None}
        self.c.publish("edgewatch/v1/bench/bench-cam/event", json.dumps(event), qos=1)
        info = None
        for seq in range(event["clip_chunks"]):
            info = self.c.publish(f"edgewatch/v1/bench/bench-cam/clip/{eid}/{seq}",
                                  clip[seq * CHUNK:(seq + 1) * CHUNK], qos=1)
        if info is not None:
            info.wait_for_publish(30)
        return eid, time.perf_counter()

    def wait(self, n: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while len(self.stored) < n and time.monotonic() < deadline:
                self.cond.wait(0.5)


def run_backend(name: str, url: str, broker: MosquittoBroker, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    (tmp / "rules.yaml").write_text(RULES)
    http_port = free_port()
    cfg = ServerConfig(database_url=url, clip_dir=tmp / "clips", rules=tmp / "rules.yaml",
                       http={"port": http_port},
                       mqtt=MqttConfig(host=broker.host, port=broker.port, client_id=f"bench-srv-{name}",
                                       session_expiry_s=0),
                       ingest=IngestConfig(), admin={"token": TOKEN})
    ctx = create_context(cfg)
    start_ingest(ctx)
    assert ctx.mqtt is not None and ctx.mqtt.wait_ready(10)
    server = uvicorn.Server(uvicorn.Config(create_app(ctx, run_ingest=False), host="127.0.0.1", port=http_port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    base, auth = f"http://127.0.0.1:{http_port}", {"Authorization": f"Bearer {TOKEN}"}
    while not server.started:
        time.sleep(0.05)
    pub = Publisher(broker.host, broker.port)
    clip = os.urandom(int(args.clip_mb * 1024 * 1024))
    result: dict[str, Any] = {"backend": name}
    try:
        # 1. sustained ingest: a bounded window of events awaiting their ack, like an edge spool
        t0 = time.perf_counter()
        for i in range(args.events):
            if i >= 16:
                pub.wait(i - 16, 60)
            pub.send(i, clip)
        pub.wait(args.events, 120)
        elapsed = time.perf_counter() - t0
        result["ingest_events"] = len(pub.stored)
        result["ingest_events_per_s"] = round(len(pub.stored) / elapsed, 1)
        result["ingest_mb_per_s"] = round(len(pub.stored) * len(clip) / elapsed / 1e6, 1)

        # 2. last chunk published → clip available through the API
        delays = []
        with httpx.Client(base_url=base, headers=auth, timeout=10) as client:
            for i in range(args.visible):
                eid, t_last = pub.send(10_000 + i, clip)
                while True:
                    r = client.get(f"/api/v1/events/{eid}")
                    if r.status_code == 200 and r.json()["clip_status"] == "stored":
                        delays.append(time.perf_counter() - t_last)
                        break
                    time.sleep(0.002)
        result["chunk_to_visible_ms_p50"] = round(statistics.median(delays) * 1000, 1)
        result["chunk_to_visible_ms_max"] = round(max(delays) * 1000, 1)

        # 3. violations list under concurrent load
        def worker(_: int) -> list[float]:
            out = []
            with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
                for j in range(args.requests):
                    t = time.perf_counter()
                    r = client.get("/api/v1/violations", params={"limit": 50, "offset": (j * 7) % 50})
                    r.raise_for_status()
                    out.append(time.perf_counter() - t)
            return out

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            lat = sorted(x for part in pool.map(worker, range(args.clients)) for x in part)
        wall = time.perf_counter() - t0
        result["list_clients"] = args.clients
        result["list_requests"] = len(lat)
        result["list_ms_p50"] = round(lat[len(lat) // 2] * 1000, 1)
        result["list_ms_p99"] = round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 1)
        result["list_req_per_s"] = round(len(lat) / wall, 1)
    finally:
        pub.c.disconnect()
        pub.c.loop_stop()
        server.should_exit = True
        ctx.mqtt.stop()
        time.sleep(0.5)
        ctx.engine.dispose()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100, help="events for the ingest rate (each with one clip)")
    ap.add_argument("--clip-mb", type=float, default=1.0)
    ap.add_argument("--visible", type=int, default=20, help="events timed from last chunk to visible")
    ap.add_argument("--clients", type=int, default=8, help="concurrent API clients")
    ap.add_argument("--requests", type=int, default=50, help="list requests per client")
    ap.add_argument("--backends", default="sqlite,postgresql")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        broker = MosquittoBroker(tmp / "mosquitto").start()
        try:
            results = []
            for backend in args.backends.split(","):
                work = tmp / backend
                work.mkdir()
                if backend == "sqlite":
                    results.append(run_backend(backend, f"sqlite:///{work / 'bench.db'}", broker, args, work))
                else:
                    db = ScratchDatabase().create()
                    try:
                        results.append(run_backend(backend, db.url, broker, args, work))
                    finally:
                        db.drop()
                print(json.dumps(results[-1]), flush=True)
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
