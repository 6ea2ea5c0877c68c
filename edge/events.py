"""The event contract of DESIGN.md: what a detector emits and the server stores.

Every event carries at least ``event_id, type, camera_id, start, end, started_at, confidence`` and, by type,
``release`` + ``track`` (falling objects) or ``zone`` + ``boxes`` (kitchen). Fields may be added, never renamed.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventType = Literal["falling_object", "missing_chef_hat", "uncovered_bin"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_ulid(now_s: float | None = None) -> str:
    """A ULID: 48-bit millisecond timestamp + 80 random bits, Crockford base32, 26 characters.

    Sorts by creation time, so event ids order like the events themselves.
    """
    ms = int((time.time() if now_s is None else now_s) * 1000) & ((1 << 48) - 1)
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def utc_iso(ts: datetime) -> str:
    """``2026-11-22T10:15:03.480Z``: UTC, millisecond precision, as in the contract."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


class TrackPoint(BaseModel):
    t: float = Field(description="media time, s")
    u: float = Field(description="pixel column in the camera's full-resolution image")
    v: float = Field(description="pixel row")


class Release(BaseModel):
    model_config = ConfigDict(extra="allow")

    floor: str | None
    column: str | None
    x: float
    y: float
    z: float
    floor_probabilities: dict[str, float]


class Clip(BaseModel):
    path: str
    sha256: str
    bytes: int


class Event(BaseModel):
    """One detection, as published and stored. Extra fields are kept (the contract may grow)."""

    model_config = ConfigDict(extra="allow")

    event_id: str = Field(default_factory=new_ulid)
    type: EventType
    camera_id: str
    start: float = Field(description="media time of the first evidence, s from the start of the file/stream")
    end: float = Field(description="media time of the last evidence, s")
    started_at: str = Field(description="wall clock of `start`, UTC ISO 8601")
    confidence: float = Field(ge=0.0, le=1.0)
    release: Release | None = None
    track: list[TrackPoint] | None = None
    zone: str | None = None
    boxes: list[list[float]] | None = None
    clip: Clip | None = None
    physics: dict[str, float] | None = Field(
        default=None, description="falling objects: track fit figures (rms_px, accel_ratio) behind the confidence")

    def to_json(self) -> dict[str, Any]:
        """The wire form: contract fields always present for the type, None-valued optional extras dropped."""
        data = self.model_dump(mode="json", exclude_none=True)
        if self.type == "falling_object":
            data.setdefault("release", None)  # the contract says null when the camera has no calibration
        return data


def wall_clock_at(stream_start: datetime, media_t_s: float) -> str:
    """The wall-clock time of a media timestamp, given the wall clock at media time 0."""
    return utc_iso(stream_start + timedelta(seconds=media_t_s))
