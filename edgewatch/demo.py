"""`edgewatch demo`: the whole system on one machine — an MQTT broker (Mosquitto, else an embedded one), the
server on SQLite and a local clip folder, and an edge box whose cameras replay every sample in ``sample_videos/``:
the falling-object clips (``falling/``, each with its facade calibration) and the kitchen clips (``kitchen/``, each
with its camera file: zones and rules).

Nothing is re-implemented here: the demo writes an ``edge.yaml``, a ``server.yaml`` and a ``rules.yaml`` into its
state folder and runs ``edgewatch server`` and ``edgewatch edge`` on them as child processes, exactly as an
operator would. The config writers are public so that the end-to-end tests build the same system.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from edge.config import load_camera
from edgewatch.broker import EmbeddedBroker, LocalMosquitto, die_with_parent, free_port, local_broker, port_open
from edgewatch.errors import UserError

log = logging.getLogger("edgewatch.demo")

DEMO_SITE = "demo"
ADMIN_NAME = "admin"
SERVER_READY_TIMEOUT_S = 90.0
PROGRESS_EVERY_S = 30.0


# --- what the demo replays ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleCamera:
    """One recorded sample replayed as a camera: its video, its facade calibration and the building's name."""

    camera_id: str
    video: Path
    calibration: Path
    building: str


@dataclass(frozen=True)
class KitchenSampleCamera:
    """One recorded kitchen sample replayed as a camera: its video and its camera file (zones, rules, model)."""

    camera_id: str
    video: Path
    camera_file: Path
    restaurant: str


def default_samples_dir() -> Path:
    """``sample_videos`` of this checkout, else of the current folder."""
    for base in (Path(__file__).resolve().parents[1], Path.cwd()):
        folder = base / "sample_videos"
        if folder.is_dir():
            return folder
    return Path.cwd() / "sample_videos"


def _camera_id(video: Path) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in video.stem).strip("-._") or "camera"


def _falling_samples(folder: Path) -> list[SampleCamera]:
    cameras = []
    for video in sorted(folder.glob("*.mp4")):
        calibration = video.with_suffix(".calibration.yaml")
        if not calibration.is_file():
            continue
        data = yaml.safe_load(calibration.read_text()) or {}
        camera_id = _camera_id(video)
        building = str(data.get("building") or camera_id)
        cameras.append(SampleCamera(camera_id, video.resolve(), calibration.resolve(), building))
    return cameras


def _kitchen_samples(folder: Path) -> list[KitchenSampleCamera]:
    cameras = []
    for video in sorted(folder.glob("*.mp4")):
        camera_file = video.with_suffix(".camera.yaml")
        if not camera_file.is_file():
            continue
        data = yaml.safe_load(camera_file.read_text()) or {}
        if not isinstance(data, dict) or data.get("detector") != "kitchen":
            continue
        camera_id = _camera_id(video)
        cameras.append(KitchenSampleCamera(camera_id, video.resolve(), camera_file.resolve(),
                                           str(data.get("restaurant") or camera_id)))
    return cameras


def find_samples(folder: Path) -> list[SampleCamera]:
    """Every ``*.mp4`` in ``folder`` that has a ``*.calibration.yaml`` beside it, as a falling camera."""
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder of sample videos; pass --samples DIR (a folder of *.mp4 files "
                        "each with a .calibration.yaml beside it)")
    cameras = _falling_samples(folder)
    if not cameras:
        raise UserError(f"{folder}: no *.mp4 with a .calibration.yaml beside it; pass --samples DIR")
    return cameras


