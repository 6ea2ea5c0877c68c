"""Synthetic scenes of objects falling or thrown from a high-rise facade, with exact ground truth.

A scene is fully described by a :class:`FallingSceneSpec` (made from a seed by :func:`random_spec`);
:func:`render_scene` writes ``<name>.mp4``, ``<name>.calibration.yaml`` (the calibration contract of
DESIGN.md) and ``<name>.truth.json``. Truth pixel positions are the projection, with the written calibration
(distortion included), of the object's centre at each frame's presentation time ``t = frame_index / fps``;
the motion-blur exposure of that frame is centred on the same instant. See docs/scenes.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from edgewatch.scenes.camera import PinholeCamera, distortion_is_monotonic, look_at_camera
from edgewatch.scenes.distractors import DISTRACTOR_TYPES, SceneContext, Trees, build_distractors
from edgewatch.scenes.facade import BuildingSpec, column_name, random_building, render_background
from edgewatch.scenes.physics import FallTrajectory, drag_constant, integrate_fall, terminal_velocity_mps
from edgewatch.scenes.sprites import draw_blurred, regular_polygon
from edgewatch.scenes.video import H264Writer

SHUTTER_S = 1.0 / 50.0
SAMPLE_DIR = "sample_videos/falling"


# ------------------------------------------------------------------------------------------------ spec


@dataclass(frozen=True)
class ThrowSpec:
    """One falling object: what it is, where and when it leaves the building, how it moves."""

    release_t_s: float
    floor_index: int  # 0-based storey index; the storey's name is str(floor_index + 1)
    column_index: int
    release_xyz_m: tuple[float, float, float]
    velocity0_mps: tuple[float, float, float]
    kind: str  # bottle | bag | flower_pot | phone | stone | shoe | box
    size_m: float
    mass_kg: float
    drag_area_m2: float
    drag_coefficient: float
    color_bgr: tuple[int, int, int]
    detail_bgr: tuple[int, int, int]
    spin_rad_s: float
    low_contrast: bool


@dataclass(frozen=True)
class FallingSceneSpec:
    seed: int
    width: int
    height: int
    fps: float
    duration_s: float
    building: BuildingSpec
    camera: PinholeCamera
    throws: tuple[ThrowSpec, ...]
    distractors: tuple[str, ...]
    wind_mps: tuple[float, float] = (0.0, 0.0)
    ignore_trees: bool = False
    crf: int = 23
    camera_id: str = "synthetic-cam"
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return round(self.duration_s * self.fps)


# ----------------------------------------------------------------------------------------- objects

# kind: (size range m, mass per size³ kg/m³ range, drag-area factor × size², Cd, colours)
OBJECTS: dict[str, tuple[tuple[float, float], tuple[float, float], float, float, list[tuple[int, int, int]]]] = {
    "bottle": ((0.2, 0.35), (25.0, 60.0), 0.25, 0.9, [(40, 110, 40), (30, 60, 100), (200, 205, 195), (160, 90, 30)]),
    "bag": ((0.25, 0.4), (20.0, 60.0), 0.6, 1.1, [(28, 28, 30), (235, 235, 235), (150, 90, 40), (40, 160, 200)]),
    "flower_pot": ((0.12, 0.3), (250.0, 700.0), 0.6, 1.0, [(60, 90, 175), (80, 110, 190), (220, 220, 220)]),
    "phone": ((0.13, 0.17), (45.0, 80.0), 0.35, 1.1, [(25, 25, 28), (200, 200, 205), (120, 80, 40)]),
    "stone": ((0.05, 0.12), (900.0, 1600.0), 0.7, 1.0, [(110, 112, 115), (80, 95, 130), (150, 150, 145)]),
    "shoe": ((0.24, 0.3), (15.0, 25.0), 0.35, 1.0, [(30, 30, 30), (230, 230, 230), (60, 40, 140)]),
    "box": ((0.15, 0.4), (15.0, 80.0), 0.8, 1.05, [(110, 160, 195), (200, 200, 200), (60, 60, 200)]),
}


def object_shape(kind: str, size_m: float) -> tuple[np.ndarray, np.ndarray | None]:
    """Outline (and an optional detail part) in metres around the centre, longest side = ``size_m``."""
    L = size_m
    if kind == "bottle":
        body = (
            np.array(
                [
                    [-0.5, -0.15],
                    [0.2, -0.15],
                    [0.32, -0.06],
                    [0.5, -0.06],
                    [0.5, 0.06],
                    [0.32, 0.06],
                    [0.2, 0.15],
                    [-0.5, 0.15],
                ]
            )
            * L
        )
        return body, np.array([[-0.3, -0.15], [0.05, -0.15], [0.05, 0.15], [-0.3, 0.15]]) * L
    if kind == "bag":
        a = np.linspace(0, 2 * math.pi, 11, endpoint=False)
        r = 0.5 * L * (0.75 + 0.25 * np.cos(3 * a + 1.0))
        return np.stack([r * np.cos(a), 0.8 * r * np.sin(a)], 1), None
    if kind == "flower_pot":
        body = np.array([[-0.5, -0.4], [0.5, -0.4], [0.35, 0.45], [-0.35, 0.45]]) * L
        return body, np.array([[-0.5, -0.4], [0.5, -0.4], [0.47, -0.28], [-0.47, -0.28]]) * L
    if kind == "phone":
        return np.array([[-0.5, -0.24], [0.5, -0.24], [0.5, 0.24], [-0.5, 0.24]]) * L, None
    if kind == "stone":
        return regular_polygon(7, 0.5 * L, 0.38 * L) * (1 + 0.1 * np.cos(np.arange(7) * 2.1))[:, None], None
    if kind == "shoe":
        return np.array([[-0.5, 0.0], [-0.45, -0.2], [0.1, -0.2], [0.5, 0.05], [0.45, 0.18], [-0.5, 0.18]]) * L, None
    return np.array([[-0.5, -0.35], [0.5, -0.35], [0.5, 0.35], [-0.5, 0.35]]) * L, None


def _random_object(rng: np.random.Generator) -> dict[str, Any]:
    kind = str(rng.choice(list(OBJECTS)))
    (s0, s1), (d0, d1), area_f, cd, colours = OBJECTS[kind]
    size = float(rng.uniform(s0, s1))
    mass = float(rng.uniform(d0, d1) * size**3)
    area = area_f * size**2
    k = drag_constant(mass, area, cd)
    vt = terminal_velocity_mps(k)
    if vt < 15.0 or vt > 60.0:  # keep to realistic terminal speeds: adjust the mass, not the look
        vt_target = min(max(vt, 15.0), 60.0)
        mass = mass * (vt_target / vt) ** 2
    col = np.array(colours[int(rng.integers(len(colours)))], float) * rng.uniform(0.85, 1.15, 3)
    detail = np.clip(col * rng.uniform(0.4, 1.6), 0, 255)
    return {
        "kind": kind,
        "size_m": size,
        "mass_kg": mass,
        "drag_area_m2": area,
        "drag_coefficient": cd,
        "color": tuple(int(c) for c in np.clip(col, 0, 255)),
        "detail": tuple(int(c) for c in detail),
        "spin": float(rng.uniform(-14, 14)),
        "low_contrast": bool(rng.random() < 0.25),
    }


# ----------------------------------------------------------------------------------------- building


def _balcony_boxes(b: BuildingSpec) -> np.ndarray:
    """Boxes (x0, x1, y0, y1, z0, z1) of every balcony (slab to rail top)."""
    boxes = []
    for si in range(b.n_storeys):
        for ci in range(len(b.column_edges_m) - 1):
            if b.has_balcony(si, ci):
                zf = b.floor_z_m[si]
                boxes.append(
                    (
                        b.column_edges_m[ci] + 0.15,
                        b.column_edges_m[ci + 1] - 0.15,
                        -b.balcony_depth_m,
                        0.0,
                        zf - 0.18,
                        zf + b.rail_height_m,
                    )
                )
    return np.array(boxes).reshape(-1, 6)


def _hits_building(traj: FallTrajectory, b: BuildingSpec, boxes: np.ndarray) -> bool:
    p = traj.xyz_m[::5]
    if np.any(p[:, 1] > -0.02):
        return True
    if len(boxes) == 0:
        return False
    z0 = traj.xyz_m[0, 2]
    below = boxes[boxes[:, 5] < z0 - 0.05]
    inside = (
        (p[:, None, 0] >= below[None, :, 0])
        & (p[:, None, 0] <= below[None, :, 1])
        & (p[:, None, 1] >= below[None, :, 2] - 0.03)
        & (p[:, None, 1] <= below[None, :, 3])
        & (p[:, None, 2] >= below[None, :, 4])
        & (p[:, None, 2] <= below[None, :, 5])
    )
    return bool(inside.any())


def _in_view(cam: PinholeCamera, xyz: np.ndarray | list[float], margin: float = 0.05) -> np.ndarray:
    xyz = np.asarray(xyz, float).reshape(-1, 3)
    ok = cam.depth(xyz) > 1.0
    uv = cam.project(xyz)
    mw, mh = cam.width * margin, cam.height * margin
    return ok & (uv[:, 0] > mw) & (uv[:, 0] < cam.width - mw) & (uv[:, 1] > mh) & (uv[:, 1] < cam.height - mh)


def _random_throw(
    rng: np.random.Generator,
    b: BuildingSpec,
    cam: PinholeCamera,
    duration_s: float,
    wind: tuple[float, float],
    min_floor: int,
    max_floor: int,
    release_t_s: float | None,
) -> ThrowSpec | None:
    boxes = _balcony_boxes(b)
    cands = []
    for si in range(max(2, min_floor - 1), min(b.n_storeys, max_floor)):
        for ci in range(len(b.column_edges_m) - 1):
            zf = b.floor_z_m[si]
            xc = 0.5 * (b.column_edges_m[ci] + b.column_edges_m[ci + 1])
            if _in_view(cam, [xc, -1.0, zf + 1.0], 0.06)[0]:
                cands.append((si, ci))
    if not cands:
        return None
    for _ in range(30):
        si, ci = cands[int(rng.integers(len(cands)))]
        zf, ztop = b.floor_z_m[si], b.storey_top_m(si)
        xa, xb = b.column_edges_m[ci], b.column_edges_m[ci + 1]
        if b.has_balcony(si, ci):
            y = -b.balcony_depth_m - float(rng.uniform(0.08, 0.45))
            z = zf + b.rail_height_m + float(rng.uniform(0.0, 0.25))
            x = float(rng.uniform(xa + 0.3, xb - 0.3))
        else:
            y = -float(rng.uniform(0.1, 0.6))
            z = zf + b.sill_height_m + float(rng.uniform(0.1, 0.8))
            x = float(rng.uniform(max(xa + 0.2, 0.5 * (xa + xb) - 0.6), min(xb - 0.2, 0.5 * (xa + xb) + 0.6)))
        z = min(z, ztop - 0.05)
        obj = _random_object(rng)
        speed = float(rng.uniform(0.0, 3.0))
        direction = np.array(
            [
                rng.uniform(-0.6, 0.6),
                -rng.uniform(0.4, 1.0),
                rng.uniform(0.2, 0.8) if rng.random() < 0.3 else rng.uniform(-0.3, 0.1),
            ]
        )
        v0 = direction / np.linalg.norm(direction) * speed
        k = drag_constant(obj["mass_kg"], obj["drag_area_m2"], obj["drag_coefficient"])
        traj = integrate_fall((x, y, z), v0, k, wind_mps=wind)
        if _hits_building(traj, b, boxes):
            continue
        fall = traj.landing_t_s
        if release_t_s is None:
            hi = max(0.8, duration_s - fall - 0.4)
            t_rel = float(rng.uniform(0.5, hi)) if hi > 0.5 else 0.5
        else:
            t_rel = release_t_s
        t_rel = round(t_rel * 1000) / 1000
        return ThrowSpec(
            release_t_s=t_rel,
            floor_index=si,
            column_index=ci,
            release_xyz_m=(x, y, z),
            velocity0_mps=(float(v0[0]), float(v0[1]), float(v0[2])),
            kind=obj["kind"],
            size_m=obj["size_m"],
            mass_kg=obj["mass_kg"],
            drag_area_m2=obj["drag_area_m2"],
            drag_coefficient=obj["drag_coefficient"],
            color_bgr=obj["color"],
            detail_bgr=obj["detail"],
            spin_rad_s=obj["spin"],
            low_contrast=obj["low_contrast"],
        )
    return None


def _random_camera(
    rng: np.random.Generator, b: BuildingSpec, width: int, height: int, target_z: float | None
) -> PinholeCamera:
    for _ in range(50):
        d = float(rng.uniform(8, 40))
        h = float(rng.uniform(1, 5))
        hfov = float(rng.uniform(50, 90))
        vfov = 2 * math.degrees(math.atan(math.tan(math.radians(hfov / 2)) * height / width))
        xc = float(rng.uniform(0.25, 0.75) * b.width_m)
        tz = target_z if target_z is not None else float(rng.uniform(0.3, 0.8) * b.roof_z_m)
        pitch = math.degrees(math.atan2(tz - h, d)) + float(rng.uniform(-5, 5))
        pitch = min(max(pitch, 20.0), 60.0, 84.0 - vfov / 2)
        aim_x = float(rng.uniform(0.3, 0.7) * b.width_m)
        yaw = math.degrees(math.atan2(aim_x - xc, d / math.cos(math.radians(pitch)) + d)) + float(rng.uniform(-4, 4))
        yaw = min(max(yaw, -20.0), 20.0)
        roll = float(rng.uniform(-3, 3))
        dist = (0.0, 0.0, 0.0, 0.0, 0.0)
        if rng.random() < 0.4:
            dist = (
                float(rng.uniform(-0.22, -0.02)),
                float(rng.uniform(0.0, 0.06)),
                float(rng.uniform(-0.002, 0.002)),
                float(rng.uniform(-0.002, 0.002)),
                0.0,
            )
            r_max = math.tan(math.radians(hfov / 2)) * math.hypot(1, height / width)
            if not distortion_is_monotonic(dist, r_max):
                dist = (0.0, 0.0, 0.0, 0.0, 0.0)
        cam = look_at_camera((xc, -d, h), yaw, pitch, roll, width, height, hfov, dist)
        # the facade must fill a good part of the view
        if _in_view(cam, [aim_x, 0.0, min(tz, b.roof_z_m - 1)], 0.1)[0]:
            return cam
    return cam


def _spec_from_rng(
    seed: int,
    rng: np.random.Generator,
    *,
    width: int,
    height: int,
    duration_s: float,
    fps: float,
    n_throws: int | None,
    distractors: list[str] | None,
    min_floor: int = 3,
    max_floor: int = 35,
) -> FallingSceneSpec:
    if width % 2 or height % 2:
        raise ValueError(f"width and height must be even (H.264 yuv420p), got {width}x{height}")
    n_storeys = int(rng.integers(max(min_floor + 2, 8), max(max_floor, min_floor + 2) + 1))
    building = random_building(rng, n_storeys, f"Synthetic block {seed}")
    target_floor = int(rng.integers(min_floor, n_storeys))
    target_z = building.floor_z_m[min(target_floor, n_storeys - 1)] + 1.0
    cam = _random_camera(rng, building, width, height, target_z)
    wind = (float(rng.uniform(-2, 2)), float(rng.uniform(-0.5, 0.5)))
    if n_throws is None:
        n_throws = int(rng.choice([0, 1, 1, 2]))
    throws: list[ThrowSpec] = []
    for i in range(n_throws):
        t_rel = None
        if i > 0 and throws and rng.random() < 0.4:  # sometimes overlapping in time
            t_rel = min(throws[-1].release_t_s + float(rng.uniform(0.0, 1.5)), duration_s - 1.0)
        th = _random_throw(rng, building, cam, duration_s, wind, min_floor, max_floor, t_rel)
        if th is not None:
            throws.append(th)
    if distractors is None:
        chosen = [d for d in DISTRACTOR_TYPES if rng.random() < 0.45]
        if "noise" not in chosen and rng.random() < 0.7:
            chosen.append("noise")
        distractors = [d for d in DISTRACTOR_TYPES if d in chosen]
    unknown = set(distractors) - set(DISTRACTOR_TYPES)
    if unknown:
        raise ValueError(f"unknown distractor(s) {sorted(unknown)}; choose from {', '.join(DISTRACTOR_TYPES)}")
    return FallingSceneSpec(
        seed=seed,
        width=width,
        height=height,
        fps=fps,
        duration_s=duration_s,
        building=building,
        camera=cam,
        throws=tuple(throws),
        distractors=tuple(distractors),
        wind_mps=wind,
        ignore_trees=bool(rng.random() < 0.5),
        camera_id=f"synthetic-{seed}",
    )


def random_spec(
    seed: int,
    *,
    width: int = 1280,
    height: int = 720,
    duration_s: float = 10.0,
    fps: float = 25.0,
    n_throws: int | None = None,
    distractors: list[str] | None = None,
) -> FallingSceneSpec:
    """A random scene, deterministic from ``seed``. ``n_throws`` None → 0–2; ``distractors`` None → a random
    subset of :data:`DISTRACTOR_TYPES`."""
    rng = np.random.default_rng([seed, 17])
    return _spec_from_rng(
        seed,
        rng,
        width=width,
        height=height,
        duration_s=duration_s,
        fps=fps,
        n_throws=n_throws,
        distractors=distractors,
    )


# ------------------------------------------------------------------------------------------ calibration


def _facade_outline(cam: PinholeCamera, b: BuildingSpec) -> list[list[float]]:
    """Image polygon of the facade (y = 0), clipped to the view, distortion applied."""
    n = 60
    xs, zs = np.linspace(0, b.width_m, n), np.linspace(0, b.roof_z_m, n)
    edge = np.concatenate(
        [
            np.stack([xs, np.zeros(n), np.zeros(n)], 1),
            np.stack([np.full(n, b.width_m), np.zeros(n), zs], 1),
            np.stack([xs[::-1], np.zeros(n), np.full(n, b.roof_z_m)], 1),
            np.stack([np.zeros(n), np.zeros(n), zs[::-1]], 1),
        ]
    )
    pc = cam.to_camera(edge)
    from edgewatch.scenes.facade import clip_near, clip_rect

    pc = clip_near(pc, 0.5)
    if len(pc) < 3:
        return []
    xn = np.stack([pc[:, 0] / pc[:, 2], pc[:, 1] / pc[:, 2]], 1)
    # clip in normalised coordinates to a little more than the view, where the distortion polynomial is valid
    r = (
        np.array(
            [
                (0 - cam.cx) / cam.fx,
                (0 - cam.cy) / cam.fy,
                (cam.width - 1 - cam.cx) / cam.fx,
                (cam.height - 1 - cam.cy) / cam.fy,
            ]
        )
        * 1.05
    )
    xn = clip_rect(xn, r[0], r[1], r[2], r[3])
    if len(xn) < 3:
        return []
    pts = np.concatenate([xn, np.ones((len(xn), 1))], 1)
    uv = PinholeCamera(
        cam.width, cam.height, cam.fx, cam.fy, cam.cx, cam.cy, cam.dist, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)
    ).project(pts)
    uv = clip_rect(uv, 0, 0, cam.width - 1, cam.height - 1)
    # keep it short: drop vertices that are almost collinear
    out: list[list[float]] = []
    for p in uv:
        q = [round(float(p[0]), 1), round(float(p[1]), 1)]
        if not out or abs(out[-1][0] - q[0]) + abs(out[-1][1] - q[1]) > 2.0:
            out.append(q)
    return out


def _watch_area(cam: PinholeCamera, b: BuildingSpec, outward_m: float = 4.0, side_m: float = 2.0) -> list[list[float]]:
    """Image polygon to watch: the volume in front of the facade where a thrown object can be.

    An object thrown outwards is seen from below *outside* the facade's own outline (against the sky beside or
    above it), so the area is the convex hull of the box x ∈ [−side, W + side], y ∈ [−outward, 0],
    z ∈ [0, roof + 2 m], projected with distortion and clipped to the image. This is what a building manager
    is told to draw (docs/calibration.md).
    """
    n = 24
    xs = np.linspace(-side_m, b.width_m + side_m, n)
    ys = np.array([-outward_m, 0.0])
    zs = np.linspace(0.0, b.roof_z_m + 2.0, n)
    grid = np.array(np.meshgrid(xs, ys, zs, indexing="ij")).reshape(3, -1).T
    pc = cam.to_camera(grid)
    pc = pc[pc[:, 2] > 0.5]
    if len(pc) < 3:
        return []
    xn = pc[:, :2] / pc[:, 2:3]
    lim = np.array([-cam.cx / cam.fx, -cam.cy / cam.fy, (cam.width - 1 - cam.cx) / cam.fx,
                    (cam.height - 1 - cam.cy) / cam.fy]) * 1.05
    xn = np.clip(xn, lim[:2], lim[2:])  # the distortion polynomial is only valid near the view
    zero = (0.0, 0.0, 0.0)
    uv = PinholeCamera(cam.width, cam.height, cam.fx, cam.fy, cam.cx, cam.cy, cam.dist, zero, zero).project(
        np.concatenate([xn, np.ones((len(xn), 1))], 1))
    uv = np.clip(uv, [0, 0], [cam.width - 1, cam.height - 1]).astype(np.float32)
    hull = cv2.convexHull(uv).reshape(-1, 2)
    return [[round(float(u), 1), round(float(v), 1)] for u, v in hull]


def calibration_dict(spec: FallingSceneSpec, ignore_areas: list[list[list[float]]]) -> dict[str, Any]:
    """The calibration file (DESIGN.md contract) for the scene."""
    cam, b = spec.camera, spec.building
    return {
        "building": b.name,
        "camera_id": spec.camera_id,
        "image_size": [cam.width, cam.height],
        "intrinsics": {
            "model": "pinhole",
            "fx": float(cam.fx),
            "fy": float(cam.fy),
            "cx": float(cam.cx),
            "cy": float(cam.cy),
            "dist": [float(d) for d in cam.dist],
        },
        "extrinsics": {"rvec": [float(v) for v in cam.rvec], "tvec": [float(v) for v in cam.tvec]},
        "floors": [{"name": str(i + 1), "z": round(float(z), 4)} for i, z in enumerate(b.floor_z_m)],
        "roof_z": round(float(b.roof_z_m), 4),
        "columns": [
            {
                "name": column_name(i),
                "x_min": round(float(b.column_edges_m[i]), 4),
                "x_max": round(float(b.column_edges_m[i + 1]), 4),
            }
            for i in range(len(b.column_edges_m) - 1)
        ],
        "detection_area": _watch_area(cam, b),
        "ignore_areas": ignore_areas,
    }


# ------------------------------------------------------------------------------------------- rendering


@dataclass
class _ThrowState:
    spec: ThrowSpec
    traj: FallTrajectory
    shape_m: np.ndarray
    detail_m: np.ndarray | None
    color: np.ndarray
    detail: np.ndarray
    track: list[dict[str, Any]] = field(default_factory=list)


def _prepare_throw(th: ThrowSpec, spec: FallingSceneSpec, background: np.ndarray) -> _ThrowState:
    k = drag_constant(th.mass_kg, th.drag_area_m2, th.drag_coefficient)
    traj = integrate_fall(th.release_xyz_m, th.velocity0_mps, k, wind_mps=spec.wind_mps)
    shape, detail = object_shape(th.kind, th.size_m)
    color = np.array(th.color_bgr, np.float32)
    dcol = np.array(th.detail_bgr, np.float32)
    if th.low_contrast:  # take on the wall's colour behind the release point: hard to see
        uv = spec.camera.project(np.array([th.release_xyz_m]))[0]
        iu = int(np.clip(uv[0], 0, spec.width - 1))
        iv = int(np.clip(uv[1], 0, spec.height - 1))
        local = background[max(0, iv - 6) : iv + 7, max(0, iu - 6) : iu + 7].reshape(-1, 3).mean(0)
        mix = 0.75
        color = color * (1 - mix) + local.astype(np.float32) * mix
        dcol = dcol * (1 - mix) + local.astype(np.float32) * mix
    return _ThrowState(th, traj, shape, detail, color, dcol)


def _draw_throw(
    st: _ThrowState, frame: np.ndarray, spec: FallingSceneSpec, t_s: float, balcony_mask: np.ndarray
) -> tuple[float, float, float, np.ndarray, float] | None:
    """Draw the object at frame time ``t_s``; returns (u, v, coverage, xyz, size_px) or None before release."""
    th, cam = st.spec, spec.camera
    tr = t_s - th.release_t_s
    if tr < 0 or tr > st.traj.landing_t_s:
        return None
    xyz = st.traj.position_at(tr)[0]
    uv = cam.project(xyz[None])[0]
    scale = float(cam.local_scale_px_per_m(xyz[None])[0])
    size_px = th.size_m * scale
    # sub-frame samples over the shutter; enough that consecutive samples overlap
    t_lo, t_hi = tr - SHUTTER_S / 2, tr + SHUTTER_S / 2
    ends = st.traj.position_at(np.array([max(t_lo, 0.0), min(t_hi, st.traj.landing_t_s)]))
    streak = float(np.hypot(*(cam.project(ends)[1] - cam.project(ends)[0])))
    n = int(np.clip(math.ceil(streak / max(size_px * 0.5, 0.5)) + 1, 3, 24))
    ts = tr + SHUTTER_S * ((np.arange(n) + 0.5) / n - 0.5)
    # before release the object is held still at the release point; after landing it lies on the ground
    pos = st.traj.position_at(ts)
    if cam.depth(pos).min() < 0.3:
        return float(uv[0]), float(uv[1]), 0.0, xyz, size_px
    centres = cam.project(pos)
    angles = th.spin_rad_s * (ts + th.release_t_s)
    shading = 0.8 + 0.2 * np.cos(2 * angles + 0.7)
    occlusion = balcony_mask if xyz[1] > -spec.building.balcony_depth_m else None
    cov = draw_blurred(
        frame,
        st.shape_m * scale,
        centres,
        angles,
        st.color,
        detail_px=None if st.detail_m is None else st.detail_m * scale,
        detail_bgr=st.detail,
        shading=shading,
        occlusion=occlusion,
    )
    if occlusion is not None:
        iu, iv = round(uv[0]), round(uv[1])
        if 0 <= iu < spec.width and 0 <= iv < spec.height and balcony_mask[iv, iu] > 127:
            cov = 0.0
    return float(uv[0]), float(uv[1]), cov, xyz, size_px


def render_scene(
    spec: FallingSceneSpec,
    out_dir: Path,
    name: str,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Path]:
    """Render the scene to ``out_dir/<name>.mp4`` with its calibration and truth files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cam = spec.camera
    bg = render_background(spec.building, cam, spec.seed)
    ctx = SceneContext(cam, spec.building, bg, spec.fps, spec.duration_s, SHUTTER_S)
    distractors = build_distractors(ctx, list(spec.distractors), spec.seed)
    throws = [_prepare_throw(th, spec, bg.image) for th in spec.throws]
    trees = distractors.get("trees")
    ignore: list[list[list[float]]] = []
    if isinstance(trees, Trees) and spec.ignore_trees and len(trees.outline_px):
        ignore.append([[round(float(u), 1), round(float(v), 1)] for u, v in trees.outline_px])
    jitter = distractors.get("jitter")
    before = [distractors[k] for k in ("laundry",) if k in distractors]
    after_objects = [
        distractors[k]
        for k in ("birds", "leaves", "paper", "trees", "lighting", "rain", "insects", "jitter", "noise")
        if k in distractors
    ]
    paths = {
        "video": out_dir / f"{name}.mp4",
        "calibration": out_dir / f"{name}.calibration.yaml",
        "truth": out_dir / f"{name}.truth.json",
    }
    n = spec.n_frames
    frame = np.empty_like(bg.image)
    with H264Writer(paths["video"], cam.width, cam.height, fps=spec.fps, crf=spec.crf) as writer:
        for fi in range(n):
            t = fi / spec.fps
            frame[:] = bg.image
            for d in before:
                d.draw(frame, t)
            drawn = []
            for st in throws:
                r = _draw_throw(st, frame, spec, t, bg.balcony_mask)
                if r is not None:
                    drawn.append((st, r))
            for d in after_objects:
                d.draw(frame, t)
            shake = jitter.offset_px(t) if jitter is not None and hasattr(jitter, "offset_px") else (0.0, 0.0)
            for st, (u, v, cov, xyz, size_px) in drawn:
                tree_cov = trees.coverage(u, v) if isinstance(trees, Trees) else 0.0
                inside = 0 <= u <= cam.width - 1 and 0 <= v <= cam.height - 1
                st.track.append(
                    {
                        "t": round(t, 6),
                        "u": round(u, 3),
                        "v": round(v, 3),
                        "xyz": [round(float(c), 4) for c in xyz],
                        "visible": bool(inside and cov > 0.25 and tree_cov < 0.5),
                        "size_px": round(size_px, 2),
                        "shake_px": [round(shake[0], 3), round(shake[1], 3)],
                    }
                )
            writer.write(frame)
            if progress is not None:
                progress(fi + 1, n)
    cal = calibration_dict(spec, ignore)
    paths["calibration"].write_text(yaml.safe_dump(cal, sort_keys=False, default_flow_style=None, width=200))
    truth = _truth(spec, name, throws, distractors, paths)
    paths["truth"].write_text(json.dumps(truth, indent=1))
    return paths


