"""The ceiling camera of a synthetic kitchen: a pinhole looking down into the room from a high corner.

World frame (metres): the floor is z = 0, the room spans x ∈ [0, W], y ∈ [0, D], z up; the camera hangs near the
corner (0, 0). OpenCV conventions: ``X_cam = R · (X_world − C)`` with R = :attr:`CeilingCamera.rotation`,
``[u, v, 1]ᵀ ∝ K · X_cam``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class CeilingCamera:
    """Camera centre ``(x_m, y_m, z_m)``, viewing direction ``yaw_deg`` (from +x towards +y) and ``pitch_deg``
    (below horizontal), horizontal field of view ``hfov_deg``, image ``width`` × ``height``."""

    x_m: float
    y_m: float
    z_m: float
    yaw_deg: float
    pitch_deg: float
    hfov_deg: float
    width: int
    height: int

    @cached_property
    def centre(self) -> np.ndarray:
        return np.array([self.x_m, self.y_m, self.z_m])

    @cached_property
    def focal_px(self) -> float:
        """f = (W / 2) / tan(hfov / 2)."""
        return self.width / 2.0 / math.tan(math.radians(self.hfov_deg) / 2.0)

    @property
    def intrinsic_matrix(self) -> np.ndarray:
        f = self.focal_px
        return np.array([[f, 0.0, self.width / 2.0], [0.0, f, self.height / 2.0], [0.0, 0.0, 1.0]])

    @cached_property
    def rotation(self) -> np.ndarray:
        """Rows are the camera's right, down and forward axes in world coordinates."""
        yaw, pitch = math.radians(self.yaw_deg), math.radians(self.pitch_deg)
        forward = np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw), -math.sin(pitch)])
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        return np.stack([right, down, forward])

    def to_camera(self, pts_world: np.ndarray) -> np.ndarray:
        """N×3 world points → N×3 camera-frame points."""
        return (np.asarray(pts_world, float) - self.centre) @ self.rotation.T

    def project(self, pts_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """N×3 world points → (N×2 pixel coordinates, N depths along the optical axis in metres).

        Points behind the camera get a depth ≤ 0; their pixel coordinates are meaningless.
        """
        pc = self.to_camera(pts_world)
        z = pc[:, 2]
        zs = np.where(z > 1e-6, z, 1e-6)
        f = self.focal_px
        uv = np.stack([f * pc[:, 0] / zs + self.width / 2.0, f * pc[:, 1] / zs + self.height / 2.0], axis=1)
        return uv, z

    def rays(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """World-frame ray directions (…×3, not normalised) through pixel coordinates ``u``, ``v``."""
        f = self.focal_px
        d_cam = np.stack([(u - self.width / 2.0) / f, (v - self.height / 2.0) / f, np.ones_like(u)], axis=-1)
        return d_cam @ self.rotation

    def opencv_extrinsics(self) -> dict[str, list[float]]:
        """``rvec``/``tvec`` with ``X_cam = R(rvec) · X_world + tvec``, as in the calibration file."""
        import cv2

        rot = self.rotation
        rvec, _ = cv2.Rodrigues(rot)
        tvec = -rot @ self.centre
        return {"rvec": [round(float(x), 6) for x in rvec.ravel()], "tvec": [round(float(x), 6) for x in tvec]}
