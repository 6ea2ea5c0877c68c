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
    young_gap_s: float = 0.2
    """…and a track of fewer than three points after this long: real objects show in consecutive frames, and
    rain would otherwise fill the tracker with one-point tracks."""
    fit_window: int = 10
    """Points used for the constant-acceleration prediction."""
    gate_min_px: float = 3.5
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

    def __len__(self) -> int:
        return len(self.t)

    def add(self, t: float, c: Candidates, i: int) -> None:
        self.t.append(t)
        self.u.append(float(c.u[i]))
        self.v.append(float(c.v[i]))
        self.area.append(float(c.area_px[i]))
        self.contrast.append(float(c.contrast[i]))
        self.length.append(float(c.length_px[i]))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(t (N,), uv (N, 2))."""
        return np.asarray(self.t), np.column_stack([self.u, self.v])

    def predict(self, t: float, params: TrackerParams, image_h: int) -> tuple[float, float, float]:
        """Predicted (u, v) at time t and the gate radius in pixels."""
        n = len(self.t)
        dt = t - self.t[-1]
        if n == 1:
            return self.u[-1], self.v[-1], params.gate_min_px + params.max_speed_frac_per_s * image_h * dt
        if n == 2:
            span = self.t[-1] - self.t[-2]
            vu = (self.u[-1] - self.u[-2]) / span
            vv = (self.v[-1] - self.v[-2]) / span
            step = np.hypot(vu, vv) * dt
            # Objects just released accelerate hard relative to their speed: allow for it.
            return self.u[-1] + vu * dt, self.v[-1] + vv * dt, params.gate_min_px + 0.6 * step + 2.0
        k = min(n, params.fit_window)
        ts = np.asarray(self.t[-k:]) - self.t[-1]
        deg = 2 if k >= 4 else 1
        A = np.vander(ts, deg + 1)
        uv = np.column_stack([self.u[-k:], self.v[-k:]])
        coef, *_ = np.linalg.lstsq(A, uv, rcond=None)
        pred = np.vander(np.array([dt]), deg + 1) @ coef
        resid = uv - A @ coef
        rms = float(np.sqrt((resid**2).sum(axis=1).mean())) if k > deg + 1 else 1.0
        vel = coef[-2] if deg >= 1 else np.zeros(2)
        step = float(np.hypot(*vel)) * dt
        gate = params.gate_min_px + 3.0 * rms + 0.25 * step
        return float(pred[0, 0]), float(pred[0, 1]), gate


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
            gap = p.max_gap_s if len(tr) >= 3 else p.young_gap_s
            (ended if t - tr.t[-1] > gap else alive).append(tr)
        self.active = alive
        n = len(cands)
        if n == 0:
            return ended
        taken = np.zeros(n, bool)
        if self.active:
            pairs = []
            for ti, tr in enumerate(self.active):
                pu, pv, gate = tr.predict(t, p, self.image_h)
                d = np.hypot(cands.u - pu, cands.v - pv)
                # Confirmed tracks choose first: their normalised distance is shifted below every young one's.
                rank_offset = 0.0 if len(tr) >= p.confirm_points else 1.0
                for ci in np.nonzero(d <= gate)[0].tolist():
                    pairs.append((rank_offset + float(d[ci]) / gate, ti, ci))
            pairs.sort()
            used_tracks: set[int] = set()
            for _, ti, ci in pairs:
                if ti in used_tracks or taken[ci]:
                    continue
                self.active[ti].add(t, cands, ci)
                used_tracks.add(ti)
                taken[ci] = True
        for ci in np.nonzero(~taken)[0].tolist():
            if len(self.active) >= p.max_tracks:
                break
            tr = Track(self._next_id)
            self._next_id += 1
            tr.add(t, cands, ci)
            self.active.append(tr)
        return ended

    def flush(self) -> list[Track]:
        """End every track (end of file or stream)."""
        ended, self.active = self.active, []
        return ended
