"""Load test: how many 1080p25 cameras one edge box carries, and how many events a second one server ingests.

    .venv/bin/python -m benchmarks.load_bench edge   [--cameras 1,2,3,4,5] [--seconds 30] [--warmup 8]
    .venv/bin/python -m benchmarks.load_bench server [--boxes 4] [--rates 1,2,4,8,16] [--seconds 20]
                                                     [--backends sqlite,postgresql] [--clip-s 8]
    .venv/bin/python -m benchmarks.load_bench all --quick      # both, short steps (a few minutes)

**edge**: N simulated cameras, each replaying the 1080p25 H.264 falling scene of ``benchmarks.falling_speed``
(trees, birds, lighting, jitter, noise, two throws; rendered once into data/bench/) in a loop at recorded speed,
through the real runtime: ``edgewatch edge`` (supervisor + one worker process per camera, falling detector on)
publishing to a private Mosquitto. Per camera, over a measuring window after a warm-up, from the worker's own
status heartbeats (1 s period): frames decoded against 25 × elapsed, how far analysis lags behind real time and
whether that lag grows, dropped frames, the worker's CPU %. N steps up until a camera falls behind (decodes
< 97 % of its frames, or its lag grows by more than 1 s over the window): the box's capacity at 1080p25 is the
last N that kept up. Also the CPU-time estimate, cores / (CPU s per frame × 25), which does not depend on what
else the machine runs.

**server**: M simulated edge boxes, each a separate process with its own device (camera) id, running the real
edge delivery code (``Spool`` + ``Delivery``: spool fsync, MQTT 5 QoS 1, 256 KiB chunks, end-to-end ack, at most
8 events in flight) with real events: an evidence clip remuxed by the runtime's ring buffer from the same 1080p
scene (``--clip-s`` seconds, as pre-roll + event + post-roll) and its JPEG snapshot. One ``edgewatch server``
process (SQLite, then a scratch PostgreSQL database) behind a private Mosquitto. The offered rate steps up; per
step: events stored per second, latency from handing the event to the edge's delivery to the server's ``stored``
ack at the edge (every event) and to the event being visible with its clip through ``GET /api/v1/events/{id}``
(box 0's events, polled), and whether every event was stored exactly once.

The machine may be shared: every figure is printed beside the load average, the machine's CPU busy % and the
CPU seconds of our own processes over the same window, so a reading taken on a busy machine can be told apart.
Results go in docs/benchmarks.md ("Load").
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from services.mosquitto import MosquittoBroker  # noqa: E402
from services.postgres import ScratchDatabase  # noqa: E402
from services.process import free_port  # noqa: E402

FPS = 25.0
TOKEN = "load-admin-token-0123456789abcdef"
SCENE_SIZE = (1920, 1080)
SCENE_S = 12.0
SCENE_SEED = 77
SCENE_DISTRACTORS = ["trees", "birds", "lighting", "jitter", "noise"]
"""The 1080p scene of benchmarks.falling_speed (docs/benchmarks.md's speed table), so the figures compare."""
KEEPS_UP_FRAMES = 0.97
KEEPS_UP_LAG_GROWTH_S = 1.0


# --- what the machine is doing ----------------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]  # idle + iowait
    return sum(parts) - idle, sum(parts)


@dataclass
class Window:
    """CPU seconds of named processes, the machine's busy share and the load average over one measuring window."""

    pids: dict[str, int]
    wall0: float = field(default_factory=time.monotonic)
    cpu0: dict[str, float] = field(default_factory=dict)
    ticks0: tuple[int, int] = field(default_factory=machine_ticks)

    def __post_init__(self) -> None:
        self.cpu0 = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def close(self) -> dict[str, Any]:
        wall = time.monotonic() - self.wall0
        busy1, total1 = machine_ticks()
        busy = (busy1 - self.ticks0[0]) / max(1, total1 - self.ticks0[1])
        cpu = {name: round(cpu_seconds(pid) - self.cpu0[name], 2) for name, pid in self.pids.items()}
        ours = sum(cpu.values())
        cores = os.cpu_count() or 1
        return {"wall_s": round(wall, 1), "load_avg": [round(x, 2) for x in os.getloadavg()],
                "machine_busy_pct": round(100 * busy, 1), "ours_cpu_s": round(ours, 1),
                "others_cpu_pct_of_machine": round(max(0.0, 100 * busy - 100 * ours / (wall * cores)), 1),
                "cpu_s": cpu}


def say(line: str) -> None:
    print(line, flush=True)


# --- shared pieces ----------------------------------------------------------------------------------------------


def scene_clip() -> tuple[Path, Path]:
    """The 1080p25 falling scene (video, calibration), rendered once by benchmarks.falling_speed."""
    from benchmarks.falling_speed import make_clip

    truth_path = make_clip(ROOT / "data" / "bench", *SCENE_SIZE, SCENE_S, SCENE_SEED, SCENE_DISTRACTORS)
    truth = json.loads(truth_path.read_text())
    return truth_path.parent / truth["video"], truth_path.parent / truth["calibration"]


class StatusFeed:
    """The latest retained status heartbeat of every camera, as an MQTT 5 subscriber sees it."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.latest: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"load-status-{uuid.uuid4().hex[:6]}",
                                  protocol=mqtt.MQTTv5)
        ready = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe("edgewatch/v1/+/+/status", qos=1)
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        if not ready.wait(10):
            raise RuntimeError("cannot subscribe to the status topics")

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.payload:
            with self.lock:
                self.latest[msg.topic.split("/")[3]] = json.loads(msg.payload)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return dict(self.latest)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def stop_group(proc: subprocess.Popen[Any], timeout_s: float = 20.0) -> None:
    """SIGTERM the child (it stops its own workers); SIGKILL its process group if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --- (a) one edge box -------------------------------------------------------------------------------------------


def edge_step(n: int, video: Path, calibration: Path, broker: MosquittoBroker, status: StatusFeed, work: Path,
              warmup_s: float, seconds: float) -> dict[str, Any]:
    """Run ``edgewatch edge`` with ``n`` cameras replaying ``video`` at recorded speed; measure one window."""
    step = f"n{n}-{uuid.uuid4().hex[:4]}"
    cams = [f"load-{step}-{i}" for i in range(n)]
    config = {
        "site": "load",
        "mqtt": {"host": broker.host, "port": broker.port, "client_id": f"load-edge-{step}", "heartbeat_s": 1,
                 "ack_timeout_s": 3600},  # no server in this part: nothing is acked, so nothing is resent
        "spool": {"dir": str(work / step / "spool")},
        "cameras": [{"camera_id": c, "detector": "falling", "source": str(video), "calibration": str(calibration),
                     "replay": "realtime", "loop": True, "pre_roll_s": 3, "post_roll_s": 3} for c in cams],
    }
    (work / step).mkdir(parents=True)
    path = work / step / "edge.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    log_path = work / step / "edge.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "edgewatch", "-v", "edge", "--config", str(path)], cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            beats = status.snapshot()
            if all(beats.get(c, {}).get("stream") == "up" for c in cams):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"edge did not start its {n} camera(s):\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        pids = {m.group(1): int(m.group(2))
                for m in re.finditer(r"worker (\S+) started \(pid (\d+)\)", log_path.read_text())}
        time.sleep(warmup_s)
        window = Window({"supervisor": proc.pid, **pids, "mosquitto": broker.pid or 0})
        first = status.snapshot()
        time.sleep(seconds)
        last = status.snapshot()
        usage = window.close()
    finally:
        stop_group(proc)
    per_camera = []
    for c in cams:
        a, b = first[c], last[c]
        dt = (datetime.fromisoformat(b["t"]) - datetime.fromisoformat(a["t"])).total_seconds()
        frames = b["frames"] - a["frames"]
        cpu = usage["cpu_s"].get(c, 0.0)
        lag_a, lag_b = a["decode_lag_s"] or 0.0, b["decode_lag_s"] or 0.0
        per_camera.append({
            "camera": c, "frames": frames, "expected": round(FPS * dt), "frames_ratio": round(frames / (FPS * dt), 3),
            "lag_s": lag_b, "lag_growth_s": round(lag_b - lag_a, 2),
            "dropped": b["dropped_frames"] - a["dropped_frames"], "cpu_pct": round(100 * cpu / usage["wall_s"], 1),
            "cpu_ms_per_frame": round(1000 * cpu / max(1, frames), 2), "events": b.get("events", 0)})
    keeps_up = all(c["frames_ratio"] >= KEEPS_UP_FRAMES and c["lag_growth_s"] <= KEEPS_UP_LAG_GROWTH_S
                   for c in per_camera)
    cpu_per_frame_s = sum(c["cpu_ms_per_frame"] for c in per_camera) / len(per_camera) / 1000
    cores = os.cpu_count() or 1
    return {"cameras": n, "keeps_up": keeps_up, "per_camera": per_camera,
            "cpu_ms_per_frame_mean": round(1000 * cpu_per_frame_s, 2),
            "cpu_estimate_cameras": round(cores / (cpu_per_frame_s * FPS), 1), **usage}


