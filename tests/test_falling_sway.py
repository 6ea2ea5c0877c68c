"""The camera's sway: measured per frame against a reference, and taken out of the metric fit's points."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from test_falling_detector import FPS, H, W, _track, background

from edge.falling.sway import CameraSway, SwayParams


def sway_px(t: float) -> tuple[float, float]:
    """A slow wander and a faster shake, a few pixels, as wind moves a camera on a pole."""
    return 1.2 * np.sin(2 * np.pi * 0.7 * t) + 0.6 * np.sin(2 * np.pi * 6.0 * t + 1.0), \
        0.9 * np.cos(2 * np.pi * 1.1 * t) + 0.5 * np.sin(2 * np.pi * 8.0 * t)


def test_sway_is_measured_against_the_camera_at_rest() -> None:
    """Every frame the picture moves by ``sway_px(t)`` (sub-pixel, bilinear, with sensor noise); the
    estimate is the displacement from the rest position, the mean over time, within 0.05 px RMS."""
    rng = np.random.default_rng(3)
    bg = cv2.GaussianBlur(background(0), (0, 0), 0.8)
    sway = CameraSway((0, 0, W, H), SwayParams(start_frames=1, rest_time_s=100.0))
    still = np.ones((H // 4, W // 4), bool)
    t = np.arange(250) / FPS
    truth = np.array([sway_px(ti) for ti in t])
    for ti, (dx, dy) in zip(t, truth, strict=True):
        img = cv2.warpAffine(bg, np.float32([[1, 0, dx], [0, 1, dy]]), (W, H), borderMode=cv2.BORDER_REFLECT)
        img = np.clip(img + rng.normal(0, 2.0, img.shape), 0, 255).astype(np.uint8)
        sway.process(float(ti), img, lambda: still, tracking=True)
    measured = sway.offsets(t)
    expected = truth - truth.mean(axis=0)
    err = measured[25:] - expected[25:]
    assert np.sqrt(np.mean(err ** 2)) < 0.05
    assert np.abs(err).max() < 0.15


def test_a_camera_that_stands_still_has_no_offsets() -> None:
    rng = np.random.default_rng(4)
    bg = background(1)
    sway = CameraSway((0, 0, W, H), SwayParams(start_frames=1))
    still = np.ones((H // 4, W // 4), bool)
    t = np.arange(60) / FPS
    for ti in t:
        sway.process(float(ti), np.clip(bg + rng.normal(0, 2.0, bg.shape), 0, 255).astype(np.uint8),
                     lambda: still, tracking=False)
    assert sway.measuring
    assert np.abs(sway.offsets(t)).max() < 0.05


def test_the_metric_fit_takes_the_camera_sway_out() -> None:
    """A calibrated fall seen by a swaying camera: the points carry the sway, the metric fit given the offsets
    fits the fall as the calibrated camera at rest would see it."""
    from calibration import load_calibration
    from calibration.ballistics import positions_at
    from edge.falling.validate import ValidationParams, validate_track

    cal = load_calibration(Path(__file__).resolve().parents[1] / "calibration/examples/caima-b3-east.yaml")
    t = 0.3 + np.arange(25) / 25.0
    uv = cal.project(positions_at(np.array([[6.0, -1.0, 34.2, 0.0, -1.0, 0.5]]), np.array([0.0]), t,
                                  max_step_s=0.002)[0])
    offsets = 2.0 * np.array([sway_px(ti) for ti in t])
    seen = uv + offsets
    track = _track(t, seen[:, 0], seen[:, 1], area=9.0)

    def camera_offsets(times: np.ndarray) -> np.ndarray:
        return np.array([2.0 * np.array(sway_px(ti)) for ti in times])

    shaken = validate_track(track, ValidationParams(), cal)
    at_rest = validate_track(track, ValidationParams(), cal, camera_offsets=camera_offsets)
    assert at_rest.release is not None and at_rest.release.rms_px < 0.1
    assert shaken.release is None or shaken.release.rms_px > 5 * at_rest.release.rms_px
