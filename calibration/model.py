"""The calibration file (DESIGN.md, "Calibration file — contract") as pydantic models, one per concern.

Building frame, metres, right-handed: origin on the ground at the left end of the facade as seen from the street,
``x`` along the facade to the right, ``z`` up, ``y`` into the building (the street is ``y < 0``). The camera
follows OpenCV: ``X_cam = R(rvec)·X_building + tvec``.

:class:`FacadeGeometry` holds what describes the building (storeys, columns, clicked points) and
:class:`FacadeCalibration` adds the camera (intrinsics, extrinsics) and the geometry operations the detectors
use (``project``, ``rays``, ``floor_at``, ``column_at``). ``model_validate`` raises :class:`CalibrationError`
whose message names each offending key, e.g. ``extrinsics.rvec: expected 3 numbers, got 2``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cached_property
from typing import Any, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from calibration.camera import Camera, FloatArray
from calibration.errors import CalibrationError

# Plausibility bounds used to catch wrong units (millimetres for metres, focal length in mm instead of px).
MIN_STOREY_HEIGHT_M = 1.5
MAX_STOREY_HEIGHT_M = 20.0
MAX_BUILDING_EXTENT_M = 2000.0
MAX_CAMERA_DISTANCE_M = 5000.0


def _loc(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def describe_validation_error(exc: ValidationError, source: str | None = None) -> str:
    """One readable line per problem, each starting with the key's path (``floors[2].z: ...``)."""
    lines = []
    for err in exc.errors(include_url=False):
        msg = str(err["msg"]).removeprefix("Value error, ")
        key = _loc(tuple(err["loc"]))
        if err["type"] == "missing":
            msg = "missing: add this key"
        elif err["type"] == "extra_forbidden":
            msg = "unknown key: remove it or check its spelling"
        lines.append(f"{key}: {msg}" if key else msg)
    head = f"{source}: " if source else ""
    if len(lines) == 1:
        return head + lines[0]
    return head + f"{len(lines)} problems:\n  " + "\n  ".join(lines)


def _numbers(value: Any, n: int | tuple[int, ...], what: str) -> list[float]:
    counts = (n,) if isinstance(n, int) else n
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list of {what}, got {type(value).__name__} {value!r}")
    if len(value) not in counts:
        want = " or ".join(str(c) for c in counts)
        raise ValueError(f"expected {want} numbers ({what}), got {len(value)}")
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise ValueError(f"expected numbers ({what}), got {item!r}")
        if not math.isfinite(item):
            raise ValueError(f"expected finite numbers ({what}), got {item!r}")
        out.append(float(item))
    return out


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Intrinsics(_Part):
    """Lens and sensor: focal lengths and principal point in pixels, distortion coefficients."""

    model: Literal["pinhole", "fisheye"] = Field(
        default="pinhole", description="pinhole (OpenCV Brown–Conrady) or fisheye (cv2.fisheye, equidistant)"
    )
    fx: float = Field(gt=0, description="focal length along image x, in pixels")
    fy: float = Field(gt=0, description="focal length along image y, in pixels")
    cx: float = Field(description="principal point x, pixels")
    cy: float = Field(description="principal point y, pixels")
    dist: list[float] = Field(
        default_factory=list,
        description="pinhole: k1 k2 p1 p2 k3 (4, 5 or 8 numbers); fisheye: k1 k2 k3 k4; empty = no distortion",
    )

    @field_validator("dist", mode="before")
    @classmethod
    def _dist_numbers(cls, value: Any) -> list[float]:
        if value is None:
            return []
        return _numbers(value, (0, 4, 5, 8), "distortion coefficients")

    @model_validator(mode="after")
    def _dist_fits_model(self) -> Self:
        if self.model == "fisheye" and len(self.dist) not in (0, 4):
            raise ValueError(f"dist: the fisheye model takes 4 numbers k1 k2 k3 k4, got {len(self.dist)}")
        return self

    def dist_array(self) -> FloatArray:
        n = 4 if self.model == "fisheye" else max(5, len(self.dist))
        d = np.zeros(n)
        d[: len(self.dist)] = self.dist
        return d


class Extrinsics(_Part):
    """Camera pose: ``X_cam = R(rvec)·X_building + tvec`` (OpenCV Rodrigues vector, metres)."""

    rvec: list[float] = Field(description="Rodrigues rotation vector, radians (axis × angle)")
    tvec: list[float] = Field(description="translation, metres")

    @field_validator("rvec", "tvec", mode="before")
    @classmethod
    def _three_numbers(cls, value: Any) -> list[float]:
        return _numbers(value, 3, "x y z")

    @field_validator("rvec")
    @classmethod
    def _rotation_angle(cls, value: list[float]) -> list[float]:
        if float(np.linalg.norm(value)) > 2 * math.pi + 1e-6:
            raise ValueError(f"rotation angle |rvec| = {np.linalg.norm(value):.2f} rad exceeds 2π: use radians")
        return value