def run_edge(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    video, calibration = scene_clip()
    say(f"edge box: {video.name} (1920x1080 25 fps, looped at recorded speed), falling detector on, "
        f"{os.cpu_count()} cores, warm-up {args.warmup:.0f} s, window {args.seconds:.0f} s")
    broker = MosquittoBroker(work / "mosquitto").start()
    status = StatusFeed(broker)
    steps = []
    try:
        for n in args.cameras:
            say(f"  {n} camera(s) … (load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
            step = edge_step(n, video, calibration, broker, status, work / "edge", args.warmup, args.seconds)
            steps.append(step)
            cams = step["per_camera"]
            say(f"  {n} camera(s): {'KEEPS UP' if step['keeps_up'] else 'FALLS BEHIND'}; frames "
                f"{min(c['frames_ratio'] for c in cams):.3f}–{max(c['frames_ratio'] for c in cams):.3f} of 25/s, "
                f"lag ≤ {max(c['lag_s'] for c in cams):.2f} s (growth ≤ {max(c['lag_growth_s'] for c in cams):.2f} s),"
                f" dropped {sum(c['dropped'] for c in cams)}, CPU per camera "
                f"{statistics.mean(c['cpu_pct'] for c in cams):.0f} % ({step['cpu_ms_per_frame_mean']:.1f} ms/frame "
                f"→ estimate {step['cpu_estimate_cameras']} cameras on {os.cpu_count()} cores); "
                f"load {step['load_avg']}, machine busy {step['machine_busy_pct']} %, others "
                f"{step['others_cpu_pct_of_machine']} %, our CPU {step['ours_cpu_s']} s in {step['wall_s']} s")
            say("    " + json.dumps(step))
            if not step["keeps_up"] and not args.all_steps:
                break
    finally:
        status.close()
        broker.stop()
    kept = [s["cameras"] for s in steps if s["keeps_up"]]
    result = {"capacity_cameras_1080p25": max(kept) if kept else 0,
              "cpu_estimate_cameras": steps[0]["cpu_estimate_cameras"] if steps else None,
              "cpu_ms_per_frame_1_camera": steps[0]["cpu_ms_per_frame_mean"] if steps else None, "steps": steps}
    say(f"edge box capacity at 1080p25 on this machine now: {result['capacity_cameras_1080p25']} camera(s) kept up "
        f"(wall clock); CPU-time estimate {result['cpu_estimate_cameras']} cameras "
        f"({result['cpu_ms_per_frame_1_camera']} CPU ms per frame with one camera)")
    return result


# --- (b) one server ---------------------------------------------------------------------------------------------


def make_evidence(video: Path, clip_s: float, out: Path) -> tuple[Path, Path]:
    """A clip remuxed by the runtime's ring buffer (``clip_s`` seconds, no re-encode) and its JPEG snapshot."""
    from edge.runtime.config import SourceConfig
    from edge.runtime.evidence import snapshot_jpeg
    from edge.runtime.ingest import CameraStream
    from edge.runtime.ring import PacketRing, remux_clip

    stream = CameraStream("load", SourceConfig(url=str(video), replay="fast"), threading.Event())
    ring = PacketRing(keep_s=SCENE_S + 1)
    for item in stream.run():
        if item.packet is not None:
            ring.append(item.packet)
    start = 2.0
    clip = remux_clip(ring.select(start, start + clip_s))
    clip_path, snap_path = out / "clip.mp4", out / "snapshot.jpg"
    clip_path.write_bytes(clip.data)
    snap_path.write_bytes(snapshot_jpeg(clip.data, clip.start_s, start + clip_s / 2))
    return clip_path, snap_path


def box_main(argv: list[str]) -> None:
    """One simulated edge box (a separate process): the real Spool and Delivery, events at a fixed rate.

    Prints one JSON line per event handed to delivery (``submitted``) and per ``stored`` ack (``acked``, seen
    through the delivery's own log line), and ``done`` when everything it sent is acknowledged or time is up."""
    import logging

    from edge.events import Clip, Event, Release, TrackPoint, new_ulid, utc_iso
    from edge.runtime import wire
    from edge.runtime.config import MqttConfig
    from edge.runtime.delivery import Delivery
    from edge.runtime.spool import EvidenceBundle, Spool

    ap = argparse.ArgumentParser()
    for name in ("--site", "--camera", "--host", "--spool", "--clip", "--snapshot"):
        ap.add_argument(name, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--drain-s", type=float, required=True)
    a = ap.parse_args(argv)
    out_lock = threading.Lock()

    def emit(**kw: Any) -> None:
        with out_lock:
            sys.stdout.write(json.dumps(kw) + "\n")
            sys.stdout.flush()

    acked: set[str] = set()

    class AckLog(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            m = re.search(r"event (\w+) stored by the server", record.getMessage())
            if m:
                acked.add(m.group(1))
                emit(kind="acked", event_id=m.group(1), t=record.created)

    dlog = logging.getLogger("edge.runtime.delivery")
    dlog.setLevel(logging.INFO)
    dlog.addHandler(AckLog())
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.WARNING)  # the INFO lines are for AckLog only
    clip, snapshot = Path(a.clip).read_bytes(), Path(a.snapshot).read_bytes()
    sha, snap_sha = hashlib.sha256(clip).hexdigest(), hashlib.sha256(snapshot).hexdigest()
    spool = Spool(Path(a.spool), 2_000_000_000)
    delivery = Delivery(a.site, a.camera, MqttConfig(host=a.host, port=a.port, client_id="load-box", heartbeat_s=5),
                        spool, lambda: {"stream": "up"}, "load")
    delivery.start()
    rng = random.Random(a.camera)
    sent: list[str] = []
    t0 = time.monotonic()
    k = 0
    while True:
        due = t0 + k / a.rate
        if due - t0 >= a.seconds:
            break
        time.sleep(max(0.0, due - time.monotonic()))
        now = datetime.now(UTC)
        eid = new_ulid()
        event = Event(event_id=eid, type="falling_object", camera_id=a.camera, start=3.0, end=5.0,
                      started_at=utc_iso(now), confidence=0.9,
                      release=Release(floor=str(rng.randint(2, 30)), column="ABCDEFG"[rng.randint(0, 6)], x=4.0,
                                      y=-0.5, z=30.0, floor_probabilities={}),
                      track=[TrackPoint(t=3.0 + i / FPS, u=900.0, v=200.0 + 9 * i) for i in range(50)],
                      clip=Clip(path=f"{a.spool}/{eid}/clip.mp4", sha256=sha, bytes=len(clip)))
        message = wire.event_message(event, a.site, len(clip), snap_sha)
        delivery.submit(EvidenceBundle(eid, message, clip, snapshot, None))
        emit(kind="submitted", event_id=eid, t=time.time())
        sent.append(eid)
        k += 1
    deadline = time.monotonic() + a.drain_s
    while time.monotonic() < deadline and not set(sent) <= acked:
        time.sleep(0.1)
    delivery.stop()
    emit(kind="done", sent=len(sent), acked=len(set(sent) & acked), cpu_s=time.process_time(),
         spooled=len(Spool(Path(a.spool), 2_000_000_000)))  # reopened: what a restarted box would deliver


@dataclass
class BoxRun:
    proc: subprocess.Popen[str]
    camera: str
    submitted: dict[str, float] = field(default_factory=dict)
    acked: dict[str, float] = field(default_factory=dict)
    done: dict[str, Any] | None = None
    reader: threading.Thread | None = None

    def read(self, on_submit: Any) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            msg = json.loads(line)
            if msg["kind"] == "submitted":
                self.submitted[msg["event_id"]] = msg["t"]
                on_submit(self, msg["event_id"], msg["t"])
            elif msg["kind"] == "acked":
                self.acked.setdefault(msg["event_id"], msg["t"])
            elif msg["kind"] == "done":
                self.done = msg


class ServerUnderTest:
    def __init__(self, backend: str, broker: MosquittoBroker, cameras: list[str], work: Path) -> None:
        from edgewatch.demo import SampleCamera, write_rules, write_server_config

        work.mkdir(parents=True)
        self.db: ScratchDatabase | None = None
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        rules = write_rules(work / "rules.yaml", [SampleCamera(c, Path("-"), Path("-"), "Load tower") for c in cameras],
                            site="load")
        path = write_server_config(work / "server.yaml", state_dir=work, rules=rules, http_host="127.0.0.1",
                                   http_port=self.port, mqtt_host=broker.host, mqtt_port=broker.port,
                                   admin_token=TOKEN, client_id=f"load-server-{backend}", log_level="warning")
        if backend == "postgresql":
            self.db = ScratchDatabase(prefix="edgewatch_load").create()
            config = yaml.safe_load(path.read_text())
            config["database_url"] = self.db.url
            path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log_path = work / "server.log"
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "edgewatch", "server", "--config", str(path)],
                                         cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        from edgewatch.demo import server_ready

        deadline = time.monotonic() + 60
        while not server_ready(self.base):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        self.api = httpx.Client(base_url=f"{self.base}/api/v1", headers={"Authorization": f"Bearer {TOKEN}"},
                                timeout=30)

    def visible(self, event_id: str) -> bool:
        r = self.api.get(f"/events/{event_id}")
        return r.status_code == 200 and r.json().get("clip_status") == "stored"

    def totals(self) -> tuple[int, int]:
        """(violations' summed event_count, violations) over every page."""
        events = violations = offset = 0
        while True:
            page = self.api.get("/violations", params={"limit": 500, "offset": offset}).json()
            events += sum(v["event_count"] for v in page["items"])
            violations += len(page["items"])
            offset += 500
            if offset >= page["total"]:
                return events, violations

    def close(self) -> None:
        self.api.close()
        stop_group(self.proc)
        if self.db is not None:
            self.db.drop()


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def server_step(rate: float, args: argparse.Namespace, broker: MosquittoBroker, server: ServerUnderTest,
                cameras: list[str], evidence: tuple[Path, Path], work: Path) -> dict[str, Any]:
    """M boxes together offer ``rate`` events/s for ``args.seconds``; wait for the drain; tally."""
    per_box = rate / len(cameras)
    visible_at: dict[str, float] = {}
    pending: dict[str, float] = {}
    lock = threading.Lock()

    def on_submit(box: BoxRun, event_id: str, t: float) -> None:
        if box.camera == cameras[0]:  # box 0's events are followed through the API
            with lock:
                pending[event_id] = t

    boxes = []
    for cam in cameras:
        spool = work / f"spool-{cam}-{rate:g}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.load_bench", "_box", "--site", "load", "--camera", cam,
             "--host", broker.host, "--port", str(broker.port), "--spool", str(spool), "--clip", str(evidence[0]),
             "--snapshot", str(evidence[1]), "--rate", str(per_box), "--seconds", str(args.seconds),
             "--drain-s", str(args.drain)], cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True)
        box = BoxRun(proc, cam)
        box.reader = threading.Thread(target=box.read, args=(on_submit,), daemon=True)
        box.reader.start()
        boxes.append(box)
    window = Window({"server": server.proc.pid, "mosquitto": broker.pid or 0})  # the boxes report their own
    while any(b.proc.poll() is None for b in boxes):
        with lock:
            todo = list(pending.items())
        for eid, _t in todo:
            if server.visible(eid):
                visible_at[eid] = time.time()
                with lock:
                    pending.pop(eid, None)
        time.sleep(0.02)
    usage = window.close()
    for b in boxes:
        assert b.reader is not None
        b.reader.join(5)
    submitted = {eid: t for b in boxes for eid, t in b.submitted.items()}
    acked = {eid: t for b in boxes for eid, t in b.acked.items()}
    ack_lat = [acked[e] - submitted[e] for e in acked if e in submitted]
    vis_lat = [visible_at[e] - submitted[e] for e in visible_at]
    first, last_ack = min(submitted.values()), max(acked.values(), default=0.0)
    stored_missing = [e for e in submitted if not server.visible(e)]
    cpu = usage["cpu_s"]
    boxes_cpu = sum(b.done["cpu_s"] for b in boxes if b.done)
    usage["ours_cpu_s"] = round(usage["ours_cpu_s"] + boxes_cpu, 1)
    cpu["boxes"] = round(boxes_cpu, 2)
    result = {
        "offered_events_per_s": rate, "boxes": len(boxes), "submitted": len(submitted), "acked": len(acked),
        "stored_rate_events_per_s": round(len(acked) / max(1e-3, last_ack - first), 2),
        "ack_ms_p50": round(1000 * pct(ack_lat, 0.5)), "ack_ms_p99": round(1000 * pct(ack_lat, 0.99)),
        "visible_ms_p50": round(1000 * pct(vis_lat, 0.5)), "visible_ms_p99": round(1000 * pct(vis_lat, 0.99)),
        "visible_sampled": len(vis_lat), "stored": len(submitted) - len(stored_missing), "event_ids": list(submitted),
        "not_stored": len(stored_missing),
        "left_in_edge_spools": sum(b.done["spooled"] for b in boxes if b.done),
        "server_cpu_s_per_event": round(cpu["server"] / max(1, len(acked)), 3),
        "mosquitto_cpu_s_per_event": round(cpu["mosquitto"] / max(1, len(acked)), 3),
        "boxes_cpu_s_per_event": round(boxes_cpu / max(1, len(acked)), 3),
        **usage,
    }
    result["keeps_up"] = (not stored_missing and result["stored_rate_events_per_s"] >= 0.9 * rate
                          and result["ack_ms_p99"] <= 1000 * args.max_p99_s)
    return result


