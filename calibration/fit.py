"""``calibrate fit``: camera pose (and focal length, radial distortion) from clicked facade points.

Steps, each a function below:

1. **Check the points**: at least 6, not on one line (in the building or in the image), in metres.
2. **Start**: for a ladder of focal lengths (horizontal field of view 15°–130°, unless ``fx`` is given),
   ``cv2.solvePnPRansac`` gives a pose robust to a mis-click; the focal length with the best inlier error wins.
3. **Refine** ``(rvec, tvec[, f][, k1])`` by least squares on the reprojection error (soft-L1 loss, so a
   mis-click does not drag the pose).
4. **Find mis-clicks** by leave-one-out: refit without point ``i`` and measure how far ``i`` lands from its
   prediction. A good point lands within the click noise plus the others' prediction error; a mis-click lands
   far off *even though it no longer pulls the fit*, which is what makes the test sharp. The miss is measured
   in its own 2-D standard deviation (click noise of the others' fit, widened by how loosely they predict that
   point); the worst one beyond 5 of them and ``outlier_px`` is flagged and the loop repeats (at most a third
   of the points). A point the others predict too loosely to catch a 50 px miss is reported, not flagged.
5. **Judge** the result: the click error (RMS, corrected for the parameters the fit absorbed) in pixels and as
   a fraction of a storey's height in pixels at the top of the clicked area; a calibration that cannot tell
   storeys apart there, or whose focal length or pointing the clicks leave undetermined, is refused; one whose
   pointing is known to worse than 0.3° (1 σ) gets a warning saying what to add.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Self

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import Field, field_validator, model_validator
from scipy.optimize import least_squares

from calibration.camera import Camera, FloatArray, rotation_matrix
from calibration.errors import CalibrationError
from calibration.model import (
    CalibrationUncertainty,
    Extrinsics,
    FacadeCalibration,
    FacadeGeometry,
    FitSummary,
    Intrinsics,
    _numbers,
    _Part,
    check_lens_plausible,
)

MIN_POINTS = 6
DEFAULT_MAX_STOREY_FRACTION = 0.2
DEFAULT_OUTLIER_PX = 10.0
MISCLICK_SIGMAS = 5.0
"""A point is flagged when it lands this many of its own standard deviations from where the others put it."""
MIN_CLICK_SIGMA_PX = 0.3
"""Least click noise assumed (per axis): sub-pixel residuals of a handful of clicks are luck, not precision."""
POINTING_WARN_DEG = 0.3
"""A 1-σ pointing error above this gets a warning: the pose may well be off by more than the issue's 0.5°."""
MAX_FOCAL_STD_REL = 0.5
MAX_ROTATION_STD_DEG = 20.0
"""Beyond these 1-σ errors a fit is refused as undetermined (also the bounds of the file's ``uncertainty``)."""
GROSS_MISFIT_PX = 10.0
"""A click error (RMS) beyond this is not careless clicking but points that no camera explains together: mixed
units or axes, the wrong image size, or an unmodelled lens."""

Progress = Callable[[str], None]


class IntrinsicsGuess(_Part):
    """What is known of the lens before the fit; anything left out is estimated (focal) or assumed."""

    model: Literal["pinhole", "fisheye"] = "pinhole"
    fx: float | None = Field(default=None, gt=0)
    fy: float | None = Field(default=None, gt=0)
    cx: float | None = None
    cy: float | None = None
    dist: list[float] | None = None

    @field_validator("dist", mode="before")
    @classmethod
    def _dist_numbers(cls, value: Any) -> list[float] | None:
        return None if value is None else _numbers(value, (0, 4, 5, 8), "distortion coefficients")


class CalibrationPoints(FacadeGeometry):
    """The input of ``calibrate fit``: the calibration file with ``points`` and optionally known intrinsics."""

    intrinsics: IntrinsicsGuess | None = None
    extrinsics: Extrinsics | None = None

    @model_validator(mode="after")
    def _lens_plausible(self) -> Self:
        if self.intrinsics is not None:
            g = self.intrinsics
            check_lens_plausible(self.image_size, g.fx, g.fy, g.cx, g.cy)
        return self


