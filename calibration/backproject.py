"""From a pixel track of a falling object to the storey and window column it came from.

The flight (docs/calibration.md has the full argument) is a point mass with quadratic drag,
``dv/dt = −g·ẑ − k·|v|·v`` with ``k = g / v_t²`` (:mod:`calibration.ballistics`), and the unknowns are::

    ψ = (p₀, v₀, T, s, c)

the position and velocity at the first detection ``t₀``, the time ``T`` from the release to ``t₀``, ``s = ln v_t``,
and the calibration's error ``c`` (rotation about the camera centre, focal scale) in units of its declared σ.
The track is the flight run forward from ``(p₀, v₀)``; the **release** ``(p_r, v_r)`` is the same flight run
backward for ``T``.

1. **MAP fit.** Minimise ``½ Σ ρ(|r_i|²/σ²) + ½ Σ prior²`` (soft-L1 ``ρ`` against detector glitches) where the
   priors are what we know about releases: ``y_r`` in the facade zone ``[−2.5, 0]`` m and ``x_r`` within the
   facade's columns (soft edges), a hand's velocity (horizontal σ 2 m/s, never into the building; vertical
   0.3 ± 1.5 m/s), terminal speed roughly
   log-uniform over 8–80 m/s, ``z_r`` under the roof, ``c ~ N(0, I)``. With gravity known, the vertical velocity
   at the first detection says how long the object has already fallen, and a small release velocity turns that
   into how far above the first detection the release was — the strongest constraint there is. Gravity also
   gives metric scale: the image shows an angular acceleration of about ``g/D`` at distance ``D``. Six starts
   (three first-detection guesses × a ladder of terminal speeds, the cheapest kept) run together in one
   batched Levenberg–Marquardt, so the fit does not stick in the wrong basin.
2. **Profile over the release height.** On a lattice of heights ``z_j`` (half a storey apart, around every
   plausible mode) the fit is repeated with a Gaussian kernel holding ``z_r`` near ``z_j``. By Laplace,
   ``log p̃(z_j) = −C_j/τ − ½ log det H_j`` is the marginal density of the release height, smoothed by the
   kernel (which doubles as model error); ``τ`` tempers the likelihood so the probabilities are honest.
3. **Storey masses.** ``log p̃`` interpolated on a 5 cm grid and summed over each storey ``[z, next z)`` gives
   ``floor_probabilities``. The calibration error is inside the fit, so a camera off by its declared σ widens
   the probabilities by as much as it moves the answer.

The naive alternative (:mod:`calibration.naive`: the first detection's ray met with the facade plane) ignores
both the outward distance (which biases it upwards when the camera looks up at an object in front of the
facade) and the fall before the first detection (biasing it downwards).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.interpolate import CubicSpline

from calibration.ballistics import GRAVITY_M_S2, rk4_grid, track_and_release
from calibration.camera import Camera, FloatArray
from calibration.model import FacadeCalibration

MIN_TRACK_POINTS = 5
MIN_TRACK_SPAN_S = 0.12
N_FLIGHT = 10
"""Position (3) and velocity (3) at the first detection, time from release to first detection ``T``, ln v_t."""
N_PARAMS = N_FLIGHT + 4
"""… and the calibration's error in units of its declared 1 σ: rotation about the camera centre (3), focal."""
_Z, _T, _S = 2, 6, 7
_W = slice(8, 10)  # horizontal wind (x, y), m/s
_EPS = np.array([1e-4, 1e-4, 1e-4, 1e-4, 1e-4, 1e-4, 1e-5, 1e-4, 1e-4, 1e-4, 1e-4, 1e-4, 1e-4, 1e-4])

_RK4_STEPS = 10
_START_TERMINAL_SPEEDS_M_S = np.geomspace(6.0, 150.0, 10)
_GIVE_UP_ITERATION = 15
_GIVE_UP_FACTOR = 2.0
"""With ``max_rms_px``, the first fit stops at this iteration when its best flight is still this many times
further from the track (pixel RMS) than allowed (of 57 fits recorded on busy benchmark scenes, none that ended
within 3 px was more than 1.5 times its final RMS by then; docs/falling.md, "Cost")."""


@dataclass(frozen=True)
class ReleasePrior:
    """What is assumed about releases and tracks; the defaults suit residential towers and hand throws."""

    y_min_m: float = -2.5
    """Furthest release in front of the facade (a deep balcony, an arm's reach beyond the rail)."""
    y_max_m: float = 0.0
    """Nearest release: the facade plane (a window)."""
    y_soft_m: float = 0.3
    """Gaussian fall-off outside ``[y_min_m, y_max_m]``: fit error and odd facades."""
    x_soft_m: float = 0.5
    """Gaussian fall-off of the release outside the calibrated facade along it (``x`` beyond its columns; no
    bound when the calibration has none): things are thrown from the facade's windows and balconies, not from
    the air beside the building."""
    horizontal_speed_sigma_m_s: float = 2.0
    """Scale of the prior on each horizontal release velocity component (a push or a throw, not a cannon)."""
    inward_speed_sigma_m_s: float = 0.3
    """Velocity into the building (``vy > 0``) at release is all but impossible."""
    vertical_speed_mean_m_s: float = 0.3
    vertical_speed_sigma_m_s: float = 1.5
    """Prior on the vertical release speed: dropped, tossed slightly up, rarely hurled down."""
    terminal_speed_min_m_s: float = 8.0
    terminal_speed_max_m_s: float = 80.0
    """Terminal speeds are about log-uniform in this range (light bags below, dense pots above)."""
    terminal_speed_log_soft: float = 0.35
    """Gaussian fall-off of ``ln v_t`` outside that range."""
    terminal_speed_log_sigma: float = 2.0
    """Weak Gaussian on ``ln v_t`` around the range's centre, so that the fit stays well posed."""
    wind_sigma_m_s: float = 2.0
    """Prior on the horizontal wind that drags a falling object sideways: a few m/s at facade height carries a
    light object metres across the facade during a long fall (a column off if ignored)."""
    roof_soft_m: float = 0.5
    max_time_back_s: float = 6.0
    """Longest assumed time between release and first detection."""
    pixel_sigma_px: float = 0.5
    """Least pixel noise assumed (the noise is estimated from the track itself)."""
    robust_scale: float = 3.0
    """Residuals beyond this many σ are down-weighted (soft-L1)."""
    temperature: float = 1.0
    """Likelihood tempering for the storey probabilities: 1 is best by log score on the calibration benchmark,
    where the model is exact; raise it if field tracks (tumbling, wind, detector bias) prove overconfident."""
    model_sigma_m: float = 0.3
    """Width of the kernel that holds the release height at each profile point; doubles as model error
    (hand height, blob centroid vs. centre of mass)."""
    profile_spacing_storeys: float = 0.5
    """Spacing of the release-height profile, in storeys."""
    profile_min_storeys: float = 2.0
    profile_max_storeys: float = 8.0
    """The profile reaches 3.5 σ either side of each mode, at least and at most this many storeys."""


