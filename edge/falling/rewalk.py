"""Walking a short track's path again through the recent motion candidates, whichever track took them.

The tracker assigns each candidate to one track, greedily, established tracks first. In rain a young track's
gate grows with its speed, so it chains random streaks into a "track" moving at thousands of pixels a second,
and such a chain, once four points long, chooses before the falling object's own young track: it takes one of
the object's blobs as it passes, and the object's track breaks. A small object seen in every other frame
breaks up too (a young track waits only a frame or two). Either way the fall reaches validation as short
tracks, each too short to be evidence, although the motion stage found the object in nearly every frame
(on the benchmark a storey-5 shoe in rain had a candidate within 4 px of it in 19 consecutive frames and
came as five tracks, none of 9 points).

So when a track that might be a piece of a fall is rejected for having too few points, its smoothest run of
points (a constant-acceleration fit within the validation's smoothness tolerance, at least ``min_core``
points, moving within ``max_down_angle_deg`` of down) is extended backwards and forwards through the
candidates of the last ``history_s`` seconds: at each earlier (later) frame the position is predicted from the
nearest ``fit_points`` known points, and the candidate nearest the prediction within a gate is the object. The
walk ends after ``max_gap_s`` without one. The result is an ordinary track, validated as any other; it is
accepted only when it passes every test on its own.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edge.falling.motion import Candidates
from edge.falling.tracker import Track

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass(frozen=True)
class RewalkParams:
    history_s: float = 2.0
    """Candidates kept (a few dozen small arrays a frame at most: capped at the motion stage's 64)."""
    max_points: int = 64
    """A rejected track with more points than this is not a short piece of a fall (2.5 s at 25 fps) and is not
    walked: the batched fit below holds every run of every length, O(n³) memory (64 points: 3 MB; 500: 2 GB)."""
    min_core: int = 5
    """Points of a smooth run to start from: on four points a constant-acceleration fit has one degree of
    freedom and fits nearly anything."""
    core_rms_px: float = 1.5
    core_rms_per_blob_px: float = 0.15
    """The run's fit residual bound (px, plus this fraction of the blob size): the validation's smoothness
    tolerance without its allowance for long tracks."""
    max_down_angle_deg: float = 70.0
    """The run must move within this angle of the image's down direction (a fall, not a bird or a streak
    blown sideways)."""
    fit_points: int = 8
    gate_px: float = 3.0
    gate_per_step: float = 0.15
    """Gate growth per pixel of extrapolation from the nearest known point."""
    gate_per_blob: float = 0.5
    """…and per pixel of blob size (√area), as the tracker's gate: a large blob's centroid wobbles with its shape."""
    max_gap_s: float = 0.3
    """The walk ends after this long without the object (the tracker's gap for a young track is 0.36 s)."""


class CandidateHistory:
    """The motion candidates of the last ``history_s`` seconds, by frame time."""

    def __init__(self, params: RewalkParams) -> None:
        self.params = params
        self._frames: deque[tuple[float, Candidates]] = deque()

    def push(self, t_s: float, cands: Candidates) -> None:
        self._frames.append((t_s, cands))
        while self._frames and t_s - self._frames[0][0] > self.params.history_s:
            self._frames.popleft()

    def clear(self) -> None:
        self._frames.clear()

    def frames(self) -> list[tuple[float, Candidates]]:
        return list(self._frames)


def smooth_core(track: Track, params: RewalkParams) -> tuple[int, int] | None:
    """The longest run of consecutive points (the latest of equal length) whose constant-acceleration fit is
    within the residual bound: (start, stop) indices, or None. All runs are fitted at once (weighted normal
    equations, one batched solve): rain closes dozens of short tracks a second."""
    n = len(track)
    if n < params.min_core or n > params.max_points:
        return None
    t, uv = track.arrays()
    blob = float(np.sqrt(np.median(track.area)))
    bound = params.core_rms_px + params.core_rms_per_blob_px * blob
    runs = [(a, b) for b in range(params.min_core, n + 1) for a in range(b - params.min_core + 1)]
    w = np.zeros((len(runs), n))
    for k, (a, b) in enumerate(runs):
        w[k, a:b] = 1.0
    count = w.sum(axis=1, keepdims=True)
    tau = t[None, :] - (w @ t)[:, None] / count  # (R, n): time from each run's mean time
    design = np.stack([tau * tau, tau, np.ones_like(tau)], axis=2)  # (R, n, 3)
    wd = design * w[:, :, None]
    coef = np.linalg.solve(np.einsum("rni,rnj->rij", wd, design), np.einsum("rni,nk->rik", wd, uv))  # (R, 3, 2)
    resid = uv[None, :, :] - np.einsum("rni,rik->rnk", design, coef)
    rms = np.sqrt((w * (resid**2).sum(axis=2)).sum(axis=1) / count[:, 0])
    ok = [runs[k] for k in np.nonzero(rms <= bound)[0].tolist()]
    if not ok:
        return None
    return max(ok, key=lambda r: (r[1] - r[0], r[0]))


def moves_down(track: Track, core: tuple[int, int], down: np.ndarray, params: RewalkParams) -> bool:
    """Does the run move within ``max_down_angle_deg`` of ``down`` (first point to last)?"""
    start, stop = core
    move = np.array([track.u[stop - 1] - track.u[start], track.v[stop - 1] - track.v[start]])
    dist = float(np.hypot(*move))
    return dist > 0 and float(move @ down) / dist >= math.cos(math.radians(params.max_down_angle_deg))


def _walk(points: list[tuple[float, float, float, Candidates, int]], frames: list[tuple[float, Candidates]],
          blob: float, params: RewalkParams, backwards: bool) -> list[tuple[float, float, float, Candidates, int]]:
    """Extend ``points`` (time-ordered (t, u, v, candidates, index)) through ``frames`` in one direction."""
    found: list[tuple[float, float, float, Candidates, int]] = []
    known = list(points)
    edge_t = known[0][0] if backwards else known[-1][0]
    order = reversed(frames) if backwards else iter(frames)
    for t, cands in order:
        if (backwards and t >= edge_t - 1e-6) or (not backwards and t <= edge_t + 1e-6):
            continue
        last = found[-1][0] if found else edge_t
        if abs(t - last) > params.max_gap_s:
            break
        if len(cands) == 0:
            continue
        # A constant-acceleration fit extrapolates well from eight points; from five noisy blob centroids its
        # acceleration is poorly known (a storey-5 shoe's was predicted 8 px off one frame back), and then the
        # velocity of the three nearest points does better (off by ½·a·Δt² ≈ 1 px at 1500 px/s²).
        deep = len(known) >= params.fit_points
        count = params.fit_points if deep else 3
        near = known[:count] if backwards else known[-count:]
        tk = np.array([p[0] for p in near])
        uvk = np.array([(p[1], p[2]) for p in near])
        deg = 2 if deep else 1
        coef = np.polyfit(tk - tk.mean(), uvk, deg)
        pred = np.array([np.polyval(coef[:, k], t - tk.mean()) for k in range(2)])
        anchor = uvk[0] if backwards else uvk[-1]
        gate = params.gate_px + params.gate_per_step * float(np.hypot(*(pred - anchor))) + params.gate_per_blob * blob
        d = np.hypot(cands.u - pred[0], cands.v - pred[1])
        i = int(np.argmin(d))
        if d[i] > gate:
            continue
        p = (t, float(cands.u[i]), float(cands.v[i]), cands, i)
        found.append(p)
        if backwards:
            known.insert(0, p)
        else:
            known.append(p)
    return found[::-1] if backwards else found


def rewalk(track: Track, history: CandidateHistory, down_at: Callable[[float, float], np.ndarray],
           params: RewalkParams) -> Track | None:
    """``track``'s smooth core extended through the candidate history, or None when it has no such core (or
    it does not move down: ``down_at(u, v)`` gives the image's down direction there) or the walk adds
    nothing."""
    core = smooth_core(track, params)
    if core is None or not moves_down(track, core, down_at(track.u[core[0]], track.v[core[0]]), params):
        return None
    frames = history.frames()
    if not frames:
        return None
    blob = float(np.sqrt(np.median(track.area)))
    start, stop = core
    # The core's own points as candidate rows of a one-row Candidates each (so the result is built uniformly).
    pts = []
    for k in range(start, stop):
        c = Candidates(np.array([track.u[k]]), np.array([track.v[k]]), np.array([track.area[k]]),
                       np.array([track.contrast[k]]), np.array([track.length[k]]))
        pts.append((track.t[k], track.u[k], track.v[k], c, 0))
    before = _walk(pts, frames, blob, params, backwards=True)
    after = _walk(pts, frames, blob, params, backwards=False)
    if not before and not after:
        return None
    # The core's points are the track's own; the walked ones may be other blobs at the track's other times.
    core_t = set(track.t[start:stop])
    out = Track(track.track_id, prefix=track.prefix,
                centres={t: c for t, c in track.centres.items() if t in core_t})
    for t, _, _, cands, i in before + pts + after:
        out.add(t, cands, i)
    return out
