"""Rasterising a kitchen frame and its exact visible-object boxes.

The static room (floor tiles, far walls, ceiling) is ray-cast once per scene, 2× supersampled; fixtures are
projected boxes painted over it far to near. Each fixture is also kept as a *sprite* (its pixels and mask), so
that a fixture standing between the camera and a person can be pasted back over that person: painter's order
between axis-aligned floor footprints is exact (:func:`~edgewatch.scenes.kitchen_layout.front_of`).

Every frame draws people and bins into the image and, with the same calls and no anti-aliasing, into an id map;
the truth boxes are the bounding boxes of each object's ids that are still visible at the end.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cmp_to_key

import cv2
import numpy as np

from edgewatch.scenes.kitchen_camera import CeilingCamera
from edgewatch.scenes.kitchen_layout import Box3, Fixture, KitchenLayout, WasteBin, front_of
from edgewatch.scenes.kitchen_staff import HAT_STYLES, PersonState

BGR = tuple[int, int, int]
_SHIFT = 3
_SCALE = float(1 << _SHIFT)
#: lid angle above which a bin counts as open (degrees)
LID_OPEN_DEG = 15.0
LID_FULL_DEG = 105.0
LID_SWING_S = 0.6
PERSON_RADIUS_M = 0.22
_UP = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class Lighting:
    """Scene lighting. ``tint_bgr`` gives warm/cool colour; ``brightness`` dims the whole scene; ceiling lamps
    at ``lamps_xy`` light by inverse-square falloff over ``ambient``; ``flicker_*`` modulate every frame;
    ``dips`` are brief brownouts ``(t_s, duration_s, depth)``."""

    tint_bgr: tuple[float, float, float]
    brightness: float
    ambient: float
    lamps_xy: tuple[tuple[float, float], ...]
    flicker_amp: float
    flicker_hz: float
    dips: tuple[tuple[float, float, float], ...]
    shadow_strength: float
    noise_sigma: float

    def gain_at(self, t: float) -> float:
        g = 1.0 + self.flicker_amp * math.sin(2 * math.pi * self.flicker_hz * t) if self.flicker_amp else 1.0
        for t0, dur, depth in self.dips:
            if t0 <= t < t0 + dur:
                g *= 1.0 - depth
        return g


@dataclass(frozen=True)
class FloorStyle:
    tile_m: float
    grout_m: float
    colour_a: BGR
    colour_b: BGR
    grout_bgr: BGR
    wall_tile_bgr: BGR
    wall_paint_bgr: BGR
    wall_tile_h_m: float


@dataclass
class _Prim:
    """A drawing primitive in pixel coordinates: polygon, disc or stroke, with its colour and id."""

    kind: str
    pts: np.ndarray
    colour: BGR
    oid: int
    size: float = 0.0


@dataclass
class _Sprite:
    x0: int
    y0: int
    x1: int
    y1: int
    mask: np.ndarray
    pixels: np.ndarray
    footprint: tuple[float, float, float, float]


@dataclass
class _Item:
    """A dynamic object to draw: a bin (``index``, ``waste_bin``) or a person."""

    footprint: tuple[float, float, float, float]
    index: int
    waste_bin: WasteBin | None
    person: PersonState | None


@dataclass
class DrawnObject:
    """One dynamic object's truth after a frame: visible box per id group and visible fraction."""

    key: str
    track_id: int
    box: tuple[int, int, int, int] | None
    visible: float
    extra: dict[str, object]


def _fp(b: Box3) -> tuple[float, float, float, float]:
    return (b.x0, b.x1, b.y0, b.y1)


def _tinted(c: BGR, gain: np.ndarray | float) -> BGR:
    a = np.clip(np.asarray(c, float) * gain, 0, 255)
    return (int(a[0]), int(a[1]), int(a[2]))