DEFAULT_PRIOR = ReleasePrior()


@dataclass(frozen=True)
class TrajectoryFit:
    """The MAP flight of a pixel track: ``θ = (x, y, z, vx, vy, vz, T, ln v_t)`` (see the module docstring)."""

    t0_s: float
    """Time of the first detection."""
    theta: FloatArray
    cov: FloatArray
    """Laplace covariance of ``θ`` (fit and prior; no calibration uncertainty)."""
    rms_px: float
    residuals_px: FloatArray
    n_points: int
    converged: bool
    release_state: FloatArray
    """Release position and velocity ``(6,)``."""
    cost: float = math.nan

    @property
    def position0(self) -> FloatArray:
        return self.theta[:3]

    @property
    def velocity0(self) -> FloatArray:
        return self.theta[3:6]

    @property
    def release_position(self) -> FloatArray:
        return self.release_state[:3]

    @property
    def release_velocity(self) -> FloatArray:
        return self.release_state[3:]

    @property
    def t_release_s(self) -> float:
        return self.t0_s - float(self.theta[_T])

    @property
    def terminal_speed_m_s(self) -> float:
        return float(math.exp(self.theta[_S]))

    @property
    def drag_per_m(self) -> float:
        return float(GRAVITY_M_S2 * math.exp(-2.0 * self.theta[_S]))


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


# --- the model -------------------------------------------------------------------------------------------------


def _rotations(w: FloatArray) -> FloatArray:
    """Rodrigues: rotation matrices ``(B, 3, 3)`` of rotation vectors ``(B, 3)`` (radians)."""
    theta = np.sqrt(np.sum(w * w, axis=1))
    small = theta < 1e-12
    th = np.where(small, 1.0, theta)
    k = w / th[:, None]
    K = np.zeros((len(w), 3, 3))
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    K = K - np.transpose(K, (0, 2, 1))
    sin = np.where(small, 0.0, np.sin(theta))[:, None, None]
    cos1 = np.where(small, 0.0, 1.0 - np.cos(theta))[:, None, None]
    return np.asarray(np.eye(3)[None] + sin * K + cos1 * (K @ K))


