"""Deterministic synthetic kitchen scenes with exact ground truth, for the kitchen detector and its training.

A seed gives a whole scene (:func:`random_spec`): room and layout, ceiling camera, lighting, staff and their
scripts. :func:`render_scene` writes ``<name>.mp4``, ``<name>.camera.yaml`` (the camera file contract) and
``<name>.truth.json`` (per-frame boxes, raw rule conditions and the violations the scene's rules must raise).
:func:`export_yolo_dataset` writes an Ultralytics dataset from many scenes. See docs/scenes-kitchen.md.

>>> spec = random_spec(7, width=640, height=360, duration_s=4.0)  # doctest: +SKIP
>>> render_scene(spec, Path("out"), "kitchen-7")["truth"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from edgewatch.scenes.kitchen_camera import CeilingCamera
from edgewatch.scenes.kitchen_layout import BIN_USE_RADIUS_M, Box3, KitchenLayout, random_layout
from edgewatch.scenes.kitchen_render import (
    LID_FULL_DEG,
    LID_OPEN_DEG,
    LID_SWING_S,
    DrawnObject,
    FloorStyle,
    KitchenRenderer,
    Lighting,
)
from edgewatch.scenes.kitchen_staff import HAT_STYLES, PersonState, StaffMember, plan_staff, state_at

__all__ = [
    "KITCHEN_CLASSES",
    "KitchenSceneSpec",
    "export_yolo_dataset",
    "generate_set",
    "random_spec",
    "render_scene",
    "write_samples",
]

#: YOLO classes, in class-id order. Heads carry exactly one of chef_hat | bare_head | other_headwear; the head
#: box covers head and headwear.
KITCHEN_CLASSES: tuple[str, ...] = ("person", "chef_hat", "bare_head", "other_headwear", "bin_open", "bin_closed")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class KitchenRules:
    missing_chef_hat_after_s: float
    uncovered_bin_after_s: float


@dataclass(frozen=True)
class KitchenSceneSpec:
    """Everything that determines a kitchen scene; :func:`random_spec` makes one from a seed."""

    seed: int
    width: int
    height: int
    duration_s: float
    fps: float
    camera: CeilingCamera
    layout: KitchenLayout
    floor: FloorStyle
    lighting: Lighting
    staff: tuple[StaffMember, ...]
    #: (bin name, time, open?) in time order
    lid_events: tuple[tuple[str, float, bool], ...]
    rules: KitchenRules
    camera_id: str
    pre_roll_s: float = 3.0
    post_roll_s: float = 3.0

    @property
    def n_frames(self) -> int:
        return round(self.duration_s * self.fps)

    def people_at(self, t: float) -> list[PersonState]:
        return [s for s in (state_at(m, t) for m in self.staff) if s is not None]

    def lid_deg_at(self, name: str, t: float) -> float:
        """Lid angle: it swings at LID_FULL_DEG / LID_SWING_S towards the state of the latest event."""
        rate = LID_FULL_DEG / LID_SWING_S
        angle, target, last = 0.0, 0.0, -math.inf
        for bn, te, is_open in self.lid_events:
            if bn != name:
                continue
            if te > t:
                break
            if last > -math.inf:
                angle = _approach(angle, target, rate * (te - last))
            target, last = (LID_FULL_DEG if is_open else 0.0), te
        return _approach(angle, target, rate * (t - last)) if last > -math.inf else 0.0

    def lids_at(self, t: float) -> dict[str, float]:
        return {b.name: self.lid_deg_at(b.name, t) for b in self.layout.bins}


def _approach(a: float, target: float, step: float) -> float:
    return min(target, a + step) if target > a else max(target, a - step)


# ---------------------------------------------------------------------------------------------- random spec

_FLOORS: list[tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]] = [
    ((60, 80, 160), (55, 72, 150), (90, 100, 120)),  # terracotta
    ((130, 130, 126), (122, 122, 118), (90, 90, 88)),  # grey
    ((150, 175, 190), (140, 165, 182), (110, 120, 130)),  # beige
    ((72, 72, 75), (66, 66, 70), (100, 100, 100)),  # dark
    ((205, 205, 202), (195, 196, 194), (150, 150, 150)),  # white
    ((205, 205, 202), (50, 50, 52), (120, 120, 120)),  # black and white checker
]
_WALL_TILES: list[tuple[int, int, int]] = [(232, 232, 228), (215, 228, 232), (200, 220, 200), (230, 215, 200),
                                           (190, 190, 190)]
_PAINTS: list[tuple[int, int, int]] = [(215, 220, 222), (190, 205, 210), (200, 200, 190), (170, 180, 185)]


def _in_view(cam: CeilingCamera, pts: np.ndarray, margin: float = 4.0) -> bool:
    uv, z = cam.project(pts)
    return bool(np.all(z > 0.2) and np.all(uv[:, 0] >= margin) and np.all(uv[:, 0] <= cam.width - margin)
                and np.all(uv[:, 1] >= margin) and np.all(uv[:, 1] <= cam.height - margin))


def random_spec(seed: int, *, width: int = 1280, height: int = 720, duration_s: float = 20.0,
                fps: float = 25.0) -> KitchenSceneSpec:
    """The kitchen scene of ``seed``: same seed and arguments, same scene, frame for frame."""
    if width % 2 or height % 2 or width < 64 or height < 64:
        raise ValueError(f"image size must be even and at least 64x64, got {width}x{height}")
    if duration_s <= 0 or fps <= 0:
        raise ValueError(f"duration_s and fps must be positive, got {duration_s}, {fps}")
    rng = np.random.default_rng(np.random.SeedSequence([0x6B17C4E2, seed]))
    for _attempt in range(40):
        W, D = float(rng.uniform(4.8, 7.2)), float(rng.uniform(4.5, 6.5))
        wall_h = float(rng.uniform(2.7, 3.1))
        hfov = float(rng.uniform(72.0, 86.0))
        cx, cy, cz = float(rng.uniform(0.15, 0.4)), float(rng.uniform(0.15, 0.4)), wall_h - 0.12
        yaw = math.degrees(math.atan2(0.55 * D - cy, 0.55 * W - cx)) + float(rng.uniform(-4, 4))
        yaw = float(np.clip(yaw, hfov / 2, 90 - hfov / 2))
        # aim a little beyond the middle of the room: the far counters must be in the picture
        pitch = math.degrees(math.atan2(cz, math.hypot(0.62 * W - cx, 0.62 * D - cy))) + float(rng.uniform(-3, 5))
        cam = CeilingCamera(cx, cy, cz, yaw, float(np.clip(pitch, 30.0, 50.0)), hfov, width, height)
        layout = random_layout(rng, W, D, wall_h)
        tables = [f.box for f in layout.fixtures if f.kind == "prep_table"]
        bins = [b.box for b in layout.bins]
        zones = [z.floor_corners() for z in layout.prep_zones]
        if bins and all(_in_view(cam, b.corners()) for b in tables + bins) and all(
            _in_view(cam, z.mean(0, keepdims=True) + (z - z.mean(0)) * 0.6, 0) for z in zones
        ):
            break
    fa, fb, fg = _FLOORS[int(rng.integers(len(_FLOORS)))]
    if rng.random() < 0.5:
        fb = fa
    floor = FloorStyle(float(rng.uniform(0.2, 0.45)), float(rng.uniform(0.004, 0.01)), fa, fb, fg,
                       _WALL_TILES[int(rng.integers(len(_WALL_TILES)))], _PAINTS[int(rng.integers(len(_PAINTS)))],
                       float(rng.uniform(1.5, 2.1)))
    mood = rng.random()
    tint = (0.82, 0.95, 1.12) if mood < 0.4 else (1.1, 1.02, 0.9) if mood < 0.7 else (1.0, 1.0, 1.0)
    dim = rng.random() < 0.2
    n_lamps = int(rng.integers(1, 4))
    lamps = tuple((float(rng.uniform(0.25, 0.85) * W), float(rng.uniform(0.25, 0.85) * D)) for _ in range(n_lamps))
    flicker = rng.random() < 0.3
    dips = tuple((float(rng.uniform(0, duration_s)), float(rng.uniform(0.05, 0.3)), float(rng.uniform(0.1, 0.35)))
                 for _ in range(int(rng.integers(1, 4)) if flicker else 0))
    lighting = Lighting(
        tint_bgr=tint,
        brightness=float(rng.uniform(0.45, 0.65) if dim else rng.uniform(0.8, 1.1)),
        ambient=float(rng.uniform(0.35, 0.6)),
        lamps_xy=lamps,
        flicker_amp=float(rng.uniform(0.02, 0.07)) if flicker else 0.0,
        flicker_hz=float(rng.uniform(0.5, 3.0)),
        dips=dips,
        shadow_strength=float(rng.uniform(0.4, 1.0)),
        noise_sigma=float(rng.uniform(0.8, 2.0)),
    )
    staff, lid_events = plan_staff(rng, layout, int(rng.integers(1, 6)), duration_s,
                                   p_compliant=float(rng.uniform(0.4, 0.85)),
                                   p_leave_open=float(rng.uniform(0.25, 0.6)))
    # bins somebody left open before the clip began
    opened = tuple((b.name, -1.0, True) for b in layout.bins if rng.random() < 0.2)
    lid_events = tuple(sorted(opened + lid_events, key=lambda e: e[1]))
    bin_t = [t for t in (5.0, 8.0, 10.0) if t <= max(5.0, duration_s / 2)]
    rules = KitchenRules(float(rng.choice([3.0, 4.0, 5.0])), float(rng.choice(bin_t)))
    return KitchenSceneSpec(seed, width, height, float(duration_s), float(fps), cam, layout, floor, lighting, staff,
                            lid_events, rules, f"synthetic-kitchen-{seed}")


# ---------------------------------------------------------------------------------------------- zones, rules


def _clip_to_image(poly: np.ndarray, width: int, height: int) -> np.ndarray:
    """Sutherland–Hodgman clip of a polygon to the image rectangle [0, w−1] × [0, h−1]."""
    out = [tuple(p) for p in poly]
    for axis, bound, keep_less in ((0, 0.0, False), (0, width - 1.0, True), (1, 0.0, False),
                                   (1, height - 1.0, True)):
        src, out = out, []
        if not src:
            break

        def inside(p: tuple[float, ...], axis: int = axis, bound: float = bound, keep_less: bool = keep_less) -> bool:
            return p[axis] <= bound if keep_less else p[axis] >= bound

        for i, cur in enumerate(src):
            prev = src[i - 1]
            if inside(cur) != inside(prev):
                s = (bound - prev[axis]) / (cur[axis] - prev[axis])
                out.append((prev[0] + s * (cur[0] - prev[0]), prev[1] + s * (cur[1] - prev[1])))
            if inside(cur):
                out.append(cur)
    return np.array(out, float).reshape(-1, 2)


def zone_polygons(spec: KitchenSceneSpec) -> list[dict[str, object]]:
    """Camera-file zones: each prep zone's floor rectangle, and each bin with the floor around it where a
    person counts as using it (BIN_USE_RADIUS_M), projected and clipped to the image."""
    cam = spec.camera
    zones: list[dict[str, object]] = []
    for z in spec.layout.prep_zones:
        uv, _ = cam.project(z.floor_corners())
        poly = _clip_to_image(uv, cam.width, cam.height)
        zones.append({"name": z.name, "kind": "hat_required", "polygon": _poly_list(poly)})
    for b in spec.layout.bins:
        g = b.box.grown(BIN_USE_RADIUS_M)
        floor = Box3(g.x0, g.x1, g.y0, g.y1, 0.0, 0.0).corners()[:4]
        top = b.box.corners()[4:]
        uv, _ = cam.project(np.vstack([floor, top, top + np.array([0.0, 0.0, 2 * b.half_m])]))
        hull = cv2.convexHull(uv.astype(np.float32)).reshape(-1, 2).astype(float)
        zones.append({"name": b.name, "kind": "bin", "polygon": _poly_list(_clip_to_image(hull, cam.width,
                                                                                           cam.height))})
    return zones


def _poly_list(poly: np.ndarray) -> list[list[float]]:
    return [[round(float(u), 1), round(float(v), 1)] for u, v in poly]


def _runs(flags: list[bool], times: list[float], dt: float) -> list[tuple[float, float]]:
    """Intervals ``[start, end)`` of consecutive True frames: start at the first frame, end one frame after
    the last."""
    runs, start = [], None
    for f, t in zip(flags, times, strict=True):
        if f and start is None:
            start = t
        elif not f and start is not None:
            runs.append((start, t))
            start = None
    if start is not None:
        runs.append((start, times[-1] + dt))
    return runs


def rule_truth(spec: KitchenSceneSpec) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(raw conditions, violations) of the scene, from the world state at every frame.

    missing_chef_hat: a person's floor point (between the feet, projected) lies in a hat_required zone polygon
    while they wear no compliant chef hat. uncovered_bin: a lid is open (≥ LID_OPEN_DEG) while nobody's floor
    point is within BIN_USE_RADIUS_M of the bin. A condition interval qualifies as a violation when it lasts at
    least the rule's dwell; missing_chef_hat gives at most one violation per person per stay in the zone.
    """
    dt = 1.0 / spec.fps
    times = [i * dt for i in range(spec.n_frames)]
    zones = [z for z in zone_polygons(spec) if z["kind"] == "hat_required"]
    zpolys = [np.array(z["polygon"], np.float32) for z in zones]
    tracks = [m.track_id for m in spec.staff]
    in_zone = {(tid, zi): [False] * len(times) for tid in tracks for zi in range(len(zones))}
    bare = {(tid, zi): [False] * len(times) for tid in tracks for zi in range(len(zones))}
    uncovered = {b.name: [False] * len(times) for b in spec.layout.bins}
    for i, t in enumerate(times):
        people = spec.people_at(t)
        for ps in people:
            uv = floor_uv(spec.camera, ps)
            for zi, zp in enumerate(zpolys):
                if len(zp) >= 3 and cv2.pointPolygonTest(zp, (float(uv[0]), float(uv[1])), False) >= 0:
                    in_zone[(ps.track_id, zi)][i] = True
                    bare[(ps.track_id, zi)][i] = not (ps.hat is not None and HAT_STYLES[ps.hat])
        for b in spec.layout.bins:
            if spec.lid_deg_at(b.name, t) < LID_OPEN_DEG:
                continue
            bx = b.box
            used = any(math.hypot(max(bx.x0 - p.x_m, 0, p.x_m - bx.x1), max(bx.y0 - p.y_m, 0, p.y_m - bx.y1))
                       <= BIN_USE_RADIUS_M for p in people)
            uncovered[b.name][i] = not used
    conditions: list[dict[str, object]] = []
    violations: list[dict[str, object]] = []
    T_hat, T_bin = spec.rules.missing_chef_hat_after_s, spec.rules.uncovered_bin_after_s
    eps = 1e-6
    for (tid, zi), flags in bare.items():
        stays = _runs(in_zone[(tid, zi)], times, dt)
        for a, e in _runs(flags, times, dt):
            stay = next(k for k, (s0, s1) in enumerate(stays) if s0 <= a < s1)
            rec: dict[str, object] = {"type": "missing_chef_hat", "zone": zones[zi]["name"], "track_id": tid,
                                      "start_s": round(a, 3), "end_s": round(e, 3), "stay": stay}
            conditions.append(rec)
            if e - a >= T_hat - eps and not any(v.get("track_id") == tid and v["zone"] == rec["zone"]
                                                and v.get("stay") == stay for v in violations):
                violations.append({**rec, "alarm_s": round(a + T_hat, 3)})
    for name, flags in uncovered.items():
        for a, e in _runs(flags, times, dt):
            rec = {"type": "uncovered_bin", "zone": name, "start_s": round(a, 3), "end_s": round(e, 3)}
            conditions.append(rec)
            if e - a >= T_bin - eps:
                violations.append({**rec, "alarm_s": round(a + T_bin, 3)})
    return sorted(conditions, key=_by_start), sorted(violations, key=_by_start)


