"""Multi-target tracking of motion candidates with a constant-acceleration model and gating.

A track predicts its next position by fitting ``p(t) = p0 + v·t + ½·a·t²`` (per image axis, least squares over
its recent points) and accepts the nearest candidate inside a gate that widens with the fit's residual and the
track's speed. Young tracks (one or two points) use constant-position/velocity predictions with wider gates.
Candidates are assigned greedily in order of normalised distance, confirmed tracks first, so a crossing bird or
a rain streak does not steal a falling object's detections. Time is media time from the frames' presentation
timestamps, so dropped or duplicated frames only widen the gap between points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edge.falling.motion import Candidates


@dataclass(frozen=True)
class TrackerParams:
    max_speed_frac_per_s: float = 1.6
    """Largest plausible image speed, in image heights per second (gate for a track's second point)."""
    max_gap_s: float = 0.36
    """A track with no detection for this long is closed."""
    coast_gap_s: float = 0.5
    coast_points: int = 8
    """An established track (this many points) coasts through longer gaps: tumbling objects flash."""
    young_gap_s: float = 0.2
    seed_gap_s: float = 0.09
    """A single detection waits about two frame intervals for a second one (rain makes dozens a frame)."""
    """…and a track of fewer than three points after this long: real objects show in consecutive frames, and
    rain would otherwise fill the tracker with one-point tracks."""
    fit_window: int = 10
    """Points used for the constant-acceleration prediction."""
    gate_min_px: float = 3.5
    max_rms_gate_px: float = 6.0
    young_gate_step: float = 1.0
    """Gate growth per pixel of predicted step for 2–3-point tracks (constant-velocity prediction): an object
    thrown from a low storey is seen near the camera, where its image speed can double within a few frames."""
    gate_step: float = 0.25
    gate_per_blob_px: float = 0.5
    """Gate allowance per pixel of blob size (√area)."""
    confirm_points: int = 4
    max_tracks: int = 300
    reseed_px: float = 0.0
    """When a single-detection track takes a candidate farther than this, the candidate also starts a new track
    (0: never). A seed's wide gate lets clutter take an object's blob, and the clutter's young track then takes
    the object's next blobs too; a track of the taken blob's own follows the object (two-frame initiation).
    Off: at 8 px it finds more throws on the fresh sets but raises more false alarms, among them second events
    of objects already reported (docs/benchmarks.md, 2026-12-07 "A held fall that flies on")."""


@dataclass
class Track:
    """A candidate trajectory: its detections as parallel arrays (media time, pixel position, blob size)."""

    track_id: int
    t: list[float] = field(default_factory=list)
    u: list[float] = field(default_factory=list)
    v: list[float] = field(default_factory=list)
    area: list[float] = field(default_factory=list)
    contrast: list[float] = field(default_factory=list)
    length: list[float] = field(default_factory=list)
    prefix: Track | None = field(default=None, repr=False)
    """The object's points before this track's first, found by looking back through earlier frames
    (edge.falling.rewind); kept apart so that detection decisions do not depend on them."""
    looked_back: bool = field(default=False, repr=False)
    centres: dict[float, tuple[float, float]] = field(default_factory=dict, repr=False)
    """The object's centre measured again against an older frame in which it stood clear of its place (by
    media time of the point; edge.falling.rewind.measure_again): the motion stage's blob of an object that
    moves less than its own length in a frame is part of it (docs/falling.md, "Where a point is"). Used for
    the metric fit and the event's track, not for detection decisions."""
    _coef: tuple[float, float, float, float, float, float] = field(default=(0.0,) * 6, repr=False)
    """``(a_u, b_u, c_u, a_v, b_v, c_v)``: ``u(τ) = a_u·τ² + b_u·τ + c_u`` (τ: time since the last point), and v."""
    _rms: float = field(default=1.0, repr=False)

    def __len__(self) -> int:
        return len(self.t)

    @property
    def fit_rms_px(self) -> float:
        """RMS residual of the constant-acceleration fit of the last points (1 until there are four)."""
        return self._rms

    def add(self, t: float, c: Candidates, i: int, fit_window: int = 10) -> None:
        self.t.append(t)
        self.u.append(float(c.u[i]))
        self.v.append(float(c.v[i]))
        self.area.append(float(c.area_px[i]))
        self.contrast.append(float(c.contrast[i]))
        self.length.append(float(c.length_px[i]))
        self._fit(fit_window)

    def subset(self, keep: np.ndarray) -> Track:
        """A new track with only the points where ``keep`` is true."""
        out = Track(self.track_id, prefix=self.prefix)
        idx = np.nonzero(keep)[0].tolist()
        for name in ("t", "u", "v", "area", "contrast", "length"):
            values = getattr(self, name)
            setattr(out, name, [values[i] for i in idx])
        out.centres = dict(self.centres)
        return out

    def joined(self, other: Track) -> Track:
        """A new track with this track's points followed by those of ``other`` that come after its last."""
        out = Track(self.track_id, prefix=self.prefix)
        start = next((i for i, t in enumerate(other.t) if t > self.t[-1]), len(other.t))
        for name in ("t", "u", "v", "area", "contrast", "length"):
            setattr(out, name, getattr(self, name) + getattr(other, name)[start:])
        out.centres = {**self.centres, **{t: c for t, c in other.centres.items() if t > self.t[-1]}}
        return out

    def with_prefix(self) -> Track:
        """A new track: the prefix's points (those before this track's first) followed by this track's."""
        if self.prefix is None:
            return self
        pre = self.prefix
        cut = sum(1 for t in pre.t if t < self.t[0] - 1e-6)
        out = Track(self.track_id)
        for name in ("t", "u", "v", "area", "contrast", "length"):
            setattr(out, name, getattr(pre, name)[:cut] + getattr(self, name))
        out.centres = dict(self.centres)
        return out

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(t (N,), uv (N, 2))."""
        return np.asarray(self.t), np.column_stack([self.u, self.v])

    def centre_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(t (N,), uv (N, 2)) with each point's centre measured again where there is one (``centres``)."""
        if not self.centres:
            return self.arrays()
        get = self.centres.get
        return np.asarray(self.t), np.array([get(t, (u, v)) for t, u, v in zip(self.t, self.u, self.v,
                                                                                 strict=True)], np.float64)

    def _fit(self, window: int) -> None:
        """Refit the motion model once per new point (not once per frame): predictions then cost nothing.

        Least squares of ``p(τ) = a·τ² + b·τ + c`` over the last ``window`` points, τ = t − t_last, from the
        normal equations solved with the inverse's cofactors, in plain Python: on at most 10 points numpy's
        ``lstsq`` (an SVD) costs several times more in call overhead than the arithmetic itself. τ spans well
        under a second, so the 3×3 system is well conditioned and the predictions agree with the SVD's to far
        below a pixel's millionth; positions are taken relative to the last point for the same reason.
        """
        k = min(len(self.t), window)
        if k < 4:
            return  # young tracks predict from their last points directly (see predict)
        t_last, u_last, v_last = self.t[-1], self.u[-1], self.v[-1]
        ts = [t - t_last for t in self.t[-k:]]
        us = [u - u_last for u in self.u[-k:]]
        vs = [v - v_last for v in self.v[-k:]]
        s1 = s2 = s3 = s4 = 0.0  # Σ τ^n
        ru0 = ru1 = ru2 = rv0 = rv1 = rv2 = 0.0  # Σ τ^n·u and Σ τ^n·v
        for x, u, v in zip(ts, us, vs, strict=True):
            x2 = x * x
            s1 += x
            s2 += x2
            s3 += x2 * x
            s4 += x2 * x2
            ru0 += u
            ru1 += x * u
            ru2 += x2 * u
            rv0 += v
            rv1 += x * v
            rv2 += x2 * v
        s0 = float(k)
        # Cofactors of the symmetric normal matrix [[s4, s3, s2], [s3, s2, s1], [s2, s1, s0]].
        c00, c01, c02 = s2 * s0 - s1 * s1, s1 * s2 - s3 * s0, s3 * s1 - s2 * s2
        c11, c12, c22 = s4 * s0 - s2 * s2, s2 * s3 - s4 * s1, s4 * s2 - s3 * s3
        inv_det = 1.0 / (s4 * c00 + s3 * c01 + s2 * c02)
        au = (c00 * ru2 + c01 * ru1 + c02 * ru0) * inv_det
        bu = (c01 * ru2 + c11 * ru1 + c12 * ru0) * inv_det
        cu = (c02 * ru2 + c12 * ru1 + c22 * ru0) * inv_det
        av = (c00 * rv2 + c01 * rv1 + c02 * rv0) * inv_det
        bv = (c01 * rv2 + c11 * rv1 + c12 * rv0) * inv_det
        cv = (c02 * rv2 + c12 * rv1 + c22 * rv0) * inv_det
        sq = 0.0
        for x, u, v in zip(ts, us, vs, strict=True):
            eu = u - ((au * x + bu) * x + cu)
            ev = v - ((av * x + bv) * x + cv)
            sq += eu * eu + ev * ev
        self._coef = (au, bu, cu + u_last, av, bv, cv + v_last)
        self._rms = math.sqrt(sq / k)

    def predict(self, t: float, params: TrackerParams, image_h: int) -> tuple[float, float, float]:
        """Predicted (u, v) at time t and the gate radius in pixels."""
        n = len(self.t)
        dt = t - self.t[-1]
        # A large blob's centroid wobbles with its shape (tumbling, blur, overlap with where it just was).
        wobble = params.gate_per_blob_px * math.sqrt(self.area[-1])
        if n == 1:
            return self.u[-1], self.v[-1], params.gate_min_px + params.max_speed_frac_per_s * image_h * dt
        if n <= 3:
            span = self.t[-1] - self.t[-2]
            vu = (self.u[-1] - self.u[-2]) / span
            vv = (self.v[-1] - self.v[-2]) / span
            step = math.hypot(vu, vv) * dt
            # Objects just released accelerate hard relative to their speed: allow for it.
            gate = params.gate_min_px + params.young_gate_step * step + 2.0 + wobble
            return self.u[-1] + vu * dt, self.v[-1] + vv * dt, gate
        au, bu, cu, av, bv, cv = self._coef
        step = math.hypot(bu, bv) * dt
        # The residual widens the gate only so far: an erratic chain of rain streaks must not grow a gate
        # that swallows every blob nearby (including a real object's).
        gate = params.gate_min_px + min(3.0 * self._rms, params.max_rms_gate_px) + params.gate_step * step + wobble
        return (au * dt + bu) * dt + cu, (av * dt + bv) * dt + cv, gate


@dataclass
class Tracker:
    """Associates per-frame candidates into tracks; returns tracks as they end."""

    image_h: int
    params: TrackerParams = field(default_factory=TrackerParams)

    def __post_init__(self) -> None:
        self.active: list[Track] = []
        self._next_id = 0

    def update(self, t: float, cands: Candidates) -> list[Track]:
        """Feed one frame's candidates (possibly none); returns the tracks that ended before this frame."""
        p = self.params
        alive: list[Track] = []
        ended: list[Track] = []
        for tr in self.active:
            n = len(tr)
            gap = p.coast_gap_s if n >= p.coast_points else p.max_gap_s if n >= 3 else (
                p.young_gap_s if n == 2 else p.seed_gap_s)
            (ended if t - tr.t[-1] > gap else alive).append(tr)
        self.active = alive
        n = len(cands)
        if n == 0:
            return ended
        taken = np.zeros(n, bool)
        reseed: list[int] = []
        if self.active:
            pred = np.array([tr.predict(t, p, self.image_h) for tr in self.active])  # (T, 3): u, v, gate
            # Confirmed tracks choose first: their normalised distances are shifted below every young one's.
            rank = np.array([0.0 if len(tr) >= p.confirm_points else 1.0 for tr in self.active])
            dist = np.hypot(pred[:, 0:1] - cands.u[None, :], pred[:, 1:2] - cands.v[None, :])
            pair_t, pair_c = np.nonzero(dist <= pred[:, 2:3])
            if pair_t.size:
                cost = rank[pair_t] + dist[pair_t, pair_c] / pred[pair_t, 2]
                order = np.argsort(cost, kind="stable")
                used = np.zeros(len(self.active), bool)
                for k in order.tolist():
                    a, b = int(pair_t[k]), int(pair_c[k])
                    if used[a] or taken[b]:
                        continue
                    if p.reseed_px > 0 and len(self.active[a]) == 1 and dist[a, b] > p.reseed_px:
                        reseed.append(b)
                    self.active[a].add(t, cands, b, p.fit_window)
                    used[a] = True
                    taken[b] = True
        free = np.nonzero(~taken)[0].tolist() + reseed
        overflow = len(self.active) + len(free) - p.max_tracks
        if overflow > 0:
            # Full (a storm): make room by dropping the oldest single-detection tracks, never a real track.
            seeds = sorted((tr.t[-1], i) for i, tr in enumerate(self.active) if len(tr) == 1)[:overflow]
            drop = {i for _, i in seeds}
            self.active = [tr for i, tr in enumerate(self.active) if i not in drop]
        for ci in free:
            if len(self.active) >= p.max_tracks:
                break
            seed = Track(self._next_id)
            self._next_id += 1
            seed.add(t, cands, ci, p.fit_window)
            self.active.append(seed)
        return ended

    def flush(self) -> list[Track]:
        """End every track (end of file or stream)."""
        ended, self.active = self.active, []
        return ended
