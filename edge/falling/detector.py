"""The falling-object detector: frames in, contract events out. Pure computation: no I/O, no MQTT."""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import pairwise
from statistics import median
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge.events import Event, Release, TrackPoint, wall_clock_at
from edge.falling.motion import MotionDetector, MotionParams
from edge.falling.rewalk import CandidateHistory, RewalkParams, rewalk
from edge.falling.rewind import FrameHistory, RewindParams, looks_like_fall_start, measure_again, rewind
from edge.falling.tracker import Track, Tracker, TrackerParams
from edge.falling.validate import (
    GRAVITY_MPS2,
    UNLIKELY_FLIGHT,
    ValidationParams,
    Verdict,
    fit_quadratic,
    image_down_direction,
    validate_track,
)
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
    rewind: RewindParams = field(default_factory=RewindParams)
    rewalk: RewalkParams = field(default_factory=RewalkParams)
    walk_again: bool = True
    """Walk a rejected short track's path again through the recent candidates, whichever track took them
    (edge.falling.rewalk): in rain, tracks of random streaks take a falling object's blobs."""
    look_back: bool = True
    """Look for a fall's start in the frames before its track began (edge.falling.rewind): the release floor
    is extrapolated from the earliest points."""
    measure_again: bool = True
    """Measure each new point of an established track again against an older kept frame in which the object
    stood clear of its place (edge.falling.rewind.measure_again), for the metric fit and the event's track:
    the motion stage's blob of a slow object lags its centre. Needs ``look_back`` (its kept frames)."""
    hold_s: float = 1.2
    """An accepted track waits this long (media time) for a continuation before its event is emitted…"""
    max_hold_s: float = 8.0
    """…or, while a continuation is still being tracked, up to this long (an object can stay in view for
    several seconds after a first fragment)."""
    overlap_s: float = 0.5
    """A continuation may start this long before the held track ended (a split track)."""
    after_emit_s: float = 3.0
    """An accepted track that continues an event already emitted (its first point up to this long after that
    event's last, on its path, and the two joined validate as one fall) is the same object lost for longer than
    the hold: it raises no second event."""
    link_gap_s: float = 1.0
    """A rejected track is kept as a possible *piece* of a fall: a track that starts up to this long after it
    ended (or overlaps it) and continues its path (one constant-acceleration fit carries both across the gap)
    is validated joined to it. A fall reaches the tracker in pieces when the object stops at a throw's apex,
    passes a tree or an ignore area, or is outshone by rain; each piece alone is too short to be evidence, the
    chain is. Pieces more than ``LONG_GAP_S`` apart must also agree in velocity."""
    veto_off_path: bool = True
    """Drop a held fall whose continuation (same object, on its path) joined to it fails the motion tests
    (:func:`_flies_on`)."""
    max_pieces: int = 96
    """Bound on the pieces kept (the fastest dropped first): a rain storm closes dozens of short tracks a
    second."""


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


def _pieces_link(first: Track, second: Track, side: int = 8) -> bool:
    """Are two pieces one path? One constant-acceleration fit must carry ``first``'s last points and
    ``second``'s first ones across the gap between them (over a second, a fall seen in perspective is close to
    a parabola in the image, also through a throw's apex, where either piece alone extrapolates badly).

    Tolerance: that of the validation's smoothness test (2 px, plus 1 % of the span's travel, plus 15 % of
    the blob size, as a tumbling blob's centroid wobbles). Stray points are not left out: a link that needs
    that brought wrong points into the back-projection and cost storey accuracy (docs/falling.md).
    """
    t1, uv1 = first.arrays()
    t2, uv2 = second.arrays()
    after = t2 > t1[-1]
    if after.sum() < 3:
        return False  # nothing new: the second piece lies within the first's span
    t = np.concatenate([t1[-side:], t2[after][:side]])
    uv = np.concatenate([uv1[-side:], uv2[after][:side]])
    _, rms = fit_quadratic(t, uv)
    blob = float(np.sqrt(np.median(np.concatenate([first.area[-side:], second.area[:side]]))))
    travel = float(np.hypot(*(uv[-1] - uv[0])))
    return rms <= 2.0 + 0.01 * travel + 0.15 * blob


_MOTION_REASONS = ("not accelerating", "moving", "no ballistic fit")
"""Verdicts of a smooth, dense track that fail on how it moves (with a calibration, any verdict that reached the
metric fit: it passed every test of the evidence first)."""


