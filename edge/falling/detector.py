"""The falling-object detector: frames in, contract events out. Pure computation: no I/O, no MQTT."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge.events import Event, Release, TrackPoint, wall_clock_at
from edge.falling.motion import MotionDetector, MotionParams
from edge.falling.tracker import Track, Tracker, TrackerParams
from edge.falling.validate import GRAVITY_MPS2, ValidationParams, Verdict, validate_track
from edge.frames import Frame

if TYPE_CHECKING:
    from collections.abc import Callable

    from calibration import FacadeCalibration
    from calibration.backproject import ReleaseEstimate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FallingParams:
    motion: MotionParams = field(default_factory=MotionParams)
    tracker: TrackerParams = field(default_factory=TrackerParams)
    validation: ValidationParams = field(default_factory=ValidationParams)
    hold_s: float = 1.2
    """An accepted track waits this long (media time) for a continuation before its event is emitted…"""
    max_hold_s: float = 8.0
    """…or, while a continuation is still being tracked, up to this long (an object can stay in view for
    several seconds after a first fragment)."""
    overlap_s: float = 0.5
    """A continuation may start this long before the held track ended (a split track)."""


def ballistic_path(rel: ReleaseEstimate, until_s: float, dt_s: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """The fitted fall ``dv/dt = −g·ẑ − k·|v|·v`` from the release to ``until_s`` (media time).

    Returns (times (M,), positions (M, 3)) on a ``dt_s`` grid (semi-implicit Euler; at 10 ms steps the
    position error over a few seconds is centimetres, far below a pixel at facade distances).
    """
    n = max(2, int(np.ceil((until_s - rel.t_release_s) / dt_s)) + 1)
    times = rel.t_release_s + dt_s * np.arange(n)
    pos = np.empty((n, 3))
    p = np.array([rel.x, rel.y, rel.z], np.float64)
    v = np.array(rel.velocity0, np.float64)
    g = np.array([0.0, 0.0, -GRAVITY_MPS2])
    for i in range(n):
        pos[i] = p
        v = v + (g - rel.drag_per_m * float(np.sqrt(v @ v)) * v) * dt_s
        p = p + v * dt_s
    return times, pos


def _continues(first: Track, second: Track, tail: int = 12) -> bool:
    """Does ``second`` start where ``first``'s constant-acceleration tail extrapolates to?

    Tolerance: 12 px plus 15 % of the predicted jump, since the extrapolation of a perspective fall drifts;
    three of the second track's first five points must fit.
    """
    t1, uv1 = first.arrays()
    t1, uv1 = t1[-tail:], uv1[-tail:]
    t2, uv2 = second.arrays()
    t2, uv2 = t2[:5], uv2[:5]
    deg = 2 if len(t1) >= 5 else 1
    coef = np.polyfit(t1 - t1[-1], uv1, deg)
    pred = np.stack([np.polyval(coef[:, k], t2 - t1[-1]) for k in range(2)], axis=1)
    jump = np.hypot(*(pred - uv1[-1]).T)
    err = np.hypot(*(pred - uv2).T)
    # Most of its first points on the path (the tracker may have picked up a stray blob first).
    return int(np.sum(err <= 12.0 + 0.15 * jump)) >= min(3, len(t2))


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
        self._pending: list[tuple[Track, Verdict]] = []
        self._paths: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        """Projected metric paths of held tracks, by id of their verdict (computed once per verdict)."""
        self.rejections: Counter[str] = Counter()
        """Why closed tracks were rejected (first word of the reason), for logs and the benchmark."""
        self.on_rejected: Callable[[Track, Verdict], None] | None = None
        """Called with every closed track of 3+ points that was rejected (diagnostics: the benchmark's
        ``--explain`` uses it to say why a throw was missed)."""
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
            # The metric validation's module takes about a second to import: do it now, not on the frame where
            # the first candidate track closes (a live worker would stall there and fall behind its stream).
            import calibration.backproject  # noqa: F401
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
        return self._events(ended, now=frame.t_s)

    def finish(self) -> list[Event]:
        if self._tracker is None:
            return []
        events = self._events(self._tracker.flush(), now=None)
        events += [self._event(tr, v) for tr, v in self._pending]
        self._pending = []
        return events

    def _events(self, tracks: list[Track], now: float | None) -> list[Event]:
        """Validate closed tracks; hold accepted ones briefly so a continuation can join them.

        A tumbling or low-contrast object often breaks into two tracks. A closed track that continues a held
        one (its first points lie on the held track's extrapolated path) is merged and the whole re-validated,
        so the object gives one event, back-projected from its whole visible fall. Held tracks are emitted
        ``hold_s`` after they closed (``now`` = current media time; None flushes nothing here).
        """
        hold = self.params.hold_s
        for track in sorted(tracks, key=lambda tr: tr.t[0]):
            if len(track) < 3:
                continue
            if self._join_pending(track):
                continue
            verdict = self._validate(track)
            if verdict.accepted:
                self._pending.append(self._clean(track, verdict))
            else:
                self.rejections[verdict.reason.split(":")[0].split(" ")[0]] += 1
                if self.on_rejected is not None:
                    self.on_rejected(track, verdict)
                log.debug("%s: rejected track %.2f–%.2f s (%d points): %s", self.camera_id, track.t[0],
                          track.t[-1], len(track), verdict.reason)
        if now is None:
            return []
        due: list[tuple[Track, Verdict]] = []
        keep: list[tuple[Track, Verdict]] = []
        for tr, v in self._pending:
            waiting = now - tr.t[-1] <= hold or (now - tr.t[-1] <= self.params.max_hold_s and self._continued(tr))
            (keep if waiting else due).append((tr, v))
        self._pending = keep
        live = {id(v) for _, v in keep}
        self._paths = {k: path for k, path in self._paths.items() if k in live}
        return [self._event(tr, v) for tr, v in due]

    def _continued(self, held: Track) -> bool:
        """Is an open track, started after ``held`` ended, on its path? Then wait for it to close."""
        assert self._tracker is not None
        verdict = next(v for tr, v in self._pending if tr is held)
        return any(len(tr) >= 3 and -self.params.overlap_s < tr.t[0] - held.t[-1] <= self.params.hold_s
                   and self._continues(held, verdict, tr) for tr in self._tracker.active)

    def _continues(self, held: Track, verdict: Verdict, track: Track) -> bool:
        """Image-space extrapolation first (fine over a few frames); with a calibration, also the held track's
        metric 3-D fit (gravity and drag), since the image-space extrapolation of a perspective fall drifts by
        tens of pixels a second."""
        if _continues(held, track):  # image-space extrapolation: good over short gaps
            return True
        if verdict.release is None or self.calibration is None:
            return False
        key = id(verdict)
        if key not in self._paths:
            times, xyz = ballistic_path(verdict.release, held.t[-1] + self.params.max_hold_s + 0.5)
            self._paths[key] = (times, np.asarray(self.calibration.project(xyz)) * self._scale)
        times, uv_path = self._paths[key]
        t2, uv2 = track.arrays()
        t2, uv2 = t2[:5], uv2[:5]
        pred = np.column_stack([np.interp(t2, times, uv_path[:, k]) for k in range(2)])
        jump = np.hypot(*(pred - np.array([held.u[-1], held.v[-1]])).T)
        err = np.hypot(*(pred - uv2).T)
        return int(np.sum(err <= 12.0 + 0.08 * jump)) >= min(3, len(t2))

    @staticmethod
    def _clean(track: Track, verdict: Verdict) -> tuple[Track, Verdict]:
        """The track without the stray points validation left out (the verdict's keep mask then all true)."""
        if verdict.keep is None or verdict.keep.all():
            return track, verdict
        return track.subset(verdict.keep), replace(verdict, keep=None)

    def _validate(self, track: Track) -> Verdict:
        return validate_track(track, self.params.validation, self.calibration, self._scale, self._frame_interval)

    def _join_pending(self, track: Track) -> bool:
        """Merge ``track`` into a held accepted track it continues; True when it did."""
        for i, (held, held_verdict) in enumerate(self._pending):
            gap = track.t[0] - held.t[-1]
            # A second track may also overlap the first in time (the tracker split the object for a moment).
            if not (-self.params.overlap_s < gap <= self.params.hold_s) or not self._continues(
                    held, held_verdict, track):
                continue
            merged = held.joined(track)
            verdict = self._validate(merged)
            if verdict.accepted:
                self._pending[i] = self._clean(merged, verdict)
                log.debug("%s: joined track %.2f–%.2f s to the one ending %.2f s", self.camera_id, track.t[0],
                          track.t[-1], held.t[-1])
                return True
        return False

    def _event(self, track: Track, verdict: Verdict) -> Event:
        keep = verdict.keep if verdict.keep is not None else np.ones(len(track), bool)
        first, last = (track.t[i] for i in np.nonzero(keep)[0][[0, -1]])
        release = None
        if verdict.release is not None:
            release = Release.model_validate(verdict.release.to_json())
        return Event(
            type="falling_object",
            camera_id=self.camera_id,
            start=round(first, 3),
            end=round(last, 3),
            started_at=wall_clock_at(self.stream_start, first),
            confidence=verdict.confidence,
            release=release,
            track=[TrackPoint(t=round(t, 3), u=round(u, 1), v=round(v, 1))
                   for t, u, v, k in zip(track.t, track.u, track.v, keep, strict=True) if k],
            physics={"rms_px": round(verdict.rms_px, 2), "accel_ratio": round(verdict.accel_ratio, 3)},
        )