@dataclass(frozen=True)
class PoseFit:
    """The result of :func:`fit_calibration`."""

    calibration: FacadeCalibration
    rms_px: float
    """RMS reprojection error of a click (2-D, pixels), corrected for what the fit absorbed: an unbiased
    estimate of the click error, ``√(2 Σ|r|² / (2n − k))``; the plain residual RMS is ``residual_rms_px``."""
    residuals_px: FloatArray
    """Per point (all points, outliers included) distance between click and reprojection, pixels."""
    loo_residuals_px: FloatArray
    """Per point leave-one-out residual (NaN where not computed)."""
    loo_limit_px: FloatArray
    """Per point: the least leave-one-out miss, in the point's worst-predicted direction, that is flagged."""
    outliers: list[int]
    storey_px_at_top: float
    rms_storey_fraction: float
    z_top_m: float
    rotation_std_deg: float
    focal_std_rel: float
    residual_rms_px: float
    """Plain RMS of the inliers' residuals (biased low: 8 parameters from 10–20 clicks absorb a share)."""

    def loosely_checked(self, miss_px: float = 50.0) -> list[int]:
        """Inliers that a mis-click of ``miss_px`` could pass unflagged: the other points predict them too
        poorly (a lone point in a corner of the image). More points near them make the check sharp."""
        return [i for i, lim in enumerate(self.loo_limit_px) if i not in self.outliers and lim > miss_px]


# --- 1. checks ---------------------------------------------------------------------------------------------


def check_points(uv: FloatArray, xyz: FloatArray, image_size: tuple[int, int]) -> None:
    n = len(uv)
    if n < MIN_POINTS:
        raise CalibrationError(
            f"points: got {n} clicked points, need at least {MIN_POINTS} (better 10–20) spread over the facade"
        )
    for name, arr in (("facade positions (x, y, z)", xyz), ("image positions (u, v)", uv)):
        centred = arr - arr.mean(axis=0)
        s = np.linalg.svd(centred, compute_uv=False)
        if s[0] < 1e-9 or s[1] / s[0] < 0.02:
            raise CalibrationError(
                f"points: the {name} lie on one line; add points off that line "
                "(e.g. window corners on several storeys and in several columns)"
            )
    w, h = image_size
    off = np.nonzero((uv[:, 0] < -0.5 * w) | (uv[:, 0] > 1.5 * w) | (uv[:, 1] < -0.5 * h) | (uv[:, 1] > 1.5 * h))[0]
    if len(off):
        raise CalibrationError(
            f"points[{off[0]}]: pixel ({uv[off[0], 0]:g}, {uv[off[0], 1]:g}) is far outside the {w}×{h} image; "
            "check image_size and that u is the column and v the row"
        )
    extent = float(np.ptp(xyz[:, [0, 2]], axis=0).max())
    if extent < 2.0:
        raise CalibrationError(
            f"points: the facade positions span only {extent:g} m; give x and z in metres and spread the points "
            "over several storeys"
        )
    for i in range(n):
        for j in range(i):
            if np.allclose(xyz[i], xyz[j]) and np.linalg.norm(uv[i] - uv[j]) > 3.0:
                raise CalibrationError(
                    f"points[{i}]: same facade position as points[{j}] but clicked elsewhere; fix one of them"
                )


# --- 2./3. pose -------------------------------------------------------------------------------------------


