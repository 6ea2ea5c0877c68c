"""The whole chain for end-to-end tests: `edgewatch server` and `edgewatch edge` as real processes on the configs
`edgewatch demo` writes (edgewatch/demo.py), a real Mosquitto between them, and the REST API to read the result.

No tests here; imported by tests/test_e2e_*.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from services.mosquitto import MosquittoBroker
from services.process import free_port

from edgewatch.demo import (
    SampleCamera,
    default_samples_dir,
    find_samples,
    server_ready,
    write_edge_config,
    write_rules,
    write_server_config,
)

TOKEN = "e2e-admin-token-0123456789abcdef"
SAMPLES = default_samples_dir() / "falling"  # the falling samples: these tests check throws, storeys, clips


def sample_cameras(*stems: str, copies: int = 1) -> list[SampleCamera]:
    """The named samples (all when none are named); ``copies`` > 1 replays each on that many cameras."""
    cams = [c for c in find_samples(SAMPLES) if not stems or c.video.stem in stems]
    if copies == 1:
        return cams
    return [SampleCamera(f"{c.camera_id}-{i}", c.video, c.calibration, c.building) for c in cams
            for i in range(copies)]


class LoggedProcess:
    """A child in its own process group whose stderr+stdout lines are kept as they come."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None) -> None:
        self.command = command
        self.env = env
        self.lines: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True, env=self.env)
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self, lines: int = 60) -> str:
        return "\n".join(self.lines[-lines:])

    def matches(self, pattern: str) -> list[re.Match[str]]:
        rx = re.compile(pattern)
        return [m for line in list(self.lines) if (m := rx.search(line))]

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM and wait; SIGKILL the group when it does not exit in time."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        self._join()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the process and everything in its group at once: a crash or a power cut."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._join()

    def _join(self) -> None:
        if self._reader is not None:
            self._reader.join(5)


class ServerProcess(LoggedProcess):
    """`edgewatch server` on SQLite and a clip folder under ``workdir``; keeps its port over restarts."""

    def __init__(self, workdir: Path, broker: MosquittoBroker, cameras: list[SampleCamera],
                 mqtt: dict[str, Any] | None = None, site: str = "demo", **ingest: Any) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        rules = write_rules(workdir / "rules.yaml", cameras, site=site)
        config = write_server_config(workdir / "server.yaml", state_dir=workdir, rules=rules, http_host="127.0.0.1",
                                     http_port=self.port, mqtt_host=broker.host, mqtt_port=broker.port,
                                     admin_token=TOKEN, client_id=f"e2e-server-{uuid.uuid4().hex[:8]}",
                                     mqtt=mqtt, **ingest)
        super().__init__([sys.executable, "-m", "edgewatch", "server", "--config", str(config)])

    def start(self, timeout_s: float = 60.0) -> None:
        super().start()
        wait(lambda: server_ready(self.base), timeout_s, "the server to be ready", self)


class EdgeBox(LoggedProcess):
    """`edgewatch -v edge` on the cameras given; its log tells which events it detected, spooled and got acked."""

    def __init__(self, workdir: Path, broker: MosquittoBroker, cameras: list[SampleCamera],
                 camera_settings: dict[str, dict[str, Any]] | None = None, **settings: Any) -> None:
        """``camera_settings``: camera id → keys of its edge.yaml entry to set (an rtsp:// ``source``, …)."""
        workdir.mkdir(parents=True, exist_ok=True)
        config = write_edge_config(workdir / "edge.yaml", cameras=cameras, spool_dir=workdir / "spool",
                                   mqtt_host=broker.host, mqtt_port=broker.port,
                                   **{"client_id": "e2e-edge", "replay": "fast", "loop": False, "pre_roll_s": 2.0,
                                      "post_roll_s": 2.0, **settings})
        if camera_settings:
            data = yaml.safe_load(config.read_text())
            for cam in data["cameras"]:
                cam.update(camera_settings.get(cam["camera_id"], {}))
            config.write_text(yaml.safe_dump(data, sort_keys=False))
        self.cameras = cameras
        super().__init__([sys.executable, "-m", "edgewatch", "-v", "edge", "--config", str(config)])

    def ids(self, pattern: str) -> set[str]:
        return {m.group(1) for m in self.matches(pattern)}

    @property
    def detected(self) -> set[str]:
        return self.ids(r": event (\w+) \w+ [\d.]+–")

    @property
    def spooled(self) -> set[str]:
        return self.ids(r": event (\w+) spooled \(")

    @property
    def acked(self) -> set[str]:
        return self.ids(r": event (\w+) stored by the server") | self.finished_deletes

    @property
    def finished_deletes(self) -> set[str]:
        """Events whose spool folder a restarted run found without its event file and removed: the spool deletes
        the event file first, and only after the server's ack, so a run killed mid-delete leaves exactly that
        (the ack arrived, but the log line saying so was never written)."""
        return self.ids(r"removing incomplete event folder (\w+)")

    @property
    def sources_ended(self) -> int:
        return len(self.matches(r": source ended;"))


