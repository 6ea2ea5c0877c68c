"""``calibrate preview``: the facade grid (storey and column lines, with names) drawn over a camera image.

Lines are sampled every few centimetres and projected through the full lens model, so a distorted lens shows
them bent exactly as the detector will see the building; a good calibration puts them on the slab edges and
window jambs.
"""

from __future__ import annotations

import cv2
import numpy as np

from calibration.camera import FloatArray
from calibration.model import FacadeCalibration

STOREY_COLOUR = (0, 220, 255)  # BGR: amber
COLUMN_COLOUR = (255, 160, 0)  # BGR: blue
POINT_COLOUR = (0, 0, 255)
SAMPLES_PER_LINE = 400


def facade_x_range(cal: FacadeCalibration) -> tuple[float, float]:
    """The stretch of facade to draw: the columns, else the clicked points, else 0–30 m."""
    if cal.columns:
        return min(c.x_min for c in cal.columns), max(c.x_max for c in cal.columns)
    if cal.points:
        xs = [p.x for p in cal.points]
        return min(xs) - 2.0, max(xs) + 2.0
    return 0.0, 30.0


def _polyline(cal: FacadeCalibration, start: FloatArray, end: FloatArray) -> list[np.ndarray]:
    """Pixel polylines of the straight facade segment start–end (split where it leaves the camera's view)."""
    s = np.linspace(0.0, 1.0, SAMPLES_PER_LINE)[:, None]
    uv = cal.project(start[None, :] * (1 - s) + end[None, :] * s)
    w, h = cal.image_size
    ok = np.all(np.isfinite(uv), axis=1) & (np.abs(uv[:, 0]) < 4 * w) & (np.abs(uv[:, 1]) < 4 * h)
    pieces = []
    run: list[FloatArray] = []
    for good, point in zip(ok, uv, strict=True):
        if good:
            run.append(point)
        elif run:
            pieces.append(np.array(run))
            run = []
    if run:
        pieces.append(np.array(run))
    return [np.round(p * 16).astype(np.int32).reshape(-1, 1, 2) for p in pieces if len(p) > 1]


def _label(img: np.ndarray, text: str, uv: FloatArray, colour: tuple[int, int, int], scale: float) -> None:
    h, w = img.shape[:2]
    x = int(np.clip(uv[0], 2, w - 12 * len(text) * scale - 2))
    y = int(np.clip(uv[1], 14 * scale + 2, h - 4))
    thick = max(1, round(2 * scale))
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, colour, thick, cv2.LINE_AA)


def _visible(cal: FacadeCalibration, uv: FloatArray) -> FloatArray:
    w, h = cal.image_size
    ok = np.all(np.isfinite(uv), axis=1) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    return np.asarray(uv[ok])


def draw_facade_grid(cal: FacadeCalibration, image: np.ndarray) -> np.ndarray:
    """A copy of ``image`` (BGR, the calibration's size) with storey and column lines and names drawn on."""
    out = image.copy()
    scale = max(0.6, out.shape[1] / 1920.0)
    thick = max(1, round(2 * scale))
    x0, x1 = facade_x_range(cal)
    edges = cal.storey_edges_m
    for i, z in enumerate(edges):
        for piece in _polyline(cal, np.array([x0, 0.0, z]), np.array([x1, 0.0, z])):
            cv2.polylines(out, [piece], False, STOREY_COLOUR, thick, cv2.LINE_AA, shift=4)
        if i < len(cal.floors):
            # The storey's name in the middle of its band, at the left end of what is visible.
            mid = 0.5 * (edges[i] + edges[i + 1])
            xs = np.linspace(x0, x1, 200)
            uv = _visible(cal, cal.project(np.column_stack([xs, np.zeros_like(xs), np.full_like(xs, mid)])))
            if len(uv):
                _label(out, cal.floors[i].name, uv[0] + [4, 0], STOREY_COLOUR, scale)
    bounds = sorted({c.x_min for c in cal.columns} | {c.x_max for c in cal.columns})
    for x in bounds:
        for piece in _polyline(cal, np.array([x, 0.0, edges[0]]), np.array([x, 0.0, edges[-1]])):
            cv2.polylines(out, [piece], False, COLUMN_COLOUR, thick, cv2.LINE_AA, shift=4)
    for col in cal.columns:
        xm = 0.5 * (col.x_min + col.x_max)
        zs = np.linspace(edges[0], edges[-1], 300)
        uv = _visible(cal, cal.project(np.column_stack([np.full_like(zs, xm), np.zeros_like(zs), zs])))
        if len(uv):
            _label(out, col.name, uv[np.argmax(uv[:, 1])] - [6, 6], COLUMN_COLOUR, scale)
    if cal.points:
        uv_click, xyz = cal.point_arrays()
        proj = cal.project(xyz)
        outliers = set(cal.fit.outliers) if cal.fit else set()
        for i, (c, p) in enumerate(zip(uv_click, proj, strict=True)):
            colour = (0, 0, 255) if i in outliers else (0, 255, 0)
            cv2.circle(out, (round(c[0]), round(c[1])), max(3, thick * 2), colour, thick, cv2.LINE_AA)
            if np.all(np.isfinite(p)):
                cv2.line(out, (round(c[0]), round(c[1])), (round(p[0]), round(p[1])), POINT_COLOUR, 1, cv2.LINE_AA)
    return out
