"""Zones of a kitchen camera in the stream's pixels: point-in-polygon tests and raster masks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.config import Zone


@dataclass(frozen=True)
class ZoneShape:
    """One zone, scaled to the stream's resolution."""

    name: str
    kind: str
    polygon: np.ndarray
    """(K, 2) float32 pixels in the stream."""
    reference: Path | None = None

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Which of the (N, 2) points lie inside or on the polygon."""
        poly = self.polygon.reshape(-1, 1, 2)
        return np.array([cv2.pointPolygonTest(poly, (float(u), float(v)), False) >= 0
                         for u, v in np.asarray(points, np.float64).reshape(-1, 2)], bool)

    def mask(self, width: int, height: int) -> np.ndarray:
        m = np.zeros((height, width), np.uint8)
        cv2.fillPoly(m, [np.round(self.polygon).astype(np.int32)], 255)
        return m


def scaled_zones(zones: list[Zone], width: int, height: int, config_size: tuple[int, int] | None) -> list[ZoneShape]:
    """The camera file's zones in the stream's pixels.

    Zone polygons are in the camera's full-resolution pixels (``config_size``, when known); a sub-stream of
    another size is scaled to it. Without a known full size the polygons are used as they are.
    """
    sx = sy = 1.0
    if config_size is not None:
        sx, sy = width / config_size[0], height / config_size[1]
    return [ZoneShape(z.name, z.kind, np.asarray(z.polygon, np.float32) * np.array([sx, sy], np.float32), z.reference)
            for z in zones]
