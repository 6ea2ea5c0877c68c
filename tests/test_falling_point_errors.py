"""The falling benchmark's point-error tables (benchmarks.point_errors): errors split along and across the motion."""

from __future__ import annotations

import numpy as np

from benchmarks.point_errors import point_arrays, summarise


def record(lag_px: float, across_px: float) -> dict:
    """A straight fall down the image at 100 px/s (4 px a frame), every point ``lag_px`` behind the truth and
    ``across_px`` to its left (−u: the motion is +v, so "across" = −u), in a frame shaken by (1, 0) px."""
    t = np.arange(10) / 25.0
    tv = 100.0 + 100.0 * t
    return {
        "floor": "5", "kind": "box", "size_m": 0.3, "release_t_s": 0.0, "fps": 25.0, "shutter_s": 0.02,
        "pixel_sigma_px": 0.5, "physics_floor": "5", "p_truth": 0.8,
        "points": {
            "t": t.tolist(), "u": (50.0 + 1.0 - across_px + np.zeros(10)).tolist(), "v": (tv - lag_px).tolist(),
            "raw_u": (51.0 + np.zeros(10)).tolist(), "raw_v": tv.tolist(), "area": [16.0] * 10,
            "length": [5.0] * 10, "contrast": [30.0] * 10, "source": ["measured again"] * 10,
            "tu": [50.0] * 10, "tv": tv.tolist(), "shake_u": [1.0] * 10, "shake_v": [0.0] * 10,
            "vu": [0.0] * 10, "vv": [100.0] * 10, "size_px": [6.0] * 10, "visible": [True] * 10,
        },
    }


def test_errors_along_and_across_the_motion_with_the_shake_taken_out() -> None:
    a = point_arrays([record(lag_px=0.8, across_px=0.3)])
    assert np.allclose(a["e_along"], -0.8) and np.allclose(a["e_across"], 0.3)
    assert np.allclose(a["lag_ms"], 8.0)  # 0.8 px behind at 100 px/s
    assert np.allclose(a["speed_px_frame"], 4.0) and np.allclose(a["step_over_size"], 4.0 / 6.0)


def test_summary_sets_the_raw_blob_beside_its_measured_again_centre() -> None:
    s = summarise([record(lag_px=0.8, across_px=0.0)])
    again, raw = s["measured_again"]
    assert again["along_median"] == -0.8 and raw["along_median"] == 0.0
    assert s["storey"]["detected_points"] == {"n": 1, "exact": 1.0, "log_score": round(float(np.log(0.8)), 3)}
    # A constant offset has no third difference: the back-projection's noise estimator does not see it.
    (track,) = s["per_track"]
    assert track["rms_per_axis_px"] > 0.5 and track["third_difference_sigma_px"] < 0.01