_GAP_REASONS = ("sparse", "blob size varies")
"""Verdicts of a joined track that its gap explains when each part passes alone: the frames in which the object
was hidden dilute its fill, and it changes size while hidden (see :meth:`FallingDetector._one_fall`)."""


def _flies_on(continuation: Track, own: Verdict, joined: Verdict, params: ValidationParams) -> bool:
    """Does a held fall's continuation show the object moving on as no falling object does?

    ``continuation`` starts on the held track's path (the same object); it is itself clean evidence (a smooth,
    dense track of a fall's length, rejected only for how it moves: ``own``), and joined to the held track it
    fails a test of the motion (``joined``). A falling object's track ends where it lands, leaves the view or
    goes behind something; a bird whose first second happened to fit a fall flies on. A chain of rain streaks
    or a scrap of a tree that happens to start on a fall's path is not clean evidence, and vetoes nothing.
    Nor is a short track whose flight is only unlikely (``max_prior_cost``): that test weighs how little a
    short track shows, not how it moves (a storey-9 box's last 15 points near the camera, where its blob's
    centroid is least sure, cost the prior 17.9 and vetoed its accepted fall: ``falling_5000_010``).
    """
    def of_motion(v: Verdict) -> bool:
        return not v.accepted and not v.reason.startswith(UNLIKELY_FLIGHT) and (
            v.release is not None or v.reason.startswith(_MOTION_REASONS))

    return len(continuation) >= params.min_points and of_motion(own) and of_motion(joined)


MAX_IMAGE_ACCEL_PX_S2 = 1500.0
"""A bound on how far a fall's image path bends away from a straight line over a gap (px/s²)."""
LONG_GAP_S = 0.5
"""Pieces further apart than this (the tracker's longest coast) must also agree in velocity (see
:func:`_kinematically_near`)."""


def _end_state(track: Track, head: bool = False) -> tuple[float, float, float, float, float]:
    """(t, u, v, du/dt, dv/dt) at a track's last point (or first, with ``head``), from its 5 points nearest
    that end, robust to one stray blob there (the tracker often seeds a track on a raindrop beside the
    object): medians of the step velocities, and of the points carried to the end's time. Plain Python: on
    five points it is several times faster than numpy, and rain calls it for every short track."""
    sl = slice(0, 5) if head else slice(-5, None)
    t, u, v = track.t[sl], track.u[sl], track.v[sl]
    t_end = t[0] if head else t[-1]
    if len(t) < 2:
        return (t_end, u[0], v[0], 0.0, 0.0)
    dts = [max(b - a, 1e-3) for a, b in pairwise(t)]
    vu = median((b - a) / d for a, b, d in zip(u, u[1:], dts, strict=False))
    vv = median((b - a) / d for a, b, d in zip(v, v[1:], dts, strict=False))
    return (t_end, median(x + vu * (t_end - ti) for x, ti in zip(u, t, strict=True)),
            median(y + vv * (t_end - ti) for y, ti in zip(v, t, strict=True)), vu, vv)


def _kinematically_near(ends: np.ndarray, track: Track) -> np.ndarray:
    """Which track ends (rows t, u, v, du/dt, dv/dt) could lead into ``track``? A cheap, generous test before
    any fit. A track that starts after an end must start near where that end's velocity leads (20 px, 15 %
    of the distance covered, and a curvature bound over the gap) with a velocity that curvature allows (a
    raindrop's piece ends near many others, at another speed or place); one that overlaps an end in time
    must be within 20 px of it at the end's time (the tracker split one object)."""
    t0, u0, v0, vu0, vv0 = _end_state(track, head=True)
    dt = t0 - ends[:, 0]
    adt = np.abs(dt)
    speed = np.hypot(ends[:, 3], ends[:, 4])
    err = np.hypot(ends[:, 1] + ends[:, 3] * dt - u0, ends[:, 2] + ends[:, 4] * dt - v0)
    near = err <= 20.0 + 0.15 * speed * adt + 0.5 * MAX_IMAGE_ACCEL_PX_S2 * adt * adt
    dv = np.hypot(ends[:, 3] - vu0, ends[:, 4] - vv0)
    near &= dv <= 60.0 + 0.5 * np.maximum(speed, np.hypot(vu0, vv0)) + MAX_IMAGE_ACCEL_PX_S2 * adt
    # Over a gap longer than the tracker bridges (the object behind an occluder or an ignore area) the curvature
    # bound admits most of the picture, and in rain every piece would go to the fit: one constant acceleration
    # must also carry the end's velocity into the start's, which puts the start at p + ½·(v_end + v_start)·Δt.
    long = dt > LONG_GAP_S
    if long.any():
        du = ends[long, 1] + 0.5 * (ends[long, 3] + vu0) * dt[long] - u0
        dw = ends[long, 2] + 0.5 * (ends[long, 4] + vv0) * dt[long] - v0
        near[long] &= np.hypot(du, dw) <= 20.0 + 0.15 * speed[long] * dt[long]
    overlap = dt < 0
    if overlap.any():
        t, uv = track.arrays()
        at = ends[overlap, 0]
        gap = np.hypot(np.interp(at, t, uv[:, 0]) - ends[overlap, 1], np.interp(at, t, uv[:, 1]) - ends[overlap, 2])
        near[overlap] = gap <= 20.0
    return near


