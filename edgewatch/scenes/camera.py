"""The synthetic camera: an OpenCV pinhole with the five-term distortion, posed in the building frame.

Conventions are those of the calibration contract (DESIGN.md): ``X_cam = R(rvec)·X_building + tvec``, camera
x right, y down, z forward; pixel centres at integer coordinates. Projection with distortion uses
``cv2.projectPoints`` itself, so the pixels we draw and the calibration we write agree exactly.

Scenes are drawn in two spaces: the *ideal* image (no distortion; planes map by homographies) and the final
*distorted* image. ``distortion_remap`` gives, for every distorted pixel, where to sample the ideal image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np


@dataclass(frozen=True)
class PinholeCamera:
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    dist: tuple[float, float, float, float, float]
    rvec: tuple[float, float, float]
    tvec: tuple[float, float, float]

    @property
    def K(self) -> np.ndarray:  # noqa: N802 - the usual name of the intrinsic matrix
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def R(self) -> np.ndarray:  # noqa: N802 - the usual name of the rotation
        return cv2.Rodrigues(np.asarray(self.rvec, dtype=np.float64))[0]

    @property
    def t(self) -> np.ndarray:
        return np.asarray(self.tvec, dtype=np.float64)

    @property
    def centre_m(self) -> np.ndarray:
        """Camera centre in the building frame, ``C = -Rᵀ·t``."""
        return -self.R.T @ self.t

    @property
    def has_distortion(self) -> bool:
        return any(abs(d) > 0 for d in self.dist)

    def to_camera(self, xyz: np.ndarray) -> np.ndarray:
        return np.asarray(xyz, dtype=np.float64).reshape(-1, 3) @ self.R.T + self.t

    def project(self, xyz: np.ndarray) -> np.ndarray:
        """Pixel positions (N,2) with distortion, exactly as ``cv2.projectPoints``."""
        pts = np.asarray(xyz, dtype=np.float64).reshape(-1, 1, 3)
        uv, _ = cv2.projectPoints(pts, np.asarray(self.rvec, float), self.t, self.K, np.asarray(self.dist, float))
        return uv.reshape(-1, 2)

    def project_ideal(self, xyz: np.ndarray) -> np.ndarray:
        """Pixel positions (N,2) without distortion (points must lie in front of the camera)."""
        pc = self.to_camera(xyz)
        return np.stack([self.fx * pc[:, 0] / pc[:, 2] + self.cx, self.fy * pc[:, 1] / pc[:, 2] + self.cy], 1)

    def depth(self, xyz: np.ndarray) -> np.ndarray:
        return self.to_camera(xyz)[:, 2]

    def scaled(self, factor: int) -> PinholeCamera:
        """The same camera sampled ``factor`` times finer: ``u' = factor·u + (factor-1)/2`` (pixel centres)."""
        off = (factor - 1) / 2.0
        return replace(
            self,
            width=self.width * factor,
            height=self.height * factor,
            fx=self.fx * factor,
            fy=self.fy * factor,
            cx=self.cx * factor + off,
            cy=self.cy * factor + off,
        )

    def ideal(self, pad_x: int, pad_y: int) -> PinholeCamera:
        """Distortion-free camera with the principal point shifted by a border of ``pad`` pixels."""
        return replace(
            self,
            width=self.width + 2 * pad_x,
            height=self.height + 2 * pad_y,
            cx=self.cx + pad_x,
            cy=self.cy + pad_y,
            dist=(0.0, 0.0, 0.0, 0.0, 0.0),
        )

    def plane_homography(self, origin: np.ndarray, e1: np.ndarray, e2: np.ndarray) -> np.ndarray:
        """Homography from plane coordinates ``(a, b, 1)`` to ideal pixels, for ``X = origin + a·e1 + b·e2``.

        ``H = K·[R·e1 | R·e2 | R·origin + t]`` — the plane-induced homography.
        """
        R = self.R
        M = np.stack([R @ e1, R @ e2, R @ origin + self.t], axis=1)
        return self.K @ M

    def undistort_pixels(self, uv: np.ndarray) -> np.ndarray:
        """Ideal (distortion-free) pixel positions of distorted pixels, by OpenCV's iterative inverse."""
        pts = np.asarray(uv, dtype=np.float64).reshape(-1, 1, 2)
        if not self.has_distortion:
            return pts.reshape(-1, 2).copy()
        crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-12)
        dist = np.asarray(self.dist, float)
        if hasattr(cv2, "undistortPointsIter"):  # OpenCV 4.x spells the iterative version separately
            out = cv2.undistortPointsIter(pts, self.K, dist, None, self.K, crit)
        else:
            out = cv2.undistortPoints(pts, self.K, dist, None, None, self.K, criteria=crit)
        return out.reshape(-1, 2)

    def distortion_remap(self, ideal: PinholeCamera, step: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """``(map_x, map_y)`` float32 for ``cv2.remap``: distorted pixel → pixel of the ``ideal`` camera.

        The inverse distortion is solved exactly on a grid every ``step`` pixels and interpolated between
        (the field is smooth: the interpolation error is far below a hundredth of a pixel).
        """
        gx = np.arange(0, self.width + step, step, dtype=np.float64)
        gy = np.arange(0, self.height + step, step, dtype=np.float64)
        uu, vv = np.meshgrid(gx, gy)
        und = self.undistort_pixels(np.stack([uu.ravel(), vv.ravel()], 1))
        mx = ((und[:, 0] - self.cx) / self.fx * ideal.fx + ideal.cx).reshape(uu.shape)
        my = ((und[:, 1] - self.cy) / self.fy * ideal.fy + ideal.cy).reshape(uu.shape)
        # bilinear interpolation of the grid at fractional node coordinates p/step
        qx = np.broadcast_to((np.arange(self.width, dtype=np.float32) / step)[None, :], (self.height, self.width))
        qy = np.broadcast_to((np.arange(self.height, dtype=np.float32) / step)[:, None], (self.height, self.width))
        qx, qy = np.ascontiguousarray(qx), np.ascontiguousarray(qy)
        fx_ = cv2.remap(mx.astype(np.float32), qx, qy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        fy_ = cv2.remap(my.astype(np.float32), qx, qy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return fx_, fy_

    def local_scale_px_per_m(self, xyz: np.ndarray) -> np.ndarray:
        """Approximate pixels per metre at points (N,3): ``f / depth`` times the local distortion gain."""
        d = np.maximum(self.depth(xyz), 1e-6)
        return 0.5 * (self.fx + self.fy) / d


def look_at_camera(
    position_m: tuple[float, float, float],
    yaw_deg: float,
    pitch_deg: float,
    roll_deg: float,
    width: int,
    height: int,
    hfov_deg: float,
    dist: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0),
) -> PinholeCamera:
    """A camera at ``position_m`` looking at the facade (+y), turned right by ``yaw``, up by ``pitch``,
    rolled clockwise (as seen in the image) by ``roll``."""
    yaw, pitch, roll = (math.radians(a) for a in (yaw_deg, pitch_deg, roll_deg))
    f = np.array([math.sin(yaw) * math.cos(pitch), math.cos(yaw) * math.cos(pitch), math.sin(pitch)])
    r = np.cross(f, [0.0, 0.0, 1.0])
    r /= np.linalg.norm(r)
    d = np.cross(f, r)
    r2 = math.cos(roll) * r + math.sin(roll) * d
    d2 = -math.sin(roll) * r + math.cos(roll) * d
    R = np.stack([r2, d2, f])
    C = np.asarray(position_m, dtype=np.float64)
    tvec = -R @ C
    rvec = cv2.Rodrigues(R)[0].ravel()
    fpx = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    return PinholeCamera(
        width=width,
        height=height,
        fx=fpx,
        fy=fpx,
        cx=(width - 1) / 2.0,
        cy=(height - 1) / 2.0,
        dist=tuple(float(v) for v in dist),  # type: ignore[arg-type]
        rvec=(float(rvec[0]), float(rvec[1]), float(rvec[2])),
        tvec=(float(tvec[0]), float(tvec[1]), float(tvec[2])),
    )


def distortion_is_monotonic(dist: tuple[float, ...], r_image: float) -> bool:
    """True when the radial distortion ``r_d = r·(1 + k1 r² + k2 r⁴ + k3 r⁶)`` keeps increasing until it
    covers the image's (distorted, normalised) radius ``r_image``: every pixel then has a unique ray."""
    k1, k2, _, _, k3 = dist
    r = np.linspace(0.0, 4.0, 4000)
    deriv = 1 + 3 * k1 * r**2 + 5 * k2 * r**4 + 7 * k3 * r**6
    bad = np.nonzero(deriv <= 0.3)[0]
    r_end = r[bad[0]] if len(bad) else r[-1]
    r_d = r_end * (1 + k1 * r_end**2 + k2 * r_end**4 + k3 * r_end**6)
    return bool(r_d >= 1.05 * r_image)
