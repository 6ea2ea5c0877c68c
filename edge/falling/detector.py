"""The falling-object detector: frames in, contract events out. Pure computation: no I/O, no MQTT."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge.events import Event, Release, TrackPoint, wall_clock_at
from edge.falling.motion import MotionDetector, MotionParams
from edge.falling.tracker import Track, Tracker, TrackerParams
from edge.falling.validate import ValidationParams, Verdict, validate_track
from edge.frames import Frame

if TYPE_CHECKING:
    from calibration import FacadeCalibration

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FallingParams:
    motion: MotionParams = field(default_factory=MotionParams)
    tracker: TrackerParams = field(default_factory=TrackerParams)
    validation: ValidationParams = field(default_factory=ValidationParams)


def watch_mask(width: int, height: int, cal: FacadeCalibration | None) -> np.ndarray:
    """The pixels to watch: the calibration's detection area (default: the whole frame) minus its ignore areas.

    Polygons are in the calibration's pixel coordinates and are scaled when the stream has another size.
    """
    if cal is None:
        return np.full((height, width), 255, np.uint8)
    sx, sy = width / cal.image_size[0], height / cal.image_size[1]

    def poly(points: object) -> np.ndarray:
        arr = np.asarray(points, np.float64).reshape(-1, 2) * (sx, sy)
        return np.round(arr).astype(np.int32)

    area = getattr(cal, "detection_area", None)
    if area:
        mask = np.zeros((height, width), np.uint8)
        cv2.fillPoly(mask, [poly(area)], 255)
    else:
        mask = np.full((height, width), 255, np.uint8)
    for ignore in getattr(cal, "ignore_areas", None) or []:
        cv2.fillPoly(mask, [poly(ignore)], 0)
    return mask


class FallingDetector:
    """Detects objects falling from a facade in one camera's frames.

    Feed every decoded frame in order with :meth:`process`; each call returns the events whose tracks ended
    before that frame. Call :meth:`finish` at the end of a file to flush the tracks still open.
    """

    def __init__(
        self,
        camera_id: str,
        calibration: FacadeCalibration | None = None,
        params: FallingParams | None = None,
        stream_start: datetime | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.calibration = calibration
        self.params = params or FallingParams()
        self.stream_start = stream_start or datetime.now(UTC)
        self._motion: MotionDetector | None = None
        self._tracker: Tracker | None = None
        self._scale = 1.0
        self._frame_interval = 0.04
        self._last_t: float | None = None
        self.rejections: Counter[str] = Counter()
        """Why closed tracks were rejected (first word of the reason), for logs and the benchmark."""
        self.frames = 0
        self.skipped: Counter[str] = Counter()

    def _setup(self, frame: Frame) -> None:
        cal = self.calibration
        if cal is not None:
            cw, ch = cal.image_size
            if abs(frame.width / cw - frame.height / ch) > 0.01:
                raise ValueError(
                    f"stream is {frame.width}x{frame.height} but the calibration is for {cw}x{ch} "
                    "(another aspect ratio): calibrate this stream"
                )
            self._scale = frame.width / cw
        mask = watch_mask(frame.width, frame.height, cal)
        self._motion = MotionDetector(mask, self.params.motion)
        self._tracker = Tracker(frame.height, self.params.tracker)

    def process(self, frame: Frame) -> list[Event]:
        if self._motion is None or (frame.height, frame.width) != self._motion.shape:
            if self._motion is not None:
                log.warning("%s: resolution changed to %dx%d; restarting detection", self.camera_id,
                            frame.width, frame.height)
                events = self.finish()
            else:
                events = []
            self._setup(frame)
            assert self._motion is not None
            self._motion.process(frame.luma)
            self._last_t = frame.t_s
            return events
        assert self._tracker is not None
        if self._last_t is not None:
            dt = frame.t_s - self._last_t
            if 0 < dt < 1.0:  # running estimate of the nominal frame interval (robust to drops)
                self._frame_interval += 0.05 * (min(dt, 2 * self._frame_interval) - self._frame_interval)
        self._last_t = frame.t_s
        self.frames += 1
        cands = self._motion.process(frame.luma)
        if self._motion.status.skipped:
            self.skipped[self._motion.status.skipped] += 1
        ended = self._tracker.update(frame.t_s, cands)
        return self._events(ended)

    def finish(self) -> list[Event]:
        if self._tracker is None:
            return []
        return self._events(self._tracker.flush())

    def _events(self, tracks: list[Track]) -> list[Event]:
        events = []
        for track in tracks:
            if len(track) < 3:
                continue
            verdict = validate_track(track, self.params.validation, self.calibration, self._scale,
                                     self._frame_interval)
            if verdict.accepted:
                events.append(self._event(track, verdict))
                log.info("%s: falling object %.2f–%.2f s (%d points, rms %.2f px)", self.camera_id,
                         track.t[0], track.t[-1], len(track), verdict.rms_px)
            else:
                self.rejections[verdict.reason.split(":")[0].split(" ")[0]] += 1
                log.debug("%s: rejected track %.2f–%.2f s (%d points): %s", self.camera_id, track.t[0],
                          track.t[-1], len(track), verdict.reason)
        return events

    def _event(self, track: Track, verdict: Verdict) -> Event:
        release = None
        if verdict.release is not None:
            release = Release.model_validate(verdict.release.to_json())
        return Event(
            type="falling_object",
            camera_id=self.camera_id,
            start=round(track.t[0], 3),
            end=round(track.t[-1], 3),
            started_at=wall_clock_at(self.stream_start, track.t[0]),
            confidence=verdict.confidence,
            release=release,
            track=[TrackPoint(t=round(t, 3), u=round(u, 1), v=round(v, 1))
                   for t, u, v in zip(track.t, track.u, track.v, strict=True)],
            physics={"rms_px": round(verdict.rms_px, 2), "accel_ratio": round(verdict.accel_ratio, 3)},
        )