class KitchenRenderer:
    """Renders frames of one kitchen scene at any time ``t`` (random access, deterministic)."""

    def __init__(self, camera: CeilingCamera, layout: KitchenLayout, floor: FloorStyle, light: Lighting,
                 noise_seed: int = 0) -> None:
        self.cam, self.layout, self.floor, self.light = camera, layout, floor, light
        self.W, self.H = camera.width, camera.height
        self.cam_xy = camera.centre[:2]
        self.f = camera.focal_px
        self._light_gain = np.asarray(light.tint_bgr) * light.brightness
        self.sprites: list[_Sprite] = []
        self.background = self._render_room()
        self._paint_fixtures()
        rng = np.random.default_rng(noise_seed)
        self._noise: list[tuple[np.ndarray, np.ndarray]] = []
        if light.noise_sigma > 0:
            for _ in range(3):
                n = rng.normal(0.0, light.noise_sigma, (self.H, self.W, 1)).astype(np.float32)
                n = np.repeat(n, 3, axis=2)
                self._noise.append((np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)))

    # ------------------------------------------------------------------------------------------ lighting
    def illum(self, x: np.ndarray, y: np.ndarray, z: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Irradiance factor at points (x, y, z) with unit normals n (…×3): ambient plus, per ceiling lamp at
        height H, k · max(0, n·L) / (1 + (r / 2.5 m)²)."""
        lt = self.light
        out = np.full(np.shape(x), lt.ambient, float)
        k = (1.0 - lt.ambient) * 1.6 / max(1, len(lt.lamps_xy)) ** 0.5
        for lx, ly in lt.lamps_xy:
            dx, dy, dz = lx - x, ly - y, self.layout.wall_h_m - 0.05 - z
            r = np.sqrt(dx * dx + dy * dy + dz * dz) + 1e-6
            cos = (n[..., 0] * dx + n[..., 1] * dy + n[..., 2] * dz) / r
            out = out + k * np.maximum(cos, 0.0) / (1.0 + (r / 2.5) ** 2)
        return out

    def _illum_point(self, p: np.ndarray, n: tuple[float, float, float]) -> float:
        return float(self.illum(np.array(p[0]), np.array(p[1]), np.array(p[2]), np.array(n, float)))

    # ------------------------------------------------------------------------------------------ static room
    def _hit(self, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Ray-cast a pixel grid ``scale`` × the image size: world x, y, z of the first surface hit and which
        surface (0 floor, 1 ceiling, 2 wall x = W, 3 wall y = D)."""
        cam, L = self.cam, self.layout
        h, w = round(self.H * scale), round(self.W * scale)
        v, u = np.mgrid[0:h, 0:w].astype(np.float64)
        d = cam.rays((u + 0.5) * (self.W / w) - 0.5, (v + 0.5) * (self.H / h) - 0.5)
        C = cam.centre
        big = 1e9
        with np.errstate(divide="ignore", invalid="ignore"):
            ts = np.stack([
                np.where(d[..., 2] < 0, -C[2] / d[..., 2], big),
                np.where(d[..., 2] > 0, (L.wall_h_m - C[2]) / d[..., 2], big),
                np.where(d[..., 0] > 0, (L.width_m - C[0]) / d[..., 0], big),
                np.where(d[..., 1] > 0, (L.depth_m - C[1]) / d[..., 1], big),
            ])
        which = np.argmin(ts, axis=0)
        t = np.min(ts, axis=0)
        return C[0] + d[..., 0] * t, C[1] + d[..., 1] * t, C[2] + d[..., 2] * t, which

    def _render_room(self) -> np.ndarray:
        """Albedo (tiles, grout, wall tiles) at 2× supersampling; lighting, contact shadows and grime, which
        vary slowly, at a quarter of the resolution."""
        L, fl = self.layout, self.floor
        x, y, z, which = self._hit(2.0)
        img = np.zeros((*x.shape, 3), np.float32)
        m = which == 0
        s = fl.tile_m
        fx, fy = x[m] / s, y[m] / s
        ix, iy = np.floor(fx), np.floor(fy)
        checker = ((ix + iy) % 2 == 0)[:, None]
        base = np.where(checker, np.asarray(fl.colour_a, np.float32), np.asarray(fl.colour_b, np.float32))
        jitter = (np.sin(ix * 12.9898 + iy * 78.233) * 43758.5453) % 1.0
        base = base * (0.93 + 0.1 * jitter)[:, None]
        g = fl.grout_m / s
        gx, gy = fx - ix, fy - iy
        grout = (np.minimum(gx, 1 - gx) < g / 2) | (np.minimum(gy, 1 - gy) < g / 2)
        base[grout] = fl.grout_bgr
        img[m] = base
        for k in (2, 3):
            m = which == k
            along = y[m] if k == 2 else x[m]
            zz = z[m]
            tile = zz < fl.wall_tile_h_m
            tw, th = 0.15, 0.075
            row = np.floor(zz / th)
            off = along / tw + 0.5 * (row % 2)
            gx, gy = off - np.floor(off), zz / th - row
            line = (np.minimum(gx, 1 - gx) < 0.04) | (np.minimum(gy, 1 - gy) < 0.06)
            wall = np.where(tile[:, None], np.asarray(fl.wall_tile_bgr, np.float32),
                            np.asarray(fl.wall_paint_bgr, np.float32))
            wall[tile & line] *= 0.82
            img[m] = wall
        img[which == 1] = (205, 205, 205)
        albedo = cv2.resize(img, (self.W, self.H), interpolation=cv2.INTER_AREA)
        # lighting at low resolution
        x, y, z, which = self._hit(0.25)
        normals = np.array([[0, 0, 1], [0, 0, -1], [-1, 0, 0], [0, -1, 0]], float)[which]
        shade = self.illum(x, y, z, normals)
        floor = which == 0
        boxes = [f.box for f in L.fixtures if f.blocks_floor] + [b.box for b in L.bins]
        for b in boxes:
            dx = np.maximum(np.maximum(b.x0 - x, x - b.x1), 0.0)
            dy = np.maximum(np.maximum(b.y0 - y, y - b.y1), 0.0)
            dark = 1.0 - 0.45 * self.light.shadow_strength * np.exp(-np.hypot(dx, dy) / 0.12)
            shade = np.where(floor, shade * dark, shade)
        rng = np.random.default_rng(int(self.W * 7 + self.H))
        grime = cv2.resize(rng.uniform(0.94, 1.05, (12, 20)), (shade.shape[1], shade.shape[0]),
                           interpolation=cv2.INTER_CUBIC)
        shade = cv2.resize((shade * grime).astype(np.float32), (self.W, self.H), interpolation=cv2.INTER_LINEAR)
        out = albedo * shade[..., None] * self._light_gain.astype(np.float32)
        return np.clip(out, 0, 255).astype(np.uint8)

    # ------------------------------------------------------------------------------------------ fixtures
    def _box_prims(self, b: Box3, top: BGR, side: BGR, oid: int = 0, lines: bool = False) -> list[_Prim]:
        """Visible faces of an axis-aligned box, each lit by its normal."""
        c = b.corners()  # index = ix + 2 iy + 4 iz
        faces = [((0, 2, 6, 4), (-1.0, 0.0, 0.0), b.x0), ((1, 3, 7, 5), (1.0, 0.0, 0.0), b.x1),
                 ((0, 1, 5, 4), (0.0, -1.0, 0.0), b.y0), ((2, 3, 7, 6), (0.0, 1.0, 0.0), b.y1),
                 ((4, 5, 7, 6), (0.0, 0.0, 1.0), b.z1)]
        uv, depth = self.cam.project(c)
        if np.any(depth <= 0.05):
            return []
        prims = []
        C = self.cam.centre
        mid = np.array([(b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2, (b.z0 + b.z1) / 2])
        for idx, n, plane in faces:
            axis = int(np.argmax(np.abs(n)))
            if (C[axis] - plane) * n[axis] <= 0:
                continue
            centre = c[list(idx)].mean(axis=0)
            p = centre + 0.001 * np.asarray(n)
            col = top if n[2] > 0 else side
            gain = self._illum_point(p if n[2] > 0 else (centre + mid) / 2, n) * self._light_gain
            prims.append(_Prim("poly", uv[list(idx)], _tinted(col, gain), oid))
        if lines:
            # cabinet door lines on the faces turned to the room
            for idx, n, plane in faces[:4]:
                axis = int(np.argmax(np.abs(n)))
                if (C[axis] - plane) * n[axis] <= 0:
                    continue
                a0, a1 = c[idx[0]], c[idx[1]]
                length = float(np.linalg.norm(a1 - a0))
                for s in np.arange(0.5, length, 0.5) / max(length, 1e-6):
                    p0 = a0 + (a1 - a0) * s
                    seg = np.array([p0 + _UP * 0.05, p0 + _UP * (b.z1 - b.z0 - 0.08)])
                    suv, _ = self.cam.project(seg)
                    prims.append(_Prim("stroke", suv, _tinted(side, 0.55 * self._light_gain.mean()), oid, 1.0))
        return prims

    def _fixture_prims(self, f: Fixture) -> list[_Prim]:
        b = f.box
        prims: list[_Prim] = []
        if f.kind == "prep_table":
            shelf = Box3(b.x0 + 0.03, b.x1 - 0.03, b.y0 + 0.03, b.y1 - 0.03, 0.14, 0.17)
            prims += self._box_prims(shelf, f.side_bgr, f.side_bgr)
            legs = [Box3(x, x + 0.04, y, y + 0.04, 0.0, b.z1 - 0.04)
                    for x in (b.x0 + 0.02, b.x1 - 0.06) for y in (b.y0 + 0.02, b.y1 - 0.06)]
            legs.sort(key=lambda lb: -math.hypot(lb.x0 - self.cam_xy[0], lb.y0 - self.cam_xy[1]))
            for lb in legs:
                prims += self._box_prims(lb, f.side_bgr, f.side_bgr)
            prims += self._box_prims(Box3(b.x0, b.x1, b.y0, b.y1, b.z1 - 0.04, b.z1), f.top_bgr, f.side_bgr)
        elif f.kind == "rack":
            for px in (b.x0, b.x1 - 0.03):
                for py in (b.y0, b.y1 - 0.03):
                    prims += self._box_prims(Box3(px, px + 0.03, py, py + 0.03, 0, b.z1), f.side_bgr, f.side_bgr)
            for zz in np.linspace(0.15, b.z1 - 0.02, 4):
                prims += self._box_prims(Box3(b.x0, b.x1, b.y0, b.y1, zz - 0.03, zz), f.top_bgr, f.side_bgr)
        else:
            prims += self._box_prims(b, f.top_bgr, f.side_bgr, lines=f.kind == "counter")
        if f.kind == "stove":
            w = b.x1 - b.x0
            for bx in (b.x0 + w * 0.27, b.x0 + w * 0.73):
                for by in (b.y0 + 0.2, b.y1 - 0.22):
                    ang = np.linspace(0, 2 * np.pi, 20, endpoint=False)
                    ring = np.stack([bx + 0.12 * np.cos(ang), by + 0.12 * np.sin(ang), np.full(20, b.z1 + 0.005)], 1)
                    ruv, _ = self.cam.project(ring)
                    prims.append(_Prim("poly", ruv, _tinted((60, 60, 70), self._light_gain), 0))
                    ruv2, _ = self.cam.project((ring - (bx, by, 0)) * (0.6, 0.6, 1) + (bx, by, 0))
                    prims.append(_Prim("poly", ruv2, _tinted((25, 25, 30), self._light_gain), 0))
        for ib, col in f.items:
            prims += self._box_prims(ib, col, _tinted(col, 0.75))
        return prims

    def _paint_fixtures(self) -> None:
        fixtures = list(self.layout.fixtures)

        def cmp(a: Fixture, b: Fixture) -> int:
            r = front_of(_fp(a.box), _fp(b.box), self.cam_xy)
            if r:
                return r
            da = math.hypot((a.box.x0 + a.box.x1) / 2 - self.cam_xy[0], (a.box.y0 + a.box.y1) / 2 - self.cam_xy[1])
            db = math.hypot((b.box.x0 + b.box.x1) / 2 - self.cam_xy[0], (b.box.y0 + b.box.y1) / 2 - self.cam_xy[1])
            return -1 if da > db else 1

        fixtures.sort(key=cmp_to_key(cmp))
        for f in fixtures:
            prims = self._fixture_prims(f)
            if not prims:
                continue
            mask = np.zeros((self.H, self.W), np.uint8)
            _draw(self.background, mask, prims, 255)
            ys, xs = np.nonzero(mask)
            if len(xs) == 0:
                continue
            x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
            m = mask[y0:y1, x0:x1] > 0
            self.sprites.append(_Sprite(x0, y0, x1, y1, m, self.background[y0:y1, x0:x1].copy(), _fp(f.box)))

    # ------------------------------------------------------------------------------------------ people
    def _pt(self, p: np.ndarray) -> tuple[np.ndarray, float]:
        uv, z = self.cam.project(p[None])
        return uv[0], float(z[0])

    def _ring(self, c: np.ndarray, fwd: np.ndarray, side: np.ndarray, a: float, b: float, z: float,
              n: int = 14) -> np.ndarray:
        ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
        return c + np.outer(np.cos(ang) * a, fwd) + np.outer(np.sin(ang) * b, side) + np.array([0, 0, z])

    def person_prims(self, ps: PersonState) -> list[_Prim]:
        """Body, head and headwear primitives of one person; ids: 3k+1 body, 3k+2 head, 3k+3 headwear."""
        look = ps.look
        hs = look.height_m / 1.75
        base_id = 3 * ps.track_id
        bid, hid, wid = base_id + 1, base_id + 2, base_id + 3
        p = np.array([ps.x_m, ps.y_m, 0.0])
        fwd = np.array([math.cos(ps.heading), math.sin(ps.heading), 0.0])
        side = np.array([-fwd[1], fwd[0], 0.0])
        up = np.array([0.0, 0.0, 1.0])
        to_cam = self.cam.centre - p
        to_cam[2] = 0
        to_cam /= np.linalg.norm(to_cam) + 1e-9
        facing = float(fwd @ to_cam)
        near_side = 1.0 if float(side @ to_cam) > 0 else -1.0
        lg = self.illum(np.array(ps.x_m), np.array(ps.y_m), np.array(1.2),
                        np.array([to_cam[0] * 0.6, to_cam[1] * 0.6, 0.8])) * self._light_gain
        _, depth = self._pt(p + up * 1.2)
        if depth <= 0.2:
            return []
        px_per_m = self.f / depth

        def col(c: BGR, k: float = 1.0) -> BGR:
            return _tinted(c, lg * k)

        hip_z, sh_z, head_r = 0.92 * hs, 1.42 * hs, 0.11
        head_c = p + up * (look.height_m - 0.115)
        walking = ps.pose == "walk"
        swing = 0.22 * math.sin(ps.phase) if walking else 0.0
        prims: list[_Prim] = []

        def stroke(a: np.ndarray, b: np.ndarray, width_m: float, c: BGR, oid: int) -> _Prim:
            uv, _ = self.cam.project(np.stack([a, b]))
            return _Prim("stroke", uv, c, oid, max(1.0, width_m * px_per_m))

        def disc(c3: np.ndarray, r_m: float, c: BGR, oid: int) -> _Prim:
            uv, _ = self.cam.project(c3[None])
            return _Prim("disc", uv, c, oid, max(1.0, r_m * px_per_m))

        def hull(pts3: np.ndarray, c: BGR, oid: int) -> _Prim:
            uv, _ = self.cam.project(pts3)
            h = cv2.convexHull(uv.astype(np.float32)).reshape(-1, 2)
            return _Prim("poly", h.astype(np.float64), c, oid)

        # legs (far one first)
        legs = []
        for s_sign in (-1.0, 1.0):
            hip = p + side * 0.09 * s_sign + up * hip_z
            foot = p + side * 0.1 * s_sign + fwd * (swing * s_sign) + up * 0.06
            knee = (hip + foot) / 2 + fwd * 0.04
            legs.append((s_sign == near_side, [
                stroke(hip, knee, 0.14, col(look.trousers_bgr), bid),
                stroke(knee, foot, 0.12, col(look.trousers_bgr, 0.9), bid),
                stroke(foot, foot + fwd * 0.12, 0.1, col((30, 30, 30)), bid),
            ]))
        arms = []
        for s_sign in (-1.0, 1.0):
            sh = p + side * 0.21 * s_sign + up * (sh_z - 0.04)
            if ps.pose == "work":
                hand = p + fwd * 0.4 + side * 0.13 * s_sign + up * (hip_z + 0.08)
            elif ps.pose == "bin" and s_sign > 0:
                hand = p + fwd * 0.42 + side * 0.12 + up * 0.8
            else:
                hand = sh - up * 0.6 * hs - fwd * (swing * s_sign * 0.8) + side * 0.04 * s_sign
            if s_sign > 0 and ps.reach > 0:
                target = head_c + side * 0.12 + up * 0.08
                hand = hand + (target - hand) * ps.reach
            elbow = (sh + hand) / 2 + side * 0.06 * s_sign - up * 0.05
            arms.append((s_sign == near_side, [
                stroke(sh, elbow, 0.1, col(look.jacket_bgr, 0.95), bid),
                stroke(elbow, hand, 0.09, col(look.jacket_bgr, 0.95), bid),
                disc(hand, 0.045, col(look.skin_bgr), bid),
            ]))
        for near, pr in arms:
            if not near:
                prims += pr
        for _near, pr in sorted(legs, key=lambda e: e[0]):
            prims += pr
        if facing < 0 and look.apron_bgr is not None:
            prims += self._apron(p, fwd, side, hip_z, hs, look.apron_bgr, lg, bid)
        # torso: an oriented box, faces lit by their normals
        corners = [p + fwd * (0.12 * a) + side * (0.2 * b) + up * zz
                   for zz in (hip_z - 0.03, sh_z + 0.06) for a in (-1, 1) for b in (-1, 1)]
        cs = np.stack(corners)
        uv, _ = self.cam.project(cs)
        faces = [((1, 3, 7, 5), fwd), ((0, 2, 6, 4), -fwd), ((2, 3, 7, 6), side), ((0, 1, 5, 4), -side)]
        for idx, n in faces:
            if float(n @ to_cam) > -0.05:
                k = 0.8 + 0.25 * max(0.0, float(n @ to_cam))
                prims.append(_Prim("poly", uv[list(idx)], col(look.jacket_bgr, k), bid))
        prims.append(_Prim("poly", uv[[4, 5, 7, 6]], col(look.jacket_bgr, 1.05), bid))
        if facing >= 0 and look.apron_bgr is not None:
            prims += self._apron(p, fwd, side, hip_z, hs, look.apron_bgr, lg, bid)
        for near, pr in arms:
            if near:
                prims += pr
        # neck, hair, face
        prims.append(stroke(p + up * (sh_z - 0.02), head_c, 0.09, col(look.skin_bgr, 0.9), hid))
        if look.long_hair:
            prims.append(disc(head_c - fwd * 0.06 - up * 0.1, 0.09, col(look.hair_bgr), hid))
        prims.append(disc(head_c, head_r, col(look.hair_bgr), hid))
        if facing > -0.15:
            prims.append(disc(head_c + fwd * 0.04 - up * 0.015, head_r * 0.82, col(look.skin_bgr), hid))
            if ps.hat not in ("toque", "low_pleated", "baseball_cap", "bandana"):
                prims.append(disc(head_c + up * 0.045 - fwd * 0.025, head_r * 0.8, col(look.hair_bgr), hid))
        if ps.hat is not None:
            prims += self._hat_prims(ps.hat, head_c, fwd, side, look.cap_bgr, lg, wid, hull, disc, stroke, to_cam)
        return prims

    def _apron(self, p: np.ndarray, fwd: np.ndarray, side: np.ndarray, hip_z: float, hs: float, c: BGR,
               lg: np.ndarray, oid: int) -> list[_Prim]:
        q = np.stack([p + fwd * 0.13 + side * 0.17 + [0, 0, hip_z + 0.2], p + fwd * 0.13 - side * 0.17 +
                      [0, 0, hip_z + 0.2], p + fwd * 0.15 - side * 0.19 + [0, 0, 0.42 * hs],
                      p + fwd * 0.15 + side * 0.19 + [0, 0, 0.42 * hs]])
        uv, _ = self.cam.project(q)
        return [_Prim("poly", uv, _tinted(c, lg), oid)]

    def _hat_prims(self, style: str, head_c: np.ndarray, fwd: np.ndarray, side: np.ndarray, cap: BGR,
                   lg: np.ndarray, oid: int, hull: Callable[..., _Prim], disc: Callable[..., _Prim],
                   stroke: Callable[..., _Prim], to_cam: np.ndarray) -> list[_Prim]:
        """Headwear primitives (see :mod:`edgewatch.scenes.kitchen_staff` for the styles)."""
        white: BGR = (243, 243, 240)
        zb = 0.015
        ring = self._ring
        out: list[_Prim] = []
        if style in ("toque", "low_pleated"):
            h = 0.22 if style == "toque" else 0.09
            r_top = 0.13 if style == "toque" else 0.118
            band = ring(head_c, fwd, side, 0.108, 0.108, zb)
            top = ring(head_c, fwd, side, r_top, r_top, zb + h)
            out.append(hull(np.vstack([band, top]), _tinted(white, lg * 0.93), oid))
            out.append(hull(ring(head_c, fwd, side, r_top * 0.97, r_top * 0.97, zb + h + 0.015),
                            _tinted(white, lg * 1.02), oid))
            ang = np.linspace(0, 2 * np.pi, 10, endpoint=False)
            for a in ang:
                d = math.cos(a) * fwd + math.sin(a) * side
                if float(d @ to_cam) > 0.2:
                    out.append(stroke(head_c + d * 0.108 + [0, 0, zb + 0.02], head_c + d * r_top + [0, 0, zb + h],
                                      0.008, _tinted((205, 205, 205), lg), oid))
            out.append(hull(np.vstack([band, ring(head_c, fwd, side, 0.109, 0.109, zb + 0.035)]),
                            _tinted((228, 228, 225), lg), oid))
        elif style == "paper_cap":
            base = ring(head_c, fwd, side, 0.122, 0.1, zb - 0.005)
            band_top = ring(head_c, fwd, side, 0.12, 0.098, zb + 0.015)
            ridge = ring(head_c, fwd, side, 0.115, 0.025, zb + 0.075)
            # the coloured band first: the white crown then leaves only its lower edge showing
            out.append(hull(np.vstack([base, band_top]), _tinted(cap, lg), oid))
            out.append(hull(np.vstack([band_top, ridge]), _tinted(white, lg * 0.97), oid))
        elif style == "baseball_cap":
            out.append(hull(np.vstack([ring(head_c, fwd, side, 0.11, 0.11, zb - 0.01),
                                       ring(head_c, fwd, side, 0.075, 0.075, zb + 0.065),
                                       ring(head_c, fwd, side, 0.02, 0.02, zb + 0.085)]), _tinted(cap, lg), oid))
            brim = np.stack([head_c + fwd * 0.08 + side * 0.085, head_c + fwd * 0.08 - side * 0.085,
                             head_c + fwd * 0.2 - side * 0.07, head_c + fwd * 0.2 + side * 0.07]) + _UP * zb
            out.append(hull(brim, _tinted(cap, lg * 0.8), oid))
        else:  # bandana
            out.append(hull(np.vstack([ring(head_c, fwd, side, 0.114, 0.114, zb - 0.02),
                                       ring(head_c, fwd, side, 0.06, 0.06, zb + 0.07)]), _tinted(cap, lg), oid))
            for a in (0.6, 2.2, 3.9):
                d = math.cos(a) * fwd + math.sin(a) * side
                out.append(disc(head_c + d * 0.06 + [0, 0, zb + 0.06], 0.012, _tinted((235, 235, 235), lg), oid))
            out.append(disc(head_c - fwd * 0.115 + [0, 0, zb - 0.02], 0.03, _tinted(cap, lg * 0.85), oid))
        return out

    # ------------------------------------------------------------------------------------------ bins
    def bin_prims(self, wb: WasteBin, lid_deg: float, oid: int) -> list[_Prim]:
        h = wb.height_m
        c = np.array([wb.x_m, wb.y_m, 0.0])
        if wb.round:
            ang = np.linspace(0, 2 * np.pi, 20, endpoint=False)
            foot = np.stack([np.cos(ang), np.sin(ang), np.zeros(20)], 1) * (wb.half_m, wb.half_m, 0)
            prims_body: list[_Prim] = []
            uv, _ = self.cam.project(np.vstack([c + foot, c + foot + [0, 0, h]]))
            hull = cv2.convexHull(uv.astype(np.float32)).reshape(-1, 2).astype(np.float64)
            g = self._illum_point(c + _UP * (h / 2), (*(self.cam_xy - c[:2]) / 5.0, 0.3)) * self._light_gain
            prims_body.append(_Prim("poly", hull, _tinted(wb.body_bgr, g), oid))
        else:
            foot = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float) * (wb.half_m, wb.half_m, 0)
            prims_body = self._box_prims(wb.box, wb.body_bgr, wb.body_bgr, oid)
        top = c + foot + [0, 0, h]
        hinge = np.array([wb.hinge[0], wb.hinge[1], 0.0])
        hinge_pt = c + hinge * wb.half_m + [0, 0, h]
        a = (top - hinge_pt) @ hinge  # ≤ 0: distance from the hinge line towards the user
        th = math.radians(lid_deg)
        lid = top - np.outer(a, hinge) + np.outer(a * math.cos(th), hinge) + np.outer(-a * math.sin(th), [0, 0, 1])
        g_top = self._illum_point(top.mean(0), (0, 0, 1)) * self._light_gain
        prims = prims_body
        if lid_deg > 2.0:
            uv, _ = self.cam.project(top)
            prims.append(_Prim("poly", uv, _tinted((28, 30, 30), g_top), oid))
            uv, _ = self.cam.project(lid + _UP * 0.01)
            n_lid = np.array([-math.sin(th) * hinge[0], -math.sin(th) * hinge[1], math.cos(th)])
            gl = self._illum_point(lid.mean(0), (float(n_lid[0]), float(n_lid[1]), float(n_lid[2]))) * self._light_gain
            prims.append(_Prim("poly", cv2.convexHull(uv.astype(np.float32)).reshape(-1, 2).astype(float),
                               _tinted(wb.lid_bgr, gl * 0.95), oid))
        else:
            uv, _ = self.cam.project(np.vstack([top, top + _UP * 0.035]))
            prims.append(_Prim("poly", cv2.convexHull(uv.astype(np.float32)).reshape(-1, 2).astype(float),
                               _tinted(wb.lid_bgr, g_top * 0.8), oid))
            uv, _ = self.cam.project(top + _UP * 0.035)
            prims.append(_Prim("poly", uv, _tinted(wb.lid_bgr, g_top * 1.05), oid))
        return prims

    def _person_shadow(self, img: np.ndarray, ps: PersonState) -> None:
        lamps = self.light.lamps_xy
        lx, ly = min(lamps, key=lambda q: math.hypot(q[0] - ps.x_m, q[1] - ps.y_m))
        away = np.array([ps.x_m - lx, ps.y_m - ly])
        away = away / (np.linalg.norm(away) + 1e-6) * min(0.35, 0.12 * np.linalg.norm(away))
        c = np.array([ps.x_m + away[0], ps.y_m + away[1], 0.0])
        ang = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        ring = c + np.stack([0.32 * np.cos(ang), 0.26 * np.sin(ang), np.zeros(16)], 1)
        uv, z = self.cam.project(ring)
        if np.any(z <= 0.1):
            return
        blur = max(1, int((uv[:, 0].max() - uv[:, 0].min()) / 6))
        x0, y0 = np.floor(uv.min(0)).astype(int) - 2 * blur
        x1, y1 = np.ceil(uv.max(0)).astype(int) + 2 * blur
        x0c, y0c, x1c, y1c = max(x0, 0), max(y0, 0), min(x1, self.W), min(y1, self.H)
        if x1c <= x0c or y1c <= y0c:
            return
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(m, np.round(uv - (x0, y0)).astype(np.int32), 255, cv2.LINE_AA)
        m = cv2.blur(cv2.blur(m, (blur, blur)), (blur, blur))
        m = m[y0c - y0 : y1c - y0, x0c - x0 : x1c - x0]
        k = 1.0 - (0.5 * self.light.shadow_strength / 255.0) * m.astype(np.float32)
        roi = img[y0c:y1c, x0c:x1c]
        roi[:] = (roi * k[..., None]).astype(np.uint8)

    # ------------------------------------------------------------------------------------------ frame
    def render(self, t: float, people: list[PersonState], lids: dict[str, float], frame_index: int = 0,
               with_people: bool = True) -> tuple[np.ndarray, list[DrawnObject]]:
        """The frame at ``t`` and the truth of every person, head and bin drawn in it."""
        img = self.background.copy()
        ids = np.zeros((self.H, self.W), np.uint8)
        items: list[_Item] = [_Item(_fp(wb.box), i, wb, None) for i, wb in enumerate(self.layout.bins)]
        if with_people:
            r = PERSON_RADIUS_M
            items += [_Item((ps.x_m - r, ps.x_m + r, ps.y_m - r, ps.y_m + r), -1, None, ps) for ps in people]

        def dist(fp: tuple[float, float, float, float]) -> float:
            return math.hypot((fp[0] + fp[1]) / 2 - self.cam_xy[0], (fp[2] + fp[3]) / 2 - self.cam_xy[1])

        def cmp(a: _Item, b: _Item) -> int:
            r = front_of(a.footprint, b.footprint, self.cam_xy)
            return r if r else (-1 if dist(a.footprint) > dist(b.footprint) else 1)

        items.sort(key=cmp_to_key(cmp))
        if with_people:
            for ps in people:
                self._person_shadow(img, ps)
        drawn: list[tuple[_Item, list[int], tuple[int, int, int, int], list[int]]] = []
        for it in items:
            if it.person is None:
                assert it.waste_bin is not None
                oid = 200 + it.index
                prims = self.bin_prims(it.waste_bin, lids.get(it.waste_bin.name, 0.0), oid)
                groups = [oid]
            else:
                prims = self.person_prims(it.person)
                k = 3 * it.person.track_id
                groups = [k + 1, k + 2, k + 3]
            if not prims:
                continue
            bbox = _draw(img, ids, prims, None)
            if bbox is None:
                continue
            x0, y0, x1, y1 = bbox
            crop = ids[y0:y1, x0:x1]
            full = [int((crop == g).sum()) for g in groups]
            for sp in self.sprites:
                if sp.x1 <= x0 or sp.x0 >= x1 or sp.y1 <= y0 or sp.y0 >= y1:
                    continue
                if front_of(sp.footprint, it.footprint, self.cam_xy) != 1:
                    continue
                ax0, ay0, ax1, ay1 = max(x0, sp.x0), max(y0, sp.y0), min(x1, sp.x1), min(y1, sp.y1)
                m = sp.mask[ay0 - sp.y0 : ay1 - sp.y0, ax0 - sp.x0 : ax1 - sp.x0]
                np.copyto(img[ay0:ay1, ax0:ax1], sp.pixels[ay0 - sp.y0 : ay1 - sp.y0, ax0 - sp.x0 : ax1 - sp.x0],
                          where=m[..., None])
                ids[ay0:ay1, ax0:ax1][m] = 0
            drawn.append((it, groups, bbox, full))
        out: list[DrawnObject] = []
        for it, groups, (x0, y0, x1, y1), full in drawn:
            crop = ids[y0:y1, x0:x1]
            if it.person is None:
                assert it.waste_bin is not None
                box, n = _mask_box(crop == groups[0], x0, y0)
                lid = lids.get(it.waste_bin.name, 0.0)
                out.append(DrawnObject("bin_open" if lid >= LID_OPEN_DEG else "bin_closed", 101 + it.index, box,
                                       n / max(full[0], 1), {"zone": it.waste_bin.name, "lid_deg": round(lid, 1)}))
                continue
            ps = it.person
            body, nb = _mask_box((crop >= groups[0]) & (crop <= groups[2]), x0, y0)
            head, nh = _mask_box((crop == groups[1]) | (crop == groups[2]), x0, y0)
            hat, _ = _mask_box(crop == groups[2], x0, y0)
            label = "bare_head" if ps.hat is None else "chef_hat" if HAT_STYLES[ps.hat] else "other_headwear"
            out.append(DrawnObject("person", ps.track_id, body, nb / max(sum(full), 1), {"state": ps}))
            out.append(DrawnObject(label, ps.track_id, head, nh / max(full[1] + full[2], 1),
                                   {"hat": ps.hat, "hat_box": hat, "head_px": nh}))
        gain = self.light.gain_at(t)
        if abs(gain - 1.0) > 1e-3:
            img = cv2.convertScaleAbs(img, alpha=gain)
        if self._noise:
            pos, neg = self._noise[frame_index % len(self._noise)]
            img = cv2.subtract(cv2.add(img, pos), neg)
        return img, out


def _mask_box(m: np.ndarray, x0: int, y0: int) -> tuple[tuple[int, int, int, int] | None, int]:
    n = int(m.sum())
    if n == 0:
        return None, 0
    rows = np.flatnonzero(m.any(axis=1))
    cols = np.flatnonzero(m.any(axis=0))
    return (x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1), n


def _draw(
    img: np.ndarray, ids: np.ndarray, prims: list[_Prim], fixed_id: int | None
) -> tuple[int, int, int, int] | None:
    """Draw primitives anti-aliased into ``img`` and hard-edged into ``ids`` (their ids, or ``fixed_id``);
    returns the pixel bounding box ``(x0, y0, x1, y1)`` they may touch, clipped to the image, or None."""
    H, W = ids.shape
    lo = np.array([np.inf, np.inf])
    hi = np.array([-np.inf, -np.inf])
    for p in prims:
        if not np.all(np.abs(p.pts) < 1e5):  # a point at or behind the camera plane: nothing sensible to draw
            continue
        pad = p.size if p.kind != "poly" else 0.0
        if p.kind == "stroke":
            pad = p.size / 2
        lo = np.minimum(lo, p.pts.min(0) - pad - 1)
        hi = np.maximum(hi, p.pts.max(0) + pad + 2)
        q = np.round(p.pts * _SCALE).astype(np.int32)
        oid = p.oid if fixed_id is None else fixed_id
        if p.kind == "poly":
            cv2.fillConvexPoly(img, q, p.colour, cv2.LINE_AA, _SHIFT)
            cv2.fillConvexPoly(ids, q, oid, cv2.LINE_8, _SHIFT)
        elif p.kind == "disc":
            c = (int(q[0, 0]), int(q[0, 1]))
            r = max(1, round(p.size * _SCALE))
            cv2.circle(img, c, r, p.colour, -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(ids, c, r, oid, -1, cv2.LINE_8, _SHIFT)
        else:
            a, b = (int(q[0, 0]), int(q[0, 1])), (int(q[1, 0]), int(q[1, 1]))
            w = max(1, round(p.size))
            cv2.line(img, a, b, p.colour, w, cv2.LINE_AA, _SHIFT)
            cv2.line(ids, a, b, oid, w, cv2.LINE_8, _SHIFT)
    x0, y0 = max(0, int(lo[0])), max(0, int(lo[1]))
    x1, y1 = min(W, int(hi[0])), min(H, int(hi[1]))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1
