"""Where the camera points, frame by frame: its sway about its rest position, in pixels.

A camera on a pole or a bracket sways in the wind by up to a few pixels, and the whole picture moves with it.
The motion stage only compensates the frame-to-frame shift where many cells change at once; the track points
stay in each frame's own, displaced, coordinates. The metric fit, however, projects through the calibration,
which describes the camera at rest. So the displacement ``d(t)`` of each frame against one reference frame is
measured on a small textured patch where the scene stands still (normalised cross-correlation of each of
three 96-px patches less an 8-px margin against the patch, peak refined by a parabola; their median), and the rest
position is the long-run mean of ``d``: the camera sways about where it was calibrated. A point ``p`` seen at
``t`` lies at ``p − (d(t) − d̄)`` in the camera at rest.

Measured on every frame while a track that looks like a fall is open (its points need the offsets of their own
frames), otherwise on one frame in ``idle_spacing_s`` (every other one at 25 fps: the frames looking back reads,
a track's first points, by interpolation, and the rest average).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import cv2
import numpy as np


@dataclass(frozen=True)
class SwayParams:
    patch_px: int = 96
    """Side of the square patch the displacement is measured on (full resolution)."""
    rest_time_s: float = 10.0
    """Time constant of the rest position's average (a running mean before that)."""
    idle_spacing_s: float = 0.075
    """While no track is open, measure one frame in this long (every other frame at 25 fps)."""
    patches: int = 3
    """Patches measured (the median is taken): the most textured of each of as many vertical strips."""
    search_px: int = 8
    """The largest displacement from the reference measured, px (the template is the patch less this margin)."""
    min_score: float = 0.6
    """A normalised correlation below this is no match (the patch was covered or lit differently)."""
    failures_to_rechoose: int = 5
    """Consecutive failed matches, with no track open, after which a new patch and reference are taken."""
    check_frames: int = 25
    """Every this many frames: do the patches still lie where the scene stands still?"""
    history_s: float = 30.0
    """How long measured offsets are kept (a track, its hold and its continuation)."""
    start_frames: int = 25
    """The reference is taken after this many frames (the busy mask has learned where trees are)."""


