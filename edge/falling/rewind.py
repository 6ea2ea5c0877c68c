"""Looking back: find a falling object in the frames before its track began.

The motion stage compares each frame with the one before, so an object moving under a pixel or two a frame —
just after its release, when it matters most for the floor — leaves only thin edges in that difference and is
picked up late: in the benchmark's scenes a median of 0.8 s after release, and up to 2 s. The
release floor comes from extrapolating the fall back to its start, and with drag the time since release is
what the track knows least (docs/calibration.md), so every early point is worth more than many late ones.

Once a track looks like the start of a fall, :func:`rewind` walks back through the last second or two of frames
(:class:`FrameHistory`) along the track's own path: at each earlier frame it predicts the object's position
from the earliest points it has (a constant-acceleration fit), and differences that frame with a later one in
which the object had already moved clear of the predicted place — a long baseline, so even a still object shows
in full, not as edges. The blob nearest the prediction, inside a gate, is the object; the walk stops after a few
frames without one (the release, an occluder, the edge of the watched area).

The points found are kept beside the track (``Track.prefix``), not in it: a track is accepted or rejected
without them. When it is accepted as a fall, the detector validates it again with them and, if the longer track
passes, back-projects that (see ``FallingDetector``); a held track's merge with its continuation then sees
them too.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from edge.falling.tracker import Track


@dataclass(frozen=True)
class RewindParams:
    history_s: float = 1.6
    """How far back frames are kept (memory: about 20 frames at the default spacing)."""
    spacing_s: float = 0.07
    """Keep a frame at most this often (every second frame at 25 fps): near its release an object moves under
    a pixel a frame, so every frame would add little, and each kept frame costs a frame's memory."""
    trigger_points: int = 8
    """Look back once a track has this many points and is moving down."""
    fit_points: int = 8
    """Earliest points used for the prediction."""
    max_misses: int = 2
    """Consecutive frames without the object that end the walk."""
    gate_px: float = 2.0
    gate_per_step: float = 0.3
    """Gate growth per pixel of extrapolation from the earliest point."""
    gate_per_blob: float = 0.25
    """…and per pixel of blob size (√area). Near its release an object moves a few pixels in a quarter of a
    second: a gate wider than that lets the walk wander onto clutter beside the path."""
    area_range: tuple[float, float] = (0.3, 3.0)
    """A blob found must measure this many times the object's (median of the re-measured early points): a
    smaller one is the object half hidden (a balcony rail), whose centroid is off; a larger one has clutter in
    it."""
    area_slack_px: float = 4.0
    """…plus this many pixels above: a one- or two-pixel object's blob grows by whole pixels."""
    max_down_angle_deg: float = 70.0
    """The track's direction (first point to last) must be this close to the image's down direction."""
    min_step_px: float = 0.15
    """A step shorter than this (per frame kept) is standing still; three such steps end the walk, and the
    still points are dropped: the object was held before its release (a drop's first 0.04 s move it 0.01 m,
    under a pixel, too)."""


class FrameHistory:
    """The last ``history_s`` seconds of the motion stage's frames (its watched region), at most one every
    ``spacing_s``. A region that is a view of the decoder's frame (the watched region spans whole rows) is
    copied: a view would keep the whole decoded frame alive, chroma and all, for 1.6 s (at 1440p 332 against
    296 MB peak per camera, with no measurable CPU cost; benchmarks.md). One the motion stage already copied
    (a narrower region) is held as it is."""

    def __init__(self, params: RewindParams) -> None:
        self.params = params
        self._frames: deque[tuple[float, np.ndarray | None]] = deque()

    def __len__(self) -> int:
        return len(self._frames)

    def push(self, t_s: float, roi_frame: np.ndarray | None) -> None:
        """Offer one frame; ``None`` marks a frame that cannot be compared with others (camera shake, a
        lighting jump): the walk back stops there."""
        frames = self._frames
        if frames and t_s - frames[-1][0] < self.params.spacing_s - 1e-6 and (roi_frame is not None
                                                                              or frames[-1][1] is None):
            return
        if roi_frame is not None and roi_frame.base is not None:
            roi_frame = roi_frame.copy()
        frames.append((t_s, roi_frame))
        while frames and t_s - frames[0][0] > self.params.history_s:
            frames.popleft()

    def clear(self) -> None:
        self._frames.clear()

    def frames(self) -> list[tuple[float, np.ndarray | None]]:
        return list(self._frames)


