"""``calibrate intrinsics``: focal length, principal point and distortion from checkerboard photos.

Standard Zhang calibration with OpenCV: ``cv2.findChessboardCorners`` (refined with ``cornerSubPix``) on each
image, then ``cv2.calibrateCamera`` (or ``cv2.fisheye.calibrate``) over all views. ``--board 9x6`` counts
*inner* corners, as OpenCV does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from calibration.camera import FloatArray
from calibration.errors import CalibrationError
from calibration.model import Intrinsics

MIN_VIEWS = 3


@dataclass(frozen=True)
class IntrinsicsFit:
    intrinsics: Intrinsics
    image_size: tuple[int, int]
    rms_px: float
    used: list[str]
    skipped: list[str]


def parse_board(text: str) -> tuple[int, int]:
    """``"9x6"`` -> (9, 6) inner corners."""
    try:
        cols, rows = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise CalibrationError(f"--board: expected inner corners as COLSxROWS, e.g. 9x6, got {text!r}") from None
    if cols < 3 or rows < 3:
        raise CalibrationError(f"--board: a board needs at least 3x3 inner corners, got {text!r}")
    return cols, rows


def board_points(board: tuple[int, int], square_m: float) -> FloatArray:
    """Corner positions on the board plane (z = 0), row by row as OpenCV finds them."""
    cols, rows = board
    grid = np.zeros((rows * cols, 3), np.float64)
    grid[:, :2] = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2) * square_m
    return grid


def calibrate_intrinsics(
    images: Sequence[str | Path],
    board: tuple[int, int],
    square_mm: float,
    *,
    fisheye: bool = False,
    progress: Callable[[str], None] | None = None,
) -> IntrinsicsFit:
    say = progress or (lambda _m: None)
    if square_mm <= 0:
        raise CalibrationError(f"--square-mm: must be positive, got {square_mm}")
    obj = board_points(board, square_mm / 1000.0).astype(np.float32)
    obj_pts: list[np.ndarray] = []
    img_pts: list[np.ndarray] = []
    used: list[str] = []
    skipped: list[str] = []
    size: tuple[int, int] | None = None
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-4)
    for k, path in enumerate(images, 1):
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            raise CalibrationError(f"{path}: cannot read this image (missing file or not an image)")
        this = (gray.shape[1], gray.shape[0])
        if size is None:
            size = this
        elif this != size:
            raise CalibrationError(f"{path}: image is {this[0]}×{this[1]}, the others {size[0]}×{size[1]}")
        found, corners = cv2.findChessboardCorners(
            gray, board, flags=cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
        )
        say(f"[{k}/{len(images)}] {path}: {'board found' if found else 'no board, skipped'}")
        if not found:
            skipped.append(str(path))
            continue
        corners = cv2.cornerSubPix(gray, corners, (5, 5), (-1, -1), criteria)
        obj_pts.append(obj.reshape(-1, 1, 3))
        img_pts.append(corners.reshape(-1, 1, 2).astype(np.float32))
        used.append(str(path))
    if len(used) < MIN_VIEWS or size is None:
        raise CalibrationError(
            f"found the {board[0]}x{board[1]} board in {len(used)} of {len(images)} images, need at least "
            f"{MIN_VIEWS}: check --board (inner corners) and photograph the board at several angles"
        )
    say(f"calibrating from {len(used)} views")
    if fisheye:
        K = np.eye(3)
        D = np.zeros((4, 1))
        flags = cv2.fisheye.CALIB_RECOMPUTE_EXTRINSIC | cv2.fisheye.CALIB_FIX_SKEW
        rms, K, D, _r, _t = cv2.fisheye.calibrate(
            [o.astype(np.float64) for o in obj_pts], [i.astype(np.float64) for i in img_pts], size, K, D, flags=flags
        )
        dist = [float(v) for v in np.ravel(D)[:4]]
        model: Literal["pinhole", "fisheye"] = "fisheye"
    else:
        rms, K, D, _r, _t = cv2.calibrateCamera(obj_pts, img_pts, size, None, None)
        dist = [float(v) for v in np.ravel(D)[:5]]
        model = "pinhole"
    intr = Intrinsics(
        model=model, fx=float(K[0, 0]), fy=float(K[1, 1]), cx=float(K[0, 2]), cy=float(K[1, 2]), dist=dist
    )
    return IntrinsicsFit(intr, size, float(rms), used, skipped)
