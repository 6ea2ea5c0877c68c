"""Multi-target tracking of motion candidates with a constant-acceleration model and gating.

A track predicts its next position by fitting ``p(t) = p0 + v·t + ½·a·t²`` (per image axis, least squares over
its recent points) and accepts the nearest candidate inside a gate that widens with the fit's residual and the
track's speed. Young tracks (one or two points) use constant-position/velocity predictions with wider gates.
Candidates are assigned greedily in order of normalised distance, confirmed tracks first, so a crossing bird or
a rain streak does not steal a falling object's detections. Time is media time from the frames' presentation
timestamps, so dropped or duplicated frames only widen the gap between points.
"""

from __future__ import annotations

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
    _coef: np.ndarray = field(default_factory=lambda: np.zeros((2, 2)), repr=False)
    _rms: float = field(default=1.0, repr=False)

    def __len__(self) -> int:
        return len(self.t)

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
        out = Track(self.track_id)
        idx = np.nonzero(keep)[0].tolist()
        for name in ("t", "u", "v", "area", "contrast", "length"):
            values = getattr(self, name)
            setattr(out, name, [values[i] for i in idx])
        return out

    def joined(self, other: Track) -> Track:
        """A new track with this track's points followed by those of ``other`` that come after its last."""
        out = Track(self.track_id)
        start = next((i for i, t in enumerate(other.t) if t > self.t[-1]), len(other.t))
        for name in ("t", "u", "v", "area", "contrast", "length"):
            setattr(out, name, getattr(self, name) + getattr(other, name)[start:])
        return out

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(t (N,), uv (N, 2))."""
        return np.asarray(self.t), np.column_stack([self.u, self.v])

    def _fit(self, window: int) -> None:
        """Refit the motion model once per new point (not once per frame): predictions then cost nothing."""
        k = min(len(self.t), window)
        if k < 4:
            return  # young tracks predict from their last points directly (see predict)
        ts = np.asarray(self.t[-k:]) - self.t[-1]
        deg = 2 if k >= 4 else 1
        A = np.vander(ts, deg + 1)
        uv = np.column_stack([self.u[-k:], self.v[-k:]])
        coef, *_ = np.linalg.lstsq(A, uv, rcond=None)
        resid = uv - A @ coef
        rms = float(np.sqrt((resid**2).sum(axis=1).mean())) if k > deg + 1 else 1.0
        self._coef, self._rms = coef, rms

    def predict(self, t: float, params: TrackerParams, image_h: int) -> tuple[float, float, float]:
        """Predicted (u, v) at time t and the gate radius in pixels."""
        n = len(self.t)
        dt = t - self.t[-1]
        # A large blob's centroid wobbles with its shape (tumbling, blur, overlap with where it just was).
        wobble = params.gate_per_blob_px * float(np.sqrt(self.area[-1]))
        if n == 1:
            return self.u[-1], self.v[-1], params.gate_min_px + params.max_speed_frac_per_s * image_h * dt
        if n <= 3:
            span = self.t[-1] - self.t[-2]
            vu = (self.u[-1] - self.u[-2]) / span
            vv = (self.v[-1] - self.v[-2]) / span
            step = float(np.hypot(vu, vv)) * dt
            # Objects just released accelerate hard relative to their speed: allow for it.
            gate = params.gate_min_px + params.young_gate_step * step + 2.0 + wobble
            return self.u[-1] + vu * dt, self.v[-1] + vv * dt, gate
        coef = self._coef
        powers = np.array([dt * dt, dt, 1.0])[-coef.shape[0]:]
        pred = powers @ coef
        vel = coef[-2]
        step = float(np.hypot(vel[0], vel[1])) * dt
        # The residual widens the gate only so far: an erratic chain of rain streaks must not grow a gate
        # that swallows every blob nearby (including a real object's).
        gate = params.gate_min_px + min(3.0 * self._rms, params.max_rms_gate_px) + params.gate_step * step + wobble
        return float(pred[0]), float(pred[1]), gate


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
                    self.active[a].add(t, cands, b, p.fit_window)
                    used[a] = True
                    taken[b] = True
        free = np.nonzero(~taken)[0].tolist()
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