class CameraSway:
    """The displacement of each frame against a reference frame, and the camera's rest position.

    Coordinates are those of the full frame; the patch is chosen inside ``roi`` (x0, y0, x1, y1) where the
    scene is textured in both directions and no cell is masked as busy (a tree moves on its own).
    """

    def __init__(self, roi: tuple[int, int, int, int], params: SwayParams | None = None) -> None:
        self.params = params or SwayParams()
        self.roi = roi
        self._refs: list[np.ndarray] = []  # the reference patches, less the search margin
        self._at: list[tuple[int, int]] = []  # their corners (x, y) in the full frame
        self._frames = 0
        self._failures = 0
        self._last_t = -1e9
        self._rechoose = False
        self._last_d = np.zeros(2)
        self._rest = np.zeros(2)
        self._n_rest = 0
        self._rechoose = False
        self._t: deque[float] = deque()
        self._d: deque[tuple[float, float]] = deque()

    @property
    def measuring(self) -> bool:
        """Has a reference been taken (before that, every offset is 0)?"""
        return bool(self._refs)

    def process(self, t_s: float, luma: np.ndarray, usable_cells: Callable[[], np.ndarray | None],
                tracking: bool) -> None:
        """Offer one frame. ``usable_cells``: gives the cells of ``roi`` (any grid) where the scene stands still
        (watched and not masked as busy by the motion stage), asked only when a patch is chosen; ``tracking``:
        a track is open, so this frame's offset is needed."""
        p = self.params
        self._frames += 1
        if not self._refs:
            if self._frames >= p.start_frames:
                self._choose(luma, usable_cells())
            return
        if self._frames % p.check_frames == 0:
            # Something began to move on its own in a patch (laundry, a tree in a gust): that patch is dropped
            # (the others keep the same reference frame); with fewer than two left, all are chosen again once
            # this frame is measured, the new references standing where it stood.
            still = self._still(usable_cells())
            if not all(still):
                self._at = [a for a, ok in zip(self._at, still, strict=True) if ok]
                self._refs = [r for r, ok in zip(self._refs, still, strict=True) if ok]
            if not self._refs:
                self._choose(luma, usable_cells())
                self._rebase(-self._last_d)
                return
            if len(self._refs) < min(2, p.patches):
                self._rechoose = True
                tracking = True  # measure this frame
        if not tracking and t_s - self._last_t < p.idle_spacing_s - 1e-6:
            return
        self._last_t = t_s
        n, m = p.patch_px, p.search_px
        found = []
        for (x, y), ref in zip(self._at, self._refs, strict=True):
            score = cv2.matchTemplate(luma[y:y + n, x:x + n], ref, cv2.TM_CCOEFF_NORMED)
            _, best, _, (j, i) = cv2.minMaxLoc(score)
            if best >= p.min_score and 0 < i < 2 * m and 0 < j < 2 * m:  # else no match, or beyond the search
                found.append((j - m + _vertex(score[i, j - 1], best, score[i, j + 1]),
                              i - m + _vertex(score[i - 1, j], best, score[i + 1, j])))
        if len(found) < min(2, len(self._refs)):
            self._failures += 1
            if self._failures >= p.failures_to_rechoose and not tracking:
                # New patches and references, assumed to stand where the camera was last measured.
                base = self._last_d.copy()
                self._choose(luma, usable_cells())
                self._rebase(-base)
            return
        # The median of three: one patch where something moved on its own (laundry, a passing object) is outvoted.
        dx, dy = (float(v) for v in np.median(np.asarray(found), axis=0))
        self._failures = 0
        d = np.array([dx, dy])
        self._last_d = d
        self._t.append(t_s)
        self._d.append((dx, dy))
        while self._t and t_s - self._t[0] > p.history_s:
            self._t.popleft()
            self._d.popleft()
        self._n_rest += 1
        alpha = max(1.0 / self._n_rest, min(1.0, p.idle_spacing_s / p.rest_time_s))
        self._rest += alpha * (d - self._rest)
        if self._rechoose:
            self._rechoose = False
            self._choose(luma, usable_cells())
            self._rebase(-d)

    def offsets(self, t_s: np.ndarray) -> np.ndarray:
        """(N, 2): how far the picture at each time stood from the camera at rest, px (interpolated between
        measured frames; 0 before the first measurement)."""
        t_s = np.asarray(t_s, np.float64)
        if not self._t:
            return np.zeros((t_s.size, 2))
        t = np.fromiter(self._t, np.float64, len(self._t))
        d = np.asarray(self._d, np.float64)
        return np.column_stack([np.interp(t_s, t, d[:, 0]), np.interp(t_s, t, d[:, 1])]) - self._rest

    def _rebase(self, shift: np.ndarray) -> None:
        """Re-express every stored offset against a new reference that stood at ``−shift`` in the old one."""
        self._d = deque((dx + shift[0], dy + shift[1]) for dx, dy in self._d)
        self._rest = self._rest + shift
        self._last_d = self._last_d + shift
        self._failures = 0
        self._last_t = -1e9
        self._rechoose = False

    def _still(self, usable_cells: np.ndarray | None) -> list[bool]:
        """Does each patch lie on cells where the scene stands still?"""
        if usable_cells is None:
            return [True] * len(self._at)
        x0, y0, x1, y1 = self.roi
        gy, gx = (y1 - y0) / usable_cells.shape[0], (x1 - x0) / usable_cells.shape[1]
        n = self.params.patch_px
        return [bool(usable_cells[int((y - y0) // gy):int(-(-(y + n - y0) // gy)),
                                  int((x - x0) // gx):int(-(-(x + n - x0) // gx))].all()) for x, y in self._at]

    def _choose(self, luma: np.ndarray, usable_cells: np.ndarray | None) -> None:
        """Take the reference patch: the block of ``roi`` with the largest corner strength (the smaller
        eigenvalue of the gradient's structure tensor: texture in both directions), on usable cells only."""
        n = self.params.patch_px
        x0, y0, x1, y1 = self.roi
        if x1 - x0 < n or y1 - y0 < n:
            return
        q = 4
        small = cv2.resize(luma[y0:y1, x0:x1], ((x1 - x0) // q, (y1 - y0) // q), interpolation=cv2.INTER_AREA)
        strength = cv2.cornerMinEigenVal(small, 3)
        k = n // q
        score = cv2.boxFilter(strength, -1, (k, k), normalize=False, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
        if usable_cells is not None:
            bad = cv2.resize((~usable_cells).astype(np.float32), (small.shape[1], small.shape[0]),
                             interpolation=cv2.INTER_NEAREST)
            covered = cv2.boxFilter(bad, -1, (k, k), normalize=False, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
            score[covered > 0] = -1.0
        valid = score[: small.shape[0] - k + 1, : small.shape[1] - k + 1]
        m = self.params.search_px
        self._at, self._refs = [], []
        # One patch in each of as many vertical strips, so that one thing moving on its own (laundry, a tree)
        # spoils at most one of them.
        strips = np.linspace(0, valid.shape[1], self.params.patches + 1).astype(int)
        for c0, c1 in pairwise(strips):
            part = valid[:, c0:c1]
            if part.size == 0:
                continue
            iy, ix = np.unravel_index(int(np.argmax(part)), part.shape)
            if part[iy, ix] <= 0:
                continue
            x, y = x0 + int(c0 + ix) * q, y0 + int(iy) * q
            self._at.append((x, y))
            self._refs.append(luma[y + m:y + n - m, x + m:x + n - m].copy())


def _vertex(left: float, centre: float, right: float) -> float:
    """Where a parabola through three equally spaced samples peaks, relative to the centre one."""
    curvature = left - 2.0 * centre + right
    return 0.0 if curvature >= 0 else 0.5 * (left - right) / curvature