def _truth(
    spec: FallingSceneSpec, name: str, throws: list[_ThrowState], distractors: dict[str, Any], paths: dict[str, Path]
) -> dict[str, Any]:
    out_throws = []
    for i, st in enumerate(throws):
        th = st.spec
        vis = [p["t"] for p in st.track if p["visible"]]
        k = drag_constant(th.mass_kg, th.drag_area_m2, th.drag_coefficient)
        out_throws.append(
            {
                "id": i,
                "release_t_s": th.release_t_s,
                "floor": str(th.floor_index + 1),
                "column": column_name(th.column_index),
                "release_xyz": [round(c, 4) for c in th.release_xyz_m],
                "velocity0": [round(c, 4) for c in th.velocity0_mps],
                "size_m": round(th.size_m, 4),
                "terminal_velocity_mps": round(terminal_velocity_mps(k), 3),
                "landing_t_s": round(th.release_t_s + st.traj.landing_t_s, 4),
                "visible_from_s": vis[0] if vis else None,
                "visible_to_s": vis[-1] if vis else None,
                "object": {
                    "kind": th.kind,
                    "mass_kg": round(th.mass_kg, 4),
                    "drag_area_m2": round(th.drag_area_m2, 5),
                    "drag_coefficient": th.drag_coefficient,
                    "low_contrast": th.low_contrast,
                    "color_bgr": [int(c) for c in st.color],
                },
                "track": st.track,
            }
        )
    events = []
    for d in distractors.values():
        events.extend(d.events)
    events.sort(key=lambda e: (e["t_start_s"], e["type"]))
    return {
        "kind": "falling",
        "name": name,
        "seed": spec.seed,
        "fps": spec.fps,
        "duration_s": spec.duration_s,
        "image_size": [spec.width, spec.height],
        "video": paths["video"].name,
        "calibration": paths["calibration"].name,
        "distractors": list(spec.distractors),
        "wind_mps": list(spec.wind_mps),
        "shutter_s": SHUTTER_S,
        "throws": out_throws,
        "distractor_events": events,
    }