def _by_start(rec: dict[str, object]) -> tuple[float, str]:
    start = rec["start_s"]
    assert isinstance(start, float)
    return start, str(rec["type"])


def floor_uv(cam: CeilingCamera, ps: PersonState) -> np.ndarray:
    uv, _ = cam.project(np.array([[ps.x_m, ps.y_m, 0.0]]))
    return uv[0]


# ---------------------------------------------------------------------------------------------- rendering


def make_renderer(spec: KitchenSceneSpec) -> KitchenRenderer:
    return KitchenRenderer(spec.camera, spec.layout, spec.floor, spec.lighting, noise_seed=spec.seed)


def render_frame(spec: KitchenSceneSpec, renderer: KitchenRenderer, i: int,
                 with_people: bool = True) -> tuple[np.ndarray, list[DrawnObject]]:
    t = i / spec.fps
    return renderer.render(t, spec.people_at(t), spec.lids_at(t), i, with_people)


def _frame_objects(spec: KitchenSceneSpec, drawn: list[DrawnObject], zones: list[dict[str, object]]
                   ) -> list[dict[str, object]]:
    objs: list[dict[str, object]] = []
    zp = [(str(z["name"]), np.array(z["polygon"], np.float32)) for z in zones if z["kind"] == "hat_required"]
    for d in drawn:
        if d.box is None:
            continue
        o: dict[str, object] = {"label": d.key, "box": list(d.box), "track_id": d.track_id,
                                "visible": round(d.visible, 3)}
        if d.key == "person":
            ps = d.extra["state"]
            assert isinstance(ps, PersonState)
            uv = floor_uv(spec.camera, ps)
            o["hat"] = ps.hat
            o["floor_uv"] = [round(float(uv[0]), 1), round(float(uv[1]), 1)]
            o["zones"] = [n for n, p in zp if len(p) >= 3 and cv2.pointPolygonTest(p, (float(uv[0]), float(uv[1])),
                                                                                    False) >= 0]
        elif d.key.startswith("bin"):
            o.update(d.extra)
        else:
            o["part_of"] = "person"
            o["hat"] = d.extra["hat"]
            hb = d.extra["hat_box"]
            o["hat_box"] = list(hb) if isinstance(hb, tuple) else None
        objs.append(o)
    return objs


