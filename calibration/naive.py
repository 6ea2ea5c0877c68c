"""The baseline: the first detection's pixel ray met with the facade plane ``y = 0``.

This is what one does without the physics: take the first frame the object was seen in and assume it was on
the wall. It is biased upwards when the object is in front of the facade (a camera below looks up along the
ray, which meets the wall higher than the object), and downwards by however far the object fell before it was
first detected. Kept for comparison in benchmarks and as a fallback with no usable track.
"""

from __future__ import annotations

import math

import numpy as np

from calibration.backproject import ReleaseEstimate, _clean_track
from calibration.camera import FloatArray
from calibration.model import FacadeCalibration


def naive_release(cal: FacadeCalibration, t_s: FloatArray, uv: FloatArray) -> ReleaseEstimate | None:
    """Intersect the first detection's ray with the facade plane; None with no detection or a ray away from it."""
    t_arr, uv_arr = _clean_track(t_s, uv)
    if len(t_arr) == 0:
        return None
    center, d = cal.rays(uv_arr[:1])
    if d[0, 1] <= 1e-9:  # the ray never reaches the facade (points along or away from it)
        return None
    s = -center[1] / d[0, 1]
    x, y, z = (float(c) for c in center + s * d[0])
    floor = cal.floor_at(z)
    return ReleaseEstimate(
        floor=floor,
        column=cal.column_at(x),
        x=x,
        y=y,
        z=z,
        t_release_s=float(t_arr[0]),
        floor_probabilities={floor: 1.0} if floor is not None else {},
        rms_px=math.nan,
        velocity0=(math.nan, math.nan, math.nan),
        drag_per_m=math.nan,
        n_points=len(t_arr),
        method="naive-facade-plane",
        z_std_m=math.nan,
        extras={"first_ray_length_m": round(float(s), 2), "all_rays_hit": bool(np.all(d[:, 1] > 0))},
    )