def run_server(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    video, _ = scene_clip()
    (work / "evidence").mkdir(parents=True, exist_ok=True)
    evidence = make_evidence(video, args.clip_s, work / "evidence")
    clip_mb = evidence[0].stat().st_size / 1e6
    say(f"server: {args.boxes} simulated edge boxes (real Spool + Delivery), clip {clip_mb:.2f} MB "
        f"({args.clip_s:g} s of the 1080p scene, {evidence[1].stat().st_size // 1024} KiB snapshot), "
        f"window {args.seconds:g} s per step, drain ≤ {args.drain:g} s")
    results: dict[str, Any] = {"clip_mb": round(clip_mb, 2), "backends": {}}
    for backend in args.backends:
        # A broker per backend: the server keeps a persistent session in the shared subscription, and a stopped
        # server's session would go on taking its share of the messages.
        broker = MosquittoBroker(work / f"mosquitto-{backend}").start()
        try:
            cameras = [f"load-box-{backend[:2]}-{i}" for i in range(args.boxes)]
            server = ServerUnderTest(backend, broker, cameras, work / f"server-{backend}")
            steps = []
            try:
                for rate in args.rates:
                    say(f"  {backend}: offering {rate:g} events/s … (load average now "
                        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})")
                    step = server_step(rate, args, broker, server, cameras, evidence, work / f"server-{backend}")
                    steps.append(step)
                    say(f"  {backend} {rate:g}/s: {'KEEPS UP' if step['keeps_up'] else 'SATURATED'}; stored "
                        f"{step['stored']}/{step['submitted']} (acked at the edge {step['acked']}) at "
                        f"{step['stored_rate_events_per_s']} events/s, not stored by the end of the drain "
                        f"{step['not_stored']} (left in the edge spools {step['left_in_edge_spools']}); ack p50/p99 "
                        f"{step['ack_ms_p50']}/{step['ack_ms_p99']} ms, "
                        f"visible in API p50/p99 {step['visible_ms_p50']}/{step['visible_ms_p99']} ms "
                        f"({step['visible_sampled']} sampled); CPU s/event server {step['server_cpu_s_per_event']}, "
                        f"mosquitto {step['mosquitto_cpu_s_per_event']}, boxes {step['boxes_cpu_s_per_event']}; "
                        f"load {step['load_avg']}, machine busy {step['machine_busy_pct']} %, others "
                        f"{step['others_cpu_pct_of_machine']} %")
                    say("    " + json.dumps({k: v for k, v in step.items() if k != "event_ids"}))
                    if not step["keeps_up"]:
                        tail = [line for line in server.log_path.read_text().splitlines() if " WARNING " in line
                                or " ERROR " in line][-5:]
                        say("    server log (last warnings): " + (" | ".join(tail) or "none"))
                        if not args.all_steps:
                            break
                # Events still in flight when a step ended go on being stored: recount until it stops changing.
                ids = [e for st in steps for e in st.pop("event_ids")]
                counted = stored = -1
                for _ in range(10):
                    before = (counted, stored)
                    counted, violations = server.totals()
                    stored = sum(server.visible(e) for e in ids)
                    if (counted, stored) == before:
                        break
                    time.sleep(3)
                say(f"  {backend}: {stored} of {len(ids)} events stored (each checked through the API), {counted} "
                    f"counted in {violations} violations"
                    f"{' — MISMATCH' if counted != stored else ' (nothing doubled)'}")
            finally:
                server.close()
            kept = [s["offered_events_per_s"] for s in steps if s["keeps_up"]]
            results["backends"][backend] = {
                "capacity_events_per_s": max(kept) if kept else 0,
                "best_stored_rate": max((s["stored_rate_events_per_s"] for s in steps), default=0),
                "submitted": len(ids), "stored_in_the_end": stored, "counted_in_violations": counted,
                "steps": steps}
        finally:
            broker.stop()
    return results