@dataclass
class _Unknowns:
    fit_focal: bool
    fit_k1: bool
    fx_over_fy: float
    cx: float
    cy: float
    model: Literal["pinhole", "fisheye"]
    dist: FloatArray
    fx: float

    def camera(self, p: FloatArray) -> Camera:
        fx = math.exp(p[6]) if self.fit_focal else self.fx
        dist = self.dist.copy()
        if self.fit_k1:
            dist[0] = p[-1]
        return Camera(rotation_matrix(p[:3]), p[3:6], fx, fx / self.fx_over_fy, self.cx, self.cy, self.model, dist)

    def pack(self, rvec: FloatArray, tvec: FloatArray, fx: float, k1: float = 0.0) -> FloatArray:
        p = [*rvec, *tvec]
        if self.fit_focal:
            p.append(math.log(fx))
        if self.fit_k1:
            p.append(k1)
        return np.array(p, dtype=np.float64)


def _unknowns(points: CalibrationPoints) -> _Unknowns:
    w, h = points.image_size
    g = points.intrinsics or IntrinsicsGuess()
    fit_focal = g.fx is None and g.fy is None
    fx = g.fx or g.fy or 1.0
    fy = g.fy or fx
    n_dist = 4 if g.model == "fisheye" else 5
    dist = np.zeros(n_dist if g.dist is None else max(n_dist, len(g.dist)))
    if g.dist:
        dist[: len(g.dist)] = g.dist
    fit_k1 = g.dist is None and fit_focal and len(points.points) >= 16
    return _Unknowns(
        fit_focal,
        fit_k1,
        fx / fy,
        g.cx if g.cx is not None else w / 2.0,
        g.cy if g.cy is not None else h / 2.0,
        g.model,
        dist,
        fx,
    )


def _residuals(unk: _Unknowns, p: FloatArray, uv: FloatArray, xyz: FloatArray) -> FloatArray:
    res = unk.camera(p).project(xyz) - uv
    res = np.where(np.isfinite(res), res, 1e4).ravel()
    if unk.fit_k1:
        return np.concatenate([res, [p[-1] / 0.3]])  # weak prior: most CCTV lenses have |k1| < 0.3
    return res


