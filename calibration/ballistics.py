"""Point-mass flight under gravity with quadratic air drag.

    dp/dt = v,    dv/dt = −g·ẑ − k·|v|·v

``k`` (1/m) is ``ρ·C_d·A / (2m)``: 0 for a dense object (a flower pot), ~0.01–0.05 for a bottle or a shoe,
more for paper or a plastic bag (terminal speed ``sqrt(g/k)``). There is no closed form with drag, so states
are integrated with classical Runge–Kutta (RK4) on a uniform grid and read off at arbitrary times by cubic
Hermite interpolation (position and velocity are both known at the grid nodes, so the interpolant is
fourth-order accurate like the integrator).

Everything is batched: ``B`` initial states and drags are propagated at once, which is how the trajectory fit
evaluates its finite-difference Jacobian in one pass.
"""

from __future__ import annotations

import numpy as np

from calibration.camera import FloatArray

GRAVITY_M_S2 = 9.81
DEFAULT_STEP_S = 0.04


def acceleration(v: FloatArray, drag_per_m: FloatArray, gravity_m_s2: float = GRAVITY_M_S2) -> FloatArray:
    """``a = −g·ẑ − k·|v|·v`` for velocities ``(B, 3)`` and drags ``(B,)``."""
    speed = np.sqrt(v[:, 0] * v[:, 0] + v[:, 1] * v[:, 1] + v[:, 2] * v[:, 2])
    a = -(drag_per_m * speed)[:, None] * v
    a[:, 2] -= gravity_m_s2
    return a


def rk4_grid(
    state0: FloatArray, drag_per_m: FloatArray, h_s: float, n_steps: int, gravity_m_s2: float = GRAVITY_M_S2
) -> FloatArray:
    """States ``(B, n_steps + 1, 6)`` at times ``0, h, 2h, …`` (``h`` may be negative: integrate backwards)."""
    out = np.empty((state0.shape[0], n_steps + 1, 6))
    p = state0[:, :3].copy()
    v = state0[:, 3:].copy()
    out[:, 0, :3] = p
    out[:, 0, 3:] = v
    k = drag_per_m
    for i in range(1, n_steps + 1):
        a1 = acceleration(v, k, gravity_m_s2)
        v2 = v + 0.5 * h_s * a1
        a2 = acceleration(v2, k, gravity_m_s2)
        v3 = v + 0.5 * h_s * a2
        a3 = acceleration(v3, k, gravity_m_s2)
        v4 = v + h_s * a3
        a4 = acceleration(v4, k, gravity_m_s2)
        p = p + h_s / 6.0 * (v + 2.0 * v2 + 2.0 * v3 + v4)
        v = v + h_s / 6.0 * (a1 + 2.0 * a2 + 2.0 * a3 + a4)
        out[:, i, :3] = p
        out[:, i, 3:] = v
    return out


def positions_at(
    state0: FloatArray,
    drag_per_m: FloatArray,
    times_s: FloatArray,
    gravity_m_s2: float = GRAVITY_M_S2,
    max_step_s: float = DEFAULT_STEP_S,
) -> FloatArray:
    """Positions ``(B, N, 3)`` at ``times_s`` (``(N,)``, all ``>= 0``, relative to the initial state).

    ``state0`` is ``(B, 6)``: position then velocity.
    """
    times = np.asarray(times_s, dtype=np.float64)
    t_end = float(times.max()) if len(times) else 0.0
    n = max(1, int(np.ceil(t_end / max_step_s)))
    h = t_end / n if t_end > 0 else max_step_s
    grid = rk4_grid(state0, drag_per_m, h, n, gravity_m_s2)
    s = times / h
    i = np.clip(np.floor(s).astype(int), 0, n - 1)
    f = (s - i)[None, :, None]
    p0, v0 = grid[:, i, :3], grid[:, i, 3:]
    p1, v1 = grid[:, i + 1, :3], grid[:, i + 1, 3:]
    f2, f3 = f * f, f * f * f
    h00 = 2 * f3 - 3 * f2 + 1
    h10 = f3 - 2 * f2 + f
    h01 = -2 * f3 + 3 * f2
    h11 = f3 - f2
    return np.asarray(h00 * p0 + h10 * h * v0 + h01 * p1 + h11 * h * v1)


def track_and_release(
    state0: FloatArray,
    drag_per_m: FloatArray,
    times_s: FloatArray,
    back_s: FloatArray,
    n_steps: int,
    gravity_m_s2: float = GRAVITY_M_S2,
    wind_m_s: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Positions ``(B, N, 3)`` at ``times_s`` ``(N,)`` (``>= 0``) after ``state0``, and the states ``(B, 6)``
    ``back_s`` ``(B,)`` before it — the same as :func:`positions_at_times` and :func:`propagate` with a
    negative duration, in one batched integration (the cost is per step, hardly per flight).

    ``wind_m_s`` ``(B, 2)``: horizontal wind; drag acts on the velocity relative to the air,
    ``dv/dt = −g·ẑ − k·|v − w|·(v − w)``."""
    b = len(state0)
    both = np.concatenate([state0, state0])
    k = np.concatenate([drag_per_m, drag_per_m])
    h = np.concatenate([np.full(b, max(float(times_s.max()), 1e-6) / n_steps), -back_s / n_steps])[:, None]
    p = both[:, :3].copy()
    v = both[:, 3:].copy()
    ps = np.empty((n_steps + 1, b, 3))
    vs = np.empty((n_steps + 1, b, 3))
    ps[0], vs[0] = p[:b], v[:b]
    minus_g = np.array([0.0, 0.0, -gravity_m_s2])
    kk = k[:, None]
    air = np.zeros((2 * b, 3))
    if wind_m_s is not None:
        air[:, :2] = np.concatenate([wind_m_s, wind_m_s])
    # The loop's constants, computed once: on these small arrays each numpy call costs far more than its
    # arithmetic, and the values are the same as computed in place (−(k·s)·r − g is −g − (k·s)·r exactly).
    half_h = 0.5 * h
    sixth_h = h / 6.0

    def acc(vel: FloatArray) -> FloatArray:
        rel = vel - air
        return minus_g - (kk * np.sqrt((rel * rel).sum(axis=1, keepdims=True))) * rel

    for i in range(1, n_steps + 1):
        a1 = acc(v)
        v2 = v + half_h * a1
        a2 = acc(v2)
        v3 = v + half_h * a2
        a3 = acc(v3)
        v4 = v + h * a3
        a4 = acc(v4)
        p = p + sixth_h * (v + 2.0 * (v2 + v3) + v4)
        v = v + sixth_h * (a1 + 2.0 * (a2 + a3) + a4)
        ps[i], vs[i] = p[:b], v[:b]
    hf = h[:b]
    s = times_s[None, :] / hf
    i = np.clip(np.floor(s).astype(np.intp), 0, n_steps - 1)
    f = (s - i)[..., None]
    rows = np.arange(b)[:, None]
    p0, v0, p1, v1 = ps[i, rows], vs[i, rows], ps[i + 1, rows], vs[i + 1, rows]
    f2 = f * f
    f3 = f2 * f
    hh = hf[:, :, None]
    pos = (2 * f3 - 3 * f2 + 1) * p0 + (f3 - 2 * f2 + f) * hh * v0 + (3 * f2 - 2 * f3) * p1 + (f3 - f2) * hh * v1
    return np.asarray(pos), np.concatenate([p[b:], v[b:]], axis=1)
