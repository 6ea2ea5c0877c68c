"""Small moving things drawn with motion blur and sub-pixel anti-aliasing.

A shape is a polygon in pixels around its centre. For each of ``S`` sub-frame samples over the shutter, it is
rotated, moved to that sample's position and filled at 4× resolution in a patch just big enough for the
whole streak; the patch is averaged over the samples and area-downsampled. The composite is therefore the
time-average of the object over the exposure: the blur's centroid sits at the mean sub-frame position,
which for a shutter centred on the frame time is the object's position at that time (to ``a·T²/24``).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

SS = 4


def regular_polygon(n: int, rx: float, ry: float) -> np.ndarray:
    a = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return np.stack([rx * np.cos(a), ry * np.sin(a)], 1)


def draw_blurred(
    frame: np.ndarray,
    shape_px: np.ndarray,
    centres_px: np.ndarray,
    angles_rad: np.ndarray,
    color_bgr: np.ndarray | tuple[float, float, float],
    *,
    detail_px: np.ndarray | None = None,
    detail_bgr: np.ndarray | tuple[float, float, float] | None = None,
    shading: np.ndarray | None = None,
    opacity: float = 1.0,
    occlusion: np.ndarray | None = None,
) -> float:
    """Composite a motion-blurred polygon onto ``frame`` (in place). Returns the drawn coverage at the mean
    centre (0–1), so callers can tell whether the thing is actually visible.

    ``shape_px`` (M,2) polygon around (0,0); ``centres_px`` (S,2) and ``angles_rad`` (S,) per sub-frame
    sample; ``shading`` (S,) multiplies the colour per sample (tumbling objects flash); ``occlusion`` is an
    (H,W) uint8 coverage of things in front, which masks the object.
    """
    h, w = frame.shape[:2]
    S = len(centres_px)
    c, s = np.cos(angles_rad), np.sin(angles_rad)
    pts = np.empty((S, len(shape_px), 2))
    pts[..., 0] = c[:, None] * shape_px[None, :, 0] - s[:, None] * shape_px[None, :, 1] + centres_px[:, None, 0]
    pts[..., 1] = s[:, None] * shape_px[None, :, 0] + c[:, None] * shape_px[None, :, 1] + centres_px[:, None, 1]
    x0 = max(math.floor(pts[..., 0].min()) - 1, 0)
    y0 = max(math.floor(pts[..., 1].min()) - 1, 0)
    x1 = min(math.ceil(pts[..., 0].max()) + 2, w)
    y1 = min(math.ceil(pts[..., 1].max()) + 2, h)
    if x1 <= x0 or y1 <= y0 or (x1 - x0) * (y1 - y0) > 600 * 600:
        return 0.0
    pw, ph = x1 - x0, y1 - y0
    off = (SS - 1) / 2.0
    weight = shading if shading is not None else np.ones(S)
    count = np.zeros((ph * SS, pw * SS), np.float32)  # exposure coverage
    shaded = np.zeros_like(count)  # coverage weighted by per-sample brightness
    detail = np.zeros_like(count) if detail_px is not None else None
    mask = np.zeros(count.shape, np.uint8)

    def fill(poly: np.ndarray) -> np.ndarray:
        mask[:] = 0
        q = (poly - [x0, y0]) * SS + off
        cv2.fillPoly(mask, [np.round(q * 16).astype(np.int32)], 255, lineType=cv2.LINE_8, shift=4)
        return mask.astype(np.float32)

    for k in range(S):
        m = fill(pts[k])
        count += m
        shaded += m * float(weight[k])
        if detail is not None and detail_px is not None:
            qd = np.empty_like(detail_px)
            qd[:, 0] = c[k] * detail_px[:, 0] - s[k] * detail_px[:, 1] + centres_px[k, 0]
            qd[:, 1] = s[k] * detail_px[:, 0] + c[k] * detail_px[:, 1] + centres_px[k, 1]
            detail += fill(qd) * float(weight[k])

    def down(x: np.ndarray) -> np.ndarray:
        return cv2.resize(x, (pw, ph), interpolation=cv2.INTER_AREA) / (255.0 * S)

    alpha = down(count)
    col = np.asarray(color_bgr, np.float32)
    premul = down(shaded)[..., None] * col
    if detail is not None and detail_bgr is not None:
        premul += down(detail)[..., None] * (np.asarray(detail_bgr, np.float32) - col)
    a = np.clip(alpha * opacity, 0, 1)
    premul *= opacity
    if occlusion is not None:
        vis = 1.0 - occlusion[y0:y1, x0:x1].astype(np.float32) / 255.0
        a *= vis
        premul *= vis[..., None]
    roi = frame[y0:y1, x0:x1]
    roi[:] = np.clip(roi * (1.0 - a[..., None]) + premul, 0, 255).astype(np.uint8)
    cu, cv_ = np.mean(centres_px, axis=0)
    iu, iv = round(cu) - x0, round(cv_) - y0
    if 0 <= iu < pw and 0 <= iv < ph:
        return float(a[iv, iu])
    return 0.0
