"""`edgewatch demo` as a user runs it: a real process tree (Mosquitto, server, edge supervisor and workers) that
shows violations through the API with the printed token, signs in with the printed user name and password, and
stops cleanly on Ctrl-C leaving no process behind."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml
from services.process import free_port

import edgewatch.broker
from edgewatch.broker import EmbeddedBroker, LocalMosquitto, local_broker
from edgewatch.errors import UserError


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, grandchildren, …), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class DemoProcess:
    def __init__(self, state: Path, port: int, *options: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgewatch", "demo", "--state", str(state), "--port", str(port), *options],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, sink), daemon=True).start()

    @staticmethod
    def _read(stream: object, sink: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            sink.append(line.rstrip("\n"))

    def printed(self, key: str, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.out):
                if m := re.match(rf"\s+{key}:\s+(\S+)", line):
                    return m.group(1)
            assert self.proc.poll() is None, f"demo exited {self.proc.returncode}:\n" + "\n".join(self.err)
            time.sleep(0.2)
        raise AssertionError(f"no '{key}:' line on stdout in {timeout_s:.0f} s:\n" + "\n".join(self.out + self.err))


@pytest.mark.parametrize("broker", ["mosquitto", "embedded"])
def test_demo_shows_violations_and_stops_cleanly_on_ctrl_c(tmp_path: Path, broker: str) -> None:
    """On Mosquitto, and on the embedded broker (iotcore's rumqttd) that the demo falls back to without it."""
    port = free_port()
    demo = DemoProcess(tmp_path / "state", port, "--broker", broker)
    try:
        token = demo.printed("token", 120)
        name = "mosquitto" if broker == "mosquitto" else "embedded rumqttd"
        assert any(f"MQTT broker ({name}" in line for line in demo.err), demo.err
        web = demo.printed("web app", 5)
        assert web.startswith(f"http://127.0.0.1:{port}/")
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {token}"}
        # Both detectors reach the server: a throw from a falling sample, and a missing chef's hat in the kitchen
        # sample made for it (prep-1, first alarm at 3 s). Not the uncovered-bin sample's bin: the shipped model
        # misses it by a floor point on the bin zone's edge (tests/test_analyze.py, _BORDERLINE).
        # The same on both brokers: on the embedded one the server subscribes without $share (rumqttd lost most
        # messages on its several shared filters), and it must be kept that way (server.yaml checked below).
        wanted = [("falling_object", "falling_", None), ("missing_chef_hat", "kitchen-missing-hat", "prep-1")]
        deadline = time.monotonic() + 90
        items: list[dict] = []
        while not items or not all(any(v["type"] == kind and v["camera_id"].startswith(camera) and v["zone"] == zone
                                       for v in items) for kind, camera, zone in wanted):
            assert time.monotonic() < deadline, (f"not all of {wanted} within 90 s; violations: "
                                                 f"{[(v['type'], v['camera_id'], v['zone']) for v in items]}\n"
                                                 + "\n".join(demo.err))
            assert demo.proc.poll() is None, "demo exited:\n" + "\n".join(demo.err)
            time.sleep(1)
            items = httpx.get(f"{base}/api/v1/violations?limit=500", headers=auth, timeout=5).json()["items"]
        server_mqtt = yaml.safe_load((tmp_path / "state" / "server.yaml").read_text())["mqtt"]
        assert server_mqtt.get("shared_subscription", True) is (broker == "mosquitto"), server_mqtt
        kitchen = {(v["type"], v["camera_id"]) for v in items if v["camera_id"].startswith("kitchen-")}
        assert ("uncovered_bin", "kitchen-compliant") not in kitchen, items  # its bin is never left open
        assert all(v["restaurant"] == v["camera_id"] for v in items if v["camera_id"].startswith("kitchen-"))
        assert httpx.get(f"{base}/api/v1/violations", timeout=5).status_code == 401  # the token is what opens it
        # The printed credentials sign in to the web app (a session token that opens the same API).
        user, password = demo.printed("user", 5), demo.printed("password", 5)
        login = httpx.post(f"{base}/api/v1/auth/login", json={"username": user, "password": password}, timeout=10)
        assert login.status_code == 200, login.text
        session = {"Authorization": f"Bearer {login.json()['token']}"}
        assert httpx.get(f"{base}/api/v1/violations", headers=session, timeout=5).json()["total"] >= 1

        tree = descendants(demo.proc.pid)
        assert len(tree) >= 8, f"expected broker, server, edge and its 6 workers below the demo, got {tree}"
        t0 = time.monotonic()
        demo.proc.send_signal(signal.SIGINT)
        code = demo.proc.wait(30)
        took_s = time.monotonic() - t0
        print(f"demo stopped in {took_s:.1f} s with status {code}; {len(tree)} processes below it")
        assert code == 0, "\n".join(demo.err)
        assert took_s < 15, f"demo took {took_s:.1f} s to stop"
        time.sleep(0.5)
        left = {pid for pid in tree if alive(pid)}
        assert not left, f"processes left behind: {left}"
        assert any("stopping (SIGINT)" in line for line in demo.err)
    finally:
        if demo.proc.poll() is None:
            for pid in descendants(demo.proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            demo.proc.kill()
            demo.proc.wait()


def test_demo_without_mosquitto_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(edgewatch.broker, "find_mosquitto", lambda: None)
    with pytest.raises(UserError, match=r"apt-get install mosquitto"):
        LocalMosquitto(tmp_path)


def test_demo_falls_back_to_the_embedded_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(edgewatch.broker, "find_mosquitto", lambda: None)
    assert isinstance(local_broker(tmp_path), EmbeddedBroker)
    assert isinstance(local_broker(tmp_path, kind="embedded"), EmbeddedBroker)
    monkeypatch.setattr(edgewatch.broker, "embedded_broker_available", lambda: False)
    with pytest.raises(UserError, match=r"apt-get install mosquitto.*pip install 'edgewatch\[demo\]'"):
        local_broker(tmp_path)


def test_demo_help_describes_it() -> None:
    r = subprocess.run([sys.executable, "-m", "edgewatch", "demo", "--help"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "--state" in r.stdout and "Ctrl-C" in r.stdout