@dataclass
class _Problem:
    """One track, one camera: residuals of a batch of flight parameters ``ψ`` ``(B, 8)``.

    ``z_lo``/``z_hi`` ``(B,)`` hold the release height inside a storey (the profile); ±inf when free.
    """

    cam: Camera
    tau_s: FloatArray
    uv: FloatArray
    sigma_px: float
    prior: ReleasePrior
    roof_m: float
    gravity: float
    sigma_rot_rad: float = 0.0
    sigma_focal: float = 0.0
    x_lo_m: float = -math.inf
    x_hi_m: float = math.inf
    """The facade's extent along x (its columns): the release prior's soft walls."""

    @property
    def pinhole_no_distortion(self) -> bool:
        return self.cam.model == "pinhole" and not np.any(self.cam.dist)

    def drag(self, psi: FloatArray) -> FloatArray:
        return np.asarray(self.gravity * np.exp(-2.0 * psi[:, _S]))

    def positions(self, psi: FloatArray) -> FloatArray:
        """Positions ``(B, N, 3)`` at the detections."""
        return self.track_and_release(psi)[0]

    def release(self, psi: FloatArray) -> FloatArray:
        """Release states ``(B, 6)``: each flight run back ``T`` from the first detection."""
        return self.track_and_release(psi)[1]

    def track_and_release(self, psi: FloatArray) -> tuple[FloatArray, FloatArray]:
        return track_and_release(psi[:, :6], self.drag(psi), self.tau_s, psi[:, _T], _RK4_STEPS, self.gravity,
                                 wind_m_s=psi[:, _W])

    def project(self, pos: FloatArray, cal_err: FloatArray) -> FloatArray:
        """Pixels ``(B, N, 2)`` of positions ``(B, N, 3)`` through a camera off by ``cal_err`` ``(B, 4)`` σ."""
        cam = self.cam
        xc = cam.to_camera(pos)
        dR = _rotations(cal_err[:, :3] * self.sigma_rot_rad)
        xc = np.einsum("bij,bnj->bni", dR, xc)
        if self.pinhole_no_distortion:  # the common case, without the general lens model's overhead
            z = np.where(xc[..., 2:] > 1e-9, xc[..., 2:], np.nan)
            uv = xc[..., :2] / z * np.array([cam.fx, cam.fy]) + np.array([cam.cx, cam.cy])
        else:
            uv = cam.project_camera_points(xc)
        centre = np.array([cam.cx, cam.cy])
        return np.asarray((uv - centre) * (1.0 + self.sigma_focal * cal_err[:, 3])[:, None, None] + centre)

    def pixel_residuals(self, uv_pred: FloatArray) -> FloatArray:
        """Robustified, whitened pixel residuals ``(B, 2N)``: ``½ Σ r²`` is the soft-L1 cost."""
        res = (uv_pred - self.uv[None]) / self.sigma_px
        res = np.where(np.isfinite(res), res, 1e4)
        z = np.sum(res * res, axis=-1, keepdims=True) / self.prior.robust_scale**2
        scale = np.sqrt(2.0 * (np.sqrt(1.0 + z) - 1.0) / np.maximum(z, 1e-12))
        return (res * np.where(z > 1e-8, scale, 1.0)).reshape(len(uv_pred), -1)

    def prior_residuals(self, psi: FloatArray, rel: FloatArray) -> FloatArray:
        p = self.prior
        x, y, z, vx, vy, vz, s = rel[:, 0], rel[:, 1], rel[:, 2], rel[:, 3], rel[:, 4], rel[:, 5], psi[:, _S]
        lo_s, hi_s = math.log(p.terminal_speed_min_m_s), math.log(p.terminal_speed_max_m_s)
        out = np.stack(
            [
                (np.maximum(p.y_min_m - y, 0.0) + np.maximum(y - p.y_max_m, 0.0)) / p.y_soft_m,
                _beside(x, self.x_lo_m, self.x_hi_m) / p.x_soft_m,
                vx / p.horizontal_speed_sigma_m_s,
                vy / p.horizontal_speed_sigma_m_s,
                np.maximum(vy, 0.0) / p.inward_speed_sigma_m_s,
                (vz - p.vertical_speed_mean_m_s) / p.vertical_speed_sigma_m_s,
                (np.maximum(lo_s - s, 0.0) + np.maximum(s - hi_s, 0.0)) / p.terminal_speed_log_soft,
                (s - 0.5 * (lo_s + hi_s)) / p.terminal_speed_log_sigma,
                (np.maximum(z - self.roof_m, 0.0) + np.maximum(-z, 0.0)) / p.roof_soft_m,
                psi[:, _W.start] / p.wind_sigma_m_s,
                psi[:, _W.start + 1] / p.wind_sigma_m_s,
            ],
            axis=1,
        )
        return np.where(np.isfinite(out), out, 1e4)

    def _assemble(
        self, pos: FloatArray, rel: FloatArray, psi: FloatArray, z_lo: FloatArray, z_hi: FloatArray
    ) -> FloatArray:
        wall = (np.maximum(z_lo - rel[:, 2], 0.0) + np.maximum(rel[:, 2] - z_hi, 0.0)) / self.prior.model_sigma_m
        wall = np.where(np.isfinite(wall), wall, 1e4)
        return np.concatenate(
            [
                self.pixel_residuals(self.project(pos, psi[:, N_FLIGHT:])),
                self.prior_residuals(psi, rel),
                psi[:, N_FLIGHT:],  # the calibration error's own prior: N(0, 1) in units of its σ
                wall[:, None],
            ],
            axis=1,
        )

    def residuals(self, psi: FloatArray, z_lo: FloatArray, z_hi: FloatArray) -> FloatArray:
        with np.errstate(over="ignore", invalid="ignore"):
            return self._assemble(*self.track_and_release(psi), psi, z_lo, z_hi)

    def with_jacobian(
        self, psi: FloatArray, z_lo: FloatArray, z_hi: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Residuals ``(B, R)`` and their forward-difference Jacobian ``(B, R, 12)``, in one batched flight run
        (the calibration columns reuse the unperturbed flight: only the projection changes) and one batched
        residual evaluation (every row is computed on its own, so batching the two kinds of column changes no
        value; it halves the calls, which on these small arrays is most of the cost)."""
        m = len(psi)
        steps = np.diag(_EPS)[None]
        nf = N_FLIGHT + 1
        nc = N_PARAMS - N_FLIGHT
        flights = np.concatenate([psi[:, None, :], psi[:, None, :] + steps[:, :N_FLIGHT]], axis=1)
        flat = flights.reshape(-1, N_PARAMS)
        with np.errstate(over="ignore", invalid="ignore"):
            pos, rel = self.track_and_release(flat)
            cal = (psi[:, None, :] + steps[:, N_FLIGHT:]).reshape(-1, N_PARAMS)
            pos0 = np.repeat(pos.reshape(m, nf, *pos.shape[1:])[:, 0], nc, axis=0)
            rel0 = np.repeat(rel.reshape(m, nf, 6)[:, 0], nc, axis=0)
            both = self._assemble(
                np.concatenate([pos, pos0]),
                np.concatenate([rel, rel0]),
                np.concatenate([flat, cal]),
                np.concatenate([np.repeat(z_lo, nf), np.repeat(z_lo, nc)]),
                np.concatenate([np.repeat(z_hi, nf), np.repeat(z_hi, nc)]),
            )
            rf = both[: m * nf].reshape(m, nf, -1)
            rc = both[m * nf :].reshape(m, nc, -1)
        r = rf[:, 0]
        diff = np.concatenate([rf[:, 1:], rc], axis=1) - r[:, None, :]
        return r, np.transpose(diff / _EPS[None, :, None], (0, 2, 1))

    def release_gradient(self, psi: FloatArray) -> FloatArray:
        """``∂z_r/∂ψ`` ``(B, 12)`` by forward differences (zero for the calibration columns)."""
        m = len(psi)
        batch = np.concatenate([psi[:, None, :], psi[:, None, :] + np.diag(_EPS)[None, :N_FLIGHT]], axis=1)
        with np.errstate(over="ignore", invalid="ignore"):
            z = self.release(batch.reshape(-1, N_PARAMS))[:, 2].reshape(m, N_FLIGHT + 1)
        out = np.zeros((m, N_PARAMS))
        out[:, :N_FLIGHT] = (z[:, 1:] - z[:, :1]) / _EPS[None, :N_FLIGHT]
        return out


@dataclass
class _Fits:
    phi: FloatArray
    cost: FloatArray
    r: FloatArray
    J: FloatArray


def _levenberg_marquardt(
    prob: _Problem,
    phi0: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    max_iter: int,
    z_lo: FloatArray | None = None,
    z_hi: FloatArray | None = None,
    abandon_above: float = math.inf,
    give_up: tuple[int, Callable[[_Fits], bool]] | None = None,
) -> _Fits:
    """Batched, box-constrained (by projection) Levenberg–Marquardt on ``½ Σ r²`` for each row of ``phi0``.

    Each trial point is evaluated together with its Jacobian (one batched flight run per iteration): most
    steps are accepted, and a flight run costs about the same for 1 or 100 flights. ``give_up`` = (iteration,
    test): at that iteration the fits so far are passed to the test, and the run stops when it says so.
    """
    phi = np.clip(phi0, lo, hi)
    zl = np.full(len(phi), -np.inf) if z_lo is None else z_lo
    zh = np.full(len(phi), np.inf) if z_hi is None else z_hi
    r, J = prob.with_jacobian(phi, zl, zh)
    with np.errstate(over="ignore", invalid="ignore"):
        cost = 0.5 * np.sum(r * r, axis=1)
    lam = np.full(len(phi), 1e-3)
    nu = np.full(len(phi), 2.0)
    active = np.ones(len(phi), dtype=bool)
    eye = np.eye(N_PARAMS)[None]
    for it in range(max_iter):
        if it == 4:  # hopeless rows (far worse than the best fit) would take long and weigh nothing
            active &= cost <= abandon_above
            if not active.any():
                break
        if give_up is not None and it == give_up[0] and give_up[1](_Fits(phi, cost, r, J)):
            break
        idx = np.nonzero(active)[0]
        Ja, ra, pa = J[idx], r[idx], phi[idx]
        # Far out in a flat valley (a terminal speed at its bound, a release far behind the camera) J can
        # overflow: the step is then NaN, its trial cost not finite and the step rejected (more damping), and
        # a step whose model gain is not finite counts as predicted badly (rho 0).
        with np.errstate(over="ignore", invalid="ignore"):
            A = np.einsum("bri,brj->bij", Ja, Ja)
            g = np.einsum("bri,br->bi", Ja, ra)
            d = np.einsum("bii->bi", A) + 1e-9
            # A bound that is active and pushed against stays put: drop that coordinate from the step.
            pinned = ((pa <= lo[idx]) & (g > 0)) | ((pa >= hi[idx]) & (g < 0))
            A = np.where(pinned[:, :, None] | pinned[:, None, :], 0.0, A)
            gp = np.where(pinned, 0.0, g)
            step = -np.linalg.solve(A + eye * (lam[idx, None] * d + pinned)[:, None, :], gp[..., None])[..., 0]
            trial = np.clip(pa + step, lo[idx], hi[idx])
            dx = trial - pa
            predicted = -(np.einsum("bi,bi->b", gp, dx) + 0.5 * np.einsum("bi,bij,bj->b", dx, A, dx))
        predicted = np.where(np.isfinite(predicted), predicted, np.inf)
        r_t, J_t = prob.with_jacobian(trial, zl[idx], zh[idx])
        with np.errstate(over="ignore", invalid="ignore"):
            cost_t = 0.5 * np.sum(r_t * r_t, axis=1)
        better = np.isfinite(cost_t) & (cost_t < cost[idx])
        gain = np.where(better, cost[idx] - cost_t, 0.0)
        acc = idx[better]
        phi[acc], r[acc], cost[acc], J[acc] = trial[better], r_t[better], cost_t[better], J_t[better]
        # Nielsen's damping update: by how well the quadratic model predicted the gain.
        rho = np.clip(gain / np.maximum(predicted, 1e-12), 0.0, 1.0)[better]
        lam[acc] = np.maximum(lam[acc] * np.maximum(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3), 1e-9)
        nu[acc] = 2.0
        rej = idx[~better]
        lam[rej] *= nu[rej]
        nu[rej] *= 2.0
        # Converged when a step gains under 1e-3 in ½χ² (nothing the storey masses could see), or stuck.
        done = (better & (gain < 1e-3 + 1e-5 * cost[idx])) | (lam[idx] > 1e6)
        active[idx[done]] = False
        if not active.any():
            break
    return _Fits(phi, cost, r, J)


# --- starts ----------------------------------------------------------------------------------------------------


def _linear_start(cam: Camera, tau_s: FloatArray, uv: FloatArray, gravity: float) -> FloatArray | None:
    """Drag-free flight through all pixel rays at the first detection, ``(p0, v0)``, in closed form.

    Each ray ``d_i`` from the camera centre ``C`` must contain ``p0 + v0 τ_i − ½gτ_i²ẑ``, which is linear in
    ``(p0, v0)``: ``[d_i]× (p0 + v0 τ_i) = [d_i]× (C + ½ g τ_i² ẑ)``.
    """
    center, d = cam.rays(uv)
    n = len(tau_s)
    cross = np.zeros((n, 3, 3))
    cross[:, 0, 1], cross[:, 0, 2] = -d[:, 2], d[:, 1]
    cross[:, 1, 0], cross[:, 1, 2] = d[:, 2], -d[:, 0]
    cross[:, 2, 0], cross[:, 2, 1] = -d[:, 1], d[:, 0]
    target = center[None, :] + np.outer(0.5 * gravity * tau_s**2, [0.0, 0.0, 1.0])
    weights = np.ones(n)
    sol = None
    for _ in range(2):  # second pass: weight by 1/distance, so that the residual approximates angle (≈ pixels)
        A = (weights[:, None, None] * np.concatenate([cross, tau_s[:, None, None] * cross], axis=2)).reshape(-1, 6)
        b = (weights[:, None] * np.einsum("nij,nj->ni", cross, target)).reshape(-1)
        sol, *_ = np.linalg.lstsq(A, b, rcond=None)
        pts = sol[:3] + np.outer(tau_s, sol[3:]) - np.outer(0.5 * gravity * tau_s**2, [0.0, 0.0, 1.0])
        dist = np.linalg.norm(pts - center, axis=1)
        if not np.all(np.isfinite(dist)) or np.any(dist < 1e-3):
            return None
        weights = 1.0 / dist
    assert sol is not None
    pts = sol[:3] + np.outer(tau_s, sol[3:]) - np.outer(0.5 * gravity * tau_s**2, [0.0, 0.0, 1.0])
    if not np.all(np.einsum("ij,ij->i", pts - center, d) > 0) or not -30.0 < sol[1] < 1.0:
        return None
    return np.asarray(sol)


def _plane_start(cam: Camera, tau_s: FloatArray, uv: FloatArray, gravity: float, y_m: float) -> FloatArray | None:
    """``(p0, v0)`` of a drag-free flight with every detection on the plane ``y = y_m``."""
    center, d = cam.rays(uv)
    if np.any(d[:, 1] < 1e-3):
        return None
    pts = center + d * ((y_m - center[1]) / d[:, 1])[:, None]
    lifted = pts + np.outer(0.5 * gravity * tau_s**2, [0.0, 0.0, 1.0])  # p(τ) + ½gτ²ẑ is linear in τ
    design = np.column_stack([np.ones_like(tau_s), tau_s])
    coef, *_ = np.linalg.lstsq(design, lifted, rcond=None)
    return np.concatenate([coef[0], coef[1]])


def _beside(x: FloatArray, x_lo_m: float, x_hi_m: float) -> FloatArray:
    """How far ``x`` lies beyond ``[x_lo_m, x_hi_m]`` (0 inside; an infinite bound is no bound)."""
    out = np.zeros_like(x)
    if math.isfinite(x_lo_m):
        out += np.maximum(x_lo_m - x, 0.0)
    if math.isfinite(x_hi_m):
        out += np.maximum(x - x_hi_m, 0.0)
    return out


def _release_prior_log(states: FloatArray, prior: ReleasePrior, x_lo_m: float = -math.inf,
                       x_hi_m: float = math.inf) -> FloatArray:
    """Release prior of backward states ``(M, J, 6)`` (position and hand velocity only), −inf where impossible."""
    x, y = states[..., 0], states[..., 1]
    sh = prior.horizontal_speed_sigma_m_s
    with np.errstate(over="ignore", invalid="ignore"):
        outside = np.maximum(prior.y_min_m - y, 0.0) + np.maximum(y - prior.y_max_m, 0.0)
        beside = _beside(x, x_lo_m, x_hi_m)
        logw = (
            -0.5 * (outside / prior.y_soft_m) ** 2
            - 0.5 * (beside / prior.x_soft_m) ** 2
            - 0.5 * (states[..., 3] / sh) ** 2
            - 0.5 * (states[..., 4] / sh) ** 2
            - 0.5 * ((states[..., 5] - prior.vertical_speed_mean_m_s) / prior.vertical_speed_sigma_m_s) ** 2
        )
    return np.where(np.isfinite(logw) & (states[..., 2] >= 0.0), logw, -np.inf)


_BACK_STEP_S = 0.05


def _back_paths(first: FloatArray, s: FloatArray, prior: ReleasePrior, g: float) -> FloatArray:
    """States ``(M, J, 6)`` at ``0, 0.05, 0.1 … s`` before the first detection, from first-detection states."""
    n = math.ceil(prior.max_time_back_s / _BACK_STEP_S)
    with np.errstate(over="ignore", invalid="ignore"):
        return rk4_grid(first, g * np.exp(-2.0 * s), -_BACK_STEP_S, n, g)


def _start_points(prob: _Problem, g: float, n_starts: int = 6) -> FloatArray | None:
    """Starts ``ψ``: first-detection guesses (closed-form drag-free fit; every detection near the facade or out
    on a balcony) × a ladder of terminal speeds, each run back to the time where the release prior is likeliest;
    the ``n_starts`` with the lowest full cost (pixels and priors) go to the optimiser."""
    firsts = [
        s
        for s in (
            _linear_start(prob.cam, prob.tau_s, prob.uv, g),
            _plane_start(prob.cam, prob.tau_s, prob.uv, g, -0.3),
            _plane_start(prob.cam, prob.tau_s, prob.uv, g, -2.2),
        )
        if s is not None and np.all(np.isfinite(s))
    ]
    if not firsts:
        return None
    speeds = np.log(_START_TERMINAL_SPEEDS_M_S)
    first = np.repeat(np.array(firsts), len(speeds), axis=0)
    s = np.tile(speeds, len(firsts))
    paths = _back_paths(first, s, prob.prior, g)
    logw = _release_prior_log(paths, prob.prior, prob.x_lo_m, prob.x_hi_m)
    j = np.argmax(np.where(np.isfinite(logw), logw, -1e300), axis=1)
    cand = np.column_stack([first, j * _BACK_STEP_S, s, np.zeros((len(first), N_PARAMS - 8))])  # no wind, no cal error
    inf = np.full(len(cand), np.inf)
    r = prob.residuals(cand, -inf, inf)
    with np.errstate(over="ignore", invalid="ignore"):
        cost = np.sum(r * r, axis=1)
    order = np.argsort(np.where(np.isfinite(cost), cost, np.inf), kind="stable")
    # Keep the best start of every first-detection guess, then fill up by cost.
    guess_of = np.repeat(np.arange(len(firsts)), len(speeds))[order]
    keep = [int(order[np.argmax(guess_of == f)]) for f in range(len(firsts))]
    keep += [int(i) for i in order if int(i) not in keep]
    return cand[keep[:n_starts]]


# --- the estimate ----------------------------------------------------------------------------------------------


def _clean_track(t_s: FloatArray, uv: FloatArray) -> tuple[FloatArray, FloatArray]:
    t_arr = np.asarray(t_s, dtype=np.float64).reshape(-1)
    uv_arr = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    if len(t_arr) != len(uv_arr):
        raise ValueError(f"t_s has {len(t_arr)} times but uv has {len(uv_arr)} points")
    ok = np.isfinite(t_arr) & np.all(np.isfinite(uv_arr), axis=1)
    t_arr, uv_arr = t_arr[ok], uv_arr[ok]
    order = np.argsort(t_arr, kind="stable")
    return t_arr[order], uv_arr[order]


def _track_noise_px(tau_s: FloatArray, uv: FloatArray, floor_px: float) -> float:
    """Per-axis pixel noise from third differences of evenly spaced detections, at least ``floor_px``.

    A smooth flight's third difference at 25 fps is hundredths of a pixel, while white noise of σ gives
    ``Var(Δ³u) = 20 σ²``; the median (of a χ²₁, 0.455·σ²·20) shrugs off the odd detector glitch. Tracks with
    too few evenly spaced runs fall back to a 1 px guess.
    """
    dt = np.diff(tau_s)
    if len(dt) < 3:
        return max(floor_px, 1.0)
    step = float(np.median(dt))
    even = np.abs(dt - step) < 0.1 * step
    ok = even[:-2] & even[1:-1] & even[2:]
    if ok.sum() < 4:
        return max(floor_px, 1.0)
    d3 = np.diff(uv, n=3, axis=0)[ok]
    return max(floor_px, math.sqrt(float(np.median(d3 * d3)) / (0.455 * 20.0)))


def _bounds(n: int, prior: ReleasePrior) -> tuple[FloatArray, FloatArray]:
    lo = np.array([-np.inf, -40.0, 0.0, -60.0, -60.0, -80.0, 0.0, math.log(2.0), -15.0, -15.0,
                   -6.0, -6.0, -6.0, -6.0])
    hi = np.array([np.inf, 5.0, np.inf, 60.0, 60.0, 30.0, prior.max_time_back_s, math.log(400.0), 15.0, 15.0,
                   6.0, 6.0, 6.0, 6.0])
    return np.tile(lo, (n, 1)), np.tile(hi, (n, 1))


def fit_trajectory(
    cal: FacadeCalibration | Camera,
    t_s: FloatArray,
    uv: FloatArray,
    *,
    prior: ReleasePrior = DEFAULT_PRIOR,
    gravity_m_s2: float = GRAVITY_M_S2,
) -> TrajectoryFit | None:
    """The MAP flight of a pixel track (step 1 of the module docstring); None if too short to fit."""
    prepared = _prepare(cal, t_s, uv, prior, gravity_m_s2)
    if prepared is None:
        return None
    prob, t0, fits = prepared
    return _as_fit(prob, t0, fits, int(np.argmin(fits.cost)))


def _prepare(
    cal: FacadeCalibration | Camera,
    t_s: FloatArray,
    uv: FloatArray,
    prior: ReleasePrior,
    g: float,
    max_rms_px: float | None = None,
) -> tuple[_Problem, float, _Fits] | None:
    cam = cal.camera if isinstance(cal, FacadeCalibration) else cal
    roof = cal.roof_m if isinstance(cal, FacadeCalibration) else 1e4
    x_lo, x_hi = cal.columns_extent() if isinstance(cal, FacadeCalibration) else (-math.inf, math.inf)
    t_arr, uv_arr = _clean_track(t_s, uv)
    if len(t_arr) < MIN_TRACK_POINTS or t_arr[-1] - t_arr[0] < MIN_TRACK_SPAN_S:
        return None
    tau = t_arr - t_arr[0]
    sigma = _track_noise_px(tau, uv_arr, prior.pixel_sigma_px)
    unc = cal.uncertainty if isinstance(cal, FacadeCalibration) else None
    sig_rot = math.radians(unc.rotation_deg) if unc else 0.0
    sig_f = unc.focal_rel if unc else 0.0
    prob = _Problem(cam, tau, uv_arr, sigma, prior, roof, g, sig_rot, sig_f, x_lo_m=x_lo, x_hi_m=x_hi)
    starts = _start_points(prob, g)
    if starts is None:
        return None
    lo, hi = _bounds(len(starts), prior)
    give_up = None
    if max_rms_px is not None:
        limit = _GIVE_UP_FACTOR * max_rms_px

        def hopeless(fits: _Fits) -> bool:
            finite = np.isfinite(fits.cost)
            if not finite.any():
                return False
            best = int(np.argmin(np.where(finite, fits.cost, np.inf)))
            return _pixel_rms(prob, fits.phi[best]) > limit

        give_up = (_GIVE_UP_ITERATION, hopeless)
    fits = _levenberg_marquardt(prob, starts, lo, hi, 50, give_up=give_up)
    if not np.isfinite(fits.cost).any():
        return None
    return prob, float(t_arr[0]), fits


def _pixel_errors(prob: _Problem, psi: FloatArray) -> FloatArray:
    """Fitted minus measured pixels ``(N, 2)`` of one flight (1e4 where it does not project)."""
    with np.errstate(over="ignore", invalid="ignore"):
        pix = prob.project(prob.positions(psi[None]), psi[None, N_FLIGHT:])[0] - prob.uv
    return np.asarray(np.where(np.isfinite(pix), pix, 1e4))


def _pixel_rms(prob: _Problem, psi: FloatArray) -> float:
    return float(np.sqrt(np.mean(np.sum(_pixel_errors(prob, psi) ** 2, axis=1))))


def _as_fit(prob: _Problem, t0: float, fits: _Fits, i: int) -> TrajectoryFit:
    psi = fits.phi[i]
    pix = _pixel_errors(prob, psi)
    with np.errstate(over="ignore", invalid="ignore"):
        rel = prob.release(psi[None])[0]
    rms = float(np.sqrt(np.mean(np.sum(pix**2, axis=1))))
    J = fits.J[i]
    cov = np.asarray(np.linalg.pinv(J.T @ J, rcond=1e-12, hermitian=True))
    n = len(prob.tau_s)
    return TrajectoryFit(t0, psi.copy(), cov, rms, pix, n, bool(np.isfinite(fits.cost[i])), rel, float(fits.cost[i]))


def _storey_starts(prob: _Problem, modes: _Fits, mode_of: FloatArray, targets: FloatArray) -> FloatArray:
    """Each storey starts from its nearest mode's flight, with ``T`` where that flight's way back crosses the
    storey's middle (or its highest point, for storeys above it): the track is fitted as well as by the mode."""
    psi = modes.phi[mode_of].copy()
    paths = _back_paths(psi[:, :6], psi[:, _S], prob.prior, prob.gravity)
    z = np.where(np.isfinite(paths[..., 2]), paths[..., 2], -1e9)  # (S, J)
    above = z >= targets[:, None]
    j = np.where(above.any(axis=1), np.argmax(above, axis=1), np.argmax(z, axis=1))
    # Interpolate between the grid points on either side of the crossing.
    jm = np.maximum(j - 1, 0)
    rows = np.arange(len(psi))
    z1, z0 = z[rows, j], z[rows, jm]
    frac = np.where(above.any(axis=1) & (z1 > z0), (targets - z0) / np.where(z1 > z0, z1 - z0, 1.0), 1.0)
    psi[:, _T] = (jm + np.clip(frac, 0.0, 1.0) * (j - jm)) * _BACK_STEP_S
    return psi


def estimate_release(
    cal: FacadeCalibration,
    t_s: FloatArray,
    uv: FloatArray,
    *,
    prior: ReleasePrior = DEFAULT_PRIOR,
    gravity_m_s2: float = GRAVITY_M_S2,
    n_samples: int = 0,
    seed: int = 0,
    max_rms_px: float | None = None,
) -> ReleaseEstimate | None:
    """Release point, storey, column and storey probabilities of a falling object's pixel track.

    ``t_s`` (N,) are media times in seconds, ``uv`` (N, 2) the object's pixel centres in the full-resolution
    (distorted) image. Returns None when the track is unusable (fewer than 5 finite points or under 0.12 s).
    ``max_rms_px``: a track that no flight reproduces within this pixel RMS is not located (no storey, method
    ``ballistic-fit(poor-fit)``, ``rms_px`` above the bound); the fit says so as soon as that is clear, which
    spares the storey profile (and, for a hopeless track, most of the fit).
    ``n_samples`` and ``seed`` are accepted for compatibility; the estimate is deterministic.
    """
    del n_samples, seed
    g = gravity_m_s2
    prepared = _prepare(cal, t_s, uv, prior, g, max_rms_px)
    if prepared is None:
        return None
    prob, t0, modes = prepared
    best = int(np.nanargmin(modes.cost))
    fit = _as_fit(prob, t0, modes, best)
    if max_rms_px is not None and fit.rms_px > max_rms_px:
        return _unlocated(fit, "ballistic-fit(poor-fit)")
    edges = cal.storey_edges_m
    with np.errstate(over="ignore", invalid="ignore"):
        mode_rel = prob.release(modes.phi)
    grad_z = prob.release_gradient(modes.phi)

    # Step 2: the profile of the release height, on a grid around every mode that is not hopeless.
    good = np.nonzero(np.isfinite(modes.cost) & (modes.cost <= modes.cost[best] + 12.0))[0]
    storey_m = float(np.median(np.diff(edges)))
    spacing = prior.profile_spacing_storeys * storey_m
    grid_set: set[float] = set()
    base = float(mode_rel[best, 2])
    if not math.isfinite(base):
        return _unlocated(fit, "ballistic-fit(no-release-found)")
    for i in good:
        zi = float(mode_rel[i, 2])
        cov = np.linalg.pinv(modes.J[i].T @ modes.J[i], rcond=1e-12, hermitian=True)
        sd = math.sqrt(max(float(grad_z[i] @ cov @ grad_z[i]), 0.0))
        if not (math.isfinite(zi) and math.isfinite(sd)):
            continue  # a mode whose release the flight cannot reach (overflow): no profile around it
        reach = min(max(prior.profile_min_storeys * storey_m, 3.5 * sd), prior.profile_max_storeys * storey_m)
        # On a lattice through the best mode (``base``), so that the peak itself is a profile point.
        k0 = math.floor((zi - reach - base) / spacing)
        grid_set.update(base + spacing * k for k in range(k0, math.ceil((zi + reach - base) / spacing) + 1))
    grid = np.array(sorted(z for z in grid_set if edges[0] - spacing <= z <= edges[-1] + spacing))
    if grid.size:
        grid = grid[np.r_[True, np.diff(grid) > 1e-6]]
    if len(grid) < 2:  # every mode's lattice lies outside the building (or none could be built)
        return _unlocated(fit, "ballistic-fit(outside-building)")
    mode_of = good[np.argmin(np.abs(grid[:, None] - mode_rel[good, 2][None, :]), axis=1)]
    starts = _storey_starts(prob, modes, mode_of, grid)
    lo, hi = _bounds(len(grid), prior)
    prof = _levenberg_marquardt(prob, starts, lo, hi, 20, grid, grid, abandon_above=float(modes.cost[best]) + 40.0)

    # The wall is a Gaussian kernel of width model_sigma_m, so each profile point is, by Laplace, the
    # kernel-smoothed marginal density of the release height (the kernel doubles as the model error):
    #     log p̃(z_j) = −C_j − ½ log det H_j,   C = ½|r_data|²/temperature + ½((z_r − z_j)/w)².
    temp = prior.temperature
    n_res = prof.r.shape[1] - 1  # the last residual is the kernel around the grid height
    with np.errstate(over="ignore", invalid="ignore"):
        prof_rel = prob.release(prof.phi)
    logp = np.full(len(grid), -np.inf)
    half_logdet = np.zeros(len(grid))
    for k in range(len(grid)):
        Jd, rd = prof.J[k, :n_res], prof.r[k, :n_res]
        jw, rw = prof.J[k, n_res], float(prof.r[k, n_res])
        with np.errstate(over="ignore", invalid="ignore"):  # a profile point whose fit ran off has no density
            cost = 0.5 * float(rd @ rd) / temp + 0.5 * rw * rw
            H = Jd.T @ Jd / temp + np.outer(jw, jw) + np.eye(N_PARAMS) * 1e-9
            sign, logdet = np.linalg.slogdet(H)
        if np.isfinite(cost) and np.isfinite(logdet) and sign > 0:
            logp[k] = -cost
            half_logdet[k] = 0.5 * logdet
    # The Laplace volume jumps where neighbouring profile points land on different branches of a flat valley
    # (drag against time since release); its running median keeps the trend and drops the jumps.
    finite = np.isfinite(logp)
    if finite.sum() >= 3:
        v = half_logdet[finite]
        padded = np.concatenate([v[:1], v, v[-1:]])
        half_logdet[finite] = np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)
    logp = logp - half_logdet
    ok = np.isfinite(logp)
    if ok.sum() < 2:
        return _unlocated(fit, "ballistic-fit(no-release-found)")

    # Step 3: storey masses of the profile, interpolated (cubic in log p̃) on a 5 cm grid within each unbroken
    # run of profile points (separate modes leave gaps, which hold no mass).
    zg, lg = grid[ok], logp[ok] - logp[ok].max()
    breaks = np.nonzero(np.diff(zg) > 1.01 * spacing)[0] + 1
    fine_parts, log_parts = [], []
    for zs, ls in zip(np.split(zg, breaks), np.split(lg, breaks), strict=True):
        zf = np.arange(zs[0], zs[-1] + 1e-9, 0.05) if len(zs) > 1 else zs
        fine_parts.append(zf)
        log_parts.append(CubicSpline(zs, ls)(zf) if len(zs) >= 3 else np.interp(zf, zs, ls))
    fine, log_fine = np.concatenate(fine_parts), np.concatenate(log_parts)
    dens = np.exp(np.minimum(log_fine, 0.5))
    dens /= dens.sum()
    idx = np.searchsorted(edges, fine, side="right") - 1
    inside = (idx >= 0) & (idx < len(edges) - 1)
    probs = np.bincount(idx[inside], weights=dens[inside], minlength=len(edges) - 1).astype(np.float64)
    if probs.sum() < 1e-9:
        return _unlocated(fit, "ballistic-fit(outside-building)")
    probs /= probs.sum()
    z_mean = float(dens @ fine)
    z_std = math.sqrt(max(float(dens @ (fine - z_mean) ** 2), 0.0))
    top = int(np.argmax(probs))
    # Release point: the best mode if it lies in the top storey, else the best profile point inside it.
    in_top = np.nonzero(ok & (grid >= edges[top]) & (grid < edges[top + 1]))[0]
    if edges[top] <= mode_rel[best, 2] < edges[top + 1] or len(in_top) == 0:
        psi, rel = modes.phi[best], mode_rel[best]
    else:
        k_top = int(in_top[np.argmax(logp[in_top])])
        psi, rel = prof.phi[k_top], prof_rel[k_top]
    names = cal.floor_names
    floor_probs = {names[i]: float(p) for i, p in enumerate(probs) if p >= 0.0005}
    norm = sum(floor_probs.values())
    floor_probs = {k: p / norm for k, p in floor_probs.items()}
    x, y, z = (float(c) for c in rel[:3])
    n_pix = 2 * fit.n_points
    r_best = modes.r[best]
    return ReleaseEstimate(
        floor=names[top],
        column=cal.column_at(x),
        x=x,
        y=y,
        z=z,
        t_release_s=t0 - float(psi[_T]),
        floor_probabilities=floor_probs,
        rms_px=fit.rms_px,
        velocity0=(float(rel[3]), float(rel[4]), float(rel[5])),
        drag_per_m=float(g * math.exp(-2.0 * psi[_S])),
        n_points=fit.n_points,
        method="ballistic-release-fit",
        z_std_m=z_std,
        extras={
            "t_first_detection": round(t0, 3),
            "terminal_speed_m_s": round(float(math.exp(psi[_S])), 1),
            "pixel_sigma_px": round(prob.sigma_px, 2),
            "calibration_error_sigma": [round(float(c), 2) for c in psi[N_FLIGHT:]],
            "wind_m_s": [round(float(c), 2) for c in psi[_W]],
            # The best flight's cost split into its parts (½ Σ r², whitened): how well it reproduces the pixels,
            # and how far it had to stretch what is assumed of releases (hand speed, facade zone, drag, wind).
            "cost_pixels": round(0.5 * float(r_best[:n_pix] @ r_best[:n_pix]), 3),
            "cost_prior": round(0.5 * float(r_best[n_pix:] @ r_best[n_pix:]), 3),
        },
    )


def _unlocated(fit: TrajectoryFit, method: str) -> ReleaseEstimate:
    p = fit.release_position
    v = fit.release_velocity
    return ReleaseEstimate(
        floor=None,
        column=None,
        x=float(p[0]),
        y=float(p[1]),
        z=float(p[2]),
        t_release_s=fit.t_release_s,
        floor_probabilities={},
        rms_px=fit.rms_px,
        velocity0=(float(v[0]), float(v[1]), float(v[2])),
        drag_per_m=fit.drag_per_m,
        n_points=fit.n_points,
        method=method,
    )
