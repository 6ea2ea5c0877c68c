"""A GStreamer RTSP server in a child process, serving an H.264 MP4 in a loop like an IP camera."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from .process import ServiceUnavailableError, free_port, kill_process, port_open, stop_process, tail, wait_until

SYSTEM_PYTHON = Path("/usr/bin/python3")
SERVE_SCRIPT = Path(__file__).with_name("rtsp_serve.py")
START_TIMEOUT_S = 15.0
RTSP_PACKAGES = "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad"


def rtsp_describe_ok(host: str, port: int, mount: str, timeout_s: float = 2.0) -> bool:
    """True when an RTSP DESCRIBE of ``mount`` answers ``200 OK``: the server listens *and* can build the
    media pipeline (the file demuxes), which a bare port probe would not show."""
    request = (
        f"DESCRIBE rtsp://{host}:{port}{mount} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n"
        "User-Agent: edgewatch-tests\r\n\r\n"
    ).encode()
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(request)
            reply = sock.recv(4096)
    except OSError:
        return False
    return reply.startswith(b"RTSP/1.0 200")


class RtspServer:
    """``tests/services/rtsp_serve.py`` run by the system Python (which has GStreamer's RTSP server bindings;
    the project's virtual environment does not), serving ``video`` at :attr:`url`.

    The port is picked once and kept: :meth:`stop` then :meth:`start` (or :meth:`restart`) bring the same URL
    back, as a camera that reboots. Each client gets the file from its first frame, looped forever.

    >>> server = RtspServer("clip.mp4", workdir=tmp_path).start()  # doctest: +SKIP
    >>> av.open(server.url, options={"rtsp_transport": "tcp"})  # doctest: +SKIP
    """

    def __init__(
        self,
        video: str | Path,
        workdir: Path,
        mount: str = "/stream",
        host: str = "127.0.0.1",
        port: int | None = None,
        loop: bool = True,
    ) -> None:
        self.video = Path(video).resolve()
        if not self.video.is_file():
            raise FileNotFoundError(f"RTSP server: no video file {self.video}")
        if not mount.startswith("/"):
            raise ValueError(f"mount must start with '/', got {mount!r}")
        if not SYSTEM_PYTHON.is_file():
            raise ServiceUnavailableError(
                f"{SYSTEM_PYTHON} not found: install the Debian packages python3 {RTSP_PACKAGES}"
            )
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.host, self.mount, self.loop = host, mount, loop
        self._port_fixed = port is not None
        self.port = port if port is not None else free_port(host)
        self.log_path = workdir / f"rtsp-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"rtsp://{self.host}:{self.port}{self.mount}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log(self, lines: int = 30) -> str:
        return tail(self.log_path, lines)

    def start(self) -> RtspServer:
        """Start serving; return once a DESCRIBE of :attr:`url` succeeds."""
        if self.running:
            return self
        for attempt in range(3):
            command = [
                str(SYSTEM_PYTHON),
                str(SERVE_SCRIPT),
                str(self.video),
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--mount",
                self.mount,
            ]
            if not self.loop:
                command.append("--no-loop")
            with self.log_path.open("ab") as log:
                self._proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            ready = wait_until(lambda: port_open(self.host, self.port), START_TIMEOUT_S, alive=lambda: self.running)
            if ready and self.running and rtsp_describe_ok(self.host, self.port, self.mount, START_TIMEOUT_S):
                self.starts += 1
                return self
            code = self._proc.poll()
            stop_process(self._proc, timeout_s=2.0)
            self._proc = None
            if code == 4 and self.starts == 0 and not self._port_fixed and attempt < 2:
                self.port = free_port(self.host)  # lost a race for the port before anyone saw the URL
                continue
            hint = f"\nInstall the Debian packages {RTSP_PACKAGES} (`make system-deps`)." if code == 3 else ""
            raise ServiceUnavailableError(
                f"RTSP server for {self.video} did not come up at {self.url} (exit code {code}).{hint}\n"
                f"log ({self.log_path}):\n{self.log()}"
            )
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the server (clients see the connection close) and wait until the process has exited."""
        stop_process(self._proc)
        self._proc = None

    def kill(self) -> None:
        """SIGKILL the server: a camera losing power."""
        kill_process(self._proc)
        self._proc = None

    def restart(self) -> RtspServer:
        self.stop()
        return self.start()

    def __repr__(self) -> str:
        return f"<RtspServer {self.url} {'running' if self.running else 'stopped'} {self.video.name}>"