SAME_OBJECT_POINTS = 3
"""Two tracks that hold this many of the same blobs (same frame, same place) follow the same object."""


def _blob_index(track: Track) -> dict[float, tuple[float, float]]:
    """A track's blobs by media time (ms), for :func:`_shared_points`."""
    return {round(t, 3): (u, v) for t, u, v in zip(track.t, track.u, track.v, strict=True)}


def _same_frame_offsets(first: Track, second: Track, index: dict[float, tuple[float, float]] | None = None
                        ) -> list[tuple[float, float]]:
    """``second``'s points minus ``first``'s in the frames both have a point in (``index``: ``first``'s
    :func:`_blob_index`, when it is compared with many tracks)."""
    if first.t[-1] < second.t[0] or second.t[-1] < first.t[0]:
        return []
    at = _blob_index(first) if index is None else index
    return [(u - p[0], v - p[1]) for t, u, v in zip(second.t, second.u, second.v, strict=True)
            if (p := at.get(round(t, 3))) is not None]


def _shared_points(first: Track, second: Track, index: dict[float, tuple[float, float]] | None = None) -> int:
    """How many blobs two tracks share: points of the same frame within half a pixel of each other. The
    tracker can split one object into two tracks that overlap in time (a large, slow object's leading band
    and its whole blob, taken in turns), and looking back or walking a track again can then hand both the
    same blobs; no time order between the two says they are one object, the shared blobs do. ``index``:
    ``first``'s :func:`_blob_index`, when it is compared with many tracks."""
    return sum(1 for du, dv in _same_frame_offsets(first, second, index) if abs(du) <= 0.5 and abs(dv) <= 0.5)


def _coincident_points(first: Track, second: Track) -> int:
    """How many points of two tracks lie at the same place in the same frame, within a few pixels (3 px plus
    half the larger blob's size): the same object, measured twice. Looking back gives a track points before
    its first (``Track.prefix``), each the object's centre measured against an older frame, not a blob of the
    motion stage, so a prefix that retraces a fall already reported shares no blob with it
    (:func:`_shared_points`), only its places."""
    offsets = _same_frame_offsets(first, second)
    if not offsets:
        return 0
    tol = 3.0 + 0.5 * math.sqrt(max(float(np.median(first.area)), float(np.median(second.area))))
    return sum(1 for du, dv in offsets if math.hypot(du, dv) <= tol)


def _may_continue(first: Track, second: Track) -> bool:
    """:func:`_kinematically_near` for one pair."""
    return bool(_kinematically_near(np.asarray([_end_state(first)]), second)[0])


