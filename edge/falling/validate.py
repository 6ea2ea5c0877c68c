"""Is this track an object falling under gravity? Physics tests that reject birds, leaves, rain and insects.

Two tiers:

1. **Image-space tests** (always): enough points over enough time and travel; a smooth constant-acceleration
   path (``p(t) = p0 + v0·t + ½·a·t²`` fits within a few pixels: flutter, flapping and erratic flight do not);
   moving *down* (along the image direction of the vertical, which with a calibration is the direction toward
   the vertical vanishing point, and image +v without one); accelerating downwards, measured as the ratio
   ``a·T / v̄`` of the speed gained over the track to its mean speed — free fall seen from ``t1`` to ``t2`` after
   release gives ``(t2−t1) / ((t1+t2)/2)``, a leaf or paper at terminal velocity gives ≈ 0.
2. **Metric test** (with a calibration): gravity gives metric scale, so a 3-D ballistic path with g = 9.81 m/s²
   must reproduce the pixel track (reprojection RMS within a few pixels), start in front of the facade within
   the building's extent, and need no more drag than a thrown object has (terminal velocity above ~8 m/s).
   A bird gliding down or a leaf drifting cannot satisfy all three. A short track says little about its flight,
   so its fit must also stay near what is assumed of releases (``max_prior_cost``): clutter that passes the
   rest is made "ballistic" only by a strong wind, a release at the prior's edge or a large calibration error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from edge.falling.tracker import Track

if TYPE_CHECKING:
    from calibration import FacadeCalibration
    from calibration.backproject import ReleaseEstimate

GRAVITY_MPS2 = 9.81
UNLIKELY_FLIGHT = "unlikely flight for a short track"
"""The start of the reason of a track rejected by ``ValidationParams.max_prior_cost``."""


@dataclass(frozen=True)
class ValidationParams:
    min_points: int = 10
    """Consistent detections a fall needs. The metric fit has 14 parameters (flight, drag, wind, calibration
    error); 9 points gave it 18 coordinates, and the fresh sets' false alarms were mostly 9-point tracks of paper,
    a leaf, a shadow edge (10: seeds 3000/4000/5000 12 -> 7 false alarms, 470 -> 468 throws, 2026-12-07)."""
    min_duration_s: float = 0.24
    min_travel_px: float = 14.0
    min_fill: float = 0.35
    min_fill_short: float = 0.6
    short_track_points: int = 12
    """A short track must be dense: a few blobs picked out of a second of birds and leaves are not evidence."""
    hidden_gap_s: float = 0.5
    """A gap between two points longer than this (the tracker's longest coast) is time the object was hidden,
    left out of the fill: only pieces of a fall joined across an occluder or an ignore area have one."""
    accel_test_points: int = 20
    """With a calibration, tracks shorter than this must also move down and accelerate in the image (little
    metric evidence: paper drifting at 3 m/s across the view fits a "throw"); longer ones are left to the
    metric fit (a stone thrown 2.5 m/s towards a camera that looks up rose in the image for 24 points,
    ``falling_6000_085``, and its fit named the storey)."""
    """Detections per frame interval over the track's span (gaps from occlusion are fine, sparse chains of
    unrelated blobs are not)."""
    max_rms_px: float = 1.8
    """Constant-acceleration fit residual, plus ``rms_per_px_travel`` × travel for long fast tracks."""
    rms_per_px_travel: float = 0.01
    rms_per_blob_px: float = 0.15
    """…plus this fraction of the blob size (√area): a 20-px box near the camera wobbles by pixels."""
    max_angle_from_down_deg: float = 40.0
    max_angle_from_down_calibrated_deg: float = 60.0
    """With a calibration, for tracks under ``accel_test_points``: the metric fit judges the path; an object
    thrown towards a camera that looks up moves sideways or even up in the image at first."""
    min_inlier_fraction: float = 0.7
    min_accel_ratio: float = 0.12
    """a·T/v̄ along the down direction (see module docstring)."""
    max_size_change: float = 30.0
    """90th/10th percentile of blob area about its trend in time (``_size_spread``). Objects grow steadily as
    they fall towards the camera and flash as they tumble, so only wild changes (an insect crossing the lens)
    count."""
    # metric tier
    max_backprojection_rms_px: float = 2.5
    facade_margin_m: float = 3.0
    max_outward_m: float = 4.0
    max_release_speed_mps: float = 4.0
    """Horizontal (and |vertical|) speed at release; hand throws and drops are below (paper blown sideways was
    fitted as a 4.6 m/s throw)."""
    point_sigma_px: float = 0.7
    """Least per-axis pixel error the metric fit assumes for a track's points (``ReleasePrior.pixel_sigma_px``,
    whose default, 0.5 px, suits exact tracks). Measured against the truth (``falling_bench --point-errors``,
    docs/falling.md): RMS 0.70 px per axis per track (median), while the fit's own estimate from third
    differences sees only the white part of that, 0.34 px: the detector's error is correlated along a track."""
    max_prior_cost: float = 6.0
    prior_test_points: int = 30
    """A track shorter than ``prior_test_points`` whose metric fit stretches the release prior by more than
    ``max_prior_cost`` (½ Σ r² of the prior's whitened terms at the best flight: outward distance, hand speed,
    drag, wind, the calibration's declared error) is not a fall. A short track says little about its flight,
    so a fall's fit stays near what is assumed (on seeds 4000 and 5000, 124 thrown objects' tracks under 30
    points: median 0.5, 99th percentile 3.6, most 5.6); a bird or a sheet of paper is made "ballistic" only by
    a wind of 5–8 m/s, a release at the prior's outer edge, or a calibration error of several σ (four of six
    such clutter objects: costs 6.8–46). A long track pins its flight down, and may need what the prior finds
    unusual (a calibration off by 2.6σ: cost 8.5), so it is not held to this. On a fresh set (seed 6000) the
    test rejected 73 validations, none of them of a thrown object (docs/benchmarks.md "likely-flight")."""
    max_drag_per_m: float = GRAVITY_MPS2 / 8.0**2
    """Quadratic drag k (1/m) in dv/dt = g − k·|v − w|·(v − w); terminal speed √(g/k) = 8 m/s at this bound.
    Leaves and paper fall at 1–2 m/s; with wind in the fit, a light object carried sideways is an easy
    explanation for many distractors, so the bound must stay well above them."""


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str
    confidence: float
    rms_px: float
    accel_ratio: float
    release: ReleaseEstimate | None = None
    keep: np.ndarray | None = None
    """Track points used (stray blobs removed), when the track got that far."""


