"""What a person looks like, for the tracker: a colour histogram of the upper part of their box.

Boxes and heads cannot tell two bare-headed cooks apart where they cross; their hair, skin and clothes can. Per
person box, the rows from ``top`` to ``bottom`` of its height (head and chest: above a counter that hides the
legs), less ``side`` of its width each side (the background beside the body), are shrunk to at most
``max_side_px`` pixels a side and counted in a joint HSV histogram (``bins`` per channel; hue is coarse, and
saturation and value keep white jackets, dark hair and skin apart), normalised to sum 1. Two histograms are
compared by the Bhattacharyya distance

    d(p, q) = sqrt(1 − Σ sqrt(p_i · q_i))        0 for equal histograms, 1 for disjoint ones.

A box whose upper part another person box covers by more than ``max_covered`` mixes two people's colours: it
is still compared, but marked ``clean = False`` so a track does not learn from it. The cost: one small resize,
one colour conversion and one histogram per person box, at the samples where the model runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AppearanceParams:
    top: float = 0.05
    """Upper edge of the region, as a fraction of the box height from its top."""
    bottom: float = 0.5
    """Lower edge of the region (a counter hides the lower half of someone behind it)."""
    side: float = 0.2
    """Fraction of the box width trimmed on each side."""
    bins: tuple[int, int, int] = (8, 3, 3)
    """Hue, saturation, value bins."""
    max_side_px: int = 32
    max_covered: float = 0.2
    """A region more than this fraction covered by another person box is not learnt from."""


@dataclass(frozen=True)
class Appearance:
    """Per person box: ``hist`` (N, bins) normalised histograms (a row of zeros: no pixels), ``clean`` (N,)."""

    hist: np.ndarray
    clean: np.ndarray

    def __len__(self) -> int:
        return int(self.hist.shape[0])


def regions(xyxy: np.ndarray, params: AppearanceParams) -> np.ndarray:
    """(N, 4) xyxy: the part of each box the histogram is taken from."""
    b = np.asarray(xyxy, np.float64).reshape(-1, 4)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    return np.column_stack([b[:, 0] + params.side * w, b[:, 1] + params.top * h,
                            b[:, 2] - params.side * w, b[:, 1] + params.bottom * h])


def person_appearance(bgr: np.ndarray, xyxy: np.ndarray, params: AppearanceParams | None = None) -> Appearance:
    """Histograms of the upper part of each person box in a BGR image."""
    p = params or AppearanceParams()
    n_bins = int(np.prod(p.bins))
    reg = regions(xyxy, p)
    hist = np.zeros((len(reg), n_bins), np.float32)
    height, width = bgr.shape[:2]
    for i, (x1, y1, x2, y2) in enumerate(reg):
        c1, r1 = max(0, round(x1)), max(0, round(y1))
        c2, r2 = min(width, round(x2)), min(height, round(y2))
        if c2 - c1 < 2 or r2 - r1 < 2:
            continue
        crop = bgr[r1:r2, c1:c2]
        shrink = p.max_side_px / max(c2 - c1, r2 - r1)
        if shrink < 1:
            crop = cv2.resize(crop, (max(1, round((c2 - c1) * shrink)), max(1, round((r2 - r1) * shrink))),
                              interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_BGR2HSV)
        h = cv2.calcHist([hsv], [0, 1, 2], None, list(p.bins), [0, 180, 0, 256, 0, 256]).reshape(-1)
        hist[i] = h / max(float(h.sum()), 1.0)
    return Appearance(hist, ~_covered(reg, np.asarray(xyxy, np.float64).reshape(-1, 4), p.max_covered))


def _covered(reg: np.ndarray, boxes: np.ndarray, max_covered: float) -> np.ndarray:
    """(N,) True where another box covers more than ``max_covered`` of a region."""
    n = len(reg)
    if n < 2:
        return np.zeros(n, bool)
    ix = np.clip(np.minimum(reg[:, None, 2], boxes[None, :, 2]) - np.maximum(reg[:, None, 0], boxes[None, :, 0]), 0,
                 None)
    iy = np.clip(np.minimum(reg[:, None, 3], boxes[None, :, 3]) - np.maximum(reg[:, None, 1], boxes[None, :, 1]), 0,
                 None)
    area = np.maximum((reg[:, 2] - reg[:, 0]) * (reg[:, 3] - reg[:, 1]), 1e-9)
    frac = ix * iy / area[:, None]
    np.fill_diagonal(frac, 0.0)
    return frac.max(axis=1) > max_covered


def bhattacharyya(tracks: np.ndarray, dets: np.ndarray) -> np.ndarray:
    """(T, D) Bhattacharyya distances between rows of two sets of normalised histograms."""
    bc = np.sqrt(np.asarray(tracks, np.float64)) @ np.sqrt(np.asarray(dets, np.float64)).T
    return np.sqrt(np.clip(1.0 - bc, 0.0, 1.0))