class Api:
    def __init__(self, base: str, token: str = TOKEN) -> None:
        self.base = base
        self.client = httpx.Client(base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {token}"},
                                   timeout=10)

    def violations(self) -> list[dict[str, Any]]:
        page = self.client.get("/violations", params={"limit": 500})
        page.raise_for_status()
        return [self.client.get(f"/violations/{v['id']}").json() for v in page.json()["items"]]

    def events(self) -> list[dict[str, Any]]:
        return [e for v in self.violations() for e in v["events"]]

    def cameras(self) -> dict[str, dict[str, Any]]:
        """camera id → the camera as ``GET /cameras`` shows it (state, offline_reason, heartbeat, …)."""
        r = self.client.get("/cameras")
        r.raise_for_status()
        return {c["camera_id"]: c for c in r.json()}

    def clip(self, event_id: str) -> bytes:
        r = self.client.get(f"/events/{event_id}/clip")
        r.raise_for_status()
        return r.content

    def close(self) -> None:
        self.client.close()


@dataclass
class Tally:
    """Events produced at the edge against events and violations stored by the server."""

    detected: set[str]
    spooled: set[str]
    acked: set[str]
    stored: list[str]
    violation_events: int
    clips: dict[str, str] = field(default_factory=dict)

    def report(self, what: str) -> str:
        line = (f"{what}: detected {len(self.detected)}, spooled {len(self.spooled)}, acked {len(self.acked)}, "
                f"stored {len(self.stored)} ({len(set(self.stored))} distinct), events counted in violations "
                f"{self.violation_events}, clips stored {list(self.clips.values()).count('stored')}")
        print(line)
        return line

    def assert_nothing_lost_or_doubled(self) -> None:
        stored = set(self.stored)
        assert len(self.stored) == len(stored), "an event was stored twice"
        assert self.spooled <= stored, f"spooled but never stored: {self.spooled - stored}"
        assert stored <= self.detected, f"stored events the edge never detected: {stored - self.detected}"
        assert self.violation_events == len(stored), "violation event counts do not add up to the stored events"
        assert all(status == "stored" for status in self.clips.values()), self.clips


def tally(api: Api, edges: list[EdgeBox]) -> Tally:
    violations = api.violations()  # one read, so events and counts come from the same moment
    events = [e for v in violations for e in v["events"]]
    return Tally(detected=set().union(*(e.detected for e in edges)), spooled=set().union(*(e.spooled for e in edges)),
                 acked=set().union(*(e.acked for e in edges)), stored=[e["event_id"] for e in events],
                 violation_events=sum(v["event_count"] for v in violations),
                 clips={e["event_id"]: e["clip_status"] for e in events})


def wait(ready: Callable[[], bool], timeout_s: float, what: str, *procs: LoggedProcess) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        for p in procs:
            assert p.alive, f"process exited while waiting for {what}:\n{p.log()}"
        if time.monotonic() > deadline:
            logs = "\n---\n".join(p.log(30) for p in procs)
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}:\n{logs}")
        time.sleep(0.1)


def wait_delivered(edge: EdgeBox, timeout_s: float, *others: LoggedProcess, earlier: tuple[EdgeBox, ...] = (),
                   quiet_s: float = 2.0) -> None:
    """Until every camera's source has ended, every event spooled (by ``edge`` and the ``earlier`` runs on the
    same spool) has been acknowledged, and nothing new was spooled or acked for ``quiet_s`` (an event found at the
    end of a file is spooled after its source ended)."""
    runs = (*earlier, edge)
    last: tuple[frozenset[str], frozenset[str]] | None = None
    since = time.monotonic()

    def settled() -> bool:
        nonlocal last, since
        spooled = frozenset().union(*(r.spooled for r in runs))
        acked = frozenset().union(*(r.acked for r in runs))
        if (spooled, acked) != last:
            last, since = (spooled, acked), time.monotonic()
        done = edge.sources_ended >= len(edge.cameras) and spooled <= acked
        return done and time.monotonic() - since >= quiet_s

    wait(settled, timeout_s, "every source to end and every spooled event to be acked", edge, *others)


class StatusWatcher:
    """Every retained ``status`` message the edge publishes (heartbeats, last wills), as the server would get them:
    a paho MQTT 5 subscriber on the broker."""

    def __init__(self, broker: MosquittoBroker) -> None:
        import json

        import paho.mqtt.client as mqtt

        self.messages: list[tuple[float, str, dict[str, Any]]] = []  # (monotonic time, camera, status)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"e2e-status-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe("edgewatch/v1/+/+/status", qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()

        def on_message(_c: Any, _u: Any, msg: Any) -> None:
            if msg.payload:
                self.messages.append((time.monotonic(), msg.topic.split("/")[3], json.loads(msg.payload)))

        self.client.on_message = on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert subscribed.wait(10), "could not subscribe to the status topic"

    def since(self, t: float, camera: str) -> list[dict[str, Any]]:
        return [m for at, cam, m in list(self.messages) if at >= t and cam == camera]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class TcpProxy:
    """A TCP relay on a free localhost port to ``target``; :meth:`cut` blackholes the link (nothing is read or
    forwarded either way, connections stay open, as when a router between edge and broker loses power) and
    :meth:`restore` lets the bytes flow again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        import socket

        self.target = (target_host, target_port)
        self.flowing = threading.Event()
        self.flowing.set()
        self.closed = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        self.connections = 0
        self._sockets: list[Any] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while not self.closed.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            self.connections += 1
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: Any, dst: Any) -> None:
        src.settimeout(0.1)
        try:
            while not self.closed.is_set():
                if not self.flowing.is_set():
                    time.sleep(0.05)  # not reading: the sender's buffers fill up, as on a dead link
                    continue
                try:
                    data = src.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()

    def cut(self) -> None:
        self.flowing.clear()

    def restore(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self.closed.set()
        self.server.close()
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.close()
