"""Fixtures for real services: Mosquitto, a GStreamer RTSP server, PostgreSQL.

The services themselves live in ``tests/services/`` (plain Python, no pytest); this file only wires them into
fixtures. A service that cannot start fails the test with a message that says what to install; nothing is
skipped, so CI never passes by not testing.

Fixtures:
    mosquitto_session      session-wide MosquittoBroker (start/stop/restart/kill; host, port, url)
    mosquitto              the same broker, restarted first if an earlier test left it stopped
    mosquitto_factory      ``(start=True) -> MosquittoBroker``: fresh brokers, each with its own config, for
                           users/ACL/TLS/limits; stopped at the end of the test
    h264_clip              a 2 s, 320x240, 25 fps H.264 MP4 (a bar moving across a grey frame)
    rtsp_server_factory    ``(video, mount="/stream", loop=True, start=True) -> RtspServer`` (url, start,
                           stop, restart, kill); stopped at the end of the test
    rtsp_server            an RtspServer serving h264_clip
    postgres_database      session-wide ScratchDatabase (name, dsn, url, connect())
    postgres_url           its ``postgresql://`` URL
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from services.mosquitto import MosquittoBroker
from services.postgres import ScratchDatabase
from services.process import ServiceUnavailableError
from services.rtsp import RtspServer


@contextmanager
def _service(what: str) -> Iterator[None]:
    try:
        yield
    except ServiceUnavailableError as exc:
        pytest.fail(f"{what} unavailable: {exc}", pytrace=False)


# --- Mosquitto ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mosquitto_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    with _service("Mosquitto"):
        broker = MosquittoBroker(tmp_path_factory.mktemp("mosquitto")).start()
    yield broker
    broker.stop()


@pytest.fixture
def mosquitto(mosquitto_session: MosquittoBroker) -> MosquittoBroker:
    """The session broker, running. Tests may stop/restart it; to change users, ACLs or TLS use
    ``mosquitto_factory``, so that other tests keep an open broker."""
    if not mosquitto_session.running:
        with _service("Mosquitto"):
            mosquitto_session.start()
    return mosquitto_session


@pytest.fixture
def mosquitto_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., MosquittoBroker]]:
    brokers: list[MosquittoBroker] = []

    def make(start: bool = True) -> MosquittoBroker:
        with _service("Mosquitto"):
            broker = MosquittoBroker(tmp_path_factory.mktemp("mosquitto"))
            brokers.append(broker)
            return broker.start() if start else broker

    yield make
    for broker in brokers:
        broker.stop()


# --- RTSP ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def h264_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edgewatch.scenes.video import H264Writer

    path = tmp_path_factory.mktemp("clips") / "bar-320x240-2s.mp4"
    width, height, fps = 320, 240, 25
    with H264Writer(path, width, height, fps=fps) as writer:
        for i in range(2 * fps):
            frame = np.full((height, width, 3), 96, np.uint8)
            x = (i * 6) % (width - 32)
            frame[:, x : x + 32] = (0, 0, 255)  # red bar, BGR
            writer.write(frame)
    return path


@pytest.fixture
def rtsp_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RtspServer]]:
    servers: list[RtspServer] = []

    def make(video: str | Path, mount: str = "/stream", loop: bool = True, start: bool = True) -> RtspServer:
        with _service("RTSP server"):
            server = RtspServer(video, tmp_path_factory.mktemp("rtsp"), mount=mount, loop=loop)
            servers.append(server)
            return server.start() if start else server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def rtsp_server(rtsp_server_factory: Callable[..., RtspServer], h264_clip: Path) -> RtspServer:
    return rtsp_server_factory(h264_clip)


# --- PostgreSQL ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[ScratchDatabase]:
    with _service("PostgreSQL"):
        database = ScratchDatabase().create()
    yield database
    database.drop()


@pytest.fixture(scope="session")
def postgres_url(postgres_database: ScratchDatabase) -> str:
    return postgres_database.url
