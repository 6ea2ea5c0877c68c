"""Motion candidates from consecutive luma frames, at full temporal rate and full spatial resolution.

The hot path of the falling-object detector, run on every decoded frame. A falling object is often only
2–20 px across and moves several pixels per frame, so the detector differences consecutive frames rather than
keeping a slow background model, and tests each changed region against the frame before last so that only the
object's *current* position becomes a candidate (the place it left is a "ghost": it differs from the previous
frame but not from the one before). A large object that moves less than its size a frame covered the place it
left in both earlier frames too, so the ghost test also looks at a reference frame kept 1–2 s earlier: a place
that shows again what it showed then is background uncovered, not an object. The reference is brought to the
current light (a cloud's shadow, the exposure) and, where it takes most of a blob and the camera has moved since
it was kept, moved with the camera.

Per frame, on the watched region only:

    D1 = |Y_t − Y_{t−1}|                       (full resolution, one cv2 call)
    changed = D1 > T_noise + k_edge · G        (G: gradient magnitude of the scene, refreshed now and then)
    cells = any(changed) on a g×g grid         (area resize: cheap, keeps 1-px objects)

``T_noise`` follows the sensor/compression noise (the median of D1 is a robust estimate of its spread); the
gradient term keeps sub-pixel camera sway and compression ringing on strong edges (window frames, balcony
rails) from lighting up. Grid cells that are changing most of the time (trees, flags, laundry, a flickering
sign) are masked automatically and released again once they calm down. A frame where a large part of the
view changes at once is a lighting change, an exposure jump or a camera shake: the shift is measured, and
the frame is either compensated or skipped while the detector re-adapts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass(frozen=True)
class MotionParams:
    """Tuning of the motion stage. Defaults are measured on the generated benchmark set (docs/benchmarks.md)."""

    cell_px: int = 4
    """Grid cell size for grouping changed pixels into candidates."""
    noise_k: float = 4.5
    """Threshold in units of the frame-difference noise spread."""
    min_threshold: float = 6.0
    """Lower bound of the noise threshold (grey levels), for very clean video."""
    edge_gain: float = 0.8
    """Threshold increase per grey level of local scene gradient (sub-pixel sway on edges)."""
    busy_alpha: float = 1.0 / 40.0
    """Rate of the per-cell activity average (per frame): about 1.6 s at 25 fps."""
    busy_on: float = 0.12
    """A cell changing this fraction of the time is masked (tree, laundry)."""
    busy_off: float = 0.04
    """…and unmasked again when it calms below this."""
    busy_slow_alpha: float = 1.0 / 200.0
    """Rate of a second, slow activity average (about 8 s at 25 fps; a running mean until then, as the fast
    one)…"""
    busy_slow_on: float = 0.06
    """…which must also reach this for a cell to be masked: about 12 frames of activity within the last
    several seconds. A tree or laundry is active again and again; an object passing slowly (just released, or
    at a throw's apex) keeps its cells active for a few frames once, and must not mask itself."""
    busy_slow_warmup_frames: int = 50
    """…except in the first frames of a stream, where every cell's activity is new and trees are to be masked
    at once."""
    busy_scene_factor: float = 2.5
    """Both thresholds are raised by this multiple of the mean activity over the watched cells (rain)."""
    shake_check_fraction: float = 0.03
    """More than this fraction of watched cells changing at once: measure the global shift (camera shake)."""
    global_change_fraction: float = 0.12
    """More than this fraction still changing after shake compensation: lighting change, skip the frame…"""
    broad_change_fraction: float = 0.12
    """…when the change is also broad: more than this fraction of the watched region changes by more than the
    noise threshold at a sixteenth of the resolution. A lighting change or an exposure step is smooth and
    keeps its full amplitude there (99–100 % of the region changes); rain, hundreds of thin streaks a frame,
    lights up as many grid cells but is averaged away (the heaviest generated rain: 0.1–1.2 % at 720p, 6–7 % at
    1080p, where streaks are twice as thick). Without this test a downpour was taken for a lighting change and
    nearly every frame skipped. 0 or less: every frame over ``global_change_fraction`` is skipped."""
    shake_min_px: float = 0.4
    """A measured global shift above this is treated as camera shake and compensated."""
    max_candidates: int = 64
    """Per frame; the strongest are kept (rain storms)."""
    gradient_refresh_frames: int = 50
    """How often the scene gradient used by the edge-aware threshold is recomputed."""
    reference_align: bool = True
    """Where the reference takes most of a blob (half its pixels, at least 4), measure the camera's shift since
    the reference was kept and compare against the reference moved by it: jitter under the shake check's
    trigger, or a knock after which the reference still shows the old position for up to 2 s. False: the
    reference as kept (brought to the current light only)."""
    reference_frames: int = 25
    """Every this many frames a comparable frame is kept as a reference; the older of the last two kept (about
    1–2 s old at 25 fps) is the long baseline of the ghost test: a pixel that shows what it showed then is
    background uncovered again, not an object. 0: no reference (the ghost test against the frame before last
    only)."""


LIGHT_BLOCK_PX = 16
"""Block size of the brightness maps that carry the reference frame across a change of light."""
REFERENCE_SHIFT_FRAMES = 3
"""The camera's shift since the reference was kept is measured again after this many frames at the most."""


def _median_u8(values: np.ndarray) -> float:
    """``np.median`` of a uint8 array, exactly, from its histogram (a sixth of the cost of a partition)."""
    n = values.size
    hist = cv2.calcHist([np.ascontiguousarray(values)], [0], None, [256], [0, 256]).ravel()
    counts = np.cumsum(hist.astype(np.int64))
    # The middle element, or the mean of the two middle ones when n is even.
    lo, hi = np.searchsorted(counts, [(n - 1) // 2, n // 2], side="right")
    return (float(lo) + float(hi)) / 2


@dataclass
class Candidates:
    """The moving blobs of one frame, one row each (numpy arrays, full-resolution pixel coordinates)."""

    u: np.ndarray
    v: np.ndarray
    area_px: np.ndarray
    contrast: np.ndarray
    """Mean |difference| over the blob, grey levels."""
    length_px: np.ndarray
    """Extent of the blob along its main axis (motion blur streak length)."""

    def __len__(self) -> int:
        return int(self.u.shape[0])

    @staticmethod
    def empty() -> Candidates:
        z = np.zeros(0, np.float64)
        return Candidates(z, z, z, z, z)


@dataclass
class FrameStatus:
    """What the motion stage made of a frame, for heartbeats, logs and the benchmark."""

    noise_threshold: float = 0.0
    changed_fraction: float = 0.0
    busy_fraction: float = 0.0
    skipped: str | None = None
    """Why no candidates were looked for: "warmup", "lighting", "shake"."""
    shift_px: tuple[float, float] = (0.0, 0.0)


@dataclass
class MotionDetector:
    """Stateful per-camera motion stage: feed luma frames in order, get candidates.

    ``watch_mask`` (H×W uint8, non-zero = watched) is the calibration's detection area minus its ignore areas;
    only its bounding box is ever processed.
    """

    watch_mask: np.ndarray
    params: MotionParams = field(default_factory=MotionParams)

    def __post_init__(self) -> None:
        mask = np.ascontiguousarray(self.watch_mask.astype(np.uint8))
        if mask.ndim != 2:
            raise ValueError(f"watch_mask must be H×W, got shape {mask.shape}")
        # The watched pixels' bounding box (cv2.boundingRect of a uint8 image: of its non-zero pixels), without
        # np.nonzero's two index arrays of 8 bytes per watched pixel (33 MB and 13 ms at 1080p).
        bx, by, bw, bh = cv2.boundingRect(mask)
        if bw == 0 or bh == 0:
            raise ValueError("watch_mask is empty: the detection area minus the ignore areas covers no pixel")
        g = self.params.cell_px
        # Region of interest, aligned to the grid so cells map to whole pixel blocks.
        x0, y0 = (bx // g) * g, (by // g) * g
        x1 = min(mask.shape[1], -(-(bx + bw) // g) * g)
        y1 = min(mask.shape[0], -(-(by + bh) // g) * g)
        x1 -= (x1 - x0) % g
        y1 -= (y1 - y0) % g
        self.roi = (x0, y0, x1, y1)
        self.shape = mask.shape
        roi_mask = mask[y0:y1, x0:x1]
        self._unwatched = cv2.compare(roi_mask, 0, cv2.CMP_EQ)  # 255 where unwatched, else 0
        cells = cv2.resize(roi_mask, ((x1 - x0) // g, (y1 - y0) // g), interpolation=cv2.INTER_AREA)
        self._cell_watched = cells > 0
        self._n_watched_cells = max(1, int(self._cell_watched.sum()))
        self._block_kernel = np.ones((g, g), np.uint8)
        self._cell_kernel = np.ones((3, 3), np.uint8)
        self._busy = np.zeros(cells.shape, np.float32)
        self._busy_slow = np.zeros(cells.shape, np.float32)
        self._busy_mask = np.zeros(cells.shape, bool)
        self._prev: list[np.ndarray] = []  # the last two ROI frames, newest last
        # The last two reference frames (see MotionParams.reference_frames), each with its brightness map (_light).
        self._refs: list[tuple[np.ndarray, np.ndarray]] = []
        self._ref_small: tuple[np.ndarray, np.ndarray] | None = None  # (reference, at quarter resolution)
        self._ref_shift: tuple[np.ndarray, int, np.ndarray | None] | None = None  # (reference, frame, shift)
        self._last_ref_frame = 0  # _frames_seen when the newest reference was kept
        self._threshold_map: np.ndarray | None = None
        self._cell_threshold: tuple[int, np.ndarray] | None = None  # (T, threshold map + T), see _active_cells
        self._small_cur: np.ndarray | None = None  # this frame at shake resolution, if a shake check made it
        self._small_prev: np.ndarray | None = None  # …and the newest stored frame's
        # The last shake check's two frames at quarter resolution (for _broad_change).
        self._small_pair: tuple[np.ndarray, np.ndarray] = (np.zeros((1, 1), np.float32),) * 2
        self._coarse_watched: np.ndarray | None = None  # the watched region at a sixteenth of the resolution
        # One row of a g×g block is one machine word when g is 1, 2, 4 or 8 bytes wide (see _active_cells).
        self._block_row_dtype = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}.get(g)
        self._noise_sigma = 0.0
        self._frames_seen = 0
        self.status = FrameStatus()

    # -- public ---------------------------------------------------------------------------------------------

    def process(self, luma: np.ndarray) -> Candidates:
        """Candidates in this frame (full-image pixel coordinates). Call once per frame, in time order."""
        if luma.shape != self.shape:
            raise ValueError(f"frame is {luma.shape[1]}x{luma.shape[0]}, detector set up for "
                             f"{self.shape[1]}x{self.shape[0]}")
        x0, y0, x1, y1 = self.roi
        cur = np.ascontiguousarray(luma[y0:y1, x0:x1])
        self.status = FrameStatus()
        self._small_cur = None
        self._frames_seen += 1
        if len(self._prev) < 2:
            self._remember(cur)
            self.status.skipped = "warmup"
            return Candidates.empty()
        if self._threshold_map is None or self._frames_seen % self.params.gradient_refresh_frames == 0:
            self._refresh_threshold_map(cur)

        d1 = cv2.absdiff(cur, self._prev[-1])
        self._update_noise(d1)
        active, frac = self._active_cells(d1)
        self.status.changed_fraction = frac
        prev2_shift: np.ndarray | None = None  # set when the frame before last must be aligned to this one

        if frac > self.params.shake_check_fraction:
            # Many cells at once: a shake (compensate and look again) or a lighting change (skip the frame).
            shift = self._measure_shake(cur)
            if shift is None and frac > self.params.global_change_fraction and self._broad_change():
                self.status.skipped = "lighting"
                self._remember(cur)
                return Candidates.empty()
            if shift is not None:
                prev1_c = self._shifted(self._prev[-1], shift)
                d1_c = cv2.absdiff(cur, prev1_c)
                active_c, frac_c = self._active_cells(d1_c)
                aligned = frac_c < 0.5 * frac
                if aligned:  # the shift explained the change: keep the aligned frame
                    # (else a spurious correlation peak from flicker or texture: keep the frames as they were)
                    self._prev[-1] = prev1_c
                    d1, active, frac = d1_c, active_c, frac_c
                # A shift that did not explain the change is no shake: judge the change as without one.
                if frac > self.params.global_change_fraction and (aligned or self._broad_change()):
                    self.status.skipped = "shake"
                    self._remember(cur)
                    return Candidates.empty()
                if aligned:
                    prev2_shift = shift

        self._update_busy(active)
        active &= ~self._busy_mask
        # The long baseline holds only for an unshaken frame (a shift is measured against the last frame only).
        steady = self.comparable
        reference = self._refs[0] if steady and len(self._refs) == 2 else None
        cands = self._measure(active, cur, d1, self._prev[-2], prev2_shift, reference)
        self._remember(cur)
        if steady:
            self._keep_reference(cur)
        return cands

    @property
    def frame(self) -> np.ndarray | None:
        """The last frame's watched region (``roi``), as processed; None before the first frame."""
        return self._prev[-1] if self._prev else None

    @property
    def comparable(self) -> bool:
        """Can the last frame be compared pixel by pixel with earlier ones (no shake, no lighting jump)?"""
        s = self.status
        return s.skipped is None and math.hypot(*s.shift_px) < self.params.shake_min_px

    @property
    def threshold(self) -> tuple[float, np.ndarray | None]:
        """The noise threshold (grey levels) and the per-pixel edge allowance over the region (255 where
        unwatched; None before the first frame was compared)."""
        return self._noise_threshold(), self._threshold_map

    @property
    def busy_mask(self) -> np.ndarray:
        """Cells currently masked as persistently moving (grid resolution, ROI-relative)."""
        return self._busy_mask.copy()

    # -- stages ---------------------------------------------------------------------------------------------

    def _remember(self, roi_frame: np.ndarray) -> None:
        self._prev.append(roi_frame)
        if len(self._prev) > 2:
            self._prev.pop(0)
        self._small_prev = self._small_cur  # a shake check on the next frame reuses it

    def _keep_reference(self, roi_frame: np.ndarray) -> None:
        """Keep an unshaken frame as a reference every ``reference_frames`` frames (the last two are held)."""
        n = self.params.reference_frames
        if n <= 0 or (self._refs and self._frames_seen - self._last_ref_frame < n):
            return
        # A copy when the region is a view of the decoder's frame (it would keep the whole frame alive).
        self._refs.append((roi_frame.copy() if roi_frame.base is not None else roi_frame, self._light(roi_frame)))
        if len(self._refs) > 2:
            self._refs.pop(0)
            self._ref_small = self._ref_shift = None  # (of the reference let go: not to keep it alive)
        self._last_ref_frame = self._frames_seen

    @staticmethod
    def _reference_takes_a_blob(both: np.ndarray, with_ref: np.ndarray, allowance: np.ndarray,
                                lab_cells: np.ndarray, n: int) -> bool:
        """Does the reference take at least half the pixels (and at least 4) of a blob that passes the short
        ghost test? Either an object's trailing band (what the reference is for) or a camera that has moved
        since the reference was kept, showing an edge's other side where an object now is. A few pixels here
        and there are coincidence (a raindrop where the reference had one too)."""
        passing = both > allowance
        lost = np.count_nonzero(passing & (with_ref <= allowance), axis=(1, 2))
        if lost.sum() < 4:
            return False
        lost_in = np.bincount(lab_cells, weights=lost, minlength=n)
        passing_in = np.bincount(lab_cells, weights=np.count_nonzero(passing, axis=(1, 2)), minlength=n)
        return bool(np.any((lost_in >= 4) & (2 * lost_in >= passing_in)))

    def _light_scale(self, cur: np.ndarray, ref_light: np.ndarray, cy: np.ndarray, cx: np.ndarray) -> np.ndarray:
        """Per cell (cy, cx), the factor that brings the reference to this frame's light, (K, 1, 1): the local
        change of brightness since it was kept (a cloud's shadow, the exposure recovering from a step), the
        median ratio of block means over 5×5 blocks of ``LIGHT_BLOCK_PX`` (80×80 px), which an object up to half
        that size does not move."""
        gain = cv2.medianBlur(self._light(cur) / np.maximum(ref_light, 1.0), 5)
        g = self.params.cell_px
        by = np.minimum((cy * g) // LIGHT_BLOCK_PX, gain.shape[0] - 1)
        bx = np.minimum((cx * g) // LIGHT_BLOCK_PX, gain.shape[1] - 1)
        return gain[by, bx][:, None, None]

    @staticmethod
    def _scaled(blocks: np.ndarray, scale: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(blocks * scale), 0, 255).astype(np.uint8)

    def _reference_shift(self, cur: np.ndarray, reference: np.ndarray) -> np.ndarray | None:
        """The camera's shift from the reference to this frame, as a 2×3 translation, or None when it is under
        ``shake_min_px`` or moving the reference by it does not bring it closer to this frame.

        Measured by phase correlation at quarter resolution. Something large moving in a still view biases the
        peak by a few tenths of a pixel, and a reference moved by that shows edges where it matched; so a
        shift is taken only where it explains the difference: moving the reference by it must lower the mean
        difference from this frame (at quarter resolution). A measurement (1.7 ms at 1080p) serves the next
        ``REFERENCE_SHIFT_FRAMES`` − 1 frames too: a camera that wanders in the wind moves a few tenths of a
        pixel in that time, and in rain or jitter a blob for the check comes nearly every frame.
        """
        last = self._ref_shift
        if last is not None and last[0] is reference and self._frames_seen - last[1] < REFERENCE_SHIFT_FRAMES:
            return last[2]
        shift = self._measure_reference_shift(cur, reference)
        self._ref_shift = (reference, self._frames_seen, shift)
        return shift

    def _measure_reference_shift(self, cur: np.ndarray, reference: np.ndarray) -> np.ndarray | None:
        """_reference_shift without the cache."""
        small = (cur.shape[1] // 4, cur.shape[0] // 4)
        if self._ref_small is None or self._ref_small[0] is not reference:
            ref_small = cv2.resize(reference, small, interpolation=cv2.INTER_AREA).astype(np.float32)
            self._ref_small = (reference, ref_small)
        a = self._ref_small[1]
        b = self._small_cur
        if b is None:  # (kept: the next frame's shake check may reuse it)
            b = self._small_cur = cv2.resize(cur, small, interpolation=cv2.INTER_AREA).astype(np.float32)
        (dx, dy), response = cv2.phaseCorrelate(a, b)
        if response < 0.2 or 4.0 * math.hypot(dx, dy) < self.params.shake_min_px:
            return None
        shift = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
        moved = cv2.warpAffine(a, shift, small, borderMode=cv2.BORDER_REPLICATE)
        if cv2.norm(b, moved, cv2.NORM_L1) >= cv2.norm(b, a, cv2.NORM_L1):
            return None
        return np.array([[1, 0, 4.0 * dx], [0, 1, 4.0 * dy]], np.float32)

    @staticmethod
    def _light(roi_frame: np.ndarray) -> np.ndarray:
        """The region's mean brightness over blocks of ``LIGHT_BLOCK_PX`` (float32; a border narrower than a
        block is left out and belongs to the last block). Every pixel counts: block means from a sample (every
        4th pixel of every 4th row, a sixth of the cost) alias a finely textured facade, so that a pixel of
        jitter changes them by several per cent, and the band a large object leaves behind it showed again
        (seed 6000: 5 throws lost, most of them large objects from storeys 4-8)."""
        b = LIGHT_BLOCK_PX
        h, w = roi_frame.shape
        hb, wb = max(1, h // b), max(1, w // b)
        return cv2.resize(roi_frame[: hb * b, : wb * b], (wb, hb), interpolation=cv2.INTER_AREA).astype(np.float32)

    def _refresh_threshold_map(self, cur: np.ndarray) -> None:
        """Per-pixel extra threshold from the scene's local gradient (dilated: sway moves edges ±1 px)."""
        gx = cv2.Sobel(cur, cv2.CV_16S, 1, 0, ksize=3)
        gy = cv2.Sobel(cur, cv2.CV_16S, 0, 1, ksize=3)
        grad = cv2.addWeighted(cv2.convertScaleAbs(gx), 0.125, cv2.convertScaleAbs(gy), 0.125, 0)
        grad = cv2.dilate(grad, np.ones((3, 3), np.uint8))
        extra = cv2.convertScaleAbs(grad, alpha=self.params.edge_gain)
        self._threshold_map = cv2.max(extra, self._unwatched)  # 255 where unwatched: never exceeded
        self._cell_threshold = None

    def _update_noise(self, d1: np.ndarray) -> None:
        """Robust spread of the frame difference: median(|d|)/0.6745 on a sparse sample of pixels."""
        sigma = _median_u8(d1[::7, ::7]) / 0.6745 + 0.5
        # Slow to rise, quick to fall: a burst of motion must not make the detector deaf.
        rate = 0.02 if sigma > self._noise_sigma else 0.2
        self._noise_sigma = sigma if self._noise_sigma == 0 else (1 - rate) * self._noise_sigma + rate * sigma
        self.status.noise_threshold = self._noise_threshold()

    def _noise_threshold(self) -> float:
        return max(self.params.min_threshold, self.params.noise_k * self._noise_sigma)

    def _active_cells(self, d1: np.ndarray) -> tuple[np.ndarray, float]:
        """Grid cells holding at least one pixel whose change exceeds noise + edge allowance.

        ``D1 > allowance + T`` is one saturating subtraction of a map that holds both (rebuilt only when the
        rounded noise threshold T or the gradient map changes; 255 stays "never"). "Any pixel of a g×g block"
        then needs no full-resolution pass of its own: the maximum over each block's g rows (g − 1 passes over
        1/g of the rows), and since the ROI is a whole number of cells wide, with g = 4 each block's row of
        maxima is one 32-bit word, non-zero exactly when the block is active. Cell sizes other than 1, 2, 4
        or 8 take a dilation anchored at the block's corner, sampled every g-th pixel.
        """
        assert self._threshold_map is not None
        g = self.params.cell_px
        t = round(self._noise_threshold())
        if self._cell_threshold is None or self._cell_threshold[0] != t:
            self._cell_threshold = (t, cv2.add(self._threshold_map, t))  # saturating
        excess = cv2.subtract(d1, self._cell_threshold[1])  # saturating: > 0 exactly where D1 > allowance + T
        if self._block_row_dtype is not None:
            rows = cv2.max(excess[0::g], excess[1::g]) if g > 1 else excess.copy()
            for i in range(2, g):
                cv2.max(rows, excess[i::g], dst=rows)
            cells = rows.view(self._block_row_dtype) != 0
        else:
            block_max = cv2.dilate(excess, self._block_kernel, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
            cells = block_max[::g, ::g] > 0
        cells &= self._cell_watched
        return cells, float(np.count_nonzero(cells)) / self._n_watched_cells

    def _update_busy(self, active: np.ndarray) -> None:
        p = self.params
        # A running mean at first (alpha = 1/n), so trees are masked within a few frames of start-up instead
        # of after the average's time constant; then an exponential average that follows the wind.
        running = 1.0 / max(1, self._frames_seen - 2)  # the running mean's weight (also for the slow average)
        cv2.accumulateWeighted(active.view(np.uint8), self._busy, max(p.busy_alpha, running))
        cv2.accumulateWeighted(active.view(np.uint8), self._busy_slow, max(p.busy_slow_alpha, running))
        # Rain and snow raise every cell's activity alike; a tree raises its own cells far above the rest.
        # So a cell is busy when it stands out from the scene-wide rate, not merely when it is often active.
        # The mean over the watched cells: the others never change from 0 (only watched cells are active), so
        # it is the plain sum over the grid over their count (cv2.mean with a mask sums them one by one, at 5
        # times the cost; the same double-precision sum and reciprocal, so the same value).
        base = p.busy_scene_factor * (cv2.sumElems(self._busy)[0] * (1.0 / self._n_watched_cells))
        often = self._busy > p.busy_on + base
        if self._frames_seen > p.busy_slow_warmup_frames:  # at start-up every cell's activity is new
            often &= self._busy_slow > p.busy_slow_on
        busy = (self._busy_mask & (self._busy > p.busy_off + base)) | often
        self._busy_mask = cv2.dilate(busy.view(np.uint8), self._cell_kernel).view(bool)
        self.status.busy_fraction = float(np.count_nonzero(self._busy_mask)) / self._busy_mask.size

    def _measure_shake(self, cur: np.ndarray) -> np.ndarray | None:
        """The global shift of the current frame against the previous one, as a 2×3 translation matrix.

        Measured by phase correlation at quarter resolution (the previous frame's copy at that resolution is
        reused when its own shake check made it). Returns None when the change is not a shift (lighting,
        exposure).
        """
        small = (cur.shape[1] // 4, cur.shape[0] // 4)
        a = self._small_prev
        if a is None:
            a = cv2.resize(self._prev[-1], small, interpolation=cv2.INTER_AREA).astype(np.float32)
        b = cv2.resize(cur, small, interpolation=cv2.INTER_AREA).astype(np.float32)
        self._small_cur = b
        self._small_pair = (a, b)
        (dx, dy), response = cv2.phaseCorrelate(a, b)
        dx, dy = 4.0 * dx, 4.0 * dy
        self.status.shift_px = (dx, dy)
        if response < 0.2 or np.hypot(dx, dy) < self.params.shake_min_px:
            return None
        return np.array([[1, 0, dx], [0, 1, dy]], np.float32)

    def _broad_change(self) -> bool:
        """Does the change between the last two frames cover much of the watched region at a sixteenth of the
        resolution (from the shake check's quarter-resolution pair)? See ``MotionParams.broad_change_fraction``.
        """
        fraction = self.params.broad_change_fraction
        if fraction <= 0:
            return True
        a, b = self._small_pair
        coarse = (max(1, a.shape[1] // 4), max(1, a.shape[0] // 4))
        diff = cv2.absdiff(cv2.resize(a, coarse, interpolation=cv2.INTER_AREA),
                           cv2.resize(b, coarse, interpolation=cv2.INTER_AREA))
        if self._coarse_watched is None or self._coarse_watched.shape != diff.shape:
            roi_mask = cv2.compare(self._unwatched, 0, cv2.CMP_EQ)
            self._coarse_watched = cv2.resize(roi_mask, coarse, interpolation=cv2.INTER_AREA) > 127
        watched = self._coarse_watched
        changed = int(np.count_nonzero((diff > self._noise_threshold()) & watched))
        return changed > fraction * max(1, int(np.count_nonzero(watched)))

    @staticmethod
    def _shifted(frame: np.ndarray, shift: np.ndarray) -> np.ndarray:
        """A stored frame warped onto the current one: bilinear, borders replicated, as ``cv2.warpAffine``.

        A pure translation samples every pixel at the same sub-pixel offset, which ``cv2.getRectSubPix`` does
        several times faster than ``warpAffine``'s general per-pixel mapping (0.5 against 3.9 ms on a 1080p
        frame, one thread). The two differ by one grey level at about one pixel in 1700 on camera frames
        (fixed-point against single-precision weights), and in one place by more: where both source
        coordinates fall outside the frame (a corner block as large as the shift), ``getRectSubPix`` does not
        replicate the corner pixel, so that block is set here.
        """
        h, w = frame.shape
        dx, dy = float(shift[0, 2]), float(shift[1, 2])
        # dst(x, y) = src(x − dx, y − dy): the window's centre in the source frame.
        out = cv2.getRectSubPix(frame, (w, h), ((w - 1) / 2.0 - dx, (h - 1) / 2.0 - dy))
        # The rows whose two source rows are both clamped to the same edge, and the columns likewise.
        rows = slice(0, min(h, math.floor(dy) + 1)) if dy > 0 else slice(max(0, h - 1 + math.ceil(dy)), h)
        cols = slice(0, min(w, math.floor(dx) + 1)) if dx > 0 else slice(max(0, w - 1 + math.ceil(dx)), w)
        out[rows, cols] = frame[0 if dy > 0 else h - 1, 0 if dx > 0 else w - 1]
        return out

    def _shifted_blocks(self, frame: np.ndarray, shift: np.ndarray, cy: np.ndarray, cx: np.ndarray) -> np.ndarray:
        """The g×g blocks at cells (cy, cx) of ``frame`` warped by ``shift``: (K, g, g).

        The frame before last is read only at the active cells (by _measure), usually a few blobs spread
        over the view, so only their pixels are interpolated instead of warping the whole frame. A shift
        samples every pixel at the same sub-pixel offset: bilinear, borders replicated, as ``cv2.warpAffine``
        with INTER_LINEAR, which it matches except for one grey level at about one pixel in 2000 (OpenCV
        computes each pixel's coordinate in single precision).
        """
        g = self.params.cell_px
        h, w = frame.shape
        # dst(x, y) = src(x − dx, y − dy): integer part and fraction of the source offset.
        sx, sy = -float(shift[0, 2]), -float(shift[1, 2])
        ix, iy = math.floor(sx), math.floor(sy)
        fx, fy = np.float32(sx - ix), np.float32(sy - iy)
        off = np.arange(g)
        xs = cx[:, None] * g + off + ix
        ys = cy[:, None] * g + off + iy
        x0, x1 = np.clip(xs, 0, w - 1)[:, None, :], np.clip(xs + 1, 0, w - 1)[:, None, :]
        y0, y1 = np.clip(ys, 0, h - 1)[:, :, None], np.clip(ys + 1, 0, h - 1)[:, :, None]
        top = frame[y0, x0] * (1 - fx) + frame[y0, x1] * fx
        bottom = frame[y1, x0] * (1 - fx) + frame[y1, x1] * fx
        return np.rint(top * (1 - fy) + bottom * fy).astype(np.uint8)

    def _measure(self, active: np.ndarray, cur: np.ndarray, d1: np.ndarray, prev2: np.ndarray,
                 prev2_shift: np.ndarray | None = None,
                 reference: tuple[np.ndarray, np.ndarray] | None = None) -> Candidates:
        """Group active cells into blobs and measure each at full resolution, all blobs at once.

        A pixel counts towards its blob with weight ``min(D1, D2, D_ref) − allowance − T`` (D2 = |Y_t − Y_{t−2}|,
        D_ref = |Y_t − reference|, when a ``reference`` is given): the object's current position differs from
        all earlier frames, the place it left (the ghost) only from the previous one, or, where a large object
        moving less than its size covered it in both earlier frames, not from the reference of 1–2 s ago; so
        ghosts get no weight and vanish. (``reference`` is the frame and its brightness map; it is brought to
        this frame's light, and where it takes most of a blob moved with the camera: _light_scale,
        _reference_shift.) Only the pixels of active cells are gathered
        (a few hundred blocks of g×g, not the frame), and centroid, area, contrast and streak length come from
        weighted moments accumulated per blob with ``bincount``. ``prev2_shift``: the frame before last is
        to be aligned to this one (shake compensation), at the gathered pixels only.
        """
        cell_idx = np.flatnonzero(active)  # (2-D np.nonzero is many times slower on this grid)
        if cell_idx.size == 0:
            return Candidates.empty()
        assert self._threshold_map is not None
        g = self.params.cell_px
        cy, cx = np.divmod(cell_idx, active.shape[1])
        # Label only the box around the active cells (often a small part of the grid). Its corner is kept on
        # even rows and columns: OpenCV labels 2×2 blocks of cells, and so numbers the blobs (their order as
        # candidates) exactly as on the whole grid.
        r0, c0 = int(cy[0]) & ~1, int(cx.min()) & ~1
        box = active[r0 : int(cy[-1]) + 1, c0 : int(cx.max()) + 1]
        n, labels = cv2.connectedComponents(box.view(np.uint8), connectivity=8)
        lab_cells = labels[cy - r0, cx - c0]

        def blocks(img: np.ndarray) -> np.ndarray:  # (K, g, g) views of the active cells' pixels
            h, w = img.shape
            return img.reshape(h // g, g, w // g, g).transpose(0, 2, 1, 3)[cy, cx]

        b_d1, b_cur = blocks(d1), blocks(cur)
        b_prev2 = blocks(prev2) if prev2_shift is None else self._shifted_blocks(prev2, prev2_shift, cy, cx)
        b_d2 = cv2.absdiff(b_cur, b_prev2)
        both = np.minimum(b_d1, b_d2)
        allowance = blocks(self._threshold_map) + np.int16(round(self._noise_threshold()))
        if reference is not None:
            ref, ref_light = reference
            scale = self._light_scale(cur, ref_light, cy, cx)
            with_ref = np.minimum(both, cv2.absdiff(b_cur, self._scaled(blocks(ref), scale)))
            if self.params.reference_align and self._reference_takes_a_blob(both, with_ref, allowance, lab_cells, n):
                shift = self._reference_shift(cur, ref)
                if shift is not None:
                    moved = self._scaled(self._shifted_blocks(ref, shift, cy, cx), scale)
                    with_ref = np.minimum(both, cv2.absdiff(b_cur, moved))
            both = with_ref
        both = both.astype(np.int16)
        excess = both - allowance
        k, py, px = np.nonzero(excess > 0)
        if k.size == 0:
            return Candidates.empty()
        w = excess[k, py, px].astype(np.float64)
        xs = (cx[k] * g + px).astype(np.float64)
        ys = (cy[k] * g + py).astype(np.float64)
        lab = lab_cells[k]
        contrast_px = both[k, py, px].astype(np.float64)

        def acc(values: np.ndarray | None) -> np.ndarray:
            return np.bincount(lab, weights=values, minlength=n)

        count = acc(None)
        sw = acc(w)
        present = np.nonzero(sw > 0)[0]
        sw_p = sw[present]
        mx = acc(w * xs)[present] / sw_p
        my = acc(w * ys)[present] / sw_p
        cxx = np.maximum(acc(w * xs * xs)[present] / sw_p - mx * mx, 0.0)
        cyy = np.maximum(acc(w * ys * ys)[present] / sw_p - my * my, 0.0)
        cxy = acc(w * xs * ys)[present] / sw_p - mx * my
        # Largest eigenvalue of the 2×2 covariance: the spread along the streak.
        lam = 0.5 * (cxx + cyy) + np.sqrt(0.25 * (cxx - cyy) ** 2 + cxy * cxy)
        length = 4.0 * np.sqrt(lam) + 1.0
        area = count[present]
        contrast = acc(contrast_px)[present] / area
        x0, y0, _, _ = self.roi
        u, v = mx + x0, my + y0
        if present.size > self.params.max_candidates:
            # Keep compact, contrasty blobs: rain streaks are long, thin and faint (elongation L²/area ≫ 1).
            score = contrast * np.sqrt(np.minimum(area, 16.0)) / (1.0 + length * length / np.maximum(area, 1.0) / 8.0)
            top = np.argsort(-score)[: self.params.max_candidates]
            u, v, area, contrast, length = u[top], v[top], area[top], contrast[top], length[top]
        return Candidates(u, v, area, contrast, length)
