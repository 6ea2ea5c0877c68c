"""A private Mosquitto broker per test session or test: own config, port, users, ACL and TLS listener."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
from pathlib import Path

from .process import (
    ServiceUnavailableError,
    free_port,
    kill_process,
    port_open,
    require_binary,
    stop_process,
    tail,
    wait_until,
)
from .tls import CertFiles, TestCA

START_TIMEOUT_S = 10.0
RELOAD_MARK = "Reloading config"


class MosquittoBroker:
    """A ``mosquitto`` process on 127.0.0.1 whose whole configuration lives in ``workdir``.

    Ports are picked once and kept, so :meth:`stop` / :meth:`start` / :meth:`restart` simulate a broker outage
    with clients reconnecting to the same address. Configuration methods (:meth:`add_user`, :meth:`set_acl`,
    :attr:`allow_anonymous`, :meth:`enable_tls`, :attr:`extra_config`) may be called before or after
    :meth:`start`: on a running broker, password and ACL changes are reloaded with SIGHUP (clients stay
    connected) and other changes restart it.

    >>> broker = MosquittoBroker(tmp_path)  # doctest: +SKIP
    >>> broker.add_user("edge", "s3cret"); broker.allow_anonymous = False  # doctest: +SKIP
    >>> broker.set_acl("user edge\\ntopic readwrite edgewatch/#\\n"); broker.start()  # doctest: +SKIP
    """

    def __init__(self, workdir: Path, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.binary = require_binary("mosquitto", "mosquitto")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self._port_fixed = port is not None
        self.port = port if port is not None else free_port(host)
        self.tls_port: int | None = None
        self.config_path = workdir / "mosquitto.conf"
        self.log_path = workdir / "mosquitto.log"
        self.stderr_path = workdir / "mosquitto.stderr"
        self.password_path = workdir / "passwd"
        self.acl_path = workdir / "acl"
        self._allow_anonymous = True
        self._has_users = False
        self._has_acl = False
        self._extra_config = ""
        self._ca: TestCA | None = None
        self._server_cert: CertFiles | None = None
        self._require_client_cert = False
        self._proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    # --- state -------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def ca_cert(self) -> Path:
        """The CA certificate clients trust for the TLS listener (after :meth:`enable_tls`)."""
        if self._ca is None:
            raise RuntimeError("TLS is not enabled: call enable_tls() first")
        return self._ca.cert

    def log(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    # --- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> MosquittoBroker:
        """Start the broker and return once every listener accepts TCP connections."""
        if self.running:
            return self
        for attempt in range(3):
            self._write_config()
            with self.stderr_path.open("wb") as err_file:
                self._proc = subprocess.Popen(
                    [self.binary, "-c", str(self.config_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err_file,
                )
            if wait_until(self._listening, START_TIMEOUT_S, alive=lambda: self.running) and self.running:
                self.starts += 1
                return self
            stderr = self._reap_failed_start()
            in_use = "in use" in stderr or "in use" in self.log()
            if in_use and self.starts == 0 and not self._port_fixed and attempt < 2:
                # Another process took the port between free_port() and bind(): pick new ones. Never once a
                # client may have seen the address: restarts must come back on the same port.
                self.port = free_port(self.host)
                self.tls_port = free_port(self.host) if self.tls_port is not None else None
                continue
            raise ServiceUnavailableError(
                f"mosquitto did not start on {self.host}:{self.port}\n"
                f"stderr: {stderr.strip() or '(empty)'}\nlog ({self.log_path}):\n{self.log()}"
            )
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the broker cleanly (SIGTERM) and wait until it has exited: a planned outage."""
        stop_process(self._proc)
        self._proc = None

    def kill(self) -> None:
        """SIGKILL the broker: a crash or power loss, with no clean disconnect sent to clients."""
        kill_process(self._proc)
        self._proc = None

    def restart(self) -> MosquittoBroker:
        """Stop and start again on the same ports."""
        self.stop()
        return self.start()

    def reload(self) -> None:
        """Ask the running broker to re-read its password and ACL files (SIGHUP); returns once it has."""
        if not self.running or self._proc is None:
            return
        before = self._reload_count()
        self._proc.send_signal(signal.SIGHUP)
        if not wait_until(lambda: self._reload_count() > before, START_TIMEOUT_S, alive=lambda: self.running):
            raise ServiceUnavailableError(f"mosquitto did not reload its configuration:\n{self.log()}")

    # --- configuration -------------------------------------------------------------------------------------

    def add_user(self, name: str, password: str) -> None:
        """Add or update a user in the broker's password file (with ``mosquitto_passwd``)."""
        passwd = require_binary("mosquitto_passwd", "mosquitto")
        if not self.password_path.exists():
            self.password_path.touch(mode=0o600)
        result = subprocess.run(
            [passwd, "-b", str(self.password_path), name, password], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise ServiceUnavailableError(f"mosquitto_passwd failed: {result.stderr or result.stdout}")
        first = not self._has_users
        self._has_users = True
        self._apply(restart=first)

    def set_acl(self, text: str) -> None:
        """Replace the ACL file with ``text`` (mosquitto ``acl_file`` syntax: ``user NAME`` then
        ``topic [read|write|readwrite|deny] TOPIC`` lines; lines before any ``user`` apply to anonymous
        clients; a client not granted a topic is denied it)."""
        self.acl_path.write_text(textwrap.dedent(text).strip() + "\n")
        self.acl_path.chmod(0o600)
        first = not self._has_acl
        self._has_acl = True
        self._apply(restart=first)

    def clear_acl(self) -> None:
        """Drop the ACL: every client may use every topic again."""
        self._has_acl = False
        self._apply(restart=True)

    @property
    def allow_anonymous(self) -> bool:
        return self._allow_anonymous

    @allow_anonymous.setter
    def allow_anonymous(self, value: bool) -> None:
        if value != self._allow_anonymous:
            self._allow_anonymous = value
            self._apply(restart=True)

    @property
    def extra_config(self) -> str:
        """Further ``mosquitto.conf`` lines for global options, e.g. ``max_packet_size 1048576`` (an EMQX-like
        cap) or ``max_inflight_messages 1``."""
        return self._extra_config

    @extra_config.setter
    def extra_config(self, text: str) -> None:
        self._extra_config = textwrap.dedent(text).strip()
        self._apply(restart=True)

    def enable_tls(
        self, hostnames: tuple[str, ...] = ("localhost", "127.0.0.1"), require_client_cert: bool = False
    ) -> Path:
        """Add a TLS listener on :attr:`tls_port` with a fresh CA and server certificate for ``hostnames``;
        return the CA certificate clients must trust. With ``require_client_cert`` clients must present a
        certificate from :meth:`issue_client_cert`, whose common name becomes their user name."""
        if self._ca is None:
            self._ca = TestCA(self.workdir / "tls")
        self._server_cert = self._ca.issue("server", hostnames=list(hostnames))
        self._require_client_cert = require_client_cert
        if self.tls_port is None:
            self.tls_port = free_port(self.host)
        self._apply(restart=True)
        return self._ca.cert

    def issue_client_cert(self, name: str) -> CertFiles:
        """A client certificate with common name ``name``, signed by the broker's test CA."""
        if self._ca is None:
            raise RuntimeError("TLS is not enabled: call enable_tls() first")
        return self._ca.issue(name, client=True, stem=f"client-{name}")

    # --- internals -----------------------------------------------------------------------------------------

    def _apply(self, restart: bool) -> None:
        self._write_config()
        if not self.running:
            return
        if restart:
            self.restart()
        else:
            self.reload()

    def _write_config(self) -> None:
        lines = [
            "# generated by tests/services/mosquitto.py",
            "per_listener_settings false",
            "persistence false",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            f"allow_anonymous {'true' if self._allow_anonymous else 'false'}",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # as root, mosquitto would otherwise switch to user "mosquitto"
        if self._has_users:
            lines.append(f"password_file {self.password_path}")
        if self._has_acl:
            lines.append(f"acl_file {self.acl_path}")
        if self._extra_config:
            lines.append(self._extra_config)
        lines.append(f"listener {self.port} {self.host}")
        if self.tls_port is not None and self._ca is not None and self._server_cert is not None:
            lines += [
                f"listener {self.tls_port} {self.host}",
                f"cafile {self._ca.cert}",
                f"certfile {self._server_cert.cert}",
                f"keyfile {self._server_cert.key}",
            ]
            if self._require_client_cert:
                lines += ["require_certificate true", "use_identity_as_username true"]
        self.config_path.write_text("\n".join(lines) + "\n")

    def _listening(self) -> bool:
        return all(port_open(self.host, p) for p in (self.port, self.tls_port) if p is not None)

    def _reload_count(self) -> int:
        try:
            return self.log_path.read_text(errors="replace").count(RELOAD_MARK)
        except OSError:
            return 0

    def _reap_failed_start(self) -> str:
        proc, self._proc = self._proc, None
        if proc is None:
            return ""
        stop_process(proc, timeout_s=2.0)
        return tail(self.stderr_path)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<MosquittoBroker {self.host}:{self.port} tls={self.tls_port} {state}>"
