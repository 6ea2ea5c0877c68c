"""edge.yaml: the settings of one edge box, as pydantic models with errors that name the key path.

One model per concern (MQTT, TLS, spool, source, camera), composed into :class:`EdgeConfig`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.config import CameraConfig, load_camera
from edgewatch.configfile import format_validation_error, read_yaml
from edgewatch.errors import UserError

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class TlsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ca: Path = Field(description="CA certificate (PEM) that signed the broker's certificate")
    cert: Path | None = Field(default=None, description="client certificate (PEM), for brokers that require one")
    key: Path | None = Field(default=None, description="client private key (PEM)")

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsConfig:
        if (self.cert is None) != (self.key is None):
            raise ValueError("give both cert and key, or neither")
        return self


class MqttConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, description="broker host name or address")
    port: int = Field(default=1883, ge=1, le=65535, description="broker port (8883 is usual with TLS)")
    username: str | None = Field(default=None, description="user name, if the broker requires one")
    password: str | None = Field(default=None, description="password for `username`")
    tls: TlsConfig | None = Field(default=None, description="TLS settings; absent: plain TCP")
    client_id: str = Field(default="edgewatch-edge", min_length=1, max_length=100,
                           description="client id prefix; each camera connects as `{client_id}-{camera_id}`")
    keepalive_s: int = Field(default=15, ge=5, le=600, description="MQTT keep-alive; the last will fires after ~1.5x")
    ack_timeout_s: float = Field(default=30.0, gt=0, le=3600,
                                 description="republish an event the server has not acknowledged after this long")
    heartbeat_s: float = Field(default=10.0, gt=0, le=600, description="status heartbeat period")


class SpoolConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dir: Path = Field(description="folder for events waiting for the server's ack (one subfolder per camera)")
    max_bytes: int = Field(default=2_000_000_000, ge=1,
                           description="total size of the spool; shared equally by the cameras. When full, the "
                                       "oldest events are dropped (logged as errors)")


class SourceConfig(BaseModel):
    """Where a camera's video comes from: an rtsp:// URL or a file replayed as if it were a camera."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, description="rtsp:// URL or a video file path")
    replay: Literal["realtime", "fast"] = Field(
        default="realtime", description="files: pace by media time (realtime) or as fast as decoding goes")
    loop: bool = Field(default=False, description="files: start again at the end")
    timeout_s: float = Field(default=5.0, gt=0, le=120, description="RTSP: socket timeout before a reconnect")
    reconnect_max_s: float = Field(default=2.0, gt=0, le=60, description="RTSP: cap of the reconnect back-off")

    @property
    def is_rtsp(self) -> bool:
        return self.url.lower().startswith(("rtsp://", "rtsps://"))


class EdgeCamera(CameraConfig):
    """A camera entry of edge.yaml: the contract's camera file, plus how to replay a file source."""

    replay: Literal["realtime", "fast"] = Field(
        default="realtime", description="file sources: pace by media time (realtime) or as fast as possible")
    loop: bool = Field(default=False, description="file sources: start again at the end")
    timeout_s: float = Field(default=5.0, gt=0, le=120, description="RTSP: socket timeout before a reconnect")
    reconnect_max_s: float = Field(default=2.0, gt=0, le=60, description="RTSP: cap of the reconnect back-off")
    detect: bool = Field(default=True, description="run the detector (false: ingest and ring buffer only)")
    ring_extra_s: float = Field(default=15.0, ge=0, le=300,
                                description="ring buffer seconds kept beyond pre_roll_s: how long after its "
                                            "start an event may be reported and still get its pre-roll")

    def source_config(self) -> SourceConfig:
        if not self.source:
            raise UserError(f"camera {self.camera_id}: no `source` (an rtsp:// URL or a video file)")
        return SourceConfig(url=self.source, replay=self.replay, loop=self.loop, timeout_s=self.timeout_s,
                            reconnect_max_s=self.reconnect_max_s)


class CameraRef(BaseModel):
    """``{path: cam.yaml}``: a camera file kept beside edge.yaml; replay settings may be given here."""

    model_config = ConfigDict(extra="forbid")

    path: Path
    source: str | None = None
    replay: Literal["realtime", "fast"] | None = None
    loop: bool | None = None


class EdgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN, description="site id, in MQTT topics")
    mqtt: MqttConfig
    spool: SpoolConfig
    cameras: list[EdgeCamera] = Field(min_length=1, description="camera files inline, or {path: cam.yaml}")

    @model_validator(mode="after")
    def _unique_ids(self) -> EdgeConfig:
        ids = [c.camera_id for c in self.cameras]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"camera_id used twice: {', '.join(sorted(dup))}")
        return self



def load_edge_config(path: str | Path) -> EdgeConfig:
    """Load edge.yaml; camera files referenced by path are loaded too, relative paths resolved against the
    file that names them. Any problem is a :class:`UserError` naming the file and key path."""
    p = Path(path)
    data = read_yaml(p)
    if not isinstance(data, dict):
        raise UserError(f"{p}: expected a mapping with site, mqtt, spool and cameras; got {type(data).__name__}")
    cameras = data.get("cameras")
    errors: list[str] = []
    if isinstance(cameras, list):
        resolved: list[Any] = []
        for i, entry in enumerate(cameras):
            if isinstance(entry, dict) and "path" in entry:
                try:
                    ref = CameraRef.model_validate(entry)
                except ValidationError as exc:
                    errors.append(format_validation_error(exc, f"{p}: cameras.{i}").replace(f"{p}: ", "", 1))
                    continue
                cam_path = ref.path if ref.path.is_absolute() else p.parent / ref.path
                cam = load_camera(cam_path)
                merged = cam.model_dump(exclude_unset=True)
                merged.update({k: v for k, v in entry.items() if k != "path" and v is not None})
                merged["calibration"] = cam.calibration
                merged["model"] = cam.model
                resolved.append(_with_source_base(merged, cam_path.parent))
            elif isinstance(entry, dict):
                resolved.append(_with_paths_base(dict(entry), p.parent))
            else:
                resolved.append(entry)
        data = {**data, "cameras": resolved}
    # Validate camera entries one by one as EdgeCamera, so a typo is reported once with its path (a union would
    # report it under every member), then the rest; every problem is reported at once.
    cams: list[EdgeCamera] = []
    if isinstance(data.get("cameras"), list):
        for i, entry in enumerate(data["cameras"]):
            try:
                cams.append(EdgeCamera.model_validate(entry))
            except ValidationError as exc:
                errors.append(format_validation_error(exc, f"{p}: cameras.{i}"))
        placeholder = EdgeCamera(camera_id="placeholder", detector="falling", source="placeholder")
        data = {**data, "cameras": cams if not errors else (cams or [placeholder])}
    try:
        config = EdgeConfig.model_validate(data)
    except ValidationError as exc:
        errors.insert(0, format_validation_error(exc, str(p)))
    if errors:
        raise UserError("; ".join(errors))
    base = p.parent
    spool_dir = config.spool.dir
    if not spool_dir.is_absolute():
        config.spool.dir = base / spool_dir
    if config.mqtt.tls is not None:
        tls = config.mqtt.tls
        for name in ("ca", "cert", "key"):
            value = getattr(tls, name)
            if value is not None and not value.is_absolute():
                setattr(tls, name, base / value)
    for cam in config.cameras:
        cam.source_config()
        if cam.detector == "kitchen" and cam.detect:
            from edge.kitchen.build import check_kitchen_camera

            try:
                check_kitchen_camera(cam)
            except UserError as exc:
                raise UserError(f"{p}: {exc}") from None
    return config


def _with_paths_base(entry: dict[str, Any], base: Path) -> dict[str, Any]:
    for key in ("calibration", "model"):
        value = entry.get(key)
        if isinstance(value, str) and not Path(value).is_absolute():
            entry[key] = str(base / value)
    zones = entry.get("zones")
    if isinstance(zones, list):  # bin zones' reference images, as in a camera file
        entry["zones"] = [{**z, "reference": str(base / z["reference"])}
                          if isinstance(z, dict) and isinstance(z.get("reference"), str)
                          and not Path(z["reference"]).is_absolute() else z for z in zones]
    return _with_source_base(entry, base)


def _with_source_base(entry: dict[str, Any], base: Path) -> dict[str, Any]:
    src = entry.get("source")
    if isinstance(src, str) and "://" not in src and not Path(src).is_absolute():
        entry["source"] = str(base / src)
    return entry
