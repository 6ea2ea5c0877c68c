"""The deployment files in deploy/ do what docs/deploy.md says: the Mosquitto ACL confines each edge box to its
own topics and still lets the real edge and server work through it (edge over TLS with a password), the broker
configuration starts on this Mosquitto, and the systemd units pass ``systemd-analyze verify``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from services.mosquitto import MosquittoBroker
from services.process import free_port, port_open, require_binary, stop_process
from services.tls import TestCA
from test_e2e_helpers import SAMPLES, Api, EdgeBox, ServerProcess, wait, wait_delivered

from edgewatch.demo import SampleCamera

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
ACL = (DEPLOY / "mosquitto" / "acl").read_text()
PASSWORDS = {"edgewatch-server": "server-secret", "edge-caima-b3": "caima-secret", "edge-shenglihe": "sh-secret",
             "auditor": "auditor-secret"}
OWN = "edgewatch/v1/caima-b3/caima-b3-east"
NOT_AUTHORIZED = 0x87


class Client:
    """A paho MQTT 5 client that records what it receives and the reason codes of its PUBACKs and SUBACKs."""

    def __init__(self, broker: MosquittoBroker, user: str) -> None:
        self.received: list[str] = []
        self.pubacks: dict[int, int] = {}
        self.subacks: dict[int, list[int]] = {}
        self.connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"acl-test-{user}", protocol=mqtt.MQTTv5)
        self.client.username_pw_set(user, PASSWORDS[user])
        self.client.on_connect = lambda *a: self.connected.set()
        self.client.on_message = lambda _c, _u, msg: self.received.append(msg.topic)
        self.client.on_publish = lambda _c, _u, mid, rc, _p: self.pubacks.__setitem__(mid, rc.value)
        self.client.on_subscribe = lambda _c, _u, mid, rcs, _p: self.subacks.__setitem__(mid, [r.value for r in rcs])
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.connected.wait(10), f"{user} could not connect"

    def publish(self, topic: str) -> int:
        mid = self.client.publish(topic, b"{}", qos=1).mid
        wait(lambda: mid in self.pubacks, 5, f"PUBACK for {topic}")
        return self.pubacks[mid]

    def subscribe(self, topic: str) -> int:
        _, mid = self.client.subscribe(topic, qos=1)
        wait(lambda: mid in self.subacks, 5, f"SUBACK for {topic}")
        return self.subacks[mid][0]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def acl_broker(factory: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    broker = factory(start=False)
    for user, password in PASSWORDS.items():
        broker.add_user(user, password)
    broker.allow_anonymous = False
    # An auditor who reads everything, to see what the broker let through; not part of the deployed ACL.
    broker.set_acl(ACL + "\nuser auditor\ntopic read edgewatch/#\n")
    return broker.start()


def test_acl_confines_an_edge_box_to_its_own_topics(mosquitto_factory: Callable[..., MosquittoBroker]) -> None:
    broker = acl_broker(mosquitto_factory)
    auditor, edge, server = (Client(broker, u) for u in ("auditor", "edge-caima-b3", "edgewatch-server"))
    try:
        assert auditor.subscribe("edgewatch/#") == 1
        results = {
            "own event": edge.publish(f"{OWN}/event"),
            "own clip chunk": edge.publish(f"{OWN}/clip/01ABC/0"),
            "own status": edge.publish(f"{OWN}/status"),
            "another site's event": edge.publish("edgewatch/v1/shenglihe/kitchen-07/event"),
            "another camera's event": edge.publish("edgewatch/v1/caima-b3/caima-b3-west/event"),
            "a forged ack": edge.publish(f"{OWN}/ack"),
            "outside edgewatch/": edge.publish("other/thing"),
            "server's ack": server.publish(f"{OWN}/ack"),
            "server posing as an edge": server.publish(f"{OWN}/event"),
        }
        subs = {
            "own acks": edge.subscribe(f"{OWN}/ack"),
            "another site's acks": edge.subscribe("edgewatch/v1/shenglihe/+/ack"),
            "another site's events": edge.subscribe("edgewatch/v1/shenglihe/+/event"),
            "server shared events": server.subscribe("$share/edgewatch/edgewatch/v1/+/+/event"),
        }
        # What reaches the edge box after it subscribed to other boxes' topics: only its own ack.
        for topic in (f"{OWN}/ack", "edgewatch/v1/shenglihe/kitchen-07/ack"):
            assert server.publish(topic) == 0
        other_site = Client(broker, "edge-shenglihe")
        assert other_site.publish("edgewatch/v1/shenglihe/kitchen-07/event") == 0
        other_site.close()
        time.sleep(0.5)
        print("PUBACK reason codes:", results, "SUBACK:", subs, "auditor saw:", auditor.received,
              "edge received:", edge.received)
        allowed = [f"{OWN}/event", f"{OWN}/clip/01ABC/0", f"{OWN}/status", f"{OWN}/ack",
                   f"{OWN}/ack", "edgewatch/v1/shenglihe/kitchen-07/ack", "edgewatch/v1/shenglihe/kitchen-07/event"]
        assert sorted(auditor.received) == sorted(allowed), "the broker let through something it should not have"
        for what in ("another site's event", "another camera's event", "a forged ack", "outside edgewatch/",
                     "server posing as an edge"):
            assert results[what] == NOT_AUTHORIZED, what
        assert results["own event"] == results["server's ack"] == 0
        assert subs["own acks"] == 1 and subs["server shared events"] == 1
        # Mosquitto 2.0.11 may grant (SUBACK) a wildcard subscription to other boxes' topics; it filters each
        # message on delivery instead, which is what confines the box:
        assert edge.received == [f"{OWN}/ack"], "the edge box read another box's topics"
    finally:
        for c in (auditor, edge, server):
            c.close()


def test_edge_and_server_work_through_the_acl_with_tls(tmp_path: Path,
                                                      mosquitto_factory: Callable[..., MosquittoBroker]) -> None:
    broker = acl_broker(mosquitto_factory)
    ca = broker.enable_tls()
    stem = "falling_easy_mid_floor"
    camera = SampleCamera("caima-b3-east", SAMPLES / f"{stem}.mp4", SAMPLES / f"{stem}.calibration.yaml",
                          "Caima block 3")
    server = ServerProcess(tmp_path / "server", broker, [camera], site="caima-b3",
                           mqtt={"username": "edgewatch-server", "password": PASSWORDS["edgewatch-server"]})
    edge = EdgeBox(tmp_path / "edge", broker, [camera], site="caima-b3", client_id="caima-b3",
                   mqtt={"port": broker.tls_port, "host": "localhost", "username": "edge-caima-b3",
                         "password": PASSWORDS["edge-caima-b3"], "tls": {"ca": str(ca)}})
    api = Api(server.base)
    try:
        server.start()
        edge.start()
        wait_delivered(edge, 120, server)
        events = api.events()
        assert len(events) == 1 and events[0]["site"] == "caima-b3" and events[0]["clip_status"] == "stored"
        assert not re.search(r"not authori[sz]ed|refused", edge.log(400) + server.log(400), re.I)
        cams = api.client.get("/cameras").json()
        assert any(c.get("camera_id") == "caima-b3-east" for c in cams), cams  # the status got through too
    finally:
        api.close()
        edge.stop()
        server.stop()


def test_deployed_broker_config_starts(tmp_path: Path) -> None:
    """deploy/mosquitto/edgewatch.conf with its paths and ports moved under tmp_path starts on this Mosquitto and
    serves both listeners; an anonymous client is refused."""
    binary = require_binary("mosquitto", "mosquitto")
    ca = TestCA(tmp_path / "certs")
    server_cert = ca.issue("broker", hostnames=["localhost", "127.0.0.1"])
    plain, tls = free_port(), free_port()
    text = (DEPLOY / "mosquitto" / "edgewatch.conf").read_text()
    (tmp_path / "acl").write_text(ACL)
    (tmp_path / "passwd").write_text("")
    replacements = {
        "/etc/mosquitto/edgewatch/passwd": str(tmp_path / "passwd"),
        "/etc/mosquitto/edgewatch/acl": str(tmp_path / "acl"),
        "/etc/mosquitto/edgewatch/certs/ca.pem": str(ca.cert),
        "/etc/mosquitto/edgewatch/certs/broker.pem": str(server_cert.cert),
        "/etc/mosquitto/edgewatch/certs/broker.key": str(server_cert.key),
        "/var/lib/mosquitto/": f"{tmp_path}/",
        "listener 1883 127.0.0.1": f"listener {plain} 127.0.0.1",
        "listener 8883": f"listener {tls} 127.0.0.1",
    }
    for old, new in replacements.items():
        assert old in text, f"{old} no longer in the deployed config: update this test"
        text = text.replace(old, new)
    if os.geteuid() == 0:
        text += "\nuser root\n"  # as root, mosquitto would switch to user "mosquitto", who cannot read tmp_path
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(text)
    proc = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.PIPE, text=True)
    try:
        ok = wait_for_ports(proc, plain, tls)
        assert ok, f"mosquitto did not start with the deployed config: {proc.stderr.read() if proc.stderr else ''}"
        refused: list[Any] = []
        c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        c.on_connect = lambda _c, _u, _f, rc, _p: refused.append(rc.is_failure)
        c.connect("127.0.0.1", plain)
        c.loop_start()
        wait(lambda: bool(refused), 5, "CONNACK")
        c.loop_stop()
        assert refused == [True], "an anonymous client was let in"
    finally:
        stop_process(proc)  # type: ignore[arg-type]


def wait_for_ports(proc: subprocess.Popen[str], *ports: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        if all(port_open("127.0.0.1", p) for p in ports):
            return True
        time.sleep(0.1)
    return False


def test_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd): the units were not verified")
    units = []
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        # verify checks that ExecStart binaries exist; the venv is not installed at /opt here.
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace("/opt/edgewatch/venv/bin/edgewatch", "/bin/true"))
        units.append(str(copy))
    assert len(units) == 2
    r = subprocess.run([analyze, "verify", *units], capture_output=True, text=True, timeout=60)
    complaints = [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]
    assert r.returncode == 0 and not complaints, "\n".join(complaints)


def test_units_run_the_documented_commands() -> None:
    edge = (DEPLOY / "systemd" / "edgewatch-edge.service").read_text()
    server = (DEPLOY / "systemd" / "edgewatch-server.service").read_text()
    assert "edge --config /etc/edgewatch/edge.yaml" in edge and "KillMode=mixed" in edge
    assert "server --config /etc/edgewatch/server.yaml" in server
