"""The camera model: building frame -> camera frame -> distorted pixels, and back to rays.

OpenCV conventions throughout. A building point ``X`` (metres) maps to the camera frame as
``X_cam = R(rvec) · X + tvec``; the camera looks along its +Z axis, +X is image right, +Y image down. The
normalised image point is ``(a, b) = (X_cam/Z_cam, Y_cam/Z_cam)`` and the pixel is ``u = fx·a' + cx``,
``v = fy·b' + cy`` where ``(a', b')`` is ``(a, b)`` after lens distortion:

* pinhole (Brown–Conrady, ``dist = k1 k2 p1 p2 [k3 [k4 k5 k6]]``), with ``r² = a² + b²``::

      a' = a·(1 + k1 r² + k2 r⁴ + k3 r⁶)/(1 + k4 r² + k5 r⁴ + k6 r⁶) + 2 p1 a b + p2 (r² + 2 a²)
      b' = b·(1 + k1 r² + k2 r⁴ + k3 r⁶)/(1 + k4 r² + k5 r⁴ + k6 r⁶) + p1 (r² + 2 b²) + 2 p2 a b

* fisheye (equidistant, ``dist = k1 k2 k3 k4``, as ``cv2.fisheye``), with ``θ = atan(r)``::

      θd = θ (1 + k1 θ² + k2 θ⁴ + k3 θ⁶ + k4 θ⁸);   (a', b') = (θd / r) · (a, b)

Projection is our own vectorised numpy (it runs inside the trajectory fit, thousands of times a second, and is
tested against ``cv2.projectPoints``); un-projection uses OpenCV's iterative undistortion.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
LensModel = Literal["pinhole", "fisheye"]

_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)


def rotation_matrix(rvec: FloatArray) -> FloatArray:
    """Rodrigues vector (axis · angle, radians) -> 3×3 rotation matrix."""
    R, _ = cv2.Rodrigues(np.asarray(rvec, dtype=np.float64).reshape(3, 1))
    return np.asarray(R, dtype=np.float64)


def rotation_vector(R: FloatArray) -> FloatArray:
    """3×3 rotation matrix -> Rodrigues vector."""
    rvec, _ = cv2.Rodrigues(np.asarray(R, dtype=np.float64))
    return np.asarray(rvec, dtype=np.float64).reshape(3)


def distort_normalized(ab: FloatArray, model: LensModel, dist: FloatArray) -> FloatArray:
    """Apply lens distortion to normalised image points ``(N, 2)`` (see the module docstring)."""
    a = ab[..., 0]
    b = ab[..., 1]
    r2 = a * a + b * b
    if model == "fisheye":
        k1, k2, k3, k4 = (float(c) for c in dist[:4])
        r = np.sqrt(r2)
        theta = np.arctan(r)
        t2 = theta * theta
        theta_d = theta * (1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.where(r > 1e-12, theta_d / np.where(r > 1e-12, r, 1.0), 1.0)
        return np.stack([a * scale, b * scale], axis=-1)
    d = np.zeros(8)
    d[: min(8, len(dist))] = dist[:8]
    k1, k2, p1, p2, k3, k4, k5, k6 = d
    radial = (1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1.0 + r2 * (k4 + r2 * (k5 + r2 * k6)))
    ad = a * radial + 2.0 * p1 * a * b + p2 * (r2 + 2.0 * a * a)
    bd = b * radial + p1 * (r2 + 2.0 * b * b) + 2.0 * p2 * a * b
    return np.stack([ad, bd], axis=-1)


@dataclass(frozen=True)
class Camera:
    """One calibrated camera as plain arrays: the fast path behind :class:`FacadeCalibration`.

    ``R`` and ``t`` map building to camera coordinates (``X_cam = R·X + t``).
    """

    R: FloatArray
    t: FloatArray
    fx: float
    fy: float
    cx: float
    cy: float
    model: LensModel = "pinhole"
    dist: FloatArray = field(default_factory=lambda: np.zeros(5))

    @classmethod
    def from_vectors(
        cls,
        rvec: FloatArray,
        tvec: FloatArray,
        fx: float,
        fy: float,
        cx: float,
        cy: float,
        model: LensModel = "pinhole",
        dist: FloatArray | None = None,
    ) -> Camera:
        d = np.zeros(5 if model == "pinhole" else 4) if dist is None else np.asarray(dist, dtype=np.float64)
        return cls(rotation_matrix(rvec), np.asarray(tvec, dtype=np.float64).reshape(3), fx, fy, cx, cy, model, d)

    @property
    def K(self) -> FloatArray:  # noqa: N802 - the matrix's name in every textbook
        """The 3×3 intrinsic matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def rvec(self) -> FloatArray:
        return rotation_vector(self.R)

    @property
    def center(self) -> FloatArray:
        """Camera centre in the building frame, ``C = −Rᵀ t``."""
        return np.asarray(-self.R.T @ self.t, dtype=np.float64)

    def with_pose(self, R: FloatArray, t: FloatArray) -> Camera:
        return replace(self, R=np.asarray(R, dtype=np.float64), t=np.asarray(t, dtype=np.float64))

    def with_focal_scale(self, scale: float) -> Camera:
        return replace(self, fx=self.fx * scale, fy=self.fy * scale)

    def to_camera(self, xyz: FloatArray) -> FloatArray:
        """Building points ``(..., 3)`` -> camera-frame points ``(..., 3)``."""
        return np.asarray(xyz, dtype=np.float64) @ self.R.T + self.t

    def project_camera_points(self, xc: FloatArray) -> FloatArray:
        """Camera-frame points ``(..., 3)`` -> pixels ``(..., 2)``; NaN for points not in front of the camera."""
        z = xc[..., 2]
        in_front = z > 1e-9
        zs = np.where(in_front, z, 1.0)
        ab = np.stack([xc[..., 0] / zs, xc[..., 1] / zs], axis=-1)
        abd = distort_normalized(ab, self.model, self.dist)
        uv = np.stack([self.fx * abd[..., 0] + self.cx, self.fy * abd[..., 1] + self.cy], axis=-1)
        uv[~in_front] = np.nan
        return uv

    def project(self, xyz: FloatArray) -> FloatArray:
        """Building points ``(..., 3)`` -> pixels ``(..., 2)``, with lens distortion; NaN behind the camera."""
        return self.project_camera_points(self.to_camera(xyz))

    def undistort(self, uv: FloatArray) -> FloatArray:
        """Pixels ``(N, 2)`` -> normalised, undistorted image points ``(N, 2)`` (``X_cam/Z_cam, Y_cam/Z_cam``)."""
        src = np.asarray(uv, dtype=np.float64).reshape(-1, 1, 2)
        if len(src) == 0:
            return np.zeros((0, 2))
        if self.model == "fisheye":
            out = cv2.fisheye.undistortPoints(src, self.K, self.dist.reshape(4, 1), criteria=_UNDISTORT_CRITERIA)
        else:
            out = cv2.undistortPoints(src, self.K, self.dist.reshape(-1, 1), criteria=_UNDISTORT_CRITERIA)
        return np.asarray(out, dtype=np.float64).reshape(-1, 2)

    def rays(self, uv: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Pixels ``(N, 2)`` -> (camera centre ``(3,)``, unit ray directions ``(N, 3)``), building frame."""
        ab = self.undistort(uv)
        d_cam = np.column_stack([ab, np.ones(len(ab))])
        d = d_cam @ self.R  # = (Rᵀ d_cam) for each row
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        return self.center, d