class _Pieces:
    """Recently rejected tracks kept as possible pieces of a longer fall, with the state of each one's end
    (time, position, velocity) in arrays, so a closed track finds the few pieces it might continue with one
    vectorised test instead of a fit per piece (rain closes dozens of short tracks a second)."""

    def __init__(self) -> None:
        self.tracks: list[Track] = []
        self._ends: list[tuple[float, float, float, float, float]] = []
        self._array: np.ndarray | None = None  # self._ends as an array, rebuilt after a change

    def __len__(self) -> int:
        return len(self.tracks)

    def add(self, track: Track) -> None:
        self.tracks.append(track)
        self._ends.append(_end_state(track))
        self._array = None

    def keep(self, mask: list[bool]) -> None:
        self.tracks = [tr for tr, m in zip(self.tracks, mask, strict=True) if m]
        self._ends = [e for e, m in zip(self._ends, mask, strict=True) if m]
        self._array = None

    def ends(self) -> np.ndarray:
        if self._array is None:
            self._array = np.asarray(self._ends, np.float64).reshape(-1, 5)
        return self._array

    def drop_fastest(self, count: int) -> None:
        """Drop ``count`` pieces, the fastest first. In rain the pieces are mostly raindrops' tracks, which
        cross the view in a fraction of a second; the pieces worth keeping are slow (an object near its
        release or a throw's apex, or far away), and a fast object is seldom cut into short pieces."""
        speed = np.hypot(*self.ends()[:, 3:5].T)
        drop = set(np.argsort(-speed, kind="stable")[:count].tolist())
        self.keep([i not in drop for i in range(len(self.tracks))])

    def near(self, track: Track, min_gap_s: float, max_gap_s: float) -> list[int]:
        """Indices of the pieces (newest first) that ``track`` could continue: it starts within the gap bounds
        after the piece ends, near where the piece's end velocity leads (``_may_continue`` for all at once:
        generous, the joint fit decides)."""
        if not self._ends:
            return []
        ends = self.ends()
        dt = track.t[0] - ends[:, 0]
        ok = (dt > min_gap_s) & (dt <= max_gap_s) & (ends[:, 0] < track.t[-1])
        idx = np.nonzero(ok)[0]
        if idx.size == 0:  # the kinematic test (row by row: the same answer) only for pieces whose timing fits
            return []
        return idx[_kinematically_near(ends[idx], track)][::-1].tolist()


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
        self._history = FrameHistory(self.params.rewind)
        self._candidates = CandidateHistory(self.params.rewalk)
        self._scale = 1.0
        self._frame_interval = 0.04
        self._last_t: float | None = None
        self._pending: list[tuple[Track, Verdict]] = []
        self._pieces = _Pieces()
        """Recently rejected tracks that may be pieces of a longer fall (see ``FallingParams.link_gap_s``)."""
        self._paths: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        """Projected metric paths of held tracks, by id of their verdict (computed once per verdict)."""
        self._emitted: list[tuple[Track, Verdict]] = []
        """Tracks whose events went out within ``after_emit_s`` (see :meth:`_continues_emitted`)."""
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
        self._history.clear()
        self._candidates.clear()

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
        if self.params.walk_again:
            self._candidates.push(frame.t_s, cands)
        if self.params.look_back:
            self._history.push(frame.t_s, self._motion.frame if self._motion.comparable else None)
            if self.params.measure_again and self._motion.comparable:
                self._measure_again(frame.t_s)
            self._look_back()
        return self._events(ended, now=frame.t_s)

    def _measure_again(self, t_s: float) -> None:
        """Each track that took a point in this frame: that point's centre against an older kept frame."""
        assert self._tracker is not None and self._motion is not None
        threshold, allowance = self._motion.threshold
        frame = self._motion.frame
        if allowance is None or frame is None:
            return
        origin = self._motion.roi[:2]
        val, rough = self.params.validation, self.params.rewind.measure_again_max_roughness
        for tr in self._tracker.active:
            # Only a fairly smooth path can be a fall: rain's chains of random streaks are not measured (in heavy
            # rain 27 tracks a frame otherwise). The bound is loose: a slow object's own blobs jump between its
            # leading band and the whole of it, which is what measuring again corrects.
            if (tr.t[-1] == t_s and len(tr) >= self.params.rewind.measure_again_points
                    and tr.fit_rms_px <= rough * (val.max_rms_px + val.rms_per_blob_px * math.sqrt(tr.area[-1]))):
                centre = measure_again(tr, frame, self._history, threshold, allowance, origin, self.params.rewind)
                if centre is not None:
                    tr.centres[t_s] = centre

    def _look_back(self) -> None:
        """Give each track that has just reached ``rewind.trigger_points`` points and moves down its prefix:
        the object's positions in the kept frames before the track began."""
        assert self._tracker is not None and self._motion is not None
        p = self.params.rewind
        threshold, allowance = self._motion.threshold
        if allowance is None:
            return
        for tr in self._tracker.active:
            if len(tr) < p.trigger_points or tr.looked_back:
                continue
            tr.looked_back = True
            down = image_down_direction(self.calibration, tr.u[0], tr.v[0], self._scale)
            if looks_like_fall_start(tr, down, p):
                x0, y0 = self._motion.roi[:2]
                tr.prefix = rewind(tr, self._history, threshold, allowance, (x0, y0), p,
                                   centres=self.params.measure_again)

    def finish(self) -> list[Event]:
        if self._tracker is None:
            return []
        events = self._events(self._tracker.flush(), now=None)
        events += [self._event(tr, v) for tr, v in self._pending]
        self._pending, self._emitted = [], []
        self._pieces = _Pieces()
        return events

    def _events(self, tracks: list[Track], now: float | None) -> list[Event]:
        """Validate closed tracks; hold accepted ones briefly so a continuation can join them.

        A tumbling or low-contrast object often breaks into two tracks. A closed track that continues a held
        one (its first points lie on the held track's extrapolated path) is merged and the whole re-validated,
        so the object gives one event, back-projected from its whole visible fall. A rejected track may be a
        piece of a fall: it is joined to the kept pieces it continues, and kept itself (docs/falling.md, "A
        fall in pieces"). Held tracks are emitted ``hold_s`` after they closed (``now`` = current media time;
        None flushes nothing here).
        """
        hold = self.params.hold_s
        for track in sorted(tracks, key=lambda tr: tr.t[0]):
            if len(track) < 3:
                continue
            joined, verdict = self._join_pending(track)
            if joined:
                continue
            if verdict is None:
                verdict = self._validate(track)
            piece = not verdict.accepted and self._may_be_piece(track)
            if piece:
                linked = self._link_piece(track)
                if linked is not None:
                    track, verdict = linked
                elif self.params.walk_again:
                    walked = self._walk_again(track)
                    if walked is not None:
                        # The walk may have found the rest of a held fall (its pieces were the broken part).
                        if self._join_pending(walked[0])[0]:
                            continue
                        track, verdict = walked
            # Its head as tracked, and without the stray blobs the validation left out: a track that picks the
            # object up again often starts on a raindrop or a leaf beside it, and its first points decide whether
            # it continues (the strays' chance agreement with the path is not given up: falling_4000_024).
            if verdict.accepted and any(self._continues_emitted(tr, verdict) for tr in self._heads(track, verdict)):
                self.rejections["continues-emitted"] += 1
                continue
            if verdict.accepted:
                longer, verdict = self._with_prefix(track, verdict)
                # The points found by looking back may retrace a fall whose event already went out: the track
                # that picks up its object again is then its rest (falling_7000_061: a box's later track, its
                # start found back to 0.84 s, over the 0.84-2.16 s of the sent event).
                if longer is not track and self._retraces_emitted(longer):
                    self.rejections["continues-emitted"] += 1
                    continue
                self._hold(*self._clean(longer, verdict))
            else:
                self.rejections[verdict.reason.split(":")[0].split(" ")[0]] += 1
                if self.on_rejected is not None:
                    self.on_rejected(track, verdict)
                log.debug("%s: rejected track %.2f–%.2f s (%d points): %s", self.camera_id, track.t[0],
                          track.t[-1], len(track), verdict.reason)
                if piece:
                    self._pieces.add(track)
        if len(self._pieces) > self.params.max_pieces:
            self._pieces.drop_fastest(len(self._pieces) - self.params.max_pieces)
        if now is None:
            return []
        self._expire_pieces(now)
        due: list[tuple[Track, Verdict]] = []
        keep: list[tuple[Track, Verdict]] = []
        for tr, v in self._pending:
            waiting = now - tr.t[-1] <= hold or (now - tr.t[-1] <= self.params.max_hold_s and self._continued(tr))
            (keep if waiting else due).append((tr, v))
        self._pending = keep
        # A continuation starts within after_emit_s of the sent track's end and closes when it is lost: keep the
        # sent track as long as a continuation may still be open (held tracks wait for theirs as long).
        self._emitted = [(tr, v) for tr, v in self._emitted + due
                         if now - tr.t[-1] <= self.params.after_emit_s + self.params.max_hold_s]
        live = {id(v) for _, v in keep + self._emitted}
        self._paths = {k: path for k, path in self._paths.items() if k in live}
        return [self._event(tr, v) for tr, v in due]

    def _hold(self, track: Track, verdict: Verdict) -> None:
        """Hold an accepted track for its event; a held track that shares its blobs (the same object, assembled
        from pieces or walked again beside it) or its places (its start found by looking back retraces the held
        one) is replaced when this one is longer, else this one is dropped."""
        for i, (held, _) in enumerate(self._pending):
            if _coincident_points(held, track) >= SAME_OBJECT_POINTS:  # shared blobs are coincident points
                if len(track) > len(held):
                    self._pending[i] = (track, verdict)
                return
        self._pending.append((track, verdict))

    def _continues_emitted(self, track: Track, own: Verdict) -> bool:
        """Is ``track`` (accepted: ``own``) the rest of a fall whose event already went out (lost for longer than
        the hold), or its start? It must start on that event's path, or that event's track on its own (image-space
        or metric extrapolation, or one constant-acceleration fit across the gap; without the kinematic screen,
        which a sent track's stale end velocity can fail: accepted tracks are few), and the two joined must
        validate as one fall (:meth:`_one_fall`); then it is not a second object."""
        for sent, verdict in self._emitted:
            if _shared_points(sent, track) >= SAME_OBJECT_POINTS:
                log.info("%s: track %.2f–%.2f s shares blobs with the fall sent %.2f–%.2f s: no second event",
                         self.camera_id, track.t[0], track.t[-1], sent.t[0], sent.t[-1])
                return True
            gap = track.t[0] - sent.t[-1]
            if -self.params.overlap_s < gap <= self.params.after_emit_s \
                    and self._continues(sent, verdict, track, screen=False) and self._one_fall(sent, track):
                log.info("%s: track %.2f–%.2f s continues the fall sent %.2f–%.2f s: no second event",
                         self.camera_id, track.t[0], track.t[-1], sent.t[0], sent.t[-1])
                return True
            # …or the sent fall continues this one: a track that closes late (one that went on over stray blobs
            # after its object, which the validation then left out) can be the first part of a fall whose later
            # part, a short track accepted sooner, already raised the event.
            gap = sent.t[0] - track.t[-1]
            if -self.params.overlap_s < gap <= self.params.after_emit_s \
                    and self._continues(track, own, sent, cache=False, screen=False) and self._one_fall(track, sent):
                log.info("%s: track %.2f–%.2f s is the start of the fall sent %.2f–%.2f s: no second event",
                         self.camera_id, track.t[0], track.t[-1], sent.t[0], sent.t[-1])
                return True
        return False

    def _retraces_emitted(self, track: Track) -> bool:
        """Does ``track`` lie on a sent fall's points, in the same frames (:func:`_coincident_points`)?"""
        for sent, _ in self._emitted:
            if _coincident_points(sent, track) >= SAME_OBJECT_POINTS:
                log.info("%s: track %.2f–%.2f s retraces the fall sent %.2f–%.2f s: no second event",
                         self.camera_id, track.t[0], track.t[-1], sent.t[0], sent.t[-1])
                return True
        return False

    def _one_fall(self, sent: Track, track: Track) -> bool:
        """Do two parts of a fall, each accepted alone and the second on the first's path, validate as one? A
        joined track that fails only a test of its evidence that the gap explains still does: the object comes
        nearer the camera while hidden and reappears larger (a storey-35 object hidden for 1.4 s,
        ``falling_4000_147``, came back as blobs of 20–30 px² after 1–2 px²: "blob size varies 1–30 px" joined,
        and it raised a second event). A joined track that fails a test of how it moves is not one fall: over
        a long gap, being "on the path" is a loose test (one constant-acceleration fit bridges two short pieces
        60 px apart sideways within its tolerance when they travel 500 px)."""
        verdict = self._validate(sent.joined(track))
        return verdict.accepted or verdict.reason.startswith(_GAP_REASONS)

    def _continued(self, held: Track) -> bool:
        """Is an open track, started after ``held`` ended, on its path, or one that shares its blobs (the same
        object, tracked twice at once)? Then wait for it to close."""
        assert self._tracker is not None
        verdict = next(v for tr, v in self._pending if tr is held)
        index = _blob_index(held)  # once, not per open track: this runs every frame while a track is held
        return any(len(tr) >= 3 and ((-self.params.overlap_s < tr.t[0] - held.t[-1] <= self.params.hold_s
                                     and self._continues(held, verdict, tr))
                                     or _shared_points(held, tr, index) >= SAME_OBJECT_POINTS)
                   for tr in self._tracker.active)

    def _continues(self, held: Track, verdict: Verdict, track: Track, cache: bool = True,
                   screen: bool = True) -> bool:
        """Image-space extrapolation first (fine over a few frames); with a calibration, also the held track's
        metric 3-D fit (gravity and drag), since the image-space extrapolation of a perspective fall drifts by
        tens of pixels a second. The fit's projected path is kept by the verdict's ``id`` while the verdict is
        held or sent; ``cache`` False for any other verdict (its ``id`` may be reused once it is freed).
        ``screen``: first the cheap kinematic test (:func:`_may_continue`), for callers that ask of every
        closed or open track; a test of an accepted track against the few sent ones can afford the fits."""
        if screen and not _may_continue(held, track):
            return False
        if _continues(held, track) or _pieces_link(held, track):  # image space: good over short gaps
            return True
        if verdict.release is None or self.calibration is None:
            return False
        key = id(verdict)
        path = self._paths.get(key) if cache else None
        if path is None:
            times, xyz = ballistic_path(verdict.release, held.t[-1] + self.params.max_hold_s + 0.5)
            path = (times, np.asarray(self.calibration.project(xyz)) * self._scale)
            if cache:
                self._paths[key] = path
        times, uv_path = path
        t2, uv2 = track.arrays()
        t2, uv2 = t2[:5], uv2[:5]
        pred = np.column_stack([np.interp(t2, times, uv_path[:, k]) for k in range(2)])
        jump = np.hypot(*(pred - np.array([held.u[-1], held.v[-1]])).T)
        err = np.hypot(*(pred - uv2).T)
        return int(np.sum(err <= 12.0 + 0.08 * jump)) >= min(3, len(t2))

    def _with_prefix(self, track: Track, verdict: Verdict) -> tuple[Track, Verdict]:
        """An accepted track extended by its prefix (its object found in earlier frames), when the whole still
        validates with most of the prefix's points consistent; else the track as it was."""
        if track.prefix is None:
            return track, verdict
        longer = track.with_prefix()
        added = len(longer) - len(track)
        if added == 0:
            return track, verdict
        extended = self._validate(longer)
        keep = extended.keep if extended.keep is not None else np.ones(len(longer), bool)
        if not extended.accepted or keep[:added].sum() < 0.5 * added:
            log.debug("%s: looking back added %d points to track %.2f–%.2f s; not used: %s", self.camera_id,
                      added, track.t[0], track.t[-1], extended.reason if not extended.accepted else "strays")
            return track, verdict
        return longer, extended

    @classmethod
    def _heads(cls, track: Track, verdict: Verdict) -> list[Track]:
        """``track``, and when its validation left strays out, ``track`` without them."""
        clean = cls._clean(track, verdict)[0]
        return [track] if clean is track else [track, clean]

    @staticmethod
    def _clean(track: Track, verdict: Verdict) -> tuple[Track, Verdict]:
        """The track without the stray points validation left out (the verdict's keep mask then all true)."""
        if verdict.keep is None or verdict.keep.all():
            return track, verdict
        return track.subset(verdict.keep), replace(verdict, keep=None)

    def _validate(self, track: Track) -> Verdict:
        return validate_track(track, self.params.validation, self.calibration, self._scale, self._frame_interval)

    def _may_be_piece(self, track: Track) -> bool:
        """Could a rejected track be a piece of a fall? Either a brief stay in place (an object at its
        release, or at a throw's apex, barely moves for a few frames) or a fairly straight move; leaves
        swaying in a tree close many tracks that hover for long or zigzag between blobs."""
        travel = float(np.hypot(track.u[-1] - track.u[0], track.v[-1] - track.v[0]))
        if travel < 4.0:
            return len(track) <= 8
        path = float(np.hypot(np.diff(track.u), np.diff(track.v)).sum())
        return travel >= 0.6 * path

    def _walk_again(self, track: Track) -> tuple[Track, Verdict] | None:
        """``track``'s smooth core walked through the recent candidates (edge.falling.rewalk), when that
        validates as a fall that no other track already holds (a split of a track still open or held would
        otherwise give the object a second event)."""
        if len(track) >= self.params.validation.min_points and not self._sparse(track):
            return None
        walked = rewalk(track, self._candidates,
                        lambda u, v: image_down_direction(self.calibration, u, v, self._scale), self.params.rewalk)
        if walked is None or len(walked) < self.params.validation.min_points:
            return None
        verdict = self._validate(walked)
        if not verdict.accepted:
            return None
        assert self._tracker is not None
        points = {(round(t, 3), round(u, 1), round(v, 1)) for t, u, v in zip(walked.t, walked.u, walked.v,
                                                                              strict=True)}
        others = [tr for tr, _ in self._pending + self._emitted] + self._tracker.active
        for other in others:
            shared = sum((round(t, 3), round(u, 1), round(v, 1)) in points
                         for t, u, v in zip(other.t, other.u, other.v, strict=True))
            if shared >= 0.5 * len(walked) or (shared >= 3 and shared >= 0.5 * len(other)):
                return None
        log.debug("%s: track %.2f–%.2f s (%d points) walked again: %d points", self.camera_id, track.t[0],
                  track.t[-1], len(track), len(walked))
        return walked, verdict

    def _sparse(self, track: Track) -> bool:
        dur = track.t[-1] - track.t[0]
        return dur > 0 and (len(track) - 1) * self._frame_interval / dur < self.params.validation.min_fill_short

    def _expire_pieces(self, now: float) -> None:
        """Keep a piece while a track that could continue it may still close: one that started within
        ``link_gap_s`` of the piece's end and is still open (an object can stay in view for seconds)."""
        p = self.params
        if not self._pieces:
            return
        ends = self._pieces.ends()[:, 0]
        old = now - ends > p.link_gap_s
        if not old.any():
            return
        assert self._tracker is not None
        starts = np.array([tr.t[0] for tr in self._tracker.active if len(tr) >= 3])
        rel = starts[None, :] - ends[:, None]
        waited_for = ((rel > -p.overlap_s) & (rel <= p.link_gap_s)).any(axis=1)
        self._pieces.keep((~old | waited_for).tolist())

    def _link_piece(self, track: Track) -> tuple[Track, Verdict] | None:
        """``track`` joined to the kept pieces it continues, when the chain validates as a fall.

        The most recent piece that links is tried first; a chain that does not validate yet (still too short)
        is kept as a piece itself, so a fall in three or four pieces is assembled one link at a time.
        """
        p = self.params
        for i in self._pieces.near(track, -p.overlap_s, p.link_gap_s):
            piece = self._pieces.tracks[i]
            if not _pieces_link(piece, track):
                continue
            merged = piece.joined(track)
            verdict = self._validate(merged)
            if verdict.accepted:
                self._pieces.keep([j != i for j in range(len(self._pieces))])
                log.debug("%s: track %.2f–%.2f s completes a fall with the piece %.2f–%.2f s", self.camera_id,
                          track.t[0], track.t[-1], piece.t[0], piece.t[-1])
                return merged, verdict
            self._pieces.add(merged)
        return None

    def _join_pending(self, track: Track) -> tuple[bool, Verdict | None]:
        """Merge ``track`` into a held accepted track it continues: (True, None) when it did; else (False, the
        track's own verdict when it had to be computed here, so the caller does not validate it twice)."""
        own: Verdict | None = None
        for i, (held, held_verdict) in enumerate(self._pending):
            if _shared_points(held, track) >= SAME_OBJECT_POINTS:
                # The same object, tracked twice at once: one event, from the longer of the two tracks.
                if len(track) > len(held):
                    own = self._validate(track) if own is None else own
                    if own.accepted:
                        self._pending[i] = self._clean(*self._with_prefix(track, own))
                log.debug("%s: track %.2f–%.2f s shares blobs with the one held %.2f–%.2f s: one object",
                          self.camera_id, track.t[0], track.t[-1], held.t[0], held.t[-1])
                return True, None
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
                return True, None
            if own is None:
                own = self._validate(track)
            if own.accepted:
                # The same object (it continues the held track) whose joined track fails a test that each
                # part passes (a long gap leaves it sparse): one event still, from the held track's fit, with
                # the continuation's points in its track for the record.
                self._pending[i] = (merged, replace(held_verdict, keep=None))
                log.debug("%s: track %.2f–%.2f s continues the one ending %.2f s (kept with its fit)",
                          self.camera_id, track.t[0], track.t[-1], held.t[-1])
                return True, None
            if self.params.veto_off_path and _flies_on(track, own, verdict, self.params.validation):
                del self._pending[i]
                self.rejections["continued-off-path"] += 1
                log.info("%s: the fall held %.2f–%.2f s flies on as track %.2f–%.2f s that no fall fits (%s): "
                         "not a fall", self.camera_id, held.t[0], held.t[-1], track.t[0], track.t[-1],
                         verdict.reason)
                return False, own
        return False, own

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
            track=[TrackPoint(t=round(float(t), 3), u=round(float(u), 1), v=round(float(v), 1))
                   for t, (u, v), k in zip(track.t, track.centre_arrays()[1], keep, strict=True) if k],
            physics={"rms_px": round(verdict.rms_px, 2), "accel_ratio": round(verdict.accel_ratio, 3)},
        )