def _predict(t: list[float], u: list[float], v: list[float], at: float) -> tuple[float, float]:
    """Position at ``at`` from a constant-acceleration fit (constant velocity with fewer than 5 points)."""
    tt = np.asarray(t) - t[0]
    deg = 2 if len(t) >= 5 else 1
    cu = np.polyfit(tt, u, deg)
    cv = np.polyfit(tt, v, deg)
    return float(np.polyval(cu, at - t[0])), float(np.polyval(cv, at - t[0]))


def looks_like_fall_start(track: Track, down: np.ndarray, params: RewindParams) -> bool:
    """Worth a look back: ``trigger_points`` points, moving within ``max_down_angle_deg`` of ``down``."""
    du, dv = track.u[-1] - track.u[0], track.v[-1] - track.v[0]
    dist = math.hypot(du, dv)
    if dist < 2.0:
        return False
    cos = (du * float(down[0]) + dv * float(down[1])) / dist
    return cos >= math.cos(math.radians(params.max_down_angle_deg))


def rewind(
    track: Track,
    history: FrameHistory,
    threshold: float,
    allowance: np.ndarray,
    origin: tuple[int, int],
    params: RewindParams,
) -> Track | None:
    """Points of ``track``'s object in the kept frames before its first point, oldest first, or None.

    ``threshold`` is the motion stage's noise threshold (grey levels), ``allowance`` its per-pixel extra
    threshold over the watched region (strong edges sway; 255 where unwatched), ``origin`` the region's
    top-left corner in image pixels (track positions are image pixels).

    First the track's own early points are measured again in the kept frames, the same way the walk will
    measure earlier ones: the motion stage's blob of a slow object is its leading edge (the part not covered
    in the last two frames), half an object ahead of its centre, which would bend the extrapolation and put
    the object's ghost (where it stands in the reference frame) in the wrong place. The object's polarity is
    not used: passing windows and wall, a dark object is darker than one and brighter than the other.
    """
    frames = history.frames()
    if len(track) < 4 or not frames:
        return None
    x0, y0 = origin
    h, w = allowance.shape
    blob = math.sqrt(max(1.0, float(np.median(track.area[: params.fit_points]))))
    r_obj = max(1.5, 0.6 * blob)
    sep = 2.0 * r_obj + 3.0  # the object must have moved this far clear in the reference frame
    kt, ku, kv = list(track.t), list(track.u), list(track.v)  # known positions, oldest first

    # The track's early points, re-measured.
    span_end = track.t[min(len(track), 2 * params.fit_points) - 1]
    anchors: list[tuple[float, float, float, float]] = []
    for i, (tk, img) in enumerate(frames):
        if img is None or not track.t[0] - 1e-6 <= tk <= span_end + 1e-6:
            continue
        pu, pv = float(np.interp(tk, kt, ku)), float(np.interp(tk, kt, kv))
        ref = _reference(frames, i, kt, ku, kv, (pu, pv), sep, either_side=True)
        if ref is None:
            continue
        hit = _find(img, ref[0], (pu - x0, pv - y0), params.gate_px + 0.5 * blob, r_obj,
                    (ref[1][0] - x0, ref[1][1] - y0), threshold, allowance)
        if hit is not None:
            anchors.append((tk, hit[0] + x0, hit[1] + y0, hit[2]))
    if len(anchors) < 3:
        return None
    area_lo, area_hi = (f * float(np.median([a[3] for a in anchors])) for f in params.area_range)
    # Known positions: the re-measured anchors, then the track's points after them.
    last_anchor = anchors[-1][0]
    kt = [a[0] for a in anchors] + [t for t in track.t if t > last_anchor + 1e-6]
    ku = [a[1] for a in anchors] + [u for t, u in zip(track.t, track.u, strict=True) if t > last_anchor + 1e-6]
    kv = [a[2] for a in anchors] + [v for t, v in zip(track.t, track.v, strict=True) if t > last_anchor + 1e-6]

    found: list[tuple[float, float, float, float, float]] = []  # (t, u, v, area, contrast), newest first
    misses = still = 0
    for i in range(len(frames) - 1, -1, -1):
        tk, img = frames[i]
        if tk >= kt[0] - 1e-6:
            continue
        if img is None:
            break
        n_fit = min(len(kt), params.fit_points)
        pu, pv = _predict(kt[:n_fit], ku[:n_fit], kv[:n_fit], tk)
        step = math.hypot(pu - ku[0], pv - kv[0])
        gate = params.gate_px + params.gate_per_step * step + params.gate_per_blob * blob
        ref = _reference(frames, i, kt, ku, kv, (pu, pv), sep)
        hit = None
        if ref is not None:
            ref_img, (gu, gv) = ref
            hit = _find(img, ref_img, (pu - x0, pv - y0), gate, r_obj, (gu - x0, gv - y0), threshold, allowance)
            if hit is not None and not area_lo <= hit[2] <= area_hi + params.area_slack_px:
                hit = None
        if hit is None:
            misses += 1
            if misses > params.max_misses:
                break
            continue
        u, v, area, contrast = hit
        u, v = u + x0, v + y0
        moved = math.hypot(u - ku[0], v - kv[0])
        still = still + 1 if moved < params.min_step_px * max(1.0, (kt[0] - tk) / params.spacing_s) else 0
        misses = 0
        kt.insert(0, tk)
        ku.insert(0, u)
        kv.insert(0, v)
        found.append((tk, u, v, area, contrast))
        if still >= 3 or not (0 <= u - x0 < w and 0 <= v - y0 < h):
            break
    # Points where it stood still are from before the release (held in a hand, on a sill): not a flight.
    del found[len(found) - still:]
    if not found:
        return None
    found.reverse()
    return Track(track.track_id, t=[f[0] for f in found], u=[f[1] for f in found], v=[f[2] for f in found],
                 area=[f[3] for f in found], contrast=[f[4] for f in found], length=[math.sqrt(f[3]) for f in found])


