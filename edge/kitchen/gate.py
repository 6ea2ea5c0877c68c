"""Motion gate: run the model only when something moved where the rules look.

At each sample the luma, shrunk to ``small_width`` columns with area averaging (which also averages away sensor
noise), is compared with the luma at the last model run:

    changed = |Ȳ_t − Ȳ_last| > threshold          over the watched cells
    moved   = count(changed) ≥ min_changed_cells

A cell is about 6 pixels of a 960-wide picture, so a hat taken off by a person standing still (a head is 20–40
pixels) changes a few cells: a *count* of cells, not a share of the watched area, is what finds it.

The watched pixels are the zones swept upwards by a person's height (a person standing in a floor zone shows
above it), so a quiet kitchen — or a busy corridor outside the zones — costs one small resize and one
difference per sample. Comparing with the last *run* rather than the previous sample makes slow changes add up.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class GateParams:
    small_width: int = 160
    """Columns of the compared luma."""
    threshold: float = 10.0
    """Grey levels of change (on the shrunk luma) that count as motion."""
    min_changed_cells: int = 2
    """Changed cells of the watched area that make the model run."""
    sweep_frac: float = 0.45
    """Zones are swept upwards by this fraction of the image height (a standing person's height, roughly)."""
    max_reuse_s: float = 2.0
    """Run the model at least this often even when nothing moved: a box or head the model missed once is not
    carried for long (on the generated scenes a 10-s refresh lost a third of the hat events to one miss)."""


def watch_mask(polygons: list[np.ndarray], width: int, height: int, sweep_frac: float) -> np.ndarray:
    """Union of each polygon and its copies shifted up to ``sweep_frac × height`` upwards (H×W uint8)."""
    mask = np.zeros((height, width), np.uint8)
    sweep = sweep_frac * height
    for poly in polygons:
        pts = np.asarray(poly, np.float32).reshape(-1, 2)
        hull = cv2.convexHull(np.vstack([pts, pts - np.array([0.0, sweep], np.float32)]))
        cv2.fillPoly(mask, [np.round(hull).astype(np.int32).reshape(-1, 2)], 255)
    if not polygons:
        mask[:] = 255
    return mask


class MotionGate:
    """``moved(luma, t_s)`` says whether the model should run on this sample; ``ran(t_s)`` records that it did."""

    def __init__(self, mask: np.ndarray, params: GateParams | None = None) -> None:
        self.params = params or GateParams()
        h, w = mask.shape
        sw = min(w, self.params.small_width)
        self._size = (sw, max(1, round(h * sw / w)))
        small = cv2.resize(mask, self._size, interpolation=cv2.INTER_AREA)
        self._watch = small > 0
        if not self._watch.any():
            self._watch[:] = True
        self._ref: np.ndarray | None = None
        self._last_run_t: float | None = None
        self.changed_cells = 0
        self._small: np.ndarray | None = None

    def moved(self, luma: np.ndarray, t_s: float) -> bool:
        small = cv2.resize(luma, self._size, interpolation=cv2.INTER_AREA)
        self._small = small
        if self._ref is None or self._last_run_t is None or t_s - self._last_run_t >= self.params.max_reuse_s:
            return True
        diff = cv2.absdiff(small, self._ref)
        self.changed_cells = int(np.count_nonzero(diff[self._watch] > self.params.threshold))
        return self.changed_cells >= self.params.min_changed_cells

    def ran(self, t_s: float) -> None:
        """The model ran on the sample last passed to :meth:`moved`: compare later samples with it."""
        self._ref = self._small
        self._last_run_t = t_s

    @property
    def size(self) -> tuple[int, int]:
        return self._size