class Storey(_Part):
    """One storey: its name as people say it ("12", "G", "M") and the height of its floor slab."""

    name: str = Field(min_length=1, description="name used in events and on the preview, e.g. '12'")
    z: float = Field(description="height of this storey's floor above the origin, metres")

    @field_validator("name", mode="before")
    @classmethod
    def _name_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Column(_Part):
    """A vertical band of windows along the facade, ``x_min <= x < x_max``."""

    name: str = Field(min_length=1)
    x_min: float
    x_max: float

    @field_validator("name", mode="before")
    @classmethod
    def _name_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.x_max > self.x_min:
            raise ValueError(f"x_max ({self.x_max}) must be greater than x_min ({self.x_min})")
        return self


class CalibrationPoint(_Part):
    """A clicked correspondence: pixel ``(u, v)`` of a known facade position.

    Give the height either as ``z`` (metres) or as ``floor`` (a storey name) plus ``dz``, the height above that
    storey's floor (e.g. ``{floor: "12", dz: 1.0}`` is a window sill 1 m above the 12th floor slab).
    """

    u: float
    v: float
    x: float = Field(description="metres along the facade")
    y: float = Field(default=0.0, description="metres into the building; 0 = facade plane, -1.2 = balcony rail")
    z: float | None = Field(default=None, description="metres above the origin")
    floor: str | None = Field(default=None, description="storey name, instead of z")
    dz: float = Field(default=0.0, description="metres above the floor slab of `floor`")
    label: str | None = None

    @field_validator("floor", mode="before")
    @classmethod
    def _name_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _one_height(self) -> Self:
        if (self.z is None) == (self.floor is None):
            raise ValueError("give the height either as z (metres) or as floor (a storey name), exactly one")
        if self.z is not None and self.dz != 0.0:
            raise ValueError("dz is the height above `floor`; with z given, leave dz out")
        return self


class CalibrationUncertainty(_Part):
    """How well the camera is known; the back-projection folds it into floor probabilities."""

    rotation_deg: float = Field(default=0.5, ge=0.0, le=20.0, description="1-σ pointing error, degrees")
    focal_rel: float = Field(default=0.02, ge=0.0, le=0.5, description="1-σ relative focal-length error")