def find_demo_samples(folder: Path) -> tuple[list[SampleCamera], list[KitchenSampleCamera]]:
    """The samples the demo replays from ``folder`` and its subfolders (``sample_videos/`` holds ``falling/`` and
    ``kitchen/``): each ``*.mp4`` with a ``*.calibration.yaml`` beside it as a falling camera, each with a kitchen
    ``*.camera.yaml`` beside it as a kitchen camera. Anything else is skipped with a warning."""
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder of sample videos; pass --samples DIR (a folder of *.mp4 files, "
                        "each with a .calibration.yaml or a kitchen .camera.yaml beside it, or of such folders)")
    falling: list[SampleCamera] = []
    kitchen: list[KitchenSampleCamera] = []
    for sub in [folder, *sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))]:
        found_falling, found_kitchen = _falling_samples(sub), _kitchen_samples(sub)
        used = {c.video for c in found_falling} | {c.video for c in found_kitchen}
        for video in sorted(sub.glob("*.mp4")):
            if video.resolve() not in used:
                log.warning("%s: no .calibration.yaml or kitchen .camera.yaml beside it; not replayed", video)
        falling += found_falling
        kitchen += found_kitchen
    ids = [c.camera_id for c in falling] + [c.camera_id for c in kitchen]
    if len(set(ids)) != len(ids):
        raise UserError(f"{folder}: two samples share a file name ({', '.join(sorted(ids))}); each becomes a camera "
                        "named after its file, so rename one")
    if not ids:
        raise UserError(f"{folder}: no *.mp4 with a .calibration.yaml or a kitchen .camera.yaml beside it (nor in "
                        "its subfolders); pass --samples DIR")
    return falling, kitchen


# --- configuration files for `edgewatch server` and `edgewatch edge` -----------------------------------------


def write_rules(path: Path, cameras: Sequence[SampleCamera | KitchenSampleCamera], site: str = DEMO_SITE,
                merge_window_s: float = 600.0) -> Path:
    places: dict[str, dict[str, str]] = {}
    for c in cameras:
        places[c.camera_id] = ({"site": site, "building": c.building} if isinstance(c, SampleCamera)
                               else {"site": site, "restaurant": c.restaurant})
    violations = {"falling_object": {"violation": "falling_object", "severity": "high"}}
    if any(isinstance(c, KitchenSampleCamera) for c in cameras):
        violations |= {"missing_chef_hat": {"violation": "missing_chef_hat", "severity": "low"},
                       "uncovered_bin": {"violation": "uncovered_bin", "severity": "medium"}}
    rules = {
        "merge_window_s": merge_window_s,
        "violations": violations,
        "cameras": places,
        "recurrence": [{"violation": "falling_object", "count": 3, "period_s": 2592000}],
    }
    path.write_text("# generated by `edgewatch demo`\n" + yaml.safe_dump(rules, sort_keys=False))
    return path


def write_server_config(path: Path, *, state_dir: Path, rules: Path, http_host: str, http_port: int,
                        mqtt_host: str, mqtt_port: int, admin_token: str, client_id: str = "edgewatch-demo-server",
                        log_level: str = "info", mqtt: dict[str, Any] | None = None, **ingest: Any) -> Path:
    """A server.yaml on SQLite (``state_dir/edgewatch.db``) and local clips (``state_dir/clips``); ``mqtt`` adds
    or overrides keys of its mqtt section (username, password, …)."""
    config: dict[str, Any] = {
        "database_url": f"sqlite:///{(state_dir / 'edgewatch.db').resolve()}",
        "clip_dir": str((state_dir / "clips").resolve()),
        "rules": str(rules.resolve()),
        "log_level": log_level,
        "http": {"host": http_host, "port": http_port},
        "mqtt": {"host": mqtt_host, "port": mqtt_port, "client_id": client_id, **(mqtt or {})},
        "admin": {"name": ADMIN_NAME, "token": admin_token},
    }
    if ingest:
        config["ingest"] = ingest
    path.write_text("# generated by `edgewatch demo`\n" + yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)  # it holds the admin token
    return path


