"""Benchmark of calibration fitting and trajectory back-projection on generated scenes.

    .venv/bin/python -m benchmarks.calibration_bench [--quick] [--throws N] [--seed S]

Throws: storeys 2–35 (3 m storeys, release 0.9–1.6 m above the slab), released 0–2 m in front of the facade
with a hand's velocity (outward 0–3 m/s, up −1…+2 m/s, sideways ±1 m/s), half of them with quadratic drag
k = 0.003–0.05 /m. Cameras 8–40 m from the facade, 1–5 m high, yaw ±15°, pitched so the release is in the
upper part of a 1920×1080 image, fx 1000–2200 px. The true flight is integrated with our own fine-step
(1 ms, semi-implicit Euler with drag — deliberately not the RK4 the estimator uses), projected with the true
camera, 0.3–1 px Gaussian noise added, sampled at 25 fps from a random 0.1–1.0 s after release, keeping only
frames inside the image, at most 2.5 s of track.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass

import numpy as np

from calibration import FacadeCalibration
from calibration.backproject import estimate_release
from calibration.camera import rotation_matrix, rotation_vector
from calibration.fit import CalibrationPoints, fit_calibration
from calibration.naive import naive_release

W, H = 1920, 1080
STOREY_M = 3.0
N_STOREYS = 40
FPS = 25.0


def facade(rng: np.random.Generator) -> dict:
    return {
        "image_size": [W, H],
        "floors": [{"name": str(i + 1), "z": STOREY_M * i} for i in range(N_STOREYS)],
        "roof_z": STOREY_M * N_STOREYS,
        "columns": [{"name": chr(65 + i), "x_min": 4.0 * i, "x_max": 4.0 * i + 4.0} for i in range(6)],
    }


def look_at(center: np.ndarray, yaw: float, pitch: float) -> np.ndarray:
    """Rotation building -> camera for a camera looking along +y, turned by yaw (about z) and pitched up."""
    base = rotation_matrix(np.array([math.pi / 2, 0.0, 0.0]))  # level camera looking into the facade
    R_pitch = rotation_matrix(np.array([-pitch, 0.0, 0.0]))  # camera x axis: positive = look down
    R_yaw = rotation_matrix(np.array([0.0, 0.0, yaw]))
    return R_pitch @ base @ R_yaw.T


def scene_calibration(
    rng: np.random.Generator, target_z: float, target_x: float, uncertainty: tuple[float, float]
) -> FacadeCalibration:
    dist = rng.uniform(8.0, 40.0)
    cam = np.array([target_x + rng.uniform(-8, 8), -dist, rng.uniform(1.0, 5.0)])
    fx = rng.uniform(1000.0, 2200.0)
    half_v = math.atan(H / 2 / fx)
    elev = math.atan2(target_z - cam[2], dist)
    pitch = elev - rng.uniform(0.2, 0.8) * half_v  # release in the upper part of the image
    yaw = math.atan2(target_x - cam[0], dist) + rng.uniform(-0.1, 0.1)
    R = look_at(cam, -yaw, pitch)
    t = -R @ cam
    return FacadeCalibration.model_validate(
        {
            **facade(rng),
            "intrinsics": {"fx": fx, "fy": fx, "cx": W / 2, "cy": H / 2},
            "extrinsics": {"rvec": rotation_vector(R).tolist(), "tvec": t.tolist()},
            "uncertainty": {"rotation_deg": uncertainty[0], "focal_rel": uncertainty[1]},
        }
    )


def perturbed(cal: FacadeCalibration, rng: np.random.Generator, deg: float, focal_rel: float) -> FacadeCalibration:
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    dR = rotation_matrix(axis * math.radians(deg))
    R = dR @ cal.camera.R
    t = dR @ cal.camera.t
    f = 1.0 + focal_rel * rng.choice([-1.0, 1.0])
    d = cal.model_dump()
    d["extrinsics"] = {"rvec": rotation_vector(R).tolist(), "tvec": t.tolist()}
    d["intrinsics"]["fx"] *= f
    d["intrinsics"]["fy"] *= f
    d["uncertainty"] = {"rotation_deg": deg, "focal_rel": focal_rel}
    return FacadeCalibration.model_validate(d)


def simulate_flight(p0: np.ndarray, v0: np.ndarray, k: float, t_end: float, dt: float = 0.001) -> np.ndarray:
    """Semi-implicit Euler with quadratic drag at a 1 ms step: states (n, 3) positions at t = 0, dt, …"""
    n = int(t_end / dt) + 1
    out = np.empty((n, 3))
    p, v = p0.astype(float).copy(), v0.astype(float).copy()
    for i in range(n):
        out[i] = p
        a = np.array([0.0, 0.0, -9.81]) - k * np.linalg.norm(v) * v
        v = v + a * dt
        p = p + v * dt
    return out


@dataclass
class Throw:
    cal: FacadeCalibration
    storey: str
    t: np.ndarray
    uv: np.ndarray


def make_throw(rng: np.random.Generator, uncertainty: tuple[float, float]) -> Throw | None:
    storey = int(rng.integers(2, 36))
    z = STOREY_M * (storey - 1) + rng.uniform(0.9, 1.6)
    x = rng.uniform(2.0, 20.0)
    y = -rng.uniform(0.0, 2.0)
    v0 = np.array([rng.uniform(-1, 1), -rng.uniform(0, 3), rng.uniform(-1, 2)])
    k = 0.0 if rng.random() < 0.5 else math.exp(rng.uniform(math.log(0.003), math.log(0.05)))
    cal = scene_calibration(rng, z, x, uncertainty)
    path = simulate_flight(np.array([x, y, z]), v0, k, 6.0)
    delay = rng.uniform(0.1, 1.0)
    idx = np.arange(round(delay * 1000), len(path), round(1000 / FPS))
    idx = idx[path[idx, 2] > 0.0]
    if len(idx) < 5:
        return None
    uv = cal.project(path[idx]) + rng.normal(0.0, rng.uniform(0.3, 1.0), (len(idx), 2))
    inside = np.all(np.isfinite(uv), axis=1) & (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
    first = np.argmax(inside) if inside.any() else 0
    keep = np.zeros_like(inside)
    run = inside[first:]
    stop = first + (np.argmin(run) if not run.all() else len(run))
    keep[first:stop] = True  # one contiguous in-image stretch, as a tracker would report
    t = idx * 0.001
    keep &= t <= t[first] + 2.5
    if keep.sum() < 5:
        return None
    return Throw(cal, str(storey), t[keep], uv[keep])


def bench_backprojection(n: int, seed: int, perturb: bool) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    exact = within1 = naive_exact = naive_within1 = 0
    right_confident = right = wrong = 0
    wrong_top: list[float] = []
    done = skipped = 0
    elapsed = 0.0
    unc = (1.0, 0.02) if perturb else (0.1, 0.005)
    while done < n:
        throw = make_throw(rng, unc)
        if throw is None:
            skipped += 1
            continue
        cal = perturbed(throw.cal, rng, 1.0, 0.02) if perturb else throw.cal
        t0 = time.perf_counter()
        est = estimate_release(cal, throw.t, throw.uv)
        elapsed += time.perf_counter() - t0
        nv = naive_release(cal, throw.t, throw.uv)
        truth = int(throw.storey)
        done += 1
        if est is not None and est.floor is not None:
            got = int(est.floor)
            exact += got == truth
            within1 += abs(got - truth) <= 1
            if got == truth:
                right += 1
                right_confident += est.floor_probabilities.get(throw.storey, 0.0) >= 0.5
            else:
                wrong += 1
                wrong_top.append(max(est.floor_probabilities.values()))
        if nv is not None and nv.floor is not None:
            naive_exact += int(nv.floor) == truth
            naive_within1 += abs(int(nv.floor) - truth) <= 1
        if done % 25 == 0:
            print(f"  {'perturbed' if perturb else 'nominal'}: {done}/{n} throws", file=sys.stderr, flush=True)
    return {
        "throws": n,
        "skipped (track < 5 px points)": skipped,
        "exact": exact / n,
        "within ±1": within1 / n,
        "P(true) ≥ 0.5 when top right": right_confident / max(1, right),
        "mean top P when wrong": float(np.mean(wrong_top)) if wrong_top else float("nan"),
        "naive exact": naive_exact / n,
        "naive within ±1": naive_within1 / n,
        "ms per track": 1000 * elapsed / n,
    }


def bench_fit(n: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    pose_err: list[float] = []
    rms_ratio: list[float] = []
    detected = clicks = false_flags = 0
    for i in range(n):
        cal = scene_calibration(rng, rng.uniform(15, 60), rng.uniform(5, 15), (0.1, 0.01))
        m = int(rng.integers(10, 21))
        noise = rng.uniform(1.0, 2.0)
        xyz = np.column_stack([rng.uniform(0, 24, 200), np.zeros(200), rng.integers(0, 40, 200) * STOREY_M])
        uv = cal.project(xyz)
        ok = np.all(np.isfinite(uv), axis=1) & (uv[:, 0] > 20) & (uv[:, 0] < W - 20)
        ok &= (uv[:, 1] > 20) & (uv[:, 1] < H - 20)
        xyz, uv = xyz[ok][:m], uv[ok][:m]
        uv = uv + rng.normal(0, noise, uv.shape)
        bad = -1
        if i % 2 == 1:
            bad = int(rng.integers(0, len(uv)))
            ang = rng.uniform(0, 2 * math.pi)
            uv[bad] += 50.0 * np.array([math.cos(ang), math.sin(ang)])
            clicks += 1
        d = facade(rng)
        d["points"] = [{"u": a, "v": b, "x": x, "z": z} for (a, b), (x, _y, z) in zip(uv, xyz, strict=True)]
        try:
            fit = fit_calibration(CalibrationPoints.model_validate(d))
        except Exception as exc:  # a refused calibration counts as a pose failure
            print(f"  fit {i}: refused: {exc}", file=sys.stderr)
            pose_err.append(float("inf"))
            continue
        R = fit.calibration.camera.R @ cal.camera.R.T
        pose_err.append(math.degrees(math.acos(np.clip((np.trace(R) - 1) / 2, -1, 1))))
        rms_ratio.append(fit.rms_px / noise / math.sqrt(2.0))  # 2-D RMS of σ-per-axis noise is σ√2
        detected += bad in fit.outliers
        false_flags += len([o for o in fit.outliers if o != bad])
    errs = np.array(pose_err)
    return {
        "point sets": n,
        "pose error median °": float(np.median(errs)),
        "pose error max °": float(np.max(errs)),
        "pose within 0.5°": float(np.mean(errs <= 0.5)),
        "reported RMS / true RMS (median)": float(np.median(rms_ratio)),
        "50 px mis-click detected": detected / max(1, clicks),
        "false flags per set": false_flags / n,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small run (~30 s)")
    ap.add_argument("--throws", type=int, help="throws per back-projection table (default 200, quick 40)")
    ap.add_argument("--fits", type=int, help="point sets for the fit table (default 40, quick 10)")
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    n = args.throws or (40 if args.quick else 200)
    nf = args.fits or (10 if args.quick else 40)
    t0 = time.perf_counter()
    tables = {
        "back-projection, true calibration": bench_backprojection(n, args.seed, perturb=False),
        "back-projection, calibration off by 1° and 2 % focal": bench_backprojection(n, args.seed + 1, True),
        "calibrate fit, 1–2 px clicks, every 2nd set with one 50 px mis-click": bench_fit(nf, args.seed + 2),
    }
    for title, rows in tables.items():
        print(f"\n{title}")
        for key, val in rows.items():
            print(f"  {key:<40} {val:>8.3f}" if isinstance(val, float) else f"  {key:<40} {val:>8}")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
