"""What every service here needs: free ports, readiness probes, clear errors and child-process handling."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

# The demo's port helpers, re-exported for the fixtures: one copy of each.
from edgewatch.broker import free_port as free_port
from edgewatch.broker import port_open as port_open


class ServiceUnavailableError(RuntimeError):
    """A service could not start; the message says what to install or configure."""


def require_binary(name: str, debian_package: str) -> str:
    """Full path of executable ``name``, or :class:`ServiceUnavailableError` naming the package that provides it."""
    path = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.is_file()), None
    )
    if path is None:
        raise ServiceUnavailableError(
            f"`{name}` not found: install the Debian package {debian_package} "
            f"(`make system-deps` runs scripts/install-system-deps.sh, which does)"
        )
    return path


def wait_until(
    ready: Callable[[], bool], timeout_s: float, alive: Callable[[], bool] = lambda: True, poll_s: float = 0.05
) -> bool:
    """Poll ``ready()`` until it holds (True), ``alive()`` stops holding or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return True
        if not alive():
            return False
        time.sleep(poll_s)
    return ready()


def stop_process(proc: subprocess.Popen[bytes] | None, timeout_s: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if the child has not exited after ``timeout_s``; always reaps it."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def tail(path: Path, lines: int = 20) -> str:
    """Last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def kill_process(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL ``proc`` (a crash or a power cut: no clean goodbye to clients) and reap it."""
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()
