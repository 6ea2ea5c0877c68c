"""The service fixtures work: real Mosquitto, RTSP (decoded with PyAV) and PostgreSQL round trips."""

from __future__ import annotations

import itertools
import queue
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import paho.mqtt.client as mqtt
import psycopg2
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from services.mosquitto import MosquittoBroker
from services.process import port_open
from services.rtsp import RtspServer

TIMEOUT_S = 10.0


class MqttProbe:
    """A paho client on a background thread that records its CONNACK and every message it receives."""

    def __init__(
        self,
        broker: MosquittoBroker,
        username: str | None = None,
        password: str | None = None,
        tls_ca: Path | None = None,
    ) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv311
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls_ca is not None:
            self.client.tls_set(ca_certs=str(tls_ca))
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.connack: queue.Queue[mqtt.ReasonCode] = queue.Queue()
        self.subacks: queue.Queue[list[mqtt.ReasonCode]] = queue.Queue()
        self.disconnected = threading.Event()
        self.client.on_connect = lambda _c, _u, _f, rc, _p: self.connack.put(rc)
        self.client.on_message = lambda _c, _u, msg: self.messages.put(msg)
        self.client.on_subscribe = lambda _c, _u, _mid, rcs, _p: self.subacks.put(rcs)
        self.client.on_disconnect = lambda *_args: self.disconnected.set()
        port = broker.tls_port if tls_ca is not None else broker.port
        assert port is not None
        self.client.connect(broker.host, port, keepalive=5)
        self.client.loop_start()

    def connect_result(self) -> mqtt.ReasonCode:
        return self.connack.get(timeout=TIMEOUT_S)

    def subscribe(self, topic: str) -> list[mqtt.ReasonCode]:
        self.client.subscribe(topic, qos=1)
        return self.subacks.get(timeout=TIMEOUT_S)

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(TIMEOUT_S)

    def receive(self, timeout_s: float = TIMEOUT_S) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=timeout_s)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def mqtt_probe() -> Iterator[Callable[..., MqttProbe]]:
    probes: list[MqttProbe] = []

    def make(broker: MosquittoBroker, **kwargs: object) -> MqttProbe:
        probe = MqttProbe(broker, **kwargs)  # type: ignore[arg-type]
        probes.append(probe)
        return probe

    yield make
    for probe in probes:
        probe.close()


# --- Mosquitto ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_mosquitto_publish_subscribe_round_trip(mosquitto: MosquittoBroker, mqtt_probe) -> None:
    probe = mqtt_probe(mosquitto)
    assert not probe.connect_result().is_failure
    assert not probe.subscribe("edgewatch/v1/test/cam/event")[0].is_failure
    probe.publish("edgewatch/v1/test/cam/event", b'{"event_id": "e1"}')
    message = probe.receive()
    assert (message.topic, message.payload, message.qos) == ("edgewatch/v1/test/cam/event", b'{"event_id": "e1"}', 1)


@pytest.mark.timeout(30)
def test_mosquitto_password_and_acl(mosquitto_factory, mqtt_probe) -> None:
    broker: MosquittoBroker = mosquitto_factory(start=False)
    broker.add_user("edge", "s3cret")
    broker.allow_anonymous = False
    broker.set_acl("""
        user edge
        topic readwrite edgewatch/#
        topic deny edgewatch/forbidden/#
    """)
    broker.start()

    assert mqtt_probe(broker).connect_result().is_failure, "anonymous client was let in"
    assert mqtt_probe(broker, username="edge", password="wrong").connect_result().is_failure
    edge = mqtt_probe(broker, username="edge", password="s3cret")
    assert not edge.connect_result().is_failure
    edge.subscribe("edgewatch/#")
    edge.publish("edgewatch/forbidden/x", b"must not arrive")
    edge.publish("edgewatch/allowed", b"ok")
    assert edge.receive().topic == "edgewatch/allowed"  # QoS 1 keeps order: the denied one was dropped
    with pytest.raises(queue.Empty):
        edge.receive(timeout_s=0.3)

    # A user added while the broker runs takes effect through a SIGHUP reload, without a restart.
    starts = broker.starts
    broker.add_user("server", "pw2")
    assert broker.starts == starts
    assert not mqtt_probe(broker, username="server", password="pw2").connect_result().is_failure


