"""Letterboxing: fit an image into the model's input without distortion, and map boxes back.

An image of ``w × h`` is scaled by ``r = min(W / w, H / h)`` to ``round(w r) × round(h r)`` and centred on a
``W × H`` canvas of grey 114 (what Ultralytics trains with), ``left = (W - round(w r)) // 2`` and
``top = (H - round(h r)) // 2``. A point of the input maps back to the image as ``x = (x_in - left) / r``,
``y = (y_in - top) / r``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class Letterbox:
    """How one image was placed in the model's input: scale ``r`` and offsets ``left``, ``top`` in input pixels."""

    scale: float
    left: int
    top: int
    image_size: tuple[int, int]  # (width, height) of the original image
    resized_size: tuple[int, int]  # (width, height) of the scaled image inside the input

    def boxes_to_image(self, boxes: np.ndarray) -> np.ndarray:
        """Map (N, 4) ``xyxy`` boxes from input pixels to the original image's pixels, clipped to the image."""
        out = np.empty_like(boxes, dtype=np.float32)
        out[:, [0, 2]] = (boxes[:, [0, 2]] - self.left) / self.scale
        out[:, [1, 3]] = (boxes[:, [1, 3]] - self.top) / self.scale
        w, h = self.image_size
        out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, w)
        out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, h)
        return out


def fit(image_size: tuple[int, int], input_size: tuple[int, int]) -> Letterbox:
    """Where an image of ``image_size`` (w, h) goes in an input of ``input_size`` (W, H)."""
    w, h = image_size
    W, H = input_size
    if w < 1 or h < 1:
        raise ValueError(f"empty image {w}x{h}")
    r = min(W / w, H / h)
    nw, nh = min(W, round(w * r)), min(H, round(h * r))
    return Letterbox(r, (W - nw) // 2, (H - nh) // 2, (w, h), (nw, nh))


def letterbox(image: np.ndarray, input_size: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """The image (H×W×3 uint8) scaled and padded into ``input_size`` (W, H), and where it went."""
    h, w = image.shape[:2]
    lb = fit((w, h), input_size)
    W, H = input_size
    nw, nh = lb.resized_size
    canvas = np.full((H, W, 3), PAD_VALUE, np.uint8)
    resized = image if (nw, nh) == (w, h) else cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    canvas[lb.top:lb.top + nh, lb.left:lb.left + nw] = resized
    return canvas, lb


def to_blob(images_bgr: list[np.ndarray]) -> np.ndarray:
    """Letterboxed BGR uint8 images to the model's input: float32 (B, 3, H, W) RGB in [0, 1]."""
    batch = np.stack(images_bgr)[..., ::-1]  # BGR -> RGB
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)