def _initial_pose(unk: _Unknowns, uv: FloatArray, xyz: FloatArray, image_w: int) -> FloatArray:
    if unk.fit_focal:
        fovs = np.radians(np.linspace(15.0, 130.0, 24))
        focals = image_w / 2.0 / np.tan(fovs / 2.0)
    else:
        focals = np.array([unk.fx])
    best: tuple[float, FloatArray] | None = None
    n = len(uv)
    rng = np.random.default_rng(0)
    # All points, plus random half-subsets: one of them very likely misses a mis-clicked point (a small RANSAC).
    subsets = [np.arange(n)] + [rng.choice(n, size=max(MIN_POINTS, n // 2), replace=False) for _ in range(8)]
    for f in focals:
        fy = f / unk.fx_over_fy
        K = np.array([[f, 0.0, unk.cx], [0.0, fy, unk.cy], [0.0, 0.0, 1.0]])
        # PnP sees an ideal pinhole camera: undistort the clicks first (fisheye or known distortion).
        cam0 = Camera(np.eye(3), np.zeros(3), f, fy, unk.cx, unk.cy, unk.model, unk.dist)
        img = cam0.undistort(uv) * [f, fy] + [unk.cx, unk.cy]
        for sub in subsets:
            ok, rvec, tvec = cv2.solvePnP(
                xyz[sub].reshape(-1, 1, 3), img[sub].reshape(-1, 1, 2), K, None, flags=cv2.SOLVEPNP_SQPNP
            )
            if not ok:
                continue
            p = unk.pack(rvec.reshape(3), tvec.reshape(3), f)
            r = _point_errors(unk, p, uv, xyz)
            # Trimmed error: a mis-click must decide neither the focal length nor the pose.
            score = float(np.mean(np.sort(r)[: max(MIN_POINTS - 1, int(0.7 * n))]))
            if np.isfinite(score) and (best is None or score < best[0]):
                best = (score, p)
    if best is None:
        raise CalibrationError(
            "points: no camera pose explains these clicks; check that x runs rightwards as seen from the street, "
            "z is up, y is 0 on the facade and negative in front of it, and u/v are pixel column/row"
        )
    return best[1]


def _refine(unk: _Unknowns, p0: FloatArray, uv: FloatArray, xyz: FloatArray, robust: bool) -> Any:
    return least_squares(
        lambda p: _residuals(unk, p, uv, xyz),
        p0,
        loss="soft_l1" if robust else "linear",
        f_scale=3.0,
        x_scale="jac",
        method="trf",
    )


def _point_errors(unk: _Unknowns, p: FloatArray, uv: FloatArray, xyz: FloatArray) -> FloatArray:
    r = _residuals(unk, p, uv, xyz)[: 2 * len(uv)].reshape(-1, 2)
    return np.sqrt(np.sum(r**2, axis=1))


# --- 4. mis-clicks -----------------------------------------------------------------------------------------


def _jacobian(unk: _Unknowns, p: FloatArray, uv: FloatArray, xyz: FloatArray) -> FloatArray:
    """``∂ residuals / ∂ p`` by central differences (all rows of :func:`_residuals`, the ``k1`` prior included)."""
    J = np.empty((len(_residuals(unk, p, uv, xyz)), len(p)))
    for k in range(len(p)):
        h = 1e-6 * max(1.0, abs(float(p[k])))
        dp = np.zeros(len(p))
        dp[k] = h
        J[:, k] = (_residuals(unk, p + dp, uv, xyz) - _residuals(unk, p - dp, uv, xyz)) / (2.0 * h)
    return J


def _hat_blocks(J: FloatArray, n: int) -> FloatArray:
    """The 2×2 diagonal blocks ``H_ii`` of the hat matrix ``J (JᵀJ)⁻¹ Jᵀ`` for the ``n`` points' pixel rows."""
    Jp = J[: 2 * n].reshape(n, 2, -1)
    return np.asarray(np.einsum("iak,kl,ibl->iab", Jp, np.linalg.pinv(J.T @ J), Jp))


def click_sigma_px(unk: _Unknowns, p: FloatArray, uv: FloatArray, xyz: FloatArray) -> float:
    """Click noise σ (pixels, per axis) from the fit's residuals, robust to a few mis-clicks.

    Each point's residual ``r_i`` is studentised by its hat block: ``r_iᵀ (I − H_ii)⁻¹ r_i`` is ``σ² χ²₂`` for a
    good click whatever its leverage (a fitted residual is smaller than the click error by the share of it
    the fit absorbed), and the median of ``χ²₂`` is ``2 ln 2``.
    """
    n = len(uv)
    r = _residuals(unk, p, uv, xyz)[: 2 * n].reshape(n, 2)
    rest = np.eye(2) - _hat_blocks(_jacobian(unk, p, uv, xyz), n)
    s2 = np.einsum("ia,iab,ib->i", r, np.linalg.pinv(rest), r)
    return max(MIN_CLICK_SIGMA_PX, math.sqrt(float(np.median(s2)) / (2.0 * math.log(2.0))))


@dataclass(frozen=True)
class _LeaveOneOut:
    residual_px: FloatArray
    """Distance of each point from where a fit to the others puts it (NaN outside ``idx``)."""
    mahalanobis: FloatArray
    """That miss in units of its own standard deviation (click noise plus the others' prediction error)."""
    limit_px: FloatArray
    """The smallest miss, in the point's worst-predicted direction, that would be flagged."""


def _leave_one_out(
    unk: _Unknowns,
    p: FloatArray,
    uv: FloatArray,
    xyz: FloatArray,
    idx: NDArray[np.intp],
    sigma: float,
    outlier_px: float,
) -> _LeaveOneOut:
    """Each point of ``idx`` predicted by a fit to the other points of ``idx``: the deleted residual ``d_i``.

    For a good click, ``d_i`` is the click error plus the prediction error of the others' fit ``p₍ᵢ₎``, so its
    covariance is ``σ² (I + J_i (J₍ᵢ₎ᵀ J₍ᵢ₎)⁻¹ J_iᵀ)`` (``J_i``: point ``i``'s Jacobian, ``J₍ᵢ₎``: the others').
    The test statistic is the Mahalanobis length ``√(d_iᵀ S_i⁻¹ d_i) / σ_i``: a point in a corner that the
    others predict poorly (a lone low point when the focal length and ``k1`` are fitted) needs a larger miss
    to be called a mis-click than one among many. ``σ_i`` is the click noise of the others' fit (the smaller of
    that and the robust ``sigma`` of all points).
    """
    n = len(uv)
    out = np.full(n, np.nan)
    maha = np.full(n, np.nan)
    limit = np.full(n, np.nan)
    for i in idx:
        rest = idx[idx != i]
        sol = least_squares(
            lambda q, rest=rest: _residuals(unk, q, uv[rest], xyz[rest]),
            p,
            loss="linear",
            x_scale="jac",
            method="trf",
            max_nfev=50,
        )
        d = _residuals(unk, sol.x, uv[i : i + 1], xyz[i : i + 1])[:2]
        J_i = _jacobian(unk, sol.x, uv[i : i + 1], xyz[i : i + 1])[:2]
        J_rest = _jacobian(unk, sol.x, uv[rest], xyz[rest])
        C_rest = np.linalg.pinv(J_rest.T @ J_rest)
        S = np.eye(2) + J_i @ C_rest @ J_i.T
        # The click noise without point i (externally studentised): a mis-click that pulled the full fit has
        # inflated every residual, the robust `sigma` included; the others' own fit does not see it.
        r_rest = _residuals(unk, sol.x, uv[rest], xyz[rest])[: 2 * len(rest)]
        k_rest = float(np.einsum("ij,jk,ik->", J_rest[: 2 * len(rest)], C_rest, J_rest[: 2 * len(rest)]))
        sigma_out = math.sqrt(float(r_rest @ r_rest) / max(1.0, 2 * len(rest) - k_rest))
        # ... unless a second mis-click among the others inflates that: then the robust estimate is smaller.
        sigma_i = max(MIN_CLICK_SIGMA_PX, min(sigma, sigma_out))
        out[i] = float(np.linalg.norm(d))
        maha[i] = math.sqrt(max(0.0, float(d @ np.linalg.solve(S, d)))) / sigma_i
        limit[i] = max(outlier_px, MISCLICK_SIGMAS * sigma_i * math.sqrt(float(np.linalg.eigvalsh(S).max())))
    return _LeaveOneOut(out, maha, limit)


# --- 5. the whole fit --------------------------------------------------------------------------------------


def fit_calibration(
    points: CalibrationPoints,
    *,
    max_storey_fraction: float = DEFAULT_MAX_STOREY_FRACTION,
    outlier_px: float = DEFAULT_OUTLIER_PX,
    progress: Progress | None = None,
) -> PoseFit:
    """Estimate the camera from ``points``; raise :class:`CalibrationError` when it cannot or should not."""
    say = progress or (lambda _msg: None)
    uv, xyz = points.point_arrays()
    check_points(uv, xyz, points.image_size)
    unk = _unknowns(points)
    n = len(uv)
    what = "pose" + (", focal length" if unk.fit_focal else "") + (", k1" if unk.fit_k1 else "")
    say(f"fitting {what} to {n} points")
    p = _initial_pose(unk, uv, xyz, points.image_size[0])
    p = _refine(unk, p, uv, xyz, robust=True).x

    inliers = np.arange(n)
    outliers: list[int] = []
    max_out = max(0, min(n - MIN_POINTS, n // 3))
    while True:
        say(f"leave-one-out check of {len(inliers)} points")
        sigma = click_sigma_px(unk, p, uv[inliers], xyz[inliers])
        loo = _leave_one_out(unk, p, uv, xyz, inliers, sigma, outlier_px)
        # A mis-click is far from where the others put it both in pixels and in its own standard deviations.
        suspect = (loo.mahalanobis > MISCLICK_SIGMAS) & (loo.residual_px > outlier_px)
        score = np.where(suspect, loo.mahalanobis, -np.inf)
        worst = int(inliers[np.argmax(score[inliers])])
        if not suspect[worst] or len(outliers) >= max_out:
            break
        outliers.append(worst)
        say(f"points[{worst}] looks mis-clicked: {loo.residual_px[worst]:.1f} px from where the other points put it")
        inliers = inliers[inliers != worst]
        p = _refine(unk, p, uv[inliers], xyz[inliers], robust=True).x
    p = _refine(unk, p, uv[inliers], xyz[inliers], robust=False).x
    cam = unk.camera(p)

    _check_geometry(cam, xyz[inliers])
    errors = _point_errors(unk, p, uv, xyz)
    residual_rms = float(np.sqrt(np.mean(errors[inliers] ** 2)))
    # The fit absorbs part of the click error: E[Σ|r|²] = (2n − k) σ², k the parameters the pixels pay for
    # (the trace of the hat matrix over the pixel rows; k1, held by its prior, pays less than one).
    J = _jacobian(unk, p, uv[inliers], xyz[inliers])
    k_eff = float(np.trace(_hat_blocks(J, len(inliers)), axis1=1, axis2=2).sum())
    dof = max(1.0, 2 * len(inliers) - k_eff)
    sigma_px = max(MIN_CLICK_SIGMA_PX, math.sqrt(float(np.sum(errors[inliers] ** 2)) / dof))
    rms = sigma_px * math.sqrt(2.0)  # the 2-D RMS error of a click: an unbiased estimate, unlike residual_rms
    cov = np.linalg.pinv(J.T @ J) * sigma_px**2
    rot_std = math.degrees(math.sqrt(max(float(np.linalg.eigvalsh(cov[:3, :3]).max()), 0.0)))
    f_std = math.sqrt(max(float(cov[6, 6]), 0.0)) if unk.fit_focal else 0.0
    undetermined = _undetermined(unk, cam, f_std, rot_std, points.image_size[0])
    advice = "Zoom in and click more carefully, add points near the top, or use a camera with a longer lens"
    if rms > GROSS_MISFIT_PX:
        worst_points = [int(i) for i in inliers[np.argsort(errors[inliers])[::-1][:3]]]
        advice = (
            f"Clicks are good to 1–3 px: no camera explains these points together. Check that x, y and z are all in "
            "metres (not feet, not some in millimetres), x runs rightwards as seen from the street and z up, u/v "
            f"are the column/row in a full-resolution image of image_size, and any given focal length is in pixels; "
            f"the worst points are {', '.join(f'points[{i}] ({errors[i]:.0f} px)' for i in worst_points)}"
        )
        if undetermined:  # a focal length fitted to inconsistent points runs off too: name the cause
            raise CalibrationError(f"points: the clicks are off by {rms:.0f} px RMS after the fit. {advice}")
        say(f"warning: {advice}")
    if undetermined:
        raise CalibrationError(undetermined)

    z_top = float(xyz[inliers, 2].max())
    x_mid = float(np.median(xyz[inliers, 0]))
    storey_m = points.floor_height_at(z_top - 1e-6)
    ends = cam.project(np.array([[x_mid, 0.0, z_top], [x_mid, 0.0, z_top - storey_m]]))
    storey_px = float(np.linalg.norm(ends[0] - ends[1])) if np.all(np.isfinite(ends)) else 0.0
    fraction = rms / storey_px if storey_px > 0 else math.inf
    say(
        f"reprojection error {rms:.2f} px RMS per click ({residual_rms:.2f} px left in the {len(inliers)} fitted "
        f"points, {k_eff:.1f} parameters fitted) = {100 * fraction:.1f} % of a storey "
        f"({storey_px:.1f} px) at z = {z_top:.1f} m"
    )
    if rot_std > POINTING_WARN_DEG:
        say(
            f"warning: these clicks pin the camera's direction down to ±{rot_std:.2f}° (1 σ) only; add points over "
            "more storeys and further left and right, or give the focal length (--intrinsics)"
        )
    if fraction > max_storey_fraction or storey_px < 3.0:
        raise CalibrationError(
            f"this calibration cannot tell storeys apart at the top of the clicked area (z = {z_top:.1f} m): a "
            f"storey is {storey_px:.1f} px high there and the clicks are off by {rms:.1f} px RMS "
            f"({100 * fraction:.0f} % of a storey, limit {100 * max_storey_fraction:.0f} %). {advice}"
        )

    intr = Intrinsics(model=unk.model, fx=cam.fx, fy=cam.fy, cx=cam.cx, cy=cam.cy, dist=[float(d) for d in cam.dist])
    extr = Extrinsics(rvec=[float(v) for v in p[:3]], tvec=[float(v) for v in p[3:6]])
    summary = FitSummary(
        rms_px=round(rms, 3),
        residual_rms_px=round(residual_rms, 3),
        n_points=n,
        n_inliers=len(inliers),
        outliers=sorted(outliers),
        storey_px_at_top=round(storey_px, 2),
        rms_storey_fraction=round(fraction, 4),
    )
    base = points.model_dump(exclude={"intrinsics", "extrinsics"}, exclude_none=True)
    cal = FacadeCalibration.model_validate(
        {
            **base,
            "intrinsics": intr.model_dump(),
            "extrinsics": extr.model_dump(),
            "uncertainty": CalibrationUncertainty(
                rotation_deg=round(max(0.05, rot_std), 3), focal_rel=round(max(0.002, f_std), 4)
            ).model_dump(),
            "fit": summary.model_dump(),
        }
    )
    return PoseFit(
        cal,
        rms,
        errors,
        loo.residual_px,
        loo.limit_px,
        sorted(outliers),
        storey_px,
        fraction,
        z_top,
        rot_std,
        f_std,
        residual_rms,
    )


def _undetermined(unk: _Unknowns, cam: Camera, f_std_rel: float, rot_std_deg: float, image_w: int) -> str | None:
    """Why the clicks leave the camera undetermined, or None: seen nearly straight on from afar, a flat facade looks
    alike from any distance, and the fitted focal length drifts along that valley (to 37 px on one generated set,
    started from the truth or not)."""
    plausible = 0.1 * image_w <= cam.fx <= 20 * image_w
    if unk.fit_focal and (not plausible or f_std_rel > MAX_FOCAL_STD_REL):
        found = (
            f"fx = {cam.fx:.0f} px ± {100 * f_std_rel:.0f} %"
            if plausible
            else f"the fit drifts to fx = {cam.fx:.0f} px, implausible for an image {image_w} px wide"
        )
        return (
            f"points: these clicks do not determine the focal length ({found}): from this camera they look nearly "
            "alike from any distance. Give the focal length (intrinsics.fx, or --intrinsics from `calibrate "
            "intrinsics`), or add points over more storeys and further left and right"
        )
    if rot_std_deg > MAX_ROTATION_STD_DEG:
        return (
            f"points: these clicks do not determine where the camera points (±{rot_std_deg:.0f}°); add points over "
            "more storeys and further left and right"
        )
    return None


def _check_geometry(cam: Camera, xyz: FloatArray) -> None:
    depth = cam.to_camera(xyz)[:, 2]
    behind = np.nonzero(depth <= 0)[0]
    if len(behind):
        raise CalibrationError(
            f"points: {len(behind)} points end up behind the camera; check the signs of x, y and z "
            "(x rightwards as seen from the street, y negative in front of the facade, z up)"
        )
    if cam.center[1] >= 0:
        raise CalibrationError(
            f"points: the fitted camera is inside the building (y = {cam.center[1]:.1f} m); x must run rightwards "
            "as seen from the street and y be negative in front of the facade"
        )