def _reference(
    frames: list[tuple[float, np.ndarray | None]], i: int, kt: list[float], ku: list[float], kv: list[float],
    at: tuple[float, float], sep: float, either_side: bool = False,
) -> tuple[np.ndarray, tuple[float, float]] | None:
    """The kept frame nearest in time after frame ``i`` (or, with ``either_side``, before it too) in which the
    object (interpolated from the known points) was at least ``sep`` pixels from ``at``, with the object's
    position in it (its ghost in the difference). Only frames within the known points' span qualify."""
    order = list(range(i + 1, len(frames)))
    if either_side:
        order = sorted(order + list(range(i)), key=lambda j: abs(frames[j][0] - frames[i][0]))
    for j in order:
        t, img = frames[j]
        if img is None:
            if j > i and not either_side:
                return None  # a shake or lighting jump lies between: nothing later compares
            continue
        if t < kt[0] - 1e-6 or t > kt[-1] + 1e-6:
            continue
        gu, gv = float(np.interp(t, kt, ku)), float(np.interp(t, kt, kv))
        if math.hypot(gu - at[0], gv - at[1]) >= sep:
            return img, (gu, gv)
    return None


def _find(
    img: np.ndarray, ref: np.ndarray, at: tuple[float, float], gate: float, r_obj: float,
    ghost: tuple[float, float], threshold: float, allowance: np.ndarray,
) -> tuple[float, float, float, float] | None:
    """The blob of ``|img − ref|`` nearest ``at`` (region pixels) within ``gate``: (u, v, area, mean
    |difference|) or None. Pixels near the ``ghost`` (where the object is in ``ref``) are ignored."""
    h, w = img.shape
    rad = gate + r_obj + 1.0
    xa, xb = max(0, int(at[0] - rad)), min(w, int(at[0] + rad) + 2)
    ya, yb = max(0, int(at[1] - rad)), min(h, int(at[1] + rad) + 2)
    if xb - xa < 2 or yb - ya < 2:
        return None
    diff = img[ya:yb, xa:xb].astype(np.int16) - ref[ya:yb, xa:xb].astype(np.int16)
    excess = np.abs(diff) - (allowance[ya:yb, xa:xb].astype(np.int16) + round(threshold))
    mask = (excess > 0).astype(np.uint8)
    gy, gx = np.mgrid[ya:yb, xa:xb]
    mask[np.hypot(gx - ghost[0], gy - ghost[1]) <= r_obj + 2.5] = 0
    if not mask.any():
        return None
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    weight = np.abs(diff).astype(np.float64)
    best = None
    for k in range(1, n):
        sel = labels == k
        wk = weight[sel]
        total = float(wk.sum())
        cu = float((gx[sel] * wk).sum() / total)
        cv = float((gy[sel] * wk).sum() / total)
        dist = math.hypot(cu - at[0], cv - at[1])
        if dist <= gate and (best is None or dist < best[0]):
            best = (dist, cu, cv, float(stats[k, cv2.CC_STAT_AREA]), total / float(sel.sum()))
    if best is None:
        return None
    return best[1], best[2], best[3], best[4]