def fit_quadratic(t: np.ndarray, uv: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares ``uv(t) = c0 + c1·τ + c2·τ²`` with τ = t − t̄; returns (coef 3×2, RMS residual in px)."""
    tau = t - t.mean()
    A = np.vander(tau, 3)  # columns τ², τ, 1
    coef, *_ = np.linalg.lstsq(A, uv, rcond=None)
    resid = uv - A @ coef
    rms = float(np.sqrt((resid**2).sum(axis=1).mean()))
    return coef, rms


def local_smoothness_rms(t: np.ndarray, uv: np.ndarray, window: int = 9) -> float:
    """RMS residual of constant-acceleration fits over sliding windows of ``window`` points.

    A fall seen in perspective is not one parabola in the image (it speeds up as it nears the camera), but over
    a third of a second it is; flutter, flapping and erratic flight are not, even over that span.
    """
    n = len(t)
    if n <= window:
        return fit_quadratic(t, uv)[1]
    sq = []
    for start in range(0, n - window + 1, max(1, window // 3)):
        sl = slice(start, start + window)
        sq.append(fit_quadratic(t[sl], uv[sl])[1] ** 2)
    return float(np.sqrt(np.mean(sq)))


def image_down_direction(cal: FacadeCalibration | None, u: float, v: float, scale: float) -> np.ndarray:
    """Unit image direction in which a vertically falling object moves at pixel (u, v).

    With a calibration: project a point on the pixel's ray and the same point 0.1 m lower; the direction is
    the same at any depth (it points along the line to the vertical vanishing point).
    """
    if cal is None:
        return np.array([0.0, 1.0])
    origin, dirs = cal.rays(np.array([[u / scale, v / scale]]))
    p = origin + 20.0 * dirs[0]
    uv = cal.project(np.vstack([p, p - np.array([0.0, 0.0, 0.1])]))
    d = uv[1] - uv[0]
    n = float(np.hypot(*d))
    return d / n if n > 0 else np.array([0.0, 1.0])


def outlier_mask(t: np.ndarray, uv: np.ndarray, half_window: int = 4, floor_px: float = 3.0,
                 slide_ends: bool = False) -> np.ndarray:
    """Inliers of a track: points that their neighbours' constant-acceleration fit predicts.

    Each point is predicted from up to ``half_window`` points on either side (itself left out); a point off by
    more than ``max(floor_px, 3·median)`` pixels is a stray blob the tracker picked up while the object
    flickered (rain, a shaking edge). Two passes, so one bad point does not spoil its neighbours' verdicts.

    Near an end a point has neighbours on one side only, so its prediction is an extrapolation: a straight line
    through up to ``half_window`` points. With ``slide_ends`` the window slides inwards instead, keeping its
    size, so an end point is predicted by a constant-acceleration fit of as many points as an interior one (an
    object near the camera curves and speeds up, and leaves the straight line by several pixels at its ends).
    That prediction is still an extrapolation, whose error grows with its leverage ``h = x₀ᵀ(XᵀX)⁻¹x₀`` (a
    new point's prediction error has variance ``σ²·(1 + h)``: h ≈ 0.3 for a point between four neighbours on
    each side, ≈ 2 for one a step beyond eight): each residual is divided by ``√((1 + h)/(1 + h̃))``, h̃ the
    track's median, so an end point is held to the same tolerance in units of its own prediction error.
    """
    keep = np.ones(len(t), bool)
    # Fast objects are blurred streaks whose centroid wobbles more: scale the tolerance with the step length.
    steps = np.hypot(*np.diff(uv, axis=0).T) if len(t) > 1 else np.zeros(1)
    floor_px = max(floor_px, 0.25 * float(np.median(steps)))
    for _ in range(2):
        idx = np.nonzero(keep)[0]
        if idx.size < 6:
            return keep
        tk, uvk = t[idx], uv[idx]
        resid = np.zeros(idx.size)
        leverage = np.zeros(idx.size)
        for j in range(idx.size):
            lo, hi = max(0, j - half_window), min(idx.size, j + half_window + 1)
            if slide_ends:
                lo = max(0, min(lo, idx.size - 2 * half_window - 1))
                hi = min(idx.size, lo + 2 * half_window + 1)
            nb = [k for k in range(lo, hi) if k != j]
            tau = tk[nb] - tk[j]
            deg = 2 if len(nb) >= 5 else 1
            design = np.vander(tau, deg + 1)
            coef, *_ = np.linalg.lstsq(design, uvk[nb], rcond=None)
            resid[j] = float(np.hypot(*(uvk[j] - coef[-1])))
            if slide_ends:  # x₀ = (0, …, 0, 1) at τ = 0: h is the last diagonal entry of (XᵀX)⁻¹
                leverage[j] = float(np.linalg.pinv(design.T @ design)[-1, -1])
        if slide_ends:
            resid /= np.sqrt((1.0 + leverage) / (1.0 + float(np.median(leverage))))
        bad = resid > max(floor_px, 3.0 * float(np.median(resid)))
        if not bad.any():
            break
        keep[idx[bad]] = False
    return keep


def _sized_areas(t: np.ndarray, uv: np.ndarray, area: np.ndarray, contrast: np.ndarray,
                 frame_interval_s: float) -> tuple[np.ndarray, np.ndarray]:
    """The blob areas that measure the object's size, and their times: where it moved at least half its size in
    a frame, and where its blob was the whole object rather than a faint scrap of it.

    Frame differencing sees only the part of a slow object that moved (near a throw's apex a 15-px bottle
    leaves a blob of a few pixels), so those areas say more about its speed than its size. And where the object
    flickered the tracker may take a scrap of it or a noise blob on its path: one or two pixels just over the
    threshold, whose contrast is a fraction of the object's (a storey-31 flower pot in rain, ``falling_4000_162``:
    blobs of 16–152 px² at contrast 11–47, and three of 1–2 px² at 7–10 that made its sizes "vary 2–110 px").
    A point whose contrast is under half the track's median says nothing of the size either.
    """
    if area.size < 3:
        return t, area
    step = np.hypot(*np.gradient(uv, t, axis=0).T) * frame_interval_s
    moved = step >= 0.5 * np.sqrt(np.percentile(area, 75))  # the size: a large blob of the track, not its own
    if moved.sum() >= 5:
        t, area, contrast = t[moved], area[moved], contrast[moved]
    whole = contrast >= 0.5 * float(np.median(contrast))
    return (t[whole], area[whole]) if whole.sum() >= 5 else (t, area)


def _size_spread(t: np.ndarray, area: np.ndarray) -> float:
    """How much the blob areas vary about their trend over time: the 90th over the 10th percentile of
    ``area / trend``, the trend a least-squares line in (time, log area) (areas under 1 px² count as 1).

    An object that falls towards the camera grows steadily (a phone from storey 31 seen from the street: blobs
    of 1–2 px² far up, 117 px² near the ground, ``falling_6000_096``), and one that tumbles flashes by a few
    times about that; an insect crossing the lens jumps. The plain spread of the areas took the growth for the
    jumping.
    """
    log_a = np.log(np.maximum(area, 1.0))
    if log_a.size < 3:
        return float(math.exp(np.ptp(log_a))) if log_a.size else 1.0
    tau = t - t.mean()
    slope, icpt = np.polyfit(tau, log_a, 1)
    resid = log_a - (icpt + slope * tau)
    r10, r90 = np.percentile(resid, [10, 90])
    return float(math.exp(r90 - r10))


def validate_track(
    track: Track,
    params: ValidationParams,
    cal: FacadeCalibration | None = None,
    scale: float = 1.0,
    frame_interval_s: float = 0.04,
) -> Verdict:
    """Decide whether a closed track is a falling object; ``scale`` = frame width / calibration width.

    The verdict's ``keep`` marks the track points that were used (stray blobs removed).
    """
    n_all = len(track)
    if n_all < params.min_points:
        return Verdict(False, f"only {n_all} points", 0.0, math.nan, math.nan)
    t_all, uv_all = track.arrays()
    blob_px = float(np.sqrt(np.median(track.area)))  # typical blob size: its centroid wobbles by a fraction of it
    floor_px = max(3.0, 0.3 * blob_px)
    keep = outlier_mask(t_all, uv_all, floor_px=floor_px)
    if keep.sum() < max(params.min_points, params.min_inlier_fraction * n_all):
        # Too few points left: were its ends taken for strays because a straight line predicted them? The plain
        # test stays first, as the points it keeps give the better release estimate (docs/falling.md).
        ends = outlier_mask(t_all, uv_all, floor_px=floor_px, slide_ends=True)
        keep = ends if ends.sum() > keep.sum() else keep
    t, uv = t_all[keep], uv_all[keep]
    n = int(keep.sum())
    if n < params.min_points or n < params.min_inlier_fraction * n_all:
        return Verdict(False, f"only {n} of {n_all} points consistent", 0.0, math.nan, math.nan)
    duration = float(t[-1] - t[0])
    if duration < params.min_duration_s:
        return Verdict(False, f"lasted {duration:.2f} s", 0.0, math.nan, math.nan)
    # A gap longer than any the tracker bridges comes from joining pieces of a fall across a stretch where the
    # object was hidden (an ignore area, an occluder, too faint): that is not frames in which it was missed.
    dts = np.diff(t)
    hidden = dts > params.hidden_gap_s
    fill = (n - 1 - int(hidden.sum())) * frame_interval_s / max(duration - float(dts[hidden].sum()), frame_interval_s)
    if fill < (params.min_fill if n >= params.short_track_points else params.min_fill_short):
        return Verdict(False, f"sparse: {fill:.2f} detections per frame", 0.0, math.nan, math.nan)
    travel = float(np.hypot(*(uv[-1] - uv[0])))
    if travel < params.min_travel_px:
        return Verdict(False, f"travelled {travel:.1f} px", 0.0, math.nan, math.nan)
    sized_t, sized = _sized_areas(t, uv, np.asarray(track.area)[keep], np.asarray(track.contrast)[keep],
                                  frame_interval_s)
    spread = _size_spread(sized_t, sized)
    if spread > params.max_size_change:
        a10, a90 = np.percentile(sized, [10, 90])
        return Verdict(False, f"blob size varies {a10:.0f}–{a90:.0f} px ({spread:.0f}× about its trend)", 0.0,
                       math.nan, math.nan)

    coef, _ = fit_quadratic(t, uv)
    rms = local_smoothness_rms(t, uv)
    max_rms = params.max_rms_px + params.rms_per_px_travel * travel + params.rms_per_blob_px * blob_px
    if rms > max_rms:
        return Verdict(False, f"not smooth: rms {rms:.2f} px > {max_rms:.2f}", 0.0, rms, math.nan)

    mid = uv.mean(axis=0)
    down = image_down_direction(cal, float(mid[0]), float(mid[1]), scale)
    accel = 2.0 * coef[0]  # px/s², mean over the track
    vel_mean = coef[1]  # px/s at the mean time
    speed = float(np.hypot(*vel_mean))
    cos_down = float(vel_mean @ down) / max(speed, 1e-9)
    angle = math.degrees(math.acos(max(-1.0, min(1.0, cos_down))))
    # Without a calibration these are the only tests of gravity. With one, the metric fit below is the test:
    # perspective can make a real fall decelerate in the image, and even move up in it (thrown towards a
    # camera that looks up); but a short track carries little metric evidence, so it must show both as well.
    image_tests = cal is None or n < params.accel_test_points
    max_angle = params.max_angle_from_down_deg if cal is None else params.max_angle_from_down_calibrated_deg
    if image_tests and angle > max_angle:
        return Verdict(False, f"moving {angle:.0f}° away from down", 0.0, rms, math.nan)
    accel_ratio = float(accel @ down) * duration / max(speed, 1e-9)
    if image_tests and accel_ratio < params.min_accel_ratio:
        return Verdict(False, f"not accelerating downwards (a·T/v = {accel_ratio:.2f})", 0.0, rms, accel_ratio)

    release = None
    if cal is not None:
        from calibration.backproject import DEFAULT_PRIOR, estimate_release

        # The metric fit takes each point's centre measured again where there is one (Track.centres).
        prior = replace(DEFAULT_PRIOR, pixel_sigma_px=params.point_sigma_px)
        # A track that no flight reproduces within the RMS bound below is rejected on that alone, so the fit is
        # told the bound: it then spares the storey profile, and gives up early on a hopeless track.
        release = estimate_release(cal, t, track.centre_arrays()[1][keep] / scale, prior=prior,
                                   max_rms_px=_max_rms_px(params, blob_px))
        if release is None:
            return Verdict(False, "no ballistic fit", 0.0, rms, accel_ratio, keep=keep)
        reason = _implausible_release(release, cal, params, blob_px, n)
        if reason:
            return Verdict(False, reason, 0.0, rms, accel_ratio, release, keep)

    confidence = _confidence(n, rms, max_rms, max(accel_ratio, params.min_accel_ratio), release, params)
    return Verdict(True, "ballistic", confidence, rms, accel_ratio, release, keep)


def _implausible_release(
    rel: ReleaseEstimate, cal: FacadeCalibration, p: ValidationParams, blob_px: float, n_points: int
) -> str | None:
    if rel.rms_px > _max_rms_px(p, blob_px):
        return f"does not fit g = 9.81 m/s²: rms {rel.rms_px:.2f} px"
    prior_cost = float(rel.extras.get("cost_prior", 0.0))
    if n_points < p.prior_test_points and prior_cost > p.max_prior_cost:
        return f"{UNLIKELY_FLIGHT} (prior cost {prior_cost:.1f} > {p.max_prior_cost:g})"
    if rel.drag_per_m > p.max_drag_per_m:
        return f"too much drag for a thrown object (terminal {math.sqrt(GRAVITY_MPS2 / rel.drag_per_m):.1f} m/s)"
    vx, vy, vz = rel.velocity0
    if math.hypot(vx, vy) > p.max_release_speed_mps or not (-p.max_release_speed_mps <= vz <= p.max_release_speed_mps):
        # A leaf or a bird can be fitted by a "throw" only at a pitcher's speed: people drop or toss things.
        return f"release speed ({vx:.1f}, {vy:.1f}, {vz:.1f}) m/s is not a hand's"
    if not (-p.max_outward_m <= rel.y <= 1.0):
        return f"release {rel.y:.1f} m from the facade"
    x_lo, x_hi = cal.columns_extent()
    if not (x_lo - p.facade_margin_m <= rel.x <= x_hi + p.facade_margin_m):
        return f"release x = {rel.x:.1f} m outside the facade ({x_lo:.1f}–{x_hi:.1f} m)"
    if not (0.0 <= rel.z <= cal.roof_m + p.facade_margin_m):
        return f"release height {rel.z:.1f} m outside the building"
    return None


def _max_rms_px(p: ValidationParams, blob_px: float) -> float:
    return p.max_backprojection_rms_px + p.rms_per_blob_px * blob_px


def _confidence(
    n: int, rms: float, max_rms: float, accel_ratio: float, rel: ReleaseEstimate | None, p: ValidationParams
) -> float:
    """A score in (0, 1): longer, smoother, clearly accelerating tracks score higher; a metric fit adds most."""
    length_term = 1.0 - math.exp(-(n - p.min_points + 1) / 6.0)
    smooth_term = 1.0 - 0.5 * (rms / max_rms)
    accel_term = min(1.0, accel_ratio / (3 * p.min_accel_ratio))
    score = 0.45 + 0.2 * length_term + 0.15 * smooth_term + 0.1 * accel_term
    if rel is not None:
        score += 0.1 * (1.0 - min(1.0, rel.rms_px / p.max_backprojection_rms_px))
    return round(min(0.99, max(0.01, score)), 3)
