"""`server.yaml`: the server's settings as typed models, one per concern, errors that name the key."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgewatch.configfile import format_validation_error, read_yaml
from edgewatch.errors import UserError

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class HttpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="address the API listens on")
    port: int = Field(default=8080, ge=0, le=65535, description="TCP port of the API (0: any free port)")


class MqttConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="run MQTT ingest in this process (false: API only)")
    host: str = Field(default="127.0.0.1", description="broker host")
    port: int = Field(default=1883, ge=1, le=65535, description="broker port")
    username: str | None = Field(default=None, description="broker user, if the broker requires one")
    password: str | None = Field(default=None, description="broker password (or set EDGEWATCH_MQTT_PASSWORD)")
    client_id: str = Field(
        default_factory=lambda: f"edgewatch-server-{socket.gethostname()}",
        min_length=1, max_length=128,
        description="stable per replica, so the broker keeps its session (and QoS 1 messages) over restarts")
    share_group: str = Field(default="edgewatch", pattern=ID_PATTERN,
                             description="MQTT 5 shared-subscription group all replicas join")
    shared_subscription: bool = Field(
        default=True,
        description="subscribe to event, clip and snapshot through $share/{share_group}/… (false: plain "
        "subscriptions, for one replica only, on a broker whose shared subscriptions lose messages: the demo's "
        "embedded rumqttd)")
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    session_expiry_s: int = Field(default=3600, ge=0, le=7 * 86400,
                                  description="how long the broker keeps this replica's session while it is away")


class IngestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_event_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024,
                                 description="larger event messages are rejected")
    max_chunk_bytes: int = Field(default=256 * 1024, ge=1024, le=1024 * 1024,
                                 description="largest accepted clip chunk (the wire protocol says 256 KiB)")
    max_clip_bytes: int = Field(default=512 * 1024 * 1024, ge=1024, description="largest accepted clip")
    max_snapshot_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, description="largest accepted snapshot")
    clip_timeout_s: float = Field(default=300.0, gt=0, le=7 * 86400,
                                  description="a clip still incomplete this long after its event is flagged "
                                  "'incomplete' and a 'missing' ack lists the absent chunks")
    missing_grace_s: float = Field(default=5.0, ge=0, le=3600,
                                   description="a repeated event message gets a 'missing' ack only this long "
                                   "after the first copy (chunks may still be on their way)")
    sweep_interval_s: float = Field(default=10.0, gt=0, le=3600, description="how often incomplete clips are checked")


class AdminBootstrap(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="admin", min_length=1, max_length=64, description="the first admin's user name")
    token: str | None = Field(
        default=None, min_length=16,
        description="API token created for that admin at start if no user exists yet (or EDGEWATCH_ADMIN_TOKEN)")


class AuthConfig(BaseModel):
    """Password sign-in: the sessions it makes, the cost of password hashes, and how failures are throttled."""

    model_config = ConfigDict(extra="forbid")

    session_hours: float = Field(default=12.0, gt=0, le=24 * 30,
                                 description="how long a sign-in session lasts (one shift); then sign in again")
    scrypt_log2_n: int = Field(default=15, ge=14, le=20,
                               description="scrypt cost of new password hashes, N = 2**this (memory 128*8*N bytes); "
                               "raise it and older hashes are upgraded at each user's next sign-in")
    window_s: float = Field(default=900.0, ge=10, le=86400,
                            description="failed sign-ins older than this are forgotten")
    free_failures_per_user: int = Field(default=5, ge=1, le=100,
                                        description="failed sign-ins for one user name within window_s before "
                                        "each further try must wait (a success clears them)")
    free_failures_per_ip: int = Field(default=20, ge=1, le=10000,
                                      description="failed sign-ins from one client address within window_s "
                                      "before each further try must wait")
    backoff_s: float = Field(default=30.0, gt=0, le=3600,
                             description="the first wait after the free failures; it doubles with each further "
                             "failure, up to window_s")
    attempts_kept_days: float = Field(default=90.0, ge=1, le=3650,
                                      description="sign-in attempts (the audit of sign-ins) older than this are "
                                      "deleted, at the next successful sign-in")


class ServerConfig(BaseModel):
    """The whole server.yaml."""

    model_config = ConfigDict(extra="forbid")

    database_url: str = Field(default="sqlite:///edgewatch.db",
                              description="SQLAlchemy URL: sqlite:///PATH (default) or postgresql://user@host/db")
    clip_dir: Path = Field(default=Path("clips"), description="where clips and snapshots are stored")
    rules: Path | None = Field(default=None, description="violation rules YAML (see examples/rules.yaml)")
    http: HttpConfig = Field(default_factory=HttpConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    admin: AdminBootstrap = Field(default_factory=AdminBootstrap)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    log_level: Literal["debug", "info", "warning", "error"] = "info"


def load_config(path: str | Path) -> ServerConfig:
    """Load server.yaml; relative paths in it are resolved against its folder; secrets may come from env."""
    p = Path(path)
    data = read_yaml(p) or {}
    if not isinstance(data, dict):
        raise UserError(f"{p}: expected a mapping of server settings, got {type(data).__name__}")
    try:
        cfg = ServerConfig.model_validate(data)
    except ValidationError as exc:
        raise UserError(format_validation_error(exc, str(p))) from None
    base = p.parent
    if not cfg.clip_dir.is_absolute():
        cfg.clip_dir = base / cfg.clip_dir
    if cfg.rules is not None and not cfg.rules.is_absolute():
        cfg.rules = base / cfg.rules
    if cfg.database_url.startswith("sqlite:///") and not cfg.database_url.startswith("sqlite:////"):
        rel = cfg.database_url.removeprefix("sqlite:///")
        if rel and rel != ":memory:":
            cfg.database_url = f"sqlite:///{(base / rel).resolve()}"
    cfg.mqtt.password = cfg.mqtt.password or os.environ.get("EDGEWATCH_MQTT_PASSWORD")
    cfg.admin.token = cfg.admin.token or os.environ.get("EDGEWATCH_ADMIN_TOKEN")
    return cfg
