"""Typed configuration of a camera (the contract's camera file), validated with errors that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edgewatch.configfile import format_validation_error, read_yaml
from edgewatch.errors import UserError


class Zone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="zone name, used in events")
    kind: Literal["hat_required", "bin"] = Field(description="what the zone's rule checks")
    polygon: list[tuple[float, float]] = Field(description="image polygon [[u, v], …], full-resolution pixels")
    reference: Path | None = Field(
        default=None, description="bin zones: an image of the camera's full view with this bin closed; when set, "
        "the bin's open/closed state comes from comparing the zone with it (model-free bin mode)")

    @field_validator("polygon")
    @classmethod
    def _at_least_triangle(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(v) < 3:
            raise ValueError(f"a polygon needs at least 3 points, got {len(v)}")
        return v

    @model_validator(mode="after")
    def _reference_for_bins(self) -> Zone:
        if self.reference is not None and self.kind != "bin":
            raise ValueError("reference is for bin zones only")
        return self


class KitchenRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    missing_chef_hat_after_s: float = Field(default=5.0, gt=0, le=3600,
                                            description="a person in a hat-required zone without a hat this long")
    uncovered_bin_after_s: float = Field(default=30.0, gt=0, le=86400,
                                         description="a bin open this long with no one using it")


class CameraConfig(BaseModel):
    """One camera: what `analyze --camera` reads and each entry of `cameras:` in edge.yaml holds."""

    model_config = ConfigDict(extra="forbid")

    camera_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                           description="stable id: letters, digits, '.', '_' and '-'")
    detector: Literal["falling", "kitchen"]
    source: str | None = Field(default=None, description="rtsp:// URL or file path (ignored by analyze)")
    calibration: Path | None = Field(default=None, description="calibration YAML (falling cameras)")
    model: Path | None = Field(default=None, description="ONNX model (kitchen cameras); default: shipped model")
    model_input: str | None = Field(default=None, pattern=r"^[1-9][0-9]*x[1-9][0-9]*$",
                                    description="kitchen cameras: WxH the model runs at (multiples of 32), e.g. "
                                                "416x256 for about half the CPU; default the model's own size")
    zones: list[Zone] = Field(default_factory=list)
    rules: KitchenRules = Field(default_factory=KitchenRules)
    detect_fps: float = Field(default=3.0, ge=0.2, le=30,
                              description="kitchen cameras: how often per second (media time) the model looks; "
                                          "between looks, and while nothing moves in the zones, the last "
                                          "detections stand")
    pre_roll_s: float = Field(default=3.0, ge=0, le=60, description="evidence clip seconds before the event")
    post_roll_s: float = Field(default=3.0, ge=0, le=60, description="evidence clip seconds after the event")

    @field_validator("model_input")
    @classmethod
    def _multiple_of_32(cls, v: str | None) -> str | None:
        if v is not None and any(int(x) % 32 or not 32 <= int(x) <= 4096 for x in v.split("x")):
            raise ValueError(f"{v}: width and height must be multiples of 32 between 32 and 4096 (the model's "
                             f"stride), e.g. 416x256")
        return v


def load_camera(path: str | Path) -> CameraConfig:
    """Load a camera file; relative paths inside it are resolved against the file's folder."""
    p = Path(path)
    data = read_yaml(p)
    if not isinstance(data, dict):
        raise UserError(f"{p}: expected a mapping of camera settings, got {type(data).__name__}")
    try:
        cam = CameraConfig.model_validate(data)
    except ValidationError as exc:
        raise UserError(format_validation_error(exc, str(p))) from None
    base = p.parent
    if cam.calibration is not None and not cam.calibration.is_absolute():
        cam.calibration = base / cam.calibration
    if cam.model is not None and not cam.model.is_absolute():
        cam.model = base / cam.model
    for zone in cam.zones:
        if zone.reference is not None and not zone.reference.is_absolute():
            zone.reference = base / zone.reference
    return cam
