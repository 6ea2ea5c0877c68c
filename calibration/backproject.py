"""From a pixel track of a falling object to the storey and window column it came from.

The model, in three steps (docs/calibration.md has the full argument):

1. **Fit a 3-D flight to the pixels.** The object is a point mass, ``dv/dt = −g·ẑ − k·|v|·v``
   (:mod:`calibration.ballistics`), described by its position and velocity at the first detection ``t0`` and its
   drag ``k >= 0``: seven numbers ``θ``. We minimise the reprojection error of the tracked pixels
   (``scipy.optimize.least_squares``, soft-L1 loss against detector glitches), with weak priors on ``k`` and on
   the depth ``y``. Gravity is what makes this work: the image shows an angular acceleration of about ``g/D``
   for an object at distance ``D``, so a known ``g`` fixes ``D`` — and with it the outward distance ``y`` —
   where a single frame cannot. The start is the closed-form drag-free solution: each pixel ray ``d_i`` from
   the camera centre ``C`` must contain ``p0 + v0·τ_i − ½gτ_i²ẑ``, which is linear in ``(p0, v0)``:
   ``[d_i]× (p0 + v0 τ_i) = [d_i]× (C + ½ g τ_i² ẑ)``.

2. **Uncertainty of the flight.** A Laplace approximation: ``Σ_fit = (Jᵀ W J)⁻¹`` at the optimum, with the pixel
   noise estimated from the residuals (never below ``pixel_sigma_px``). The calibration's own uncertainty
   (pointing ``σ_rot``, focal ``σ_f``) is carried through by the implicit-function theorem: if the camera moves
   by ``δc`` the optimum moves by ``δθ = −(JᵀWJ)⁻¹ JᵀW (∂r/∂c) δc``, so ``Σ = Σ_fit + A Σ_c Aᵀ``.

3. **Where on that flight was the release?** The track starts some unknown time after the release, so we run
   each flight backwards from ``t0``. A release at backward time ``τ`` is plausible in proportion to
   ``π_y(y(τ)) · π_v(|v(τ)|)``: the release lies in the facade zone ``y ∈ [−2.5, 0]`` m (window to deep balcony,
   soft edges), and release velocities are those of a hand (horizontal speed σ 2.5 m/s, vertical
   0.3 ± 1.5 m/s), which also puts a plain drop at the apex of its flight. Release times are uniform a
   priori. Flights whose way back never meets the zone get no weight. Monte-Carlo samples of
   ``θ ~ N(θ̂, Σ)`` times a grid of ``τ`` give weighted release points;
   their heights, smoothed by a Gaussian kernel, give ``floor_probabilities``.

The naive alternative (:mod:`calibration.naive`: the first detection's ray met with the facade plane) ignores
both the outward distance (which biases it upwards when the camera looks up at an object in front of the
facade) and the fall before the first detection (biasing it downwards).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import least_squares
from scipy.special import ndtr

from calibration.ballistics import GRAVITY_M_S2, positions_at, rk4_grid
from calibration.camera import Camera, FloatArray, rotation_matrix
from calibration.model import FacadeCalibration

MIN_TRACK_POINTS = 5
MIN_TRACK_SPAN_S = 0.12
N_PARAMS = 7  # position (3) and velocity (3) at the first detection, drag k


@dataclass(frozen=True)
class ReleasePrior:
    """What is assumed about releases and tracks; the defaults suit residential towers and hand throws."""

    y_min_m: float = -2.5
    """Furthest release in front of the facade (a deep balcony, an arm's reach beyond the rail)."""
    y_max_m: float = 0.0
    """Nearest release: the facade plane (a window)."""
    y_soft_m: float = 0.3
    """Gaussian fall-off outside ``[y_min_m, y_max_m]``: fit error and odd facades."""
    horizontal_speed_sigma_m_s: float = 2.5
    """Scale of the prior on the horizontal release speed (a push or a throw, not a cannon)."""
    vertical_speed_mean_m_s: float = 0.3
    vertical_speed_sigma_m_s: float = 1.5
    """Prior on the vertical release speed: dropped, tossed slightly up, rarely hurled down."""
    max_time_back_s: float = 4.0
    """Longest assumed time between release and first detection."""
    time_step_s: float = 0.03
    drag_sigma_per_m: float = 0.1
    """Weak prior pulling the drag towards 0 (dense objects); light objects overcome it easily."""
    depth_center_m: float = -2.0
    depth_sigma_m: float = 8.0
    """Weak prior on ``y`` at the first detection; only matters for very short tracks."""
    pixel_sigma_px: float = 0.5
    """Least pixel noise assumed when turning residuals into uncertainty."""
    robust_scale_px: float = 3.0
    """Residuals beyond this many pixels are down-weighted (soft-L1)."""


DEFAULT_PRIOR = ReleasePrior()


@dataclass(frozen=True)
class TrajectoryFit:
    """A ballistic flight fitted to a pixel track: ``θ = (x, y, z, vx, vy, vz, k)`` at time ``t0_s``."""

    t0_s: float
    theta: FloatArray
    cov: FloatArray
    rms_px: float
    residuals_px: FloatArray
    n_points: int
    converged: bool

    @property
    def position0(self) -> FloatArray:
        return self.theta[:3]

    @property
    def velocity0(self) -> FloatArray:
        return self.theta[3:6]

    @property
    def drag_per_m(self) -> float:
        return float(self.theta[6])


@dataclass(frozen=True)
class ReleaseEstimate:
    """Where a falling object was released, in building metres, with the storey and column it names.

    ``to_json()`` gives the contract's ``release`` object (``floor``, ``column``, ``x``, ``y``, ``z``,
    ``floor_probabilities``) plus extras.
    """

    floor: str | None
    column: str | None
    x: float
    y: float
    z: float
    t_release_s: float
    floor_probabilities: dict[str, float]
    rms_px: float
    """Reprojection RMS of the ballistic fit: a bird or a leaf does not fit g = 9.81."""
    velocity0: tuple[float, float, float]
    """Velocity at the release, m/s."""
    drag_per_m: float
    n_points: int
    method: str
    z_std_m: float = math.nan
    extras: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        def r(v: float, nd: int = 3) -> float | None:
            return round(float(v), nd) if math.isfinite(v) else None

        return {
            "floor": self.floor,
            "column": self.column,
            "x": r(self.x, 2),
            "y": r(self.y, 2),
            "z": r(self.z, 2),
            "floor_probabilities": {k: round(v, 3) for k, v in self.floor_probabilities.items()},
            "t_release": r(self.t_release_s),
            "z_std_m": r(self.z_std_m, 2),
            "rms_px": r(self.rms_px, 2),
            "velocity0": [r(v, 2) for v in self.velocity0],
            "drag_per_m": r(self.drag_per_m, 4),
            "n_points": self.n_points,
            "method": self.method,
            **self.extras,
        }


# --- step 1: the fit ---------------------------------------------------------------------------------------


def _predict(cam: Camera, thetas: FloatArray, tau_s: FloatArray, gravity: float) -> FloatArray:
    """Pixels ``(B, N, 2)`` of the flights ``thetas (B, 7)`` at times ``tau_s`` after the first detection."""
    pos = positions_at(thetas[:, :6], np.maximum(thetas[:, 6], 0.0), tau_s, gravity)
    return cam.project(pos)


def _pixel_residuals(pred: FloatArray, uv: FloatArray) -> FloatArray:
    res = pred - uv[None, :, :]
    # A flight that passes behind the camera cannot explain the track: a large, finite penalty keeps the
    # optimiser moving.
    return np.where(np.isfinite(res), res, 1e4).reshape(pred.shape[0], -1)


def _prior_residuals(thetas: FloatArray, prior: ReleasePrior) -> FloatArray:
    return np.stack(
        [thetas[:, 6] / prior.drag_sigma_per_m, (thetas[:, 1] - prior.depth_center_m) / prior.depth_sigma_m],
        axis=1,
    )


_PRIOR_JAC = np.zeros((2, N_PARAMS))


def _linear_start(cam: Camera, tau_s: FloatArray, uv: FloatArray, gravity: float) -> FloatArray | None:
    """Drag-free flight through all pixel rays, in closed form (see the module docstring)."""
    center, d = cam.rays(uv)
    n = len(tau_s)
    weights = np.ones(n)
    sol = None
    for _ in range(2):  # second pass: weight by 1/distance, so that the residual approximates angle (≈ pixels)
        rows = []
        rhs = []
        for i in range(n):
            dx = np.array([[0.0, -d[i, 2], d[i, 1]], [d[i, 2], 0.0, -d[i, 0]], [-d[i, 1], d[i, 0], 0.0]])
            rows.append(weights[i] * np.hstack([dx, tau_s[i] * dx]))
            target = center + np.array([0.0, 0.0, 0.5 * gravity * tau_s[i] ** 2])
            rhs.append(weights[i] * (dx @ target))
        A = np.vstack(rows)
        b = np.concatenate(rhs)
        sol, *_ = np.linalg.lstsq(A, b, rcond=None)
        pts = sol[:3] + np.outer(tau_s, sol[3:]) - np.outer(0.5 * gravity * tau_s**2, [0.0, 0.0, 1.0])
        dist = np.linalg.norm(pts - center, axis=1)
        if not np.all(np.isfinite(dist)) or np.any(dist < 1e-3):
            return None
        weights = 1.0 / dist
    if sol is None:
        return None
    pts = sol[:3] + np.outer(tau_s, sol[3:]) - np.outer(0.5 * gravity * tau_s**2, [0.0, 0.0, 1.0])
    in_front = np.einsum("ij,ij->i", pts - center, d) > 0
    if not np.all(in_front) or not -60.0 < sol[1] < 1.0:
        return None
    return np.concatenate([sol, [0.0]])


def _plane_start(cam: Camera, tau_s: FloatArray, uv: FloatArray, gravity: float, y_m: float) -> FloatArray:
    """Fallback start: every detection on the plane ``y = y_m`` at the first ray's distance."""
    center, d = cam.rays(uv)
    s = (y_m - center[1]) / d[0, 1] if d[0, 1] > 1e-3 else 20.0
    s = float(np.clip(s, 2.0, 200.0))
    pts = center + d * s
    # p(τ) + ½gτ²ẑ is linear in τ for a drag-free flight.
    lifted = pts + np.outer(0.5 * gravity * tau_s**2, [0.0, 0.0, 1.0])
    design = np.column_stack([np.ones_like(tau_s), tau_s])
    coef, *_ = np.linalg.lstsq(design, lifted, rcond=None)
    return np.concatenate([coef[0], coef[1], [0.0]])


def fit_trajectory(
    cal: FacadeCalibration | Camera,
    t_s: FloatArray,
    uv: FloatArray,
    *,
    prior: ReleasePrior = DEFAULT_PRIOR,
    gravity_m_s2: float = GRAVITY_M_S2,
) -> TrajectoryFit | None:
    """Fit a ballistic flight with drag to a pixel track; None if the track is too short to fit.

    ``cov`` is the Laplace covariance of ``θ`` from the fit alone (no calibration uncertainty).
    """
    cam = cal.camera if isinstance(cal, FacadeCalibration) else cal
    t_arr, uv_arr = _clean_track(t_s, uv)
    if len(t_arr) < MIN_TRACK_POINTS or t_arr[-1] - t_arr[0] < MIN_TRACK_SPAN_S:
        return None
    tau = t_arr - t_arr[0]
    g = gravity_m_s2
    n_pix = uv_arr.size
    eps = np.array([1e-4, 1e-4, 1e-4, 1e-4, 1e-4, 1e-4, 1e-5])

    def fun(theta: FloatArray) -> FloatArray:
        th = theta[None, :]
        return np.concatenate([_pixel_residuals(_predict(cam, th, tau, g), uv_arr)[0], _prior_residuals(th, prior)[0]])

    def jac(theta: FloatArray) -> FloatArray:
        batch = np.repeat(theta[None, :], N_PARAMS + 1, axis=0)
        batch[1:] += np.diag(eps)
        r = _pixel_residuals(_predict(cam, batch, tau, g), uv_arr)
        J = np.empty((n_pix + 2, N_PARAMS))
        J[:n_pix] = ((r[1:] - r[0]) / eps[:, None]).T
        J[n_pix:] = _PRIOR_JAC
        J[n_pix, 6] = 1.0 / prior.drag_sigma_per_m
        J[n_pix + 1, 1] = 1.0 / prior.depth_sigma_m
        return J

    starts = []
    lin = _linear_start(cam, tau, uv_arr, g)
    if lin is not None:
        starts.append(lin)
    if lin is None or len(t_arr) < 12:
        starts.append(_plane_start(cam, tau, uv_arr, g, -1.0))
    best = None
    for x0 in starts:
        lo = np.full(N_PARAMS, -np.inf)
        hi = np.full(N_PARAMS, np.inf)
        lo[6], hi[6] = 0.0, 3.0
        x0 = x0.copy()
        x0[6] = float(np.clip(x0[6], 1e-6, 2.9))
        res = least_squares(
            fun,
            x0,
            jac=jac,
            bounds=(lo, hi),
            loss="soft_l1",
            f_scale=prior.robust_scale_px,
            x_scale="jac",
            max_nfev=200,
            method="trf",
        )
        if best is None or res.cost < best.cost:
            best = res
    assert best is not None
    theta = best.x
    pix = best.fun[:n_pix].reshape(-1, 2)
    rms = float(np.sqrt(np.mean(np.sum(pix**2, axis=1))))
    J = jac(theta)
    cov = _laplace_cov(J, pix, n_pix, prior)
    return TrajectoryFit(float(t_arr[0]), theta, cov, rms, pix, len(t_arr), bool(best.success))


def _noise_sigma(pix: FloatArray, prior: ReleasePrior) -> float:
    """Pixel noise from the residuals (robust, dof-corrected), never below the assumed floor."""
    norms = np.sqrt(np.sum(pix**2, axis=1))
    dof = max(1, pix.size - N_PARAMS)
    rss_sigma = math.sqrt(float(np.sum(pix**2)) / dof)
    # The median of a 2-D Gaussian residual's length is σ·sqrt(2 ln 2); it ignores a few glitches (which the
    # loss down-weights anyway) that would inflate the RSS estimate.
    robust_sigma = float(np.median(norms)) / math.sqrt(2.0 * math.log(2.0)) if len(norms) else 0.0
    return max(prior.pixel_sigma_px, min(rss_sigma, 1.5 * robust_sigma))


def _weights(n_pix: int, sigma_px: float) -> FloatArray:
    w = np.ones(n_pix + 2)
    w[:n_pix] = 1.0 / sigma_px**2
    return w


def _laplace_cov(J: FloatArray, pix: FloatArray, n_pix: int, prior: ReleasePrior) -> FloatArray:
    w = _weights(n_pix, _noise_sigma(pix, prior))
    H = J.T @ (J * w[:, None])
    return np.asarray(np.linalg.pinv(H, rcond=1e-12, hermitian=True))


def _calibration_cov(
    cal: FacadeCalibration, fit: TrajectoryFit, t_s: FloatArray, uv: FloatArray, prior: ReleasePrior, g: float
) -> FloatArray:
    """``A Σ_c Aᵀ``: how the calibration's pointing and focal uncertainty moves the fitted flight."""
    cam = cal.camera
    unc = cal.uncertainty
    sig_rot = math.radians(unc.rotation_deg)
    sig_f = unc.focal_rel
    if sig_rot == 0.0 and sig_f == 0.0:
        return np.zeros((N_PARAMS, N_PARAMS))
    t_arr, uv_arr = _clean_track(t_s, uv)
    tau = t_arr - t_arr[0]
    th = fit.theta[None, :]
    base = _pixel_residuals(_predict(cam, th, tau, g), uv_arr)[0]
    d_rows = []
    step = 1e-4
    for axis in range(3):
        w = np.zeros(3)
        w[axis] = step
        dR = rotation_matrix(w)
        moved = cam.with_pose(dR @ cam.R, dR @ cam.t)  # rotate about the camera centre
        d_rows.append((_pixel_residuals(_predict(moved, th, tau, g), uv_arr)[0] - base) / step * sig_rot)
    moved = cam.with_focal_scale(1.0 + step)
    d_rows.append((_pixel_residuals(_predict(moved, th, tau, g), uv_arr)[0] - base) / step * sig_f)
    dr_dc = np.column_stack(d_rows)  # (n_pix, 4), already scaled by the 1-σ of each calibration parameter
    n_pix = len(base)
    sigma = _noise_sigma(fit.residuals_px, prior)
    J = np.zeros((n_pix + 2, N_PARAMS))
    # Re-evaluate the Jacobian with the same weighting as the fit covariance.
    batch = np.repeat(th, N_PARAMS + 1, axis=0)
    eps = np.array([1e-4, 1e-4, 1e-4, 1e-4, 1e-4, 1e-4, 1e-5])
    batch[1:] += np.diag(eps)
    r = _pixel_residuals(_predict(cam, batch, tau, g), uv_arr)
    J[:n_pix] = ((r[1:] - r[0]) / eps[:, None]).T
    J[n_pix, 6] = 1.0 / prior.drag_sigma_per_m
    J[n_pix + 1, 1] = 1.0 / prior.depth_sigma_m
    w = _weights(n_pix, sigma)
    H = J.T @ (J * w[:, None])
    A = -np.linalg.pinv(H, rcond=1e-12, hermitian=True) @ (J[:n_pix].T @ (dr_dc * w[:n_pix, None]))
    return np.asarray(A @ A.T)


# --- step 3: the release -----------------------------------------------------------------------------------


def _clean_track(t_s: FloatArray, uv: FloatArray) -> tuple[FloatArray, FloatArray]:
    t_arr = np.asarray(t_s, dtype=np.float64).reshape(-1)
    uv_arr = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    if len(t_arr) != len(uv_arr):
        raise ValueError(f"t_s has {len(t_arr)} times but uv has {len(uv_arr)} points")
    ok = np.isfinite(t_arr) & np.all(np.isfinite(uv_arr), axis=1)
    t_arr, uv_arr = t_arr[ok], uv_arr[ok]
    order = np.argsort(t_arr, kind="stable")
    return t_arr[order], uv_arr[order]


def _sample_thetas(theta: FloatArray, cov: FloatArray, n: int, rng: np.random.Generator) -> FloatArray:
    vals, vecs = np.linalg.eigh(0.5 * (cov + cov.T))
    L = vecs * np.sqrt(np.clip(vals, 0.0, None))
    z = rng.standard_normal((n, len(theta)))
    z[0] = 0.0  # keep the optimum itself
    out = theta[None, :] + z @ L.T
    out[:, 6] = np.abs(out[:, 6])  # drag is non-negative; reflect rather than pile up at 0
    return out


def _release_log_weights(states: FloatArray, prior: ReleasePrior, soften: float) -> FloatArray:
    """``log π_y(y) + log π_v(|v|)`` for backward states ``(M, J, 6)``, −inf where the flight is impossible."""
    y = states[..., 1]
    z = states[..., 2]
    with np.errstate(over="ignore", invalid="ignore"):
        speed = np.sqrt(np.sum(states[..., 3:] ** 2, axis=-1))
        horizontal = np.sqrt(states[..., 3] ** 2 + states[..., 4] ** 2)
    vz = states[..., 5]
    soft = prior.y_soft_m * soften
    outside = np.maximum(prior.y_min_m - y, 0.0) + np.maximum(y - prior.y_max_m, 0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        logw = (
            -0.5 * (outside / soft) ** 2
            - 0.5 * (horizontal / (prior.horizontal_speed_sigma_m_s * soften)) ** 2
            - 0.5 * ((vz - prior.vertical_speed_mean_m_s) / (prior.vertical_speed_sigma_m_s * soften)) ** 2
        )
    # Between the release and the first detection the object was in the air in front of the facade.
    through_wall = np.maximum.accumulate(y, axis=1) > prior.y_max_m + 2.0 * soft
    impossible = through_wall | (z < 0.0) | ~np.isfinite(logw) | (speed > 80.0)
    return np.where(impossible, -np.inf, logw)


def _storey_probabilities(
    cal: FacadeCalibration, z: FloatArray, w: FloatArray, bandwidth_m: float
) -> tuple[FloatArray, float]:
    """Kernel-smoothed storey masses ``(n_storeys,)`` and the mass outside the building."""
    edges = cal.storey_edges_m
    keep = w > 1e-6 * w.max()
    z, w = z[keep], w[keep] / w[keep].sum()
    cdf = ndtr((edges[None, :] - z[:, None]) / bandwidth_m)  # (K, n_edges)
    mass = (w[:, None] * np.diff(cdf, axis=1)).sum(axis=0)
    return mass, float(max(0.0, 1.0 - mass.sum()))


def estimate_release(
    cal: FacadeCalibration,
    t_s: FloatArray,
    uv: FloatArray,
    *,
    prior: ReleasePrior = DEFAULT_PRIOR,
    gravity_m_s2: float = GRAVITY_M_S2,
    n_samples: int = 256,
    seed: int = 0,
) -> ReleaseEstimate | None:
    """Release point, storey, column and storey probabilities of a falling object's pixel track.

    ``t_s`` (N,) are media times in seconds, ``uv`` (N, 2) the object's pixel centres in the full-resolution
    (distorted) image. Returns None when the track is unusable (fewer than 5 finite points or under 0.12 s).
    """
    fit = fit_trajectory(cal, t_s, uv, prior=prior, gravity_m_s2=gravity_m_s2)
    if fit is None:
        return None
    cov = fit.cov + _calibration_cov(cal, fit, t_s, uv, prior, gravity_m_s2)
    rng = np.random.default_rng(seed)
    thetas = _sample_thetas(fit.theta, cov, n_samples, rng)
    n_steps = math.ceil(prior.max_time_back_s / prior.time_step_s)
    with np.errstate(over="ignore", invalid="ignore"):
        states = rk4_grid(thetas[:, :6], thetas[:, 6], -prior.time_step_s, n_steps, gravity_m_s2)
    tau = -prior.time_step_s * np.arange(n_steps + 1)

    method = "ballistic-fit"
    logw = _release_log_weights(states, prior, 1.0)
    if not np.isfinite(logw).any() or logw.max() < -12.5:
        # No flight comes back to the facade zone at a hand's speed: loosen the prior rather than give up,
        # and say so (the probabilities will be wide).
        logw = _release_log_weights(states, prior, 4.0)
        method = "ballistic-fit(loose-prior)"
    if not np.isfinite(logw).any():
        return _unlocated(fit, "ballistic-fit(no-release-found)")
    w = np.exp(logw - logw[np.isfinite(logw)].max())
    w = np.where(np.isfinite(w), w, 0.0).reshape(-1)
    flat = states.reshape(-1, 6)
    # Impossible states have weight 0; zero them so that 0·inf (or huge²) cannot turn into NaN.
    flat = np.where(np.isfinite(flat) & (w[:, None] > 0), flat, 0.0)
    tau_flat = np.broadcast_to(tau[None, :], logw.shape).reshape(-1)
    w_sum = float(w.sum())
    z_all = flat[:, 2]
    z_mean = float(np.sum(w * z_all) / w_sum)
    z_std = float(np.sqrt(max(np.sum(w * (z_all - z_mean) ** 2) / w_sum, 0.0)))
    ess = w_sum**2 / float(np.sum(w**2))
    bandwidth = max(0.1, 1.06 * z_std * ess ** (-0.2))
    mass, _outside = _storey_probabilities(cal, z_all, w, bandwidth)
    names = cal.floor_names
    total = float(mass.sum())
    if total < 1e-9:
        return _unlocated(fit, method + "(outside-building)", z_mean)
    probs = mass / total
    best = int(np.argmax(probs))
    lo, hi = cal.storey_edges_m[best], cal.storey_edges_m[best + 1]
    inside = (z_all >= lo) & (z_all < hi) & (w > 0)
    sel = w * inside if inside.any() and float(np.sum(w * inside)) > 0 else w
    sel_sum = float(sel.sum())
    x, y, z = (float(np.sum(sel * flat[:, i]) / sel_sum) for i in range(3))
    v = tuple(float(np.sum(sel * flat[:, i]) / sel_sum) for i in range(3, 6))
    t_rel = fit.t0_s + float(np.sum(sel * tau_flat) / sel_sum)
    floor_probs = {names[i]: float(p) for i, p in enumerate(probs) if p >= 0.0005}
    norm = sum(floor_probs.values())
    floor_probs = {k: p / norm for k, p in floor_probs.items()}
    return ReleaseEstimate(
        floor=names[best],
        column=cal.column_at(x),
        x=x,
        y=y,
        z=z,
        t_release_s=t_rel,
        floor_probabilities=floor_probs,
        rms_px=fit.rms_px,
        velocity0=(v[0], v[1], v[2]),
        drag_per_m=fit.drag_per_m,
        n_points=fit.n_points,
        method=method,
        z_std_m=z_std,
        extras={"t_first_detection": round(fit.t0_s, 3), "effective_samples": round(ess, 1)},
    )


def _unlocated(fit: TrajectoryFit, method: str, z: float = math.nan) -> ReleaseEstimate:
    p = fit.position0
    v = fit.velocity0
    return ReleaseEstimate(
        floor=None,
        column=None,
        x=float(p[0]),
        y=float(p[1]),
        z=float(z if math.isfinite(z) else p[2]),
        t_release_s=fit.t0_s,
        floor_probabilities={},
        rms_px=fit.rms_px,
        velocity0=(float(v[0]), float(v[1]), float(v[2])),
        drag_per_m=fit.drag_per_m,
        n_points=fit.n_points,
        method=method,
    )