def write_edge_config(path: Path, *, cameras: Sequence[SampleCamera | KitchenSampleCamera], spool_dir: Path,
                      mqtt_host: str, mqtt_port: int, replay: str = "realtime", loop: bool = True,
                      site: str = DEMO_SITE, client_id: str = "edgewatch-demo-edge", ack_timeout_s: float = 30.0,
                      pre_roll_s: float = 3.0, post_roll_s: float = 3.0, mqtt: dict[str, Any] | None = None) -> Path:
    """An edge.yaml with one camera per sample: falling ones with their calibration (and ``pre_roll_s`` /
    ``post_roll_s``), kitchen ones with everything of their camera file (zones, rules, model, rolls) but the
    camera id (the sample's file name) and the source (the sample video). ``mqtt`` adds or overrides keys of its
    mqtt section (username, password, tls, …)."""
    entries: list[dict[str, Any]] = []
    for c in cameras:
        if isinstance(c, SampleCamera):
            entries.append({"camera_id": c.camera_id, "detector": "falling", "source": str(c.video),
                            "calibration": str(c.calibration), "replay": replay, "loop": loop,
                            "pre_roll_s": pre_roll_s, "post_roll_s": post_roll_s})
        else:
            settings = load_camera(c.camera_file).model_dump(mode="json", exclude_none=True)
            entries.append({**settings, "camera_id": c.camera_id, "source": str(c.video), "replay": replay,
                            "loop": loop})
    config = {
        "site": site,
        "mqtt": {"host": mqtt_host, "port": mqtt_port, "client_id": client_id, "ack_timeout_s": ack_timeout_s,
                 "heartbeat_s": 5, **(mqtt or {})},
        "spool": {"dir": str(spool_dir.resolve())},
        "cameras": entries,
    }
    path.write_text("# generated by `edgewatch demo`\n" + yaml.safe_dump(config, sort_keys=False))
    return path


def edgewatch_command(*args: str) -> list[str]:
    """The ``edgewatch`` command of this interpreter (works from a checkout without the console script)."""
    return [sys.executable, "-m", "edgewatch", *args]


# --- child processes ------------------------------------------------------------------------------------------