# ----------------------------------------------------------------------------------------------- sets


def generate_set(
    out_dir: Path,
    count: int,
    seed: int,
    *,
    width: int = 1280,
    height: int = 720,
    duration_s: float = 10.0,
    no_throw_fraction: float = 0.25,
    max_floor: int = 35,
    distractors: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> list[Path]:
    """Render ``count`` scenes named ``falling_<seed>_<i>``; returns the truth paths.

    Deterministic from ``seed``. About ``no_throw_fraction`` of the scenes have no throw; the others have one
    or two, and every third one aims at the top storeys (up to ``max_floor``). With ``distractors`` None,
    each scene gets a random subset plus two types in rotation, so every type appears across a set of five or
    more. ``progress(done_frames, total_frames)`` covers the whole set. ``workers`` > 1 renders scenes in
    that many processes (same files).
    """
    out_dir = Path(out_dir)
    specs = set_specs(count, seed, width=width, height=height, duration_s=duration_s,
                      no_throw_fraction=no_throw_fraction, max_floor=max_floor, distractors=distractors)
    per = round(duration_s * 25.0)
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            jobs = [(spec, out_dir, name) for name, spec in specs]
            truths = []
            for i, truth in enumerate(pool.imap(_render_job, jobs), 1):
                truths.append(truth)
                if progress is not None:
                    progress(i * per, count * per)
        return truths
    truths = []
    for i, (name, spec) in enumerate(specs):

        def prog(done: int, total: int, i: int = i) -> None:
            if progress is not None:
                progress(i * per + done, count * per)

        truths.append(render_scene(spec, out_dir, name, prog)["truth"])
    return truths


def _render_job(job: tuple[FallingSceneSpec, Path, str]) -> Path:
    spec, out_dir, name = job
    return render_scene(spec, out_dir, name)["truth"]


def set_specs(
    count: int,
    seed: int,
    *,
    width: int = 1280,
    height: int = 720,
    duration_s: float = 10.0,
    no_throw_fraction: float = 0.25,
    max_floor: int = 35,
    distractors: list[str] | None = None,
) -> list[tuple[str, FallingSceneSpec]]:
    """The (name, spec) pairs of :func:`generate_set`, in order; deterministic from ``seed``."""
    rng = np.random.default_rng([seed, 99])
    n_none = round(count * no_throw_fraction)
    no_throw = set(rng.permutation(count)[:n_none].tolist())
    fps = 25.0
    out = []
    for i in range(count):
        srng = np.random.default_rng([seed, i, 7])
        if distractors is None:
            chosen = {d for d in DISTRACTOR_TYPES if srng.random() < 0.35}
            chosen |= {DISTRACTOR_TYPES[(2 * i) % 10], DISTRACTOR_TYPES[(2 * i + 1) % 10]}
            ds = [d for d in DISTRACTOR_TYPES if d in chosen]
        else:
            ds = list(distractors)
        high = i % 3 == 0
        spec = _spec_from_rng(
            seed * 100_003 + i,
            srng,
            width=width,
            height=height,
            duration_s=duration_s,
            fps=fps,
            n_throws=0 if i in no_throw else int(srng.integers(1, 3)),
            distractors=ds,
            min_floor=max(3, max_floor - 6) if high else 3,
            max_floor=max_floor,
        )
        out.append((f"falling_{seed}_{i:03d}", spec))
    return out


def _sample_specs() -> list[tuple[str, FallingSceneSpec]]:
    """The committed samples: an easy mid-storey drop, a high outward throw with trees, birds and shake,
    and a clip with distractors only."""
    out = []
    easy = _find_spec(
        1,
        lambda s: (
            len(s.throws) == 1
            and 6 <= s.throws[0].floor_index + 1 <= 14
            and not s.throws[0].low_contrast
            and s.throws[0].size_m > 0.2
        ),
        n_throws=1,
        distractors=["noise"],
        min_floor=6,
        max_floor=14,
        duration_s=8.0,
    )
    out.append(("falling_easy_mid_floor", easy))
    high = _find_spec(
        2,
        lambda s: (
            len(s.throws) == 1
            and s.throws[0].floor_index + 1 >= 20
            and s.throws[0].velocity0_mps[1] < -1.0
            and s.building.n_storeys >= 24
        ),
        n_throws=1,
        distractors=["trees", "birds", "jitter", "noise"],
        min_floor=20,
        max_floor=32,
        duration_s=10.0,
    )
    out.append(("falling_high_throw_trees_birds", high))
    none = _find_spec(
        3,
        lambda s: True,
        n_throws=0,
        distractors=["trees", "birds", "leaves", "paper", "laundry", "lighting", "insects", "noise"],
        min_floor=3,
        max_floor=30,
        duration_s=8.0,
    )
    out.append(("falling_distractors_only", none))
    return out


def _find_spec(
    seed0: int,
    ok: Callable[[FallingSceneSpec], bool],
    *,
    n_throws: int,
    distractors: list[str],
    min_floor: int,
    max_floor: int,
    duration_s: float,
) -> FallingSceneSpec:
    for k in range(200):
        s = seed0 * 1000 + k
        spec = _spec_from_rng(
            s,
            np.random.default_rng([s, 17]),
            width=1280,
            height=720,
            duration_s=duration_s,
            fps=25.0,
            n_throws=n_throws,
            distractors=distractors,
            min_floor=min_floor,
            max_floor=max_floor,
        )
        if ok(spec):
            return FallingSceneSpec(**{**_shallow(spec), "crf": 28, "ignore_trees": False})
    raise RuntimeError("no sample scene matched its description; widen the search")


def _shallow(spec: FallingSceneSpec) -> dict[str, Any]:
    return {f: getattr(spec, f) for f in spec.__dataclass_fields__}


def write_samples(out_dir: Path) -> list[Path]:
    """Render the small committed sample set (three 720p clips); returns the truth paths."""
    paths = []
    for name, spec in _sample_specs():
        paths.append(render_scene(spec, Path(out_dir), name)["truth"])
    return paths


__all__ = [
    "DISTRACTOR_TYPES",
    "FallingSceneSpec",
    "ThrowSpec",
    "generate_set",
    "random_spec",
    "render_scene",
    "write_samples",
]
