"""The edge runtime end to end, against a real Mosquitto and a real RTSP server: `edgewatch edge` runs as a
process, and a paho client plays the server (reassembles the clip, checks its SHA-256, acks "stored")."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from services.mosquitto import MosquittoBroker
from services.rtsp import RtspServer

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_videos/falling/falling_easy_mid_floor.mp4"
CALIBRATION = ROOT / "sample_videos/falling/falling_easy_mid_floor.calibration.yaml"
SITE = "site1"


class FakeServer:
    """The server's side of the wire protocol, as docs/mqtt.md states it."""

    def __init__(self, broker: MosquittoBroker, ack: bool = True, lose_chunk_once: bool = False,
                 ignore_first_event: bool = False) -> None:
        self.ack = ack
        self.lose_chunk_once = lose_chunk_once
        """Drop chunk 0 of the first event the first time, and ask for it with a "missing" ack."""
        self.ignore_first_event = ignore_first_event
        """Say nothing about the first event the first time (the edge must republish it after ack_timeout_s)."""
        self.missing_sent: list[str] = []
        self.ignored: list[str] = []
        self.lock = threading.Lock()
        self.events: dict[str, dict[str, Any]] = {}
        self.event_messages: list[str] = []
        self.chunks: dict[str, dict[int, bytes]] = {}
        self.snapshots: dict[str, bytes] = {}
        self.stored: dict[str, bytes] = {}
        self.status: list[dict[str, Any]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"server-{uuid.uuid4().hex[:6]}",
                                  protocol=mqtt.MQTTv5)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect_async(broker.host, broker.port, keepalive=5)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, *_args: Any) -> None:
        client.subscribe("edgewatch/v1/+/+/#", qos=1)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        site, cam, kind = parts[2], parts[3], parts[4]
        with self.lock:
            if kind == "event":
                data = json.loads(msg.payload)
                self.events[data["event_id"]] = data
                self.event_messages.append(data["event_id"])
                event_id = data["event_id"]
            elif kind == "clip":
                event_id = parts[5]
                if self.lose_chunk_once and not self.missing_sent and int(parts[6]) == 0:
                    self.missing_sent.append(event_id)
                    self.client.publish(f"edgewatch/v1/{site}/{cam}/ack", json.dumps(
                        {"event_id": event_id, "status": "missing", "missing_chunks": [0]}), qos=1)
                    return
                self.chunks.setdefault(event_id, {})[int(parts[6])] = bytes(msg.payload)
            elif kind == "snapshot":
                event_id = parts[5]
                self.snapshots[event_id] = bytes(msg.payload)
            elif kind == "status":
                self.status.append(json.loads(msg.payload))
                return
            else:
                return
            self._maybe_store(site, cam, event_id)

    def _maybe_store(self, site: str, cam: str, event_id: str) -> None:
        event = self.events.get(event_id)
        if event is None or event_id in self.stored:
            return
        chunks = self.chunks.get(event_id, {})
        if len(chunks) < event["clip_chunks"]:
            return
        clip = b"".join(chunks[i] for i in range(event["clip_chunks"]))
        if event["clip"] is not None and hashlib.sha256(clip).hexdigest() != event["clip"]["sha256"]:
            return
        if event["snapshot_sha256"] and event_id not in self.snapshots:
            return
        if self.ignore_first_event and not self.ignored:
            self.ignored.append(event_id)
            self.chunks.pop(event_id)
            return
        self.stored[event_id] = clip
        if self.ack:
            self.client.publish(f"edgewatch/v1/{site}/{cam}/ack",
                                json.dumps({"event_id": event_id, "status": "stored"}), qos=1)

    def wait(self, predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if predicate():
                    return
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class EdgeProcess:
    """`edgewatch -v edge --config …` in its own process group, with its log lines time-stamped as they come."""

    def __init__(self, config: dict[str, Any], workdir: Path) -> None:
        self.config_path = workdir / f"edge-{uuid.uuid4().hex[:6]}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.lines: list[tuple[float, str]] = []
        self.proc = subprocess.Popen([sys.executable, "-m", "edgewatch", "-v", "edge", "--config",
                                      str(self.config_path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def log(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def matches(self, pattern: str) -> list[re.Match[str]]:
        rx = re.compile(pattern)
        return [m for _, line in list(self.lines) if (m := rx.search(line))]

    def wait_for(self, pattern: str, count: int = 1, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len(self.matches(pattern)) >= count:
                return
            assert self.proc.poll() is None, f"edge exited ({self.proc.returncode}):\n{self.log()[-3000:]}"
            time.sleep(0.1)
        raise AssertionError(f"no {count}× /{pattern}/ in {timeout_s:.0f} s:\n{self.log()[-3000:]}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._reader.join(5)
        return self.proc.returncode

    def kill_all(self) -> None:
        """SIGKILL the supervisor and its workers at once: a power cut, as far as the spool can tell."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._reader.join(5)


def edge_config(tmp_path: Path, port: int, camera: dict[str, Any], **mqtt: Any) -> dict[str, Any]:
    return {"site": SITE,
            "mqtt": {"host": "127.0.0.1", "port": port, "client_id": "test-edge", "heartbeat_s": 2,
                     "keepalive_s": 5, **mqtt},
            "spool": {"dir": str(tmp_path / "spool")},
            "cameras": [{"camera_id": "cam1", "detector": "falling", **camera}]}


def falling_camera(source: str, **extra: Any) -> dict[str, Any]:
    return {"source": source, "calibration": str(CALIBRATION), "pre_roll_s": 2, "post_roll_s": 2, **extra}


@pytest.fixture
def edges() -> Iterator[list[EdgeProcess]]:
    procs: list[EdgeProcess] = []
    yield procs
    for p in procs:
        if p.proc.poll() is None:
            p.kill_all()


@pytest.fixture
def server(mosquitto: MosquittoBroker) -> Iterator[FakeServer]:
    srv = FakeServer(mosquitto)
    yield srv
    srv.close()


def spooled_ids(tmp_path: Path) -> set[str]:
    root = tmp_path / "spool" / "cam1"
    return {p.name for p in root.iterdir() if (p / "event.json").exists()} if root.exists() else set()


def no_crash(edge: EdgeProcess) -> None:
    log = edge.log()
    assert "Traceback" not in log, log[-4000:]
    assert "exited unexpectedly" not in log, log[-4000:]


# --- tests ------------------------------------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_rtsp_event_clip_arrives_bit_exact_with_pre_and_post_roll(
        tmp_path: Path, mosquitto: MosquittoBroker, server: FakeServer,
        rtsp_server_factory: Callable[..., RtspServer], edges: list[EdgeProcess]) -> None:
    rtsp = rtsp_server_factory(SAMPLE)
    edge = EdgeProcess(edge_config(tmp_path, mosquitto.port, falling_camera(rtsp.url)), tmp_path)
    edges.append(edge)
    server.wait(lambda: bool(server.stored), 60, "an event with its clip")
    event_id, clip = next(iter(server.stored.items()))
    event = server.events[event_id]
    assert event["site"] == SITE and event["camera_id"] == "cam1" and event["type"] == "falling_object"
    assert event["clip"]["sha256"] == hashlib.sha256(clip).hexdigest() and event["clip"]["bytes"] == len(clip)
    assert event["chunk_bytes"] == 262144 and event["clip_chunks"] == len(server.chunks[event_id])
    assert event["release"] is not None
    assert hashlib.sha256(server.snapshots[event_id]).hexdigest() == event["snapshot_sha256"]
    assert server.snapshots[event_id][:2] == b"\xff\xd8"  # JPEG
    with av.open(io.BytesIO(clip)) as c:
        s = c.streams.video[0]
        frames = [(float(f.pts * s.time_base), f.key_frame) for f in c.decode(s)]
    assert frames[0][1], "the clip must start on a keyframe"
    clip_start = event["overlay"]["clip_start_media_s"]
    clip_end = clip_start + frames[-1][0]
    gop_s, frame_s = 2.0, 0.04
    assert event["start"] - 2 - gop_s - frame_s <= clip_start <= event["start"] - 2 + frame_s  # pre-roll, ≤ 1 GOP
    assert clip_end >= event["end"] + 2 - frame_s - 1e-6  # post-roll
    assert clip_end <= event["end"] + 2 + frame_s
    edge.stop()
    no_crash(edge)
    # Acked: nothing left in the spool; the status went offline on a clean stop.
    assert event_id not in spooled_ids(tmp_path)
    server.wait(lambda: server.status[-1]["state"] == "offline", 5, "the offline status")
    online = [s for s in server.status if s["state"] == "online"]
    assert online and {"fps_in", "fps_out", "decode_lag_s", "dropped_frames", "spool_events", "spool_bytes",
                       "reconnects", "version", "t"} <= set(online[-1])


@pytest.mark.timeout(120)
def test_broker_outage_loses_no_event(tmp_path: Path, mosquitto: MosquittoBroker, server: FakeServer,
                                      edges: list[EdgeProcess]) -> None:
    cam = falling_camera(str(SAMPLE), replay="fast", loop=True)
    edge = EdgeProcess(edge_config(tmp_path, mosquitto.port, cam), tmp_path)
    edges.append(edge)
    server.wait(lambda: bool(server.stored), 40, "a first delivered event")
    mosquitto.stop()
    outage_start = len(edge.matches(r"event (\w+) spooled"))
    time.sleep(12)
    during = len(edge.matches(r"event (\w+) spooled")) - outage_start
    mosquitto.start()
    spooled_before_restart = {m.group(1) for m in edge.matches(r"event (\w+) spooled")}
    assert during >= 2, "events should have happened while the broker was down"
    server.wait(lambda: spooled_before_restart <= set(server.stored), 60,
                f"all {len(spooled_before_restart)} events spooled before the broker came back")
    edge.stop()
    no_crash(edge)
    assert "lost the MQTT broker" in edge.log()
    assert len(set(server.stored)) == len(server.stored)  # keyed by event_id: de-duplicated
    for event_id in spooled_before_restart:
        assert hashlib.sha256(server.stored[event_id]).hexdigest() == server.events[event_id]["clip"]["sha256"]


@pytest.mark.timeout(120)
def test_spooled_events_survive_sigkill(tmp_path: Path, mosquitto_factory: Callable[..., MosquittoBroker],
                                        edges: list[EdgeProcess]) -> None:
    broker = mosquitto_factory(start=False)  # unreachable at start
    cam = falling_camera(str(SAMPLE), replay="fast", loop=True)
    edge = EdgeProcess(edge_config(tmp_path, broker.port, cam), tmp_path)
    edges.append(edge)
    edge.wait_for(r"event \w+ spooled", count=2, timeout_s=60)
    assert edge.matches(r"MQTT broker .* unreachable; events are spooled")
    edge.kill_all()
    waiting = spooled_ids(tmp_path)
    assert len(waiting) >= 2
    broker.start()
    srv = FakeServer(broker)
    try:
        again = EdgeProcess(edge_config(tmp_path, broker.port, {**cam, "detect": False}), tmp_path)
        edges.append(again)
        srv.wait(lambda: waiting <= set(srv.stored), 40, f"the {len(waiting)} events spooled before the kill")
        srv.wait(lambda: not (spooled_ids(tmp_path) & waiting), 10, "the spool to empty after the acks")
        again.stop()
        no_crash(again)
    finally:
        srv.close()


@pytest.mark.timeout(150)
def test_rtsp_server_restarted_20_times(tmp_path: Path, mosquitto: MosquittoBroker, h264_clip: Path,
                                        rtsp_server_factory: Callable[..., RtspServer],
                                        edges: list[EdgeProcess]) -> None:
    rtsp = rtsp_server_factory(h264_clip)
    cam = {"source": rtsp.url, "detect": False, "reconnect_max_s": 1.0, "timeout_s": 3}
    edge = EdgeProcess(edge_config(tmp_path, mosquitto.port, cam), tmp_path)
    edges.append(edge)
    edge.wait_for(r"connected to rtsp://", timeout_s=20)
    delays = []
    for i in range(1, 21):
        rtsp.stop()
        time.sleep(0.3)
        rtsp.start()
        back = time.monotonic()
        edge.wait_for(rf"reconnect #{i}\b", timeout_s=15)
        t = next(t for t, line in edge.lines if re.search(rf"reconnect #{i}\b", line))
        delays.append(max(0.0, t - back))
    print(f"reconnect after the stream returned: max {max(delays):.2f} s, median {sorted(delays)[10]:.2f} s")
    assert max(delays) < 5.0, delays
    assert edge.proc.poll() is None
    edge.stop()
    no_crash(edge)


@pytest.mark.timeout(90)
def test_damaged_stream_resolution_change_full_spool_and_no_broker(tmp_path: Path, edges: list[EdgeProcess]) -> None:
    """Three cameras on one box with no broker: a file with garbage bytes, a stream that changes resolution,
    and a spool too small for their events. Each gives a clear log line; nothing crashes."""
    from services.process import free_port
    from test_edge_units import make_corrupt_ts, make_two_size_ts

    corrupt = make_corrupt_ts(tmp_path)
    sizes = make_two_size_ts(tmp_path)
    config = edge_config(tmp_path, free_port(), falling_camera(str(corrupt), replay="fast", loop=True))
    config["cameras"] += [
        {"camera_id": "cam2", "detector": "falling", "source": str(sizes), "replay": "fast", "loop": True},
        {"camera_id": "cam3", "detector": "falling", "source": str(SAMPLE), "calibration": str(CALIBRATION),
         "replay": "fast", "loop": True, "pre_roll_s": 2, "post_roll_s": 2},
    ]
    config["spool"]["max_bytes"] = 3 * 300_000  # 300 kB a camera: one clip of the sample at a time
    edge = EdgeProcess(config, tmp_path)
    edges.append(edge)
    edge.wait_for(r"\[cam1\].*corrupt", timeout_s=30)
    edge.wait_for(r"\[cam2\].*resolution changed from 320x240 to 480x272; detector re-created", timeout_s=30)
    edge.wait_for(r"\[cam3\].*SPOOL FULL .* DROPPING unacknowledged event", timeout_s=60)
    assert edge.matches(r"\[cam3\].*MQTT broker .* unreachable")
    assert edge.stop() == 0
    no_crash(edge)
    assert sum(p.stat().st_size for p in (tmp_path / "spool" / "cam3").rglob("*") if p.is_file()) <= 300_000


@pytest.mark.timeout(90)
def test_missing_chunks_are_resent_and_silence_is_republished(tmp_path: Path, mosquitto: MosquittoBroker,
                                                              edges: list[EdgeProcess]) -> None:
    srv = FakeServer(mosquitto, lose_chunk_once=True, ignore_first_event=True)
    try:
        cam = falling_camera(str(SAMPLE), replay="fast", loop=True)
        edge = EdgeProcess(edge_config(tmp_path, mosquitto.port, cam, ack_timeout_s=3), tmp_path)
        edges.append(edge)
        srv.wait(lambda: bool(srv.missing_sent) and srv.missing_sent[0] in srv.stored, 60,
                 "the event whose chunk was lost, resent and stored")
        srv.wait(lambda: bool(srv.ignored) and srv.ignored[0] in srv.stored, 30,
                 "the event the server ignored once, republished after the ack timeout")
        edge.stop()
        no_crash(edge)
        assert edge.matches(r"server is missing chunks \[0\]")
        assert edge.matches(r"republishing event \w+ \(no ack after 3 s\)")
        assert srv.event_messages.count(srv.ignored[0]) >= 2
    finally:
        srv.close()


@pytest.mark.timeout(60)
def test_crashed_worker_is_restarted_with_backoff(tmp_path: Path, mosquitto: MosquittoBroker,
                                                  edges: list[EdgeProcess]) -> None:
    cam = {"source": str(SAMPLE), "replay": "realtime", "loop": True, "detect": False}
    edge = EdgeProcess(edge_config(tmp_path, mosquitto.port, cam), tmp_path)
    edges.append(edge)
    edge.wait_for(r"worker cam1 started \(pid (\d+)\)")
    edge.wait_for(r"connected to .*falling_easy_mid_floor")
    for crash in (1, 2):
        pid = int(edge.matches(r"worker cam1 started \(pid (\d+)\)")[-1].group(1))
        os.kill(pid, signal.SIGKILL)
        edge.wait_for(rf"worker cam1 exited unexpectedly \(exit code -9, crash #{crash}\); restarting in", 1,
                      timeout_s=10)
        edge.wait_for(r"worker cam1 started \(pid (\d+)\)", count=crash + 1, timeout_s=15)
    delays = [float(m.group(1)) for m in edge.matches(r"crash #\d\); restarting in ([\d.]+) s")]
    assert delays[1] > delays[0]  # exponential back-off
    assert edge.stop() == 0
    assert "Traceback" not in edge.log()


@pytest.mark.timeout(120)
def test_kitchen_camera_event_arrives_with_its_clip_and_boxes(tmp_path: Path, mosquitto: MosquittoBroker,
                                                              server: FakeServer, edges: list[EdgeProcess]) -> None:
    """A kitchen camera in the worker: a rendered empty kitchen whose bin opens at 0.5 s and stays open, watched
    in the model-free bin mode (a reference image, no model), gives one uncovered_bin event with its clip."""
    from kitchen_scenes import empty_kitchen_with_open_bin

    paths, first, reference = empty_kitchen_with_open_bin(tmp_path, 11, 8.0, "kitchen")
    cam = yaml.safe_load(paths["camera"].read_text())
    zones = [{**z, "reference": str(reference)} for z in cam["zones"] if z["name"] == first]
    config = edge_config(tmp_path, mosquitto.port, {})
    config["cameras"] = [{"camera_id": "cam1", "detector": "kitchen", "source": str(paths["video"]),
                          "replay": "fast", "zones": zones, "rules": {"uncovered_bin_after_s": 3.0},
                          "pre_roll_s": 1, "post_roll_s": 1}]
    edge = EdgeProcess(config, tmp_path)
    edges.append(edge)
    server.wait(lambda: bool(server.stored), 60, "a kitchen event with its clip")
    event_id, clip = next(iter(server.stored.items()))
    event = server.events[event_id]
    assert event["type"] == "uncovered_bin" and event["zone"] == first and event["camera_id"] == "cam1"
    assert 3.0 <= event["end"] - event["start"] <= 3.6 and len(event["boxes"]) == 1
    assert event["overlay"]["boxes"] == event["boxes"] and event["overlay"]["zone"] == first
    assert event["clip"]["sha256"] == hashlib.sha256(clip).hexdigest()
    with av.open(io.BytesIO(clip)) as c:
        s = c.streams.video[0]
        last = max(float(f.pts * s.time_base) for f in c.decode(s))
    assert event["overlay"]["clip_start_media_s"] <= max(0.0, event["start"] - 1) + 0.04
    assert event["overlay"]["clip_start_media_s"] + last >= event["end"] + 1 - 0.04 - 1e-6
    edge.stop()
    no_crash(edge)
    assert len(server.stored) == 1