def camera_file(spec: KitchenSceneSpec, name: str) -> dict[str, object]:
    return {
        "camera_id": spec.camera_id,
        "detector": "kitchen",
        "source": f"rtsp://synthetic.invalid/{name}",
        "zones": zone_polygons(spec),
        "rules": {"missing_chef_hat_after_s": spec.rules.missing_chef_hat_after_s,
                  "uncovered_bin_after_s": spec.rules.uncovered_bin_after_s},
        "pre_roll_s": spec.pre_roll_s,
        "post_roll_s": spec.post_roll_s,
    }


def render_scene(spec: KitchenSceneSpec, out_dir: Path, name: str, progress: Progress | None = None,
                 *, crf: int = 23) -> dict[str, Path]:
    """Write ``<name>.mp4``, ``<name>.camera.yaml`` and ``<name>.truth.json`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"video": out_dir / f"{name}.mp4", "camera": out_dir / f"{name}.camera.yaml",
             "truth": out_dir / f"{name}.truth.json"}
    renderer = make_renderer(spec)
    zones = zone_polygons(spec)
    frames: list[dict[str, object]] = []
    n = spec.n_frames
    from edgewatch.scenes.video import H264Writer  # PyAV: only scenes need it, not the YOLO export

    with H264Writer(paths["video"], spec.width, spec.height, fps=spec.fps, crf=crf) as writer:
        for i in range(n):
            img, drawn = render_frame(spec, renderer, i)
            writer.write(img)
            frames.append({"t": round(i / spec.fps, 4), "objects": _frame_objects(spec, drawn, zones)})
            if progress is not None:
                progress(i + 1, n)
    conditions, violations = rule_truth(spec)
    cam = spec.camera
    truth = {
        "kind": "kitchen",
        "name": name,
        "seed": spec.seed,
        "fps": spec.fps,
        "duration_s": spec.duration_s,
        "image_size": [spec.width, spec.height],
        "video": paths["video"].name,
        "camera": paths["camera"].name,
        "classes": list(KITCHEN_CLASSES),
        "frame_step": 1,
        "rules": {"missing_chef_hat_after_s": spec.rules.missing_chef_hat_after_s,
                  "uncovered_bin_after_s": spec.rules.uncovered_bin_after_s},
        "hat_styles": HAT_STYLES,
        "camera_geometry": {"intrinsics": {"model": "pinhole", "fx": cam.focal_px, "fy": cam.focal_px,
                                           "cx": cam.width / 2, "cy": cam.height / 2, "dist": [0.0] * 5},
                            "extrinsics": cam.opencv_extrinsics(),
                            "room_m": [spec.layout.width_m, spec.layout.depth_m, spec.layout.wall_h_m]},
        "staff": [{"track_id": m.track_id, "hats": [[round(t, 3), h] for t, h in m.hats],
                   "start_s": round(m.t_start_s, 3), "end_s": round(m.t_end_s, 3)} for m in spec.staff],
        "frames": frames,
        "conditions": conditions,
        "violations": violations,
    }
    paths["truth"].write_text(json.dumps(truth, separators=(",", ":")))
    paths["camera"].write_text(yaml.safe_dump(camera_file(spec, name), sort_keys=False, default_flow_style=None))
    return paths


def _scene_seed(seed: int, k: int) -> int:
    return int(np.random.SeedSequence([seed, k]).generate_state(1)[0] % 1_000_000_000)


def generate_set(out_dir: Path, count: int, seed: int, *, width: int = 1280, height: int = 720,
                 duration_s: float = 20.0, progress: Progress | None = None) -> list[Path]:
    """``count`` scenes named ``kitchen-<seed>-<k>``; returns their truth files. ``progress(frames done, total)``."""
    specs = [random_spec(_scene_seed(seed, k), width=width, height=height, duration_s=duration_s)
             for k in range(count)]
    total = sum(s.n_frames for s in specs)
    done = 0
    truths = []
    for k, spec in enumerate(specs):
        base = done

        def step(i: int, n: int, base: int = base) -> None:
            if progress is not None:
                progress(base + i, total)

        truths.append(render_scene(spec, Path(out_dir), f"kitchen-{seed}-{k:03d}", step)["truth"])
        done += spec.n_frames
    return truths


# ---------------------------------------------------------------------------------------------- samples

_SAMPLE_SIZE = (960, 540)
_SAMPLE_DURATION_S = 12.0


def _pick_seed(start: int, want: Callable[[KitchenSceneSpec, list[dict[str, object]]], bool]) -> KitchenSceneSpec:
    for s in range(start, start + 400):
        spec = random_spec(s, width=_SAMPLE_SIZE[0], height=_SAMPLE_SIZE[1], duration_s=_SAMPLE_DURATION_S)
        if len(spec.staff) >= 2 and want(spec, rule_truth(spec)[1]):
            return spec
    raise RuntimeError(f"no seed in [{start}, {start + 400}) gives the wanted sample scene")


def _all_hatted(spec: KitchenSceneSpec) -> bool:
    return not rule_truth(spec)[0] and all(h is not None and HAT_STYLES[h] for m in spec.staff for _, h in m.hats)


def write_samples(out_dir: Path) -> list[Path]:
    """The committed sample set: one clip with a missing-chef-hat violation (and no bin violation), one with an
    uncovered bin (and no hat violation), both starting after the first 1.5 s, and one compliant clip where
    everyone wears a chef hat throughout; 960×540, 12 s, two or more staff. Seeds are found by a deterministic
    search, so the set is reproducible."""

    def late(v: dict[str, object], kind: str) -> bool:
        start = v["start_s"]
        return v["type"] == kind and isinstance(start, float) and start >= 1.5

    kinds: list[tuple[str, int, Callable[[KitchenSceneSpec, list[dict[str, object]]], bool]]] = [
        ("kitchen-missing-hat", 1000, lambda _, v: any(late(x, "missing_chef_hat") for x in v)
         and not any(x["type"] == "uncovered_bin" for x in v)),
        ("kitchen-uncovered-bin", 2000, lambda _, v: any(late(x, "uncovered_bin") for x in v)
         and not any(x["type"] == "missing_chef_hat" for x in v)),
        ("kitchen-compliant", 3000, lambda spec, v: not v and _all_hatted(spec)),
    ]
    out = []
    for name, start, want in kinds:
        spec = _pick_seed(start, want)
        out.append(render_scene(spec, Path(out_dir), name, crf=28)["truth"])
    return out


# ---------------------------------------------------------------------------------------------- YOLO export

_IMAGES_PER_SCENE = 6
_MIN_VISIBLE = 0.25


def yolo_labels(drawn: list[DrawnObject], width: int, height: int) -> list[str]:
    """YOLO label lines ``class cx cy w h`` (normalised) for the objects of one frame worth learning: at
    least a quarter visible and a few pixels wide."""
    lines = []
    for d in drawn:
        if d.box is None or d.visible < _MIN_VISIBLE:
            continue
        x0, y0, x1, y1 = d.box
        if x1 - x0 < 3 or y1 - y0 < 3:
            continue
        c = KITCHEN_CLASSES.index(d.key)
        lines.append(f"{c} {(x0 + x1) / 2 / width:.6f} {(y0 + y1) / 2 / height:.6f} "
                     f"{(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}")
    return lines


@dataclass(frozen=True)
class _ScenePlan:
    """One scene's share of a YOLO export: which frames, their JPEG qualities, and where they go."""

    spec: KitchenSceneSpec
    out_dir: Path
    split: str
    frames: tuple[int, ...]
    qualities: tuple[int, ...]