# --- command line -----------------------------------------------------------------------------------------------


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_box"]:
        box_main(argv[1:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=["edge", "server", "all"])
    ap.add_argument("--quick", action="store_true", help="short steps: a few minutes for both parts")
    ap.add_argument("--all-steps", action="store_true", help="run every step even after the first that falls behind")
    ap.add_argument("--cameras", default="1,2,3,4,5,6", help="edge: cameras per step")
    ap.add_argument("--seconds", type=float, help="measuring window per step (edge 30, server 20; quick 12 / 10)")
    ap.add_argument("--warmup", type=float, help="edge: seconds before the window (8; quick 5)")
    ap.add_argument("--boxes", type=int, default=4, help="server: simulated edge boxes")
    ap.add_argument("--rates", default="1,2,4,8,16", help="server: offered events/s per step, all boxes together")
    ap.add_argument("--clip-s", type=float, default=8.0, help="server: clip length (s of the 1080p scene)")
    ap.add_argument("--drain", type=float, default=60.0, help="server: seconds to wait for acks after a step")
    ap.add_argument("--max-p99-s", type=float, default=5.0, help="server: a step keeps up only under this p99")
    ap.add_argument("--backends", default="sqlite,postgresql")
    args = ap.parse_args(argv)
    args.cameras = [int(x) for x in args.cameras.split(",")]
    args.rates = floats(args.rates)
    args.backends = args.backends.split(",")
    say(f"load_bench {' '.join(argv)} — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    out: dict[str, Any] = {"date": f"{datetime.now(UTC):%Y-%m-%dT%H:%MZ}", "cores": os.cpu_count(),
                           "load_avg_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="edgewatch-load-") as tmp:
        work = Path(tmp)
        if args.part in ("edge", "all"):
            args.seconds_edge = args.seconds or (12.0 if args.quick else 30.0)
            warm = args.warmup if args.warmup is not None else (5.0 if args.quick else 8.0)
            ns = argparse.Namespace(**{**vars(args), "seconds": args.seconds_edge, "warmup": warm})
            out["edge"] = run_edge(ns, work)
        if args.part in ("server", "all"):
            ns = argparse.Namespace(**{**vars(args), "seconds": args.seconds or (10.0 if args.quick else 20.0),
                                       "drain": 30.0 if args.quick else args.drain})
            out["server"] = run_server(ns, work)
    out["load_avg_end"] = os.getloadavg()
    print(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