class FitSummary(BaseModel):
    """What ``calibrate fit`` measured (informational; written into the calibration file)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    rms_px: float = Field(
        description="RMS reprojection error of a click, 2-D pixels, corrected for the parameters the fit absorbed "
        "(an unbiased estimate of the click error)"
    )
    residual_rms_px: float | None = Field(
        default=None, description="plain RMS of the inliers' residuals (biased low); written since 2026-11-23"
    )
    n_points: int
    n_inliers: int
    outliers: list[int] = Field(default_factory=list, description="indices into points[] flagged as mis-clicks")
    storey_px_at_top: float = Field(description="height of a storey in pixels at the top of the clicked area")
    rms_storey_fraction: float = Field(description="rms_px / storey_px_at_top")


Polygon = list[tuple[float, float]]


class FacadeGeometry(BaseModel):
    """The building side of a calibration: storeys, columns, watched areas and clicked points."""

    model_config = ConfigDict(extra="allow", frozen=True)

    building: str | None = None
    camera_id: str | None = None
    image_size: tuple[int, int] = Field(description="width, height in pixels")
    floors: list[Storey] = Field(min_length=1, description="storeys, lowest first")
    roof_z: float | None = Field(default=None, description="top of the highest storey; default: one storey up")
    columns: list[Column] = Field(default_factory=list)
    detection_area: Polygon | None = None
    ignore_areas: list[Polygon] = Field(default_factory=list)
    points: list[CalibrationPoint] = Field(default_factory=list)

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Validate ``obj``; raise :class:`CalibrationError` naming every offending key."""
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as exc:
            raise CalibrationError(describe_validation_error(exc)) from None

    # Derived values (the Camera, storey edges) are cached in __dict__ by cached_property; they must neither
    # take part in equality nor survive a copy with changed fields.
    _CACHED = ("camera", "floor_names", "storey_edges_m")

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, FacadeGeometry) and type(self) is type(other) and self.model_dump() == other.model_dump()
        )

    __hash__ = None  # type: ignore[assignment]

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with ``update`` applied (not re-validated, as pydantic's); derived caches are dropped."""
        copy = super().model_copy(update=update, deep=deep)
        for name in self._CACHED:
            copy.__dict__.pop(name, None)
        return copy

    @field_validator("image_size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> tuple[int, int]:
        w, h = _numbers(value, 2, "width height")
        if not (w == int(w) and h == int(h) and 16 <= w <= 20000 and 16 <= h <= 20000):
            raise ValueError(f"expected whole pixel counts between 16 and 20000, got {value!r}")
        return int(w), int(h)

    @field_validator("detection_area", mode="before")
    @classmethod
    def _area(cls, value: Any) -> Any:
        if value is not None and (not isinstance(value, list) or len(value) < 3):
            raise ValueError("expected a polygon of at least 3 [u, v] points")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        zs = [s.z for s in self.floors]
        names = [s.name for s in self.floors]
        for i, name in enumerate(names):
            if names.index(name) != i:
                raise ValueError(f"floors[{i}].name: storey name {name!r} is used twice")
        for i in range(1, len(zs)):
            height = zs[i] - zs[i - 1]
            if height <= 0:
                raise ValueError(
                    f"floors[{i}].z: {zs[i]} is not above floors[{i - 1}].z = {zs[i - 1]}; list storeys lowest first"
                )
            if height > MAX_STOREY_HEIGHT_M:
                raise ValueError(
                    f"floors[{i}].z: storey {names[i - 1]!r} would be {height:g} m high; "
                    "give heights in metres (not millimetres or centimetres)"
                )
            if height < MIN_STOREY_HEIGHT_M:
                raise ValueError(
                    f"floors[{i}].z: storey {names[i - 1]!r} would be only {height:g} m high; "
                    f"storeys are at least {MIN_STOREY_HEIGHT_M} m: check the units (metres) and the order"
                )
        if abs(zs[0]) > MAX_BUILDING_EXTENT_M:
            raise ValueError(f"floors[0].z: {zs[0]:g} m is implausible; give heights in metres")
        if self.roof_z is not None:
            top = self.roof_z - zs[-1]
            if not MIN_STOREY_HEIGHT_M <= top <= MAX_STOREY_HEIGHT_M:
                raise ValueError(
                    f"roof_z: {self.roof_z:g} makes the top storey {names[-1]!r} {top:g} m high; "
                    "roof_z is the height of the roof in metres, above the last floor"
                )
        cols = [c.name for c in self.columns]
        for i, name in enumerate(cols):
            if cols.index(name) != i:
                raise ValueError(f"columns[{i}].name: column name {name!r} is used twice")
        for i, p in enumerate(self.points):
            if p.floor is not None and p.floor not in names:
                known = ", ".join(names[:8]) + (" …" if len(names) > 8 else "")
                raise ValueError(f"points[{i}].floor: unknown storey {p.floor!r}; floors are named {known}")
            for key in ("x", "y", "z"):
                val = getattr(p, key)
                if val is not None and abs(val) > MAX_BUILDING_EXTENT_M:
                    raise ValueError(
                        f"points[{i}].{key}: {val:g} m is implausible for a facade; give positions in metres"
                    )
        return self

    # --- storeys and columns -------------------------------------------------------------------------------

    @cached_property
    def floor_names(self) -> list[str]:
        return [s.name for s in self.floors]

    @cached_property
    def storey_edges_m(self) -> FloatArray:
        """Floor heights of every storey plus the roof: ``len(floors) + 1`` increasing values."""
        zs = [s.z for s in self.floors]
        default_roof = zs[-1] + (zs[-1] - zs[-2] if len(zs) > 1 else 3.0)
        roof = self.roof_z if self.roof_z is not None else default_roof
        return np.array([*zs, roof], dtype=np.float64)

    @property
    def roof_m(self) -> float:
        return float(self.storey_edges_m[-1])

    def storey_index_at(self, z_m: float) -> int | None:
        """Index into ``floors`` of the storey spanning ``[z, next z)``; None below the lowest or at/above the roof."""
        edges = self.storey_edges_m
        if not math.isfinite(z_m) or z_m < edges[0] or z_m >= edges[-1]:
            return None
        return int(np.searchsorted(edges, z_m, side="right") - 1)

    def floor_at(self, z_m: float) -> str | None:
        """Name of the storey whose span ``[z, next z)`` contains ``z_m``; None below ground or above the roof."""
        i = self.storey_index_at(z_m)
        return None if i is None else self.floors[i].name

    def floor_height_at(self, z_m: float) -> float:
        """Height (m) of the storey at ``z_m``; below/above the building, the lowest/highest storey's height."""
        edges = self.storey_edges_m
        i = int(np.clip(np.searchsorted(edges, z_m, side="right") - 1, 0, len(edges) - 2))
        return float(edges[i + 1] - edges[i])

    def floor_z(self, name: str) -> float:
        """Height of the floor slab of the storey called ``name``."""
        try:
            return self.floors[self.floor_names.index(name)].z
        except ValueError:
            raise CalibrationError(f"unknown storey {name!r}; floors are named {', '.join(self.floor_names)}") from None

    def columns_extent(self) -> tuple[float, float]:
        """The facade's extent along x that its columns cover, ``(x_min, x_max)``; ``(-inf, inf)`` with no columns."""
        if not self.columns:
            return -math.inf, math.inf
        return min(c.x_min for c in self.columns), max(c.x_max for c in self.columns)

    def column_at(self, x_m: float) -> str | None:
        """Name of the column with ``x_min <= x_m < x_max``; None outside every column (or with no columns)."""
        for col in self.columns:
            if col.x_min <= x_m < col.x_max:
                return col.name
        return None

    def point_arrays(self) -> tuple[FloatArray, FloatArray]:
        """The clicked points as (pixels ``(N, 2)``, building positions ``(N, 3)``), storey names resolved."""
        uv = np.array([[p.u, p.v] for p in self.points], dtype=np.float64).reshape(-1, 2)
        xyz = np.array(
            [[p.x, p.y, p.z if p.z is not None else self.floor_z(str(p.floor)) + p.dz] for p in self.points],
            dtype=np.float64,
        ).reshape(-1, 3)
        return uv, xyz


def check_lens_plausible(
    image_size: tuple[int, int], fx: float | None, fy: float | None, cx: float | None, cy: float | None
) -> None:
    """Raise ``ValueError`` naming the key when a focal length or principal point (pixels) cannot be meant for an
    image of ``image_size``: a focal length in millimetres is the usual slip. ``None`` is not checked."""
    w, h = image_size
    for key, f in (("fx", fx), ("fy", fy)):
        if f is not None and not 0.1 * w <= f <= 20 * w:
            raise ValueError(
                f"intrinsics.{key}: {f:g} px is implausible for an image {w} px wide "
                f"(expected {0.1 * w:g}–{20 * w:g}); focal lengths are in pixels, not millimetres"
            )
    cx_off = cx is not None and not -0.5 * w <= cx <= 1.5 * w
    cy_off = cy is not None and not -0.5 * h <= cy <= 1.5 * h
    if cx_off or cy_off:
        where = ", ".join("image centre" if c is None else f"{c:g}" for c in (cx, cy))
        raise ValueError(f"intrinsics.cx/cy: principal point ({where}) is far outside the {w}×{h} image")


class FacadeCalibration(FacadeGeometry):
    """A calibrated camera looking at a facade: the whole contract file.

    >>> cal = FacadeCalibration.model_validate({
    ...     "image_size": [1920, 1080],
    ...     "intrinsics": {"fx": 1400, "fy": 1400, "cx": 960, "cy": 540},
    ...     "extrinsics": {"rvec": [0.698, 0, 0], "tvec": [-10, 12.455, 8.494]},
    ...     "floors": [{"name": "1", "z": 0}, {"name": "2", "z": 3}], "roof_z": 6})
    >>> [round(c, 1) for c in cal.camera_center]
    [10.0, -15.0, 1.5]
    """

    intrinsics: Intrinsics
    extrinsics: Extrinsics
    uncertainty: CalibrationUncertainty = Field(default_factory=CalibrationUncertainty)
    fit: FitSummary | None = None

    @model_validator(mode="after")
    def _camera_plausible(self) -> Self:
        intr = self.intrinsics
        check_lens_plausible(self.image_size, intr.fx, intr.fy, intr.cx, intr.cy)
        dist_m = float(np.linalg.norm(self.camera.center))
        if dist_m > MAX_CAMERA_DISTANCE_M:
            raise ValueError(f"extrinsics.tvec: the camera would be {dist_m:g} m from the origin; give tvec in metres")
        if self.camera.center[1] >= 0:
            raise ValueError(
                "extrinsics: the camera centre is at y = "
                f"{self.camera.center[1]:.2f} m, inside the building (y >= 0); the street side is y < 0 — "
                "check the sign convention of tvec/rvec (X_cam = R·X + t)"
            )
        return self

    @cached_property
    def camera(self) -> Camera:
        """The camera as plain arrays (fast path for fitting)."""
        i, e = self.intrinsics, self.extrinsics
        return Camera.from_vectors(np.array(e.rvec), np.array(e.tvec), i.fx, i.fy, i.cx, i.cy, i.model, i.dist_array())

    @property
    def camera_center(self) -> FloatArray:
        """Camera centre in the building frame, ``C = −R(rvec)ᵀ · tvec`` (metres)."""
        return self.camera.center

    def project(self, xyz: FloatArray) -> FloatArray:
        """Building points ``(N, 3)`` metres -> pixels ``(N, 2)`` with lens distortion; NaN behind the camera."""
        pts = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
        return self.camera.project(pts)

    def rays(self, uv: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Pixels ``(N, 2)`` -> (camera centre ``(3,)``, unit directions ``(N, 3)``) in the building frame."""
        return self.camera.rays(np.asarray(uv, dtype=np.float64).reshape(-1, 2))