@pytest.mark.timeout(30)
def test_mosquitto_tls_listener(mosquitto_factory, mqtt_probe) -> None:
    broker: MosquittoBroker = mosquitto_factory()
    ca = broker.enable_tls()
    probe = mqtt_probe(broker, tls_ca=ca)
    assert not probe.connect_result().is_failure
    probe.subscribe("t")
    probe.publish("t", b"over tls")
    assert probe.receive().payload == b"over tls"


@pytest.mark.timeout(30)
def test_mosquitto_restart_keeps_port_and_clients_reconnect(mosquitto: MosquittoBroker, mqtt_probe) -> None:
    host, port = mosquitto.host, mosquitto.port
    probe = mqtt_probe(mosquitto)
    assert not probe.connect_result().is_failure

    mosquitto.stop()
    assert not port_open(host, port)
    assert probe.disconnected.wait(TIMEOUT_S)

    mosquitto.start()
    assert (mosquitto.host, mosquitto.port) == (host, port)
    assert not probe.connect_result().is_failure  # paho's automatic reconnect found it at the same address
    probe.subscribe("after/outage")
    probe.publish("after/outage", b"back")
    assert probe.receive().payload == b"back"


# --- RTSP ----------------------------------------------------------------------------------------------------


@contextmanager
def open_rtsp(url: str) -> Iterator[av.container.InputContainer]:
    container = av.open(url, options={"rtsp_transport": "tcp"}, timeout=(TIMEOUT_S, 5.0))
    try:
        yield container
    finally:
        container.close()


def decode(url: str, n_frames: int) -> list[av.VideoFrame]:
    frames = []
    with open_rtsp(url) as container:
        for frame in container.decode(video=0):
            frames.append(frame)
            if len(frames) == n_frames:
                break
    return frames


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_rtsp_server_streams_the_file_in_a_loop(rtsp_server: RtspServer) -> None:
    frames = decode(rtsp_server.url, 60)  # the clip has 50 frames: this crosses the loop point

    assert len(frames) == 60
    assert {(f.width, f.height) for f in frames} == {(320, 240)}
    # ffmpeg's RTSP demuxer cannot time the very first frame (no RTCP sender report yet).
    assert all(f.time is not None for f in frames[1:])
    times = [f.time for f in frames[1:]]
    assert all(b > a for a, b in itertools.pairwise(times)), "timestamps must keep increasing"
    assert times[-1] - times[0] == pytest.approx(58 / 25, abs=0.01)
    image = frames[-1].to_ndarray(format="bgr24").astype(int)
    red = (image[..., 2] > 180) & (image[..., 1] < 80)
    assert 20 <= red.any(axis=0).sum() <= 40, "the 32-pixel red bar should survive the round trip"


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_rtsp_server_restarts_at_the_same_url(rtsp_server: RtspServer) -> None:
    url = rtsp_server.url
    assert len(decode(url, 3)) == 3

    rtsp_server.stop()
    with pytest.raises(av.error.FFmpegError):
        decode(url, 1)

    rtsp_server.start()
    assert rtsp_server.url == url
    assert len(decode(url, 3)) == 3


# --- PostgreSQL ----------------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_postgres_scratch_database_round_trip(postgres_url: str) -> None:
    # The scratch database is shared by the session (the server's tests create their schema in it too): this
    # test's table is temporary, so it neither collides with theirs nor outlives the connection.
    with psycopg2.connect(postgres_url) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMPORARY TABLE round_trip (event_id text PRIMARY KEY, floor text, confidence real)")
        cur.execute("INSERT INTO round_trip VALUES (%s, %s, %s), (%s, %s, %s)", ("e1", "12", 0.93, "e2", "3", 0.5))
        cur.execute("SELECT event_id, floor FROM round_trip WHERE confidence > 0.9")
        assert cur.fetchall() == [("e1", "12")]
        cur.execute("SELECT current_database()")
        (name,) = cur.fetchone()
        assert name.startswith("edgewatch_test_")
    conn.close()
