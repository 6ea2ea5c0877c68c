"""Model-free bin mode: is a bin zone still as it looks in a saved "closed" reference image?

Lighting changes scale and offset the picture (lamps, flicker, exposure), so the comparison uses image
*gradients*, normalised: with ``g = (∂x, ∂y)`` of the lightly blurred luma over the zone mask,

    similarity = Σ g_now · g_ref / sqrt(Σ|g_now|² · Σ|g_ref|²)        (1 = same structure, ≈0 = unrelated)

which is unchanged by a gain and an offset of the luma. The zone is cut into a grid of cells and compared per
cell, so a lid opening in a corner of a large zone still counts: the *changed share* is the fraction of textured
cells whose similarity fell below ``cell_similarity``, and the bin is open when it exceeds ``open_share``.

A person in the zone also changes it; whether someone *uses* the bin comes from the person tracker when a model
runs, and in any case from activity: the zone's cells changing between consecutive samples (the same
gradient comparison, so a flicker does not count), held for ``activity_hold_s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgewatch.errors import UserError


@dataclass(frozen=True)
class ReferenceParams:
    cells: int = 8
    """Grid cells across the zone's bounding box (each way)."""
    cell_similarity: float = 0.6
    """A cell below this similarity to the reference has changed."""
    open_share: float = 0.15
    """More than this share of changed cells: the bin is open (or something stands in the zone)."""
    active_share: float = 0.6
    """More than this share of cells changed since the previous sample: someone is at the bin. High, because
    people walking past through a part of the zone must not count (measured on the generated scenes)."""
    activity_hold_s: float = 1.0
    min_energy: float = 4.0
    """Cells whose mean gradient magnitude (grey levels per pixel) is below this in both images are not judged."""
    blur_sigma: float = 1.0


def read_reference(path: Path, width: int, height: int) -> np.ndarray:
    """The reference image as luma at the stream's size (resized when saved at another resolution)."""
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise UserError(f"{path}: cannot read the bin reference image (PNG or JPEG of the camera's view)")
    if (img.shape[1], img.shape[0]) != (width, height):
        if abs(img.shape[1] / img.shape[0] - width / height) > 0.01:
            raise UserError(f"{path}: reference is {img.shape[1]}x{img.shape[0]} but the stream is {width}x{height} "
                            "(another aspect ratio): save a new reference from this stream")
        img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    return img


class BinReference:
    """Compares one bin zone of each sample with the closed reference."""

    def __init__(self, zone_mask: np.ndarray, reference_luma: np.ndarray, params: ReferenceParams | None = None):
        self.params = params or ReferenceParams()
        ys, xs = np.nonzero(zone_mask)
        if ys.size == 0:
            raise ValueError("the bin zone covers no pixel of the image")
        self._roi = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        x0, y0, x1, y1 = self._roi
        self._mask = zone_mask[y0:y1, x0:x1] > 0
        n = self.params.cells
        h, w = y1 - y0, x1 - x0
        rows = np.minimum((np.arange(h) * n) // max(h, 1), n - 1)
        cols = np.minimum((np.arange(w) * n) // max(w, 1), n - 1)
        self._cell = np.where(self._mask, rows[:, None] * n + cols[None, :], -1)
        self._ref = self._gradients(reference_luma)
        self._prev: tuple[np.ndarray, np.ndarray] | None = None
        self._active_until = -np.inf
        self.changed_share = 0.0
        self.active_share = 0.0

    def _gradients(self, luma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x0, y0, x1, y1 = self._roi
        crop = luma[y0:y1, x0:x1].astype(np.float32)
        crop = cv2.GaussianBlur(crop, (0, 0), self.params.blur_sigma)
        return cv2.Sobel(crop, cv2.CV_32F, 1, 0, ksize=3) / 8, cv2.Sobel(crop, cv2.CV_32F, 0, 1, ksize=3) / 8

    def _changed_share(self, a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
        """Share of textured cells whose gradient similarity of ``a`` and ``b`` is below ``cell_similarity``."""
        n2 = self.params.cells ** 2
        sel = self._cell >= 0
        cell = self._cell[sel]
        ax, ay, bx, by = a[0][sel], a[1][sel], b[0][sel], b[1][sel]
        dot = np.bincount(cell, ax * bx + ay * by, n2)
        ea = np.bincount(cell, ax * ax + ay * ay, n2)
        eb = np.bincount(cell, bx * bx + by * by, n2)
        count = np.maximum(np.bincount(cell, minlength=n2), 1)
        floor = self.params.min_energy ** 2
        judged = (ea / count > floor) | (eb / count > floor)
        if not judged.any():
            return 0.0
        sim = dot / np.sqrt(np.maximum(ea * eb, 1e-12))
        return float(np.mean(sim[judged] < self.params.cell_similarity))

    def update(self, luma: np.ndarray, t_s: float) -> tuple[bool, bool]:
        """(differs from the closed reference, someone active at the bin) for this sample."""
        g = self._gradients(luma)
        self.changed_share = self._changed_share(g, self._ref)
        if self._prev is not None:
            self.active_share = self._changed_share(g, self._prev)
            if self.active_share > self.params.active_share:
                self._active_until = t_s + self.params.activity_hold_s
        self._prev = g
        return self.changed_share > self.params.open_share, t_s <= self._active_until

    def box(self) -> np.ndarray:
        """The zone's bounding box, for events (the mode knows where the bin zone is, not the lid's box)."""
        return np.array(self._roi, np.float64)