class Child:
    """A child ``edgewatch …`` process in its own process group, its output in a log file."""

    def __init__(self, name: str, command: list[str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("ab") as out:
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         preexec_fn=die_with_parent)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout_s: float) -> int:
        """SIGTERM, then SIGKILL to the whole group after ``timeout_s``; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.error("%s did not stop in %.0f s; killing it", self.name, timeout_s)
                self._kill_group()
        else:
            self._kill_group()  # its own children (edge workers) must not outlive it
        return self.proc.returncode

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


# --- HTTP helpers (stdlib only: the demo must not need the test extras) --------------------------------------


def http_json(url: str, token: str | None = None, timeout_s: float = 3.0) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:  # /healthz answers 503 with a JSON body while MQTT connects
        return json.loads(exc.read() or b"null")


def http_status(url: str, timeout_s: float = 3.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return 0


def server_ready(base_url: str) -> bool:
    try:
        health = http_json(f"{base_url}/healthz", timeout_s=1.0)
    except (OSError, ValueError):
        return False
    return isinstance(health, dict) and health.get("mqtt") == "connected" and health.get("database") == "ok"


# --- the command ----------------------------------------------------------------------------------------------


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole system on this machine: MQTT broker, server and edge cameras replaying sample_videos/",
        description="Start a private MQTT broker (Mosquitto, or the embedded one when Mosquitto is not "
        "installed), the server (SQLite and a local clip folder under --state) "
        "with an admin user and token, and an edge box whose cameras replay every sample of sample_videos/ in a "
        "loop at recorded speed: the falling-object clips with their calibration and the kitchen clips with their "
        "camera files (zones and rules: missing_chef_hat, uncovered_bin). Prints the web app URL, the admin's user "
        "name and password for the web app, and an API token on stdout; progress and "
        "logs go to stderr, and each part's log to STATE/logs/. Ctrl-C or SIGTERM stops everything. "
        "Needs Mosquitto (`sudo apt-get install mosquitto`) or the embedded broker "
        "(`pip install 'edgewatch[demo]'`).",
    )
    p.add_argument("--state", type=Path, default=Path(".edgewatch-demo"), metavar="DIR",
                   help="folder for the database, clips, spool, configs and logs; kept between runs, delete it to "
                   "start afresh (default: ./.edgewatch-demo)")
    p.add_argument("--host", default="127.0.0.1", help="address the web app and API listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="web app / API port (default: 8080; 0: any free port)")
    p.add_argument("--mqtt-port", type=int, default=0, help="broker port on 127.0.0.1 (default: any free port)")
    p.add_argument("--broker", choices=["auto", "mosquitto", "embedded"], default="auto",
                   help="MQTT broker: Mosquitto when installed, else the embedded one (`pip install "
                        "'edgewatch[demo]'`); default auto")
    p.add_argument("--samples", type=Path, default=None, metavar="DIR",
                   help="folder of *.mp4 samples, each with a .calibration.yaml (falling) or a kitchen .camera.yaml "
                        "beside it, or of such folders (default: sample_videos, i.e. falling/ and kitchen/)")
    p.add_argument("--replay", choices=["realtime", "fast"], default="realtime",
                   help="realtime: paced like live cameras (default); fast: as fast as decoding goes")
    p.add_argument("--once", action="store_true", help="play each sample once instead of in a loop")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return Demo(args).run()


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.state: Path = args.state.resolve()
        self.stop_requested = threading.Event()
        self.signal_name = ""
        self.broker: LocalMosquitto | EmbeddedBroker | None = None
        self.children: list[Child] = []

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.signal_name = signal.Signals(signum).name
        self.stop_requested.set()

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            code = self._run()
        finally:
            self._shutdown()
        return code

    def _run(self) -> int:
        args = self.args
        samples_dir = args.samples or default_samples_dir()
        falling, kitchen = find_demo_samples(samples_dir)
        cameras: list[SampleCamera | KitchenSampleCamera] = [*falling, *kitchen]
        http_port = args.port or free_port(args.host)
        if port_open(args.host, http_port):
            raise UserError(f"port {http_port} on {args.host} is in use: pass --port N (or --port 0 for any free "
                            "port)")
        for sub in ("logs", "spool", "clips"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        progress(f"state in {self.state} (logs in {self.state / 'logs'})")
        token = self._admin_token()

        self.broker = local_broker(self.state, port=args.mqtt_port, kind=args.broker).start()
        progress(f"MQTT broker ({self.broker.name}) on 127.0.0.1:{self.broker.port}")
        if self.stop_requested.is_set():
            return 0

        rules = write_rules(self.state / "rules.yaml", cameras)
        server_yaml = write_server_config(
            self.state / "server.yaml", state_dir=self.state, rules=rules, http_host=args.host, http_port=http_port,
            mqtt_host="127.0.0.1", mqtt_port=self.broker.port, admin_token=token,
            # rumqttd loses messages on a client's several filters in one share group (server/mqtt.py); the
            # demo has one server, which needs no shared subscription.
            mqtt={"shared_subscription": False} if isinstance(self.broker, EmbeddedBroker) else None)
        password = self._admin_password(server_yaml)
        server = self._start("server", edgewatch_command("server", "--config", str(server_yaml)))
        base = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{http_port}"
        progress(f"server starting on {base} (SQLite {self.state / 'edgewatch.db'}, clips {self.state / 'clips'})")
        deadline = time.monotonic() + SERVER_READY_TIMEOUT_S
        while not server_ready(base):
            if self.stop_requested.is_set():
                return 0
            if not server.alive:
                raise UserError(f"the server exited with status {server.proc.returncode} before it was ready; its "
                                f"log ({server.log_path}) ends: {server.log_tail(800)}")
            if time.monotonic() > deadline:
                raise UserError(f"the server was not ready after {SERVER_READY_TIMEOUT_S:.0f} s; see {server.log_path}")
            time.sleep(0.3)

        edge_yaml = write_edge_config(
            self.state / "edge.yaml", cameras=cameras, spool_dir=self.state / "spool", mqtt_host="127.0.0.1",
            mqtt_port=self.broker.port, replay=args.replay, loop=not args.once)
        self._start("edge", edgewatch_command("-v", "edge", "--config", str(edge_yaml)))
        progress(f"edge box started: {len(cameras)} camera(s) replaying {samples_dir} "
                 f"({args.replay}{', once' if args.once else ', in a loop'}): "
                 + "; ".join(f"{kind} " + ", ".join(c.camera_id for c in group)
                             for kind, group in (("falling", falling), ("kitchen", kitchen)) if group))

        web = f"{base}/" if http_status(f"{base}/") == 200 else f"{base}/docs"
        print("\nedgewatch demo is running\n"
              f"  web app:     {web}\n"
              f"  API:         {base}/api/v1  (OpenAPI docs at {base}/docs)\n"
              f"  user:        {ADMIN_NAME}\n"
              f"  password:    {password}\n"
              f"  token:       {token}\n"
              f"  try:         curl -H 'Authorization: Bearer {token}' {base}/api/v1/violations\n"
              "Violations appear within seconds of each throw, and of each kitchen rule's dwell running out. "
              "Press Ctrl-C to stop.\n", flush=True)
        return self._watch(base, token)

    def _watch(self, base: str, token: str) -> int:
        seen = -1
        last_report = time.monotonic()
        while not self.stop_requested.wait(1.0):
            for child in self.children:
                if not child.alive:
                    log.error("%s exited unexpectedly (status %s); its log (%s) ends:\n%s", child.name,
                              child.proc.returncode, child.log_path, child.log_tail())
                    progress(f"{child.name} exited unexpectedly (status {child.proc.returncode}); stopping the demo; "
                             f"see {child.log_path}")
                    return 1
            if self.broker is not None and not self.broker.running:
                progress(f"the MQTT broker exited unexpectedly; stopping the demo; see {self.broker.log_path}")
                return 1
            try:
                total = int(http_json(f"{base}/api/v1/violations?limit=1", token)["total"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            now = time.monotonic()
            if total != seen or now - last_report >= PROGRESS_EVERY_S:
                progress(f"{total} violation(s) in the server so far")
                seen, last_report = total, now
        return 0

    def _start(self, name: str, command: list[str]) -> Child:
        child = Child(name, command, self.state / "logs" / f"{name}.log")
        self.children.append(child)
        return child

    def _admin_token(self) -> str:
        """The demo admin's token: kept in the state folder, since the server creates the admin only once."""
        path = self.state / "admin-token"
        if path.is_file() and len(path.read_text().strip()) >= 16:
            return path.read_text().strip()
        if (self.state / "edgewatch.db").exists():
            progress(f"warning: {self.state / 'edgewatch.db'} exists but {path} does not: the admin created then "
                     f"keeps its old token and the new one printed below will be refused; delete {self.state} to "
                     "start afresh")
        token = secrets.token_urlsafe(24)
        path.write_text(token + "\n")
        path.chmod(0o600)
        return token

    def _admin_password(self, server_yaml: Path) -> str:
        """The demo admin's password for the web app: kept in the state folder like the token, and set with
        ``edgewatch server user passwd`` (what an operator runs) before the server starts."""
        from server.passwords import generate_password

        path = self.state / "admin-password"
        password = path.read_text().strip() if path.is_file() else ""
        if len(password) < 8:
            password = generate_password()
            path.write_text(password + "\n")
            path.chmod(0o600)
        result = subprocess.run(
            edgewatch_command("server", "user", "passwd", ADMIN_NAME, "--password-stdin", "--config", str(server_yaml)),
            input=password + "\n", capture_output=True, text=True, timeout=120)
        if result.returncode != 0 and not self.stop_requested.is_set():  # Ctrl-C reaches the child too
            raise UserError(f"could not set the demo admin's password: {result.stderr.strip()}")
        return password

    def _shutdown(self) -> None:
        if self.stop_requested.is_set():
            progress(f"stopping ({self.signal_name or 'requested'})")
        # Edge first, so its workers publish their offline status while the broker is still up; the broker last.
        for child, timeout_s in sorted(((c, 20.0 if c.name == "edge" else 10.0) for c in self.children),
                                       key=lambda item: item[0].name != "edge"):
            code = child.stop(timeout_s)
            log.info("%s stopped (status %s)", child.name, code)
        if self.broker is not None:
            self.broker.stop()
        if self.children or self.broker is not None:
            progress("stopped")


def progress(message: str) -> None:
    print(f"edgewatch demo: {message}", file=sys.stderr, flush=True)