def _render_plan(plan: _ScenePlan) -> int:
    """Render and write one scene's images and labels; returns how many images it wrote."""
    cv2.setNumThreads(1)  # one scene per process: OpenCV's own threads would only contend
    spec = plan.spec
    renderer = make_renderer(spec)
    for i, quality in zip(plan.frames, plan.qualities, strict=True):
        img, drawn = render_frame(spec, renderer, i)
        stem = f"kitchen-{spec.seed}-{i:05d}"
        cv2.imwrite(str(plan.out_dir / "images" / plan.split / f"{stem}.jpg"), img,
                    [cv2.IMWRITE_JPEG_QUALITY, quality])
        lines = yolo_labels(drawn, spec.width, spec.height)
        (plan.out_dir / "labels" / plan.split / f"{stem}.txt").write_text("".join(line + "\n" for line in lines))
    return len(plan.frames)


def export_yolo_dataset(out_dir: Path, n_images: int, seed: int, *, imgsz: int = 640, val_fraction: float = 0.2,
                        jobs: int = 1, progress: Progress | None = None) -> Path:
    """Write an Ultralytics dataset (images/{train,val}, labels/{train,val}, data.yaml) of ``n_images`` frames
    from scenes seeded from ``seed``, six frames per scene at random times, ``imgsz`` wide (16:9). The split is
    by scene so that no scene feeds both train and val. ``jobs`` processes render scenes side by side; the files
    are the same for any ``jobs``. Returns the data.yaml path."""
    if n_images < 1:
        raise ValueError(f"n_images must be at least 1, got {n_images}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    out_dir = Path(out_dir)
    width = imgsz - imgsz % 2
    height = max(64, round(imgsz * 9 / 16 / 2) * 2)
    n_scenes = math.ceil(n_images / _IMAGES_PER_SCENE)
    rng = np.random.default_rng(np.random.SeedSequence([0x5E1D, seed]))
    order = rng.permutation(n_scenes)
    n_val = min(n_scenes - 1, max(1, round(n_scenes * val_fraction))) if val_fraction > 0 and n_scenes > 1 else 0
    val = {int(k) for k in order[:n_val]}
    for split in ("train", "val"):
        (out_dir / "images" / split).mkdir(parents=True, exist_ok=True)
        (out_dir / "labels" / split).mkdir(parents=True, exist_ok=True)
    # Every random draw is made here, in scene order, so that rendering can run in any order and any process.
    plans = []
    planned = 0
    for k in range(n_scenes):
        scene_seed = _scene_seed(seed, k)
        spec = random_spec(scene_seed, width=width, height=height, duration_s=30.0)
        n_here = min(_IMAGES_PER_SCENE, n_images - planned)
        frames = sorted(int(i) for i in rng.choice(np.arange(int(0.3 * spec.fps), spec.n_frames), n_here,
                                                   replace=False))
        qualities = [int(rng.integers(60, 96)) for _ in frames]
        plans.append(_ScenePlan(spec, out_dir, "val" if k in val else "train", tuple(frames), tuple(qualities)))
        planned += n_here
    written = 0
    done: Iterator[int]
    if jobs == 1:
        done = map(_render_plan, plans)
    else:
        import concurrent.futures

        pool = concurrent.futures.ProcessPoolExecutor(max_workers=jobs)
        done = pool.map(_render_plan, plans, chunksize=4)
    try:
        for n in done:
            written += n
            if progress is not None:
                progress(written, n_images)
    finally:
        if jobs > 1:
            pool.shutdown(cancel_futures=True)
    data = {"path": str(out_dir.resolve()), "train": "images/train", "val": "images/val",
            "nc": len(KITCHEN_CLASSES), "names": dict(enumerate(KITCHEN_CLASSES))}
    data_yaml = out_dir / "data.yaml"
    data_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
    return data_yaml
