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
    faint_fraction: float = 0.5
    """A blob found that is both under half the object's area and under this fraction of its contrast (medians
    of the re-measured early points) is not the object: in the sample ``falling_easy_mid_floor`` the walk took,
    in the frame before the release, a 7-px² blob of contrast 16 two pixels beside the start of a 20-px² object
    of contrast 45–70 (what made that blob was not found)."""
    max_down_angle_deg: float = 70.0
    """The track's direction (first point to last) must be this close to the image's down direction."""
    measure_again_points: int = 4
    """A track of this many points has each new point measured again against an older kept frame (see
    :func:`measure_again`)…"""
    measure_again_max_step: float = 2.0
    """…while its step per frame is under this many times its length (the larger of √area and the blob's
    streak length): a faster object's motion blob is all of it already."""
    measure_again_max_roughness: float = 2.0
    """…and while its recent constant-acceleration fit is within this many times the validation's smoothness
    tolerance (``ValidationParams.max_rms_px`` plus its share of the blob size)."""
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
    centres: bool = True,
) -> Track | None:
    """Points of ``track``'s object in the kept frames before its first point, oldest first, or None.

    With ``centres``, the track's own early points in kept frames are also measured again as
    :func:`measure_again` does (``track.centres``).

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
    anchors: list[tuple[float, float, float, float, float]] = []  # (t, u, v, area, contrast)
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
            anchors.append((tk, hit[0] + x0, hit[1] + y0, hit[2], hit[3]))
    # The track's first points (before measure_again took over) measured again as it does, where their frame
    # was kept: against a frame in which the object stood clear by its whole length (the anchors above only
    # need to be near the path; their reference distance follows the smaller motion blob).
    size = _object_size(track, params)
    times = {round(t, 6): (t, u, v) for t, u, v in zip(track.t, track.u, track.v, strict=True)}
    for i, (tk, img) in enumerate(frames):
        point = times.get(round(tk, 6))
        if not centres or img is None or point is None or point[0] in track.centres:
            continue
        centre = _centre(frames, i, img, track, point[1:], size, threshold, allowance, origin, params,
                         either_side=True)
        if centre is not None:
            track.centres[point[0]] = centre
    if len(anchors) < 3:
        return None
    area_mid = float(np.median([a[3] for a in anchors]))
    area_lo, area_hi = (f * area_mid for f in params.area_range)
    faint = params.faint_fraction * float(np.median([a[4] for a in anchors]))
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
            if hit is not None and (not area_lo <= hit[2] <= area_hi + params.area_slack_px
                                    or (hit[2] < 0.5 * area_mid and hit[3] < faint)):
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


def measure_again(
    track: Track,
    frame: np.ndarray,
    history: FrameHistory,
    threshold: float,
    allowance: np.ndarray,
    origin: tuple[int, int],
    params: RewindParams,
) -> tuple[float, float] | None:
    """The centre of ``track``'s newest point measured again in ``frame`` (the watched region of the frame
    that point came from) against the newest kept frame in which the object stood clear of its place, or None.

    The motion stage weighs a blob by ``min(|Y_t − Y_{t−1}|, |Y_t − Y_{t−2}|)``. An object that moves by
    ``d`` px a frame and is ``L`` px long along its motion shows, when ``d < L``, only where it changed: a
    band of width ``d`` at its front (centroid ``(L − d)/2`` ahead of its centre), and, where it covered a
    place in both earlier frames that it has now left, a strip behind it too (band and strip in one blob:
    up to ``d/2`` behind); its uniform middle differs from neither frame. Which of the two a frame gives
    depends on the cell grid and the noise, so the error jumps by pixels from frame to frame and changes sign
    along a track (on the benchmark, points whose step is under half the object's size: RMS 1.7 px along the
    motion against 1.0 px across, 90th percentile 3.4 px). The motion stage's reference frame (1–2 s old) now
    takes the strip's weight away, leaving the band ahead of the centre. Against a frame in which the object had
    moved clear (``2·r + 3`` px, ``r`` = 0.6 × its length) the difference shows all of it, and only the place it
    stood then (the ghost, left out) besides.
    """
    if len(track) < params.measure_again_points:
        return None
    t_now, u, v = track.t[-1], track.u[-1], track.v[-1]
    step = math.hypot(u - track.u[-2], v - track.v[-2]) / max(1.0, (t_now - track.t[-2]) / _frame_step(track))
    size = _object_size(track, params)
    if step >= params.measure_again_max_step * size:  # a fast object's blob is all of it
        return None
    frames = history.frames()
    i = len(frames)  # the frame itself need not be kept: look at the kept ones before it
    while i > 0 and frames[i - 1][0] >= t_now - 1e-6:
        i -= 1
    frames = [*frames[:i], (t_now, frame)]
    return _centre(frames, i, frame, track, (u, v), size, threshold, allowance, origin, params)


def _object_size(track: Track, params: RewindParams) -> float:
    """The object's length in pixels from its recent blobs: the larger of √area and the streak length (a slow
    object's motion blob is a band of it, whose area understates it)."""
    area = track.area[-params.fit_points:]
    return max(math.sqrt(max(1.0, float(np.median(area)))), float(np.median(track.length[-params.fit_points:])))


def _centre(
    frames: list[tuple[float, np.ndarray | None]], i: int, img: np.ndarray, track: Track, at: tuple[float, float],
    size: float, threshold: float, allowance: np.ndarray, origin: tuple[int, int], params: RewindParams,
    either_side: bool = False,
) -> tuple[float, float] | None:
    """The object's centre near ``at`` (image pixels) in ``img`` (kept frame ``i``), against the nearest kept
    frame in which it stood clear by ``2·r + 3`` px (``r`` = 0.6 × ``size``), or None."""
    r_obj = max(1.5, 0.6 * size)
    x0, y0 = origin
    ref = _reference(frames, i, track.t, track.u, track.v, at, 2.0 * r_obj + 3.0, either_side=either_side,
                     before=not either_side)
    if ref is None:
        return None
    ref_img, (gu, gv) = ref
    hit = _find(img, ref_img, (at[0] - x0, at[1] - y0), params.gate_px + 0.5 * size, r_obj, (gu - x0, gv - y0),
                threshold, allowance)
    if hit is None:
        return None
    lo, hi = params.area_range
    area = max(track.area[-params.fit_points:])
    if not lo * area <= hit[2] <= hi * area + params.area_slack_px:
        return None
    return hit[0] + x0, hit[1] + y0


def _frame_step(track: Track) -> float:
    """The track's usual time between points (its frame interval where it was found in every frame)."""
    dt = np.diff(track.t[-6:])
    return float(np.min(dt)) if dt.size else 0.04


def _reference(
    frames: list[tuple[float, np.ndarray | None]], i: int, kt: list[float], ku: list[float], kv: list[float],
    at: tuple[float, float], sep: float, either_side: bool = False, before: bool = False,
) -> tuple[np.ndarray, tuple[float, float]] | None:
    """The kept frame nearest in time after frame ``i`` (or, with ``before``, before it; with ``either_side``,
    on either side) in which the object (interpolated from the known points) was at least ``sep`` pixels from
    ``at``, with the object's position in it (its ghost in the difference). Only frames within the known
    points' span qualify."""
    order = list(range(i - 1, -1, -1)) if before else list(range(i + 1, len(frames)))
    if either_side:
        order = sorted(list(range(i + 1, len(frames))) + list(range(i)), key=lambda j: abs(frames[j][0] - frames[i][0]))
    for j in order:
        t, img = frames[j]
        if img is None:
            if not either_side:
                return None  # a shake or lighting jump lies between: nothing further compares
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
