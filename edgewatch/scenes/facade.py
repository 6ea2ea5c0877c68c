"""A residential facade, its balconies, the sky and a neighbouring building, rendered once per scene.

Geometry is in the building frame of the calibration contract (x along the facade, z up, y into the
building; the street is y < 0). The wall is drawn as a texture in facade coordinates ``(x, z)`` and warped
into the image with the plane-induced homography of ``y = 0``; balconies (slab, soffit, side walls, fronts
at ``y = -depth``) are projected polygons drawn back to front. Everything is drawn at twice the output
resolution in an *ideal* (distortion-free) image, then remapped through the exact OpenCV distortion model and
area-downsampled, so edges are anti-aliased and the picture agrees with the calibration file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edgewatch.scenes.camera import PinholeCamera

SUPERSAMPLE = 2
TEXTURE_MAX_PIXELS = 16_000_000


@dataclass(frozen=True)
class NeighbourSpec:
    """A plain neighbouring block beside the facade, set back (or forward) by ``setback_m`` in y."""

    side: str  # "left" | "right"
    gap_m: float
    width_m: float
    setback_m: float
    height_m: float
    wall_bgr: tuple[int, int, int]


@dataclass(frozen=True)
class BuildingSpec:
    """Layout and look of the facade. ``floor_z_m`` are storey bottoms, lowest first (storey "1" at 0)."""

    name: str
    floor_z_m: tuple[float, ...]
    roof_z_m: float
    column_edges_m: tuple[float, ...]
    balcony_columns: tuple[bool, ...]
    balcony_depth_m: float
    balcony_from_storey: int
    rail_height_m: float
    balcony_style: str  # "solid" | "glass" | "rail"
    window_width_m: float
    window_height_m: float
    sill_height_m: float
    wall_bgr: tuple[int, int, int]
    accent_bgr: tuple[int, int, int]
    frame_bgr: tuple[int, int, int]
    glass_bgr: tuple[int, int, int]
    balcony_bgr: tuple[int, int, int]
    wall_pattern: str  # "plain" | "tiles" | "panels" | "brick"
    sky_top_bgr: tuple[int, int, int]
    sky_horizon_bgr: tuple[int, int, int]
    cloudiness: float
    texture_seed: int
    neighbour: NeighbourSpec | None = None

    @property
    def width_m(self) -> float:
        return self.column_edges_m[-1]

    @property
    def n_storeys(self) -> int:
        return len(self.floor_z_m)

    @property
    def column_names(self) -> list[str]:
        return [column_name(i) for i in range(len(self.column_edges_m) - 1)]

    def storey_top_m(self, index: int) -> float:
        return self.floor_z_m[index + 1] if index + 1 < self.n_storeys else self.roof_z_m

    def has_balcony(self, storey_index: int, column_index: int) -> bool:
        return self.balcony_columns[column_index] and storey_index >= self.balcony_from_storey


def column_name(index: int) -> str:
    """ "A"…"Z", then "AA", "AB", …"""
    name = ""
    i = index
    while True:
        name = chr(ord("A") + i % 26) + name
        i = i // 26 - 1
        if i < 0:
            return name


@dataclass
class Background:
    """The static scene as seen by the camera (final, distorted image space)."""

    image: np.ndarray  # (H,W,3) uint8
    sky_mask: np.ndarray  # (H,W) uint8, 255 where sky
    balcony_mask: np.ndarray  # (H,W) uint8 coverage of balcony fronts and side walls


# --------------------------------------------------------------------------------------------- geometry


def clip_near(pc: np.ndarray, near: float = 0.05) -> np.ndarray:
    """Clip a polygon (N,3) in camera coordinates to ``Z ≥ near`` (Sutherland–Hodgman, one plane)."""
    out: list[np.ndarray] = []
    n = len(pc)
    for i in range(n):
        a, b = pc[i], pc[(i + 1) % n]
        ina, inb = a[2] >= near, b[2] >= near
        if ina:
            out.append(a)
        if ina != inb:
            s = (near - a[2]) / (b[2] - a[2])
            out.append(a + s * (b - a))
    return np.array(out) if out else np.zeros((0, 3))


def project_polygon(cam: PinholeCamera, xyz: np.ndarray) -> np.ndarray | None:
    """Ideal-pixel outline of a 3-D polygon, clipped to the space in front of the camera."""
    pc = clip_near(cam.to_camera(xyz))
    if len(pc) < 3:
        return None
    uv = np.stack([cam.fx * pc[:, 0] / pc[:, 2] + cam.cx, cam.fy * pc[:, 1] / pc[:, 2] + cam.cy], 1)
    m = 8.0
    uv = clip_rect(uv, -m, -m, cam.width - 1 + m, cam.height - 1 + m)
    return uv if len(uv) >= 3 else None


def clip_rect(poly: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Clip a 2-D polygon to an axis-aligned rectangle (Sutherland–Hodgman)."""
    pts = poly
    for axis, bound, keep_greater in ((0, x0, True), (0, x1, False), (1, y0, True), (1, y1, False)):
        if len(pts) == 0:
            break
        out = []
        n = len(pts)
        for i in range(n):
            a, b = pts[i], pts[(i + 1) % n]
            ina = a[axis] >= bound if keep_greater else a[axis] <= bound
            inb = b[axis] >= bound if keep_greater else b[axis] <= bound
            if ina:
                out.append(a)
            if ina != inb:
                s = (bound - a[axis]) / (b[axis] - a[axis])
                out.append(a + s * (b - a))
        pts = np.array(out) if out else np.zeros((0, 2))
    return pts


def fill_polygons(img: np.ndarray, polys: list[np.ndarray | None], color: tuple[int, ...] | int) -> None:
    """Anti-aliased fill of ideal-pixel polygons (sub-pixel vertices, 4 fractional bits)."""
    pts = [np.round(p * 16).astype(np.int32) for p in polys if p is not None and len(p) >= 3]
    if pts:
        cv2.fillPoly(img, pts, color, lineType=cv2.LINE_AA, shift=4)


def quad(p0: tuple[float, float, float], e1: tuple[float, float, float], e2: tuple[float, float, float]) -> np.ndarray:
    o, a, b = np.asarray(p0, float), np.asarray(e1, float), np.asarray(e2, float)
    return np.stack([o, o + a, o + a + b, o + b])


# ------------------------------------------------------------------------------------------------ wall


def _noise(rng: np.random.Generator, shape: tuple[int, int], cells: tuple[int, int]) -> np.ndarray:
    """Smooth value noise in [-1, 1] of ``shape``, with about ``cells`` features."""
    small = rng.uniform(-1, 1, (max(2, cells[0]), max(2, cells[1]))).astype(np.float32)
    return cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def facade_texture(b: BuildingSpec, x0: float, x1: float, z0: float, z1: float, px_per_m: float) -> np.ndarray:
    """The wall between ``x0..x1`` and ``z0..z1`` as a BGR image; pixel (i, j) centre is at
    ``x = x0 + (i + ½)/s``, ``z = z1 − (j + ½)/s``."""
    s = px_per_m
    w, h = max(2, math.ceil((x1 - x0) * s)), max(2, math.ceil((z1 - z0) * s))
    rng = np.random.default_rng(b.texture_seed)
    base = np.array(b.wall_bgr, np.float32)
    tex = np.empty((h, w, 3), np.float32)
    tex[:] = base
    shade = 1.0 + 0.06 * _noise(rng, (h, w), (max(2, int((z1 - z0) / 6)), max(2, int((x1 - x0) / 6))))
    streaks = 1.0 - 0.05 * np.clip(_noise(rng, (1, w), (2, max(2, int((x1 - x0) * 2))))[0], 0, 1)
    tex *= (shade * streaks[None, :])[..., None]
    img = np.clip(tex, 0, 255).astype(np.uint8)

    def col_px(x: float) -> int:
        return round((x - x0) * s)

    def row_px(z: float) -> int:
        return round((z1 - z) * s)

    def rect(xa: float, za: float, xb: float, zb: float, color: tuple[int, ...], thick: int = -1) -> None:
        cv2.rectangle(img, (col_px(xa), row_px(zb)), (col_px(xb) - 1, row_px(za) - 1), color, thick)

    acc = tuple(int(c) for c in b.accent_bgr)
    line_col = tuple(int(c * 0.88) for c in b.wall_bgr)
    if b.wall_pattern in ("tiles", "brick"):
        step_z = 0.3 if b.wall_pattern == "tiles" else 0.075
        step_x = 0.3 if b.wall_pattern == "tiles" else 0.25
        if step_z * s >= 2.5:  # joints only where the texture resolves them
            zs_m = z1 - (np.arange(h) + 0.5) / s
            xs_m = x0 + (np.arange(w) + 0.5) / s
            row = np.floor(zs_m / step_z)
            joint_z = (zs_m - row * step_z) * s < 1.0
            off = (row % 2) * (step_x / 2) if b.wall_pattern == "brick" else np.zeros(h)
            joint_x = ((xs_m[None, :] + off[:, None]) % step_x) * s < 1.0
            joints = joint_z[:, None] | joint_x
            img[joints] = line_col
    if b.wall_pattern == "panels":
        for e in b.column_edges_m:
            cv2.line(img, (col_px(e), 0), (col_px(e), h), line_col, max(1, int(0.03 * s)))
    # floor bands, roof parapet, plinth
    for z in b.floor_z_m[1:]:
        rect(x0, z - 0.12, x1, z + 0.12, tuple(int(c * 0.95) for c in acc))
    rect(x0, b.roof_z_m - 0.6, x1, b.roof_z_m, acc)
    rect(x0, 0.0, x1, 0.6, tuple(int(c * 0.7) for c in acc))
    frame = tuple(int(c) for c in b.frame_bgr)
    glass = np.array(b.glass_bgr, np.float32)
    for si in range(b.n_storeys):
        zf = b.floor_z_m[si]
        if zf > z1 or b.storey_top_m(si) < z0:
            continue
        for ci in range(len(b.column_edges_m) - 1):
            ca, cb = b.column_edges_m[ci], b.column_edges_m[ci + 1]
            xc = 0.5 * (ca + cb)
            if si == 0:  # ground floor: shop fronts / entrance glazing
                wa, wb, za, zb = ca + 0.3, cb - 0.3, 0.6, min(b.storey_top_m(0) - 0.4, 3.0)
            elif b.has_balcony(si, ci):  # balcony door beside a window
                wa, wb, za, zb = xc - 0.45 * (cb - ca) + 0.2, xc + 0.1, zf + 0.05, zf + 2.2
            else:
                ww = min(b.window_width_m, cb - ca - 0.5)
                wa, wb = xc - ww / 2, xc + ww / 2
                za, zb = zf + b.sill_height_m, min(zf + b.sill_height_m + b.window_height_m, b.storey_top_m(si) - 0.2)
            state = rng.random()
            tone = glass * rng.uniform(0.65, 1.25)
            if state < 0.12:
                tone = np.array([30, 32, 35], np.float32) * rng.uniform(0.8, 1.4)  # open / dark room
            elif state < 0.16:
                tone = np.array([120, 190, 225], np.float32)  # lit room
            rect(wa - 0.06, za - 0.06, wb + 0.06, zb + 0.06, frame)
            rect(wa, za, wb, zb, tuple(int(c) for c in np.clip(tone, 0, 255)))
            # sky reflection gradient in the upper part of the pane
            zr = za + (zb - za) * rng.uniform(0.4, 0.8)
            rect(wa, zr, wb, zb, tuple(int(c) for c in np.clip(tone * 1.15 + 12, 0, 255)))
            if 0.16 <= state < 0.45:  # curtains
                cur = tuple(int(c) for c in rng.integers(120, 235, 3))
                side = rng.random() < 0.5
                cw = (wb - wa) * rng.uniform(0.2, 0.5)
                if side:
                    rect(wa, za, wa + cw, zb, cur)
                else:
                    rect(wb - cw, za, wb, zb, cur)
            cv2.line(
                img,
                (col_px(0.5 * (wa + wb)), row_px(zb)),
                (col_px(0.5 * (wa + wb)), row_px(za)),
                frame,
                max(1, int(0.05 * s)),
            )
            if si > 0 and not b.has_balcony(si, ci) and rng.random() < 0.15:  # air-conditioner box
                ax = wb + 0.15 if rng.random() < 0.5 else wa - 0.95
                if ca < ax and ax + 0.8 < cb + 0.5:
                    rect(ax, zf + 0.3, ax + 0.8, zf + 0.85, (205, 208, 210))
                    rect(ax + 0.1, zf + 0.4, ax + 0.7, zf + 0.75, (160, 162, 165))
    return img


def _neighbour_texture(nb: NeighbourSpec, px_per_m: float, seed: int) -> np.ndarray:
    s = px_per_m
    w, h = max(2, int(nb.width_m * s)), max(2, int(nb.height_m * s))
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = nb.wall_bgr
    win = tuple(int(c) for c in np.array(nb.wall_bgr) * 0.45)
    for zf in np.arange(3.0, nb.height_m - 2.5, 3.0):
        for xf in np.arange(0.8, nb.width_m - 1.5, 2.6):
            if rng.random() < 0.9:
                za, zb = int((nb.height_m - zf - 2.2) * s), int((nb.height_m - zf - 0.9) * s)
                cv2.rectangle(img, (int(xf * s), za), (int((xf + 1.3) * s), zb), win, -1)
    return img


# ------------------------------------------------------------------------------------------ rendering


def _warp_plane(
    canvas: np.ndarray,
    mask: np.ndarray,
    cam: PinholeCamera,
    tex: np.ndarray,
    origin: np.ndarray,
    ea: np.ndarray,
    eb: np.ndarray,
    a0: float,
    b1: float,
    px_per_m: float,
) -> None:
    """Paint texture ``tex`` lying on the plane ``origin + a·ea + b·eb`` (pixel (i,j) ↔ a = a0 + (i+½)/s,
    b = b1 − (j+½)/s) into ``canvas`` through the plane-induced homography."""
    s = px_per_m
    A = np.array([[1 / s, 0, a0 + 0.5 / s], [0, -1 / s, b1 - 0.5 / s], [0, 0, 1]])
    H = cam.plane_homography(origin, ea, eb) @ A
    size = (canvas.shape[1], canvas.shape[0])
    cv2.warpPerspective(tex, H, size, dst=canvas, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)
    ones = np.full(tex.shape[:2], 255, np.uint8)
    cv2.warpPerspective(ones, H, size, dst=mask, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)


def _visible_plane_extent(cam: PinholeCamera, y_plane: float) -> tuple[float, float, float, float] | None:
    """Bounding box (x0, x1, z0, z1) of where the image's rays meet the plane ``y = y_plane``."""
    w, h = cam.width, cam.height
    n = 40
    border = np.concatenate(
        [
            np.stack([np.linspace(0, w - 1, n), np.zeros(n)], 1),
            np.stack([np.linspace(0, w - 1, n), np.full(n, h - 1.0)], 1),
            np.stack([np.zeros(n), np.linspace(0, h - 1, n)], 1),
            np.stack([np.full(n, w - 1.0), np.linspace(0, h - 1, n)], 1),
        ]
    )
    rays_c = np.stack([(border[:, 0] - cam.cx) / cam.fx, (border[:, 1] - cam.cy) / cam.fy, np.ones(len(border))], 1)
    rays = rays_c @ cam.R  # rows: Rᵀ·ray
    C = cam.centre_m
    ok = rays[:, 1] > 1e-6
    if not ok.any():
        return None
    s = (y_plane - C[1]) / rays[ok, 1]
    pts = C + s[:, None] * rays[ok]
    return float(pts[:, 0].min()), float(pts[:, 0].max()), float(pts[:, 2].min()), float(pts[:, 2].max())


def _sky(cam: PinholeCamera, b: BuildingSpec, rng: np.random.Generator) -> np.ndarray:
    """Sky colour by ray elevation, with soft clouds; computed at quarter resolution."""
    q = 4
    w, h = max(2, cam.width // q), max(2, cam.height // q)
    u = (np.arange(w) + 0.5) * cam.width / w - 0.5
    v = (np.arange(h) + 0.5) * cam.height / h - 0.5
    uu, vv = np.meshgrid(u, v)
    rays = np.stack([(uu - cam.cx) / cam.fx, (vv - cam.cy) / cam.fy, np.ones_like(uu)], -1) @ cam.R
    elev = np.arctan2(rays[..., 2], np.hypot(rays[..., 0], rays[..., 1]))
    f = np.clip(elev / (math.pi / 2), 0, 1) ** 0.6
    top, hor = np.array(b.sky_top_bgr, np.float32), np.array(b.sky_horizon_bgr, np.float32)
    sky = hor[None, None] * (1 - f[..., None]) + top[None, None] * f[..., None]
    if b.cloudiness > 0:
        n1 = _noise(rng, (h, w), (5, 8)) + 0.5 * _noise(rng, (h, w), (12, 20))
        c = np.clip((n1 - (0.9 - 1.2 * b.cloudiness)) * 1.5, 0, 1)[..., None]
        cloud = np.array([238, 238, 236], np.float32) * (0.85 + 0.15 * _noise(rng, (h, w), (10, 16))[..., None])
        sky = sky * (1 - c) + cloud * c
    return cv2.resize(np.clip(sky, 0, 255).astype(np.uint8), (cam.width, cam.height), interpolation=cv2.INTER_LINEAR)


def _draw_balconies(canvas: np.ndarray, bmask: np.ndarray, cam: PinholeCamera, b: BuildingSpec) -> None:
    D, col = b.balcony_depth_m, np.array(b.balcony_bgr, np.float32)
    cx = cam.centre_m[0]
    shade_soffit = tuple(int(c) for c in col * 0.55)
    shade_side = tuple(int(c) for c in col * 0.75)
    front = tuple(int(c) for c in col)
    edge = tuple(int(c) for c in col * 0.9)
    rail_col = tuple(int(c) for c in np.clip(col * 0.35 + 20, 0, 255))
    scale = 0.5 * (cam.fx + cam.fy)
    for si in range(b.n_storeys - 1, -1, -1):  # top first: the camera is below, lower balconies are nearer
        zf = b.floor_z_m[si]
        zs, zr = zf - 0.18, zf + b.rail_height_m
        for ci in range(len(b.column_edges_m) - 1):
            if not b.has_balcony(si, ci):
                continue
            x0, x1 = b.column_edges_m[ci] + 0.15, b.column_edges_m[ci + 1] - 0.15
            soffit = project_polygon(cam, quad((x0, -D, zs), (x1 - x0, 0, 0), (0, D, 0)))
            fill_polygons(canvas, [soffit], shade_soffit)
            sides = [x0, x1] if abs(x0 - cx) > abs(x1 - cx) else [x1, x0]  # far side first
            for xs in sides:
                side = project_polygon(cam, quad((xs, -D, zs), (0, D, 0), (0, 0, zr - zs)))
                if b.balcony_style == "solid":
                    fill_polygons(canvas, [side], shade_side)
                    fill_polygons(bmask, [side], 255)
                else:
                    slab = project_polygon(cam, quad((xs, -D, zs), (0, D, 0), (0, 0, zf - zs)))
                    fill_polygons(canvas, [slab], shade_side)
                    fill_polygons(bmask, [slab], 255)
            slab_front = project_polygon(cam, quad((x0, -D, zs), (x1 - x0, 0, 0), (0, 0, zf - zs)))
            fill_polygons(canvas, [slab_front], edge)
            fill_polygons(bmask, [slab_front], 255)
            parapet = quad((x0, -D, zf), (x1 - x0, 0, 0), (0, 0, zr - zf))
            poly = project_polygon(cam, parapet)
            if poly is None:
                continue
            if b.balcony_style == "solid":
                fill_polygons(canvas, [poly], front)
                fill_polygons(bmask, [poly], 255)
            elif b.balcony_style == "glass":
                x_a, y_a = np.floor(poly.min(0)).astype(int) - 2
                x_b, y_b = np.ceil(poly.max(0)).astype(int) + 3
                x_a, y_a = max(x_a, 0), max(y_a, 0)
                x_b, y_b = min(x_b, canvas.shape[1]), min(y_b, canvas.shape[0])
                if x_b > x_a and y_b > y_a:
                    roi = canvas[y_a:y_b, x_a:x_b]
                    m = np.zeros(roi.shape[:2], np.uint8)
                    fill_polygons(m, [poly - [x_a, y_a]], 255)
                    a = (m.astype(np.float32) / 255 * 0.45)[..., None]
                    tint = np.array([150, 160, 150], np.float32)
                    roi[:] = (roi * (1 - a) + tint * a).astype(np.uint8)
                    bmask[y_a:y_b, x_a:x_b] = np.maximum(bmask[y_a:y_b, x_a:x_b], (m * 0.5).astype(np.uint8))
                top = project_polygon(cam, quad((x0, -D - 0.02, zr - 0.05), (x1 - x0, 0, 0), (0, 0, 0.05)))
                fill_polygons(canvas, [top], rail_col)
            else:  # metal rail: top and bottom bars and balusters
                bars = [
                    project_polygon(cam, quad((x0, -D, zr - 0.05), (x1 - x0, 0, 0), (0, 0, 0.05))),
                    project_polygon(cam, quad((x0, -D, zf + 0.08), (x1 - x0, 0, 0), (0, 0, 0.04))),
                ]
                depth = float(np.mean(cam.depth(parapet)))
                if scale * 0.11 / max(depth, 1e-3) > 1.5:  # balusters resolvable: draw them one by one
                    for xb in np.arange(x0 + 0.05, x1, 0.11):
                        bars.append(project_polygon(cam, quad((xb, -D, zf), (0.02, 0, 0), (0, 0, zr - zf))))
                    fill_polygons(canvas, bars, rail_col)
                    fill_polygons(bmask, bars, 200)
                else:  # too fine to resolve: a darkened band, like the averaged pixels would be
                    fill_polygons(canvas, bars, rail_col)
                    m = np.zeros(canvas.shape[:2], np.uint8)
                    x_a, y_a = np.floor(poly.min(0)).astype(int) - 2
                    x_b, y_b = np.ceil(poly.max(0)).astype(int) + 3
                    x_a, y_a = max(x_a, 0), max(y_a, 0)
                    x_b, y_b = min(x_b, canvas.shape[1]), min(y_b, canvas.shape[0])
                    if x_b > x_a and y_b > y_a:
                        roi = canvas[y_a:y_b, x_a:x_b]
                        m = np.zeros(roi.shape[:2], np.uint8)
                        fill_polygons(m, [poly - [x_a, y_a]], 255)
                        a = (m.astype(np.float32) / 255 * 0.2)[..., None]
                        roi[:] = (roi * (1 - a) + np.array(rail_col, np.float32) * a).astype(np.uint8)
                        bmask[y_a:y_b, x_a:x_b] = np.maximum(bmask[y_a:y_b, x_a:x_b], (m * 0.2).astype(np.uint8))


def render_background(b: BuildingSpec, cam: PinholeCamera, seed: int) -> Background:
    """Render the static scene for ``cam`` (with its distortion)."""
    rng = np.random.default_rng(seed)
    if cam.has_distortion:
        border = np.concatenate(
            [
                np.stack([np.arange(cam.width), np.zeros(cam.width)], 1),
                np.stack([np.arange(cam.width), np.full(cam.width, cam.height - 1)], 1),
                np.stack([np.zeros(cam.height), np.arange(cam.height)], 1),
                np.stack([np.full(cam.height, cam.width - 1), np.arange(cam.height)], 1),
            ]
        )
        und = cam.undistort_pixels(border)
        pad_x = math.ceil(max(0.0, -und[:, 0].min(), und[:, 0].max() - cam.width + 1)) + 4
        pad_y = math.ceil(max(0.0, -und[:, 1].min(), und[:, 1].max() - cam.height + 1)) + 4
        ideal = cam.ideal(pad_x, pad_y)
    else:
        ideal = cam.ideal(0, 0)
    ss = ideal.scaled(SUPERSAMPLE)
    canvas = _sky(ss, b, rng)
    solid = np.zeros(canvas.shape[:2], np.uint8)
    bmask = np.zeros(canvas.shape[:2], np.uint8)
    # ground: asphalt street, lighter pavement along the facade
    far = 400.0
    ground = project_polygon(ss, quad((-far, -far, 0), (2 * far, 0, 0), (0, far, 0)))
    fill_polygons(canvas, [ground], (92, 94, 96))
    fill_polygons(solid, [ground], 255)
    pave = project_polygon(ss, quad((-far, -4.0, 0), (2 * far, 0, 0), (0, 4.0, 0)))
    fill_polygons(canvas, [pave], (150, 155, 160))
    scale = 0.5 * (ss.fx + ss.fy)
    C = ss.centre_m
    ex, ez = np.array([1.0, 0, 0]), np.array([0, 0, 1.0])
    nb = b.neighbour
    if nb is not None:
        x_left = -nb.gap_m - nb.width_m if nb.side == "left" else b.width_m + nb.gap_m
        y_n = nb.setback_m
        s_n = min(scale / max(y_n - C[1], 1.0), 60.0)
        tex = _neighbour_texture(nb, s_n, b.texture_seed + 1)
        _warp_plane(canvas, solid, ss, tex, np.array([0, y_n, 0]), ex, ez, x_left, nb.height_m, s_n)
    ext = _visible_plane_extent(ss, 0.0)
    if ext is not None:
        x0, x1 = max(0.0, ext[0] - 1), min(b.width_m, ext[1] + 1)
        z0, z1 = max(0.0, ext[2] - 1), min(b.roof_z_m, ext[3] + 1)
        if x1 > x0 and z1 > z0:
            near = max(-C[1], 1.0)
            s = min(scale / near, math.sqrt(TEXTURE_MAX_PIXELS / ((x1 - x0) * (z1 - z0))), 400.0)
            tex = facade_texture(b, x0, x1, z0, z1, s)
            # the texel grid is anchored at (x0, z1); its ceil()ed size overshoots x1 / z0 by under a texel
            _warp_plane(canvas, solid, ss, tex, np.zeros(3), ex, ez, x0, z1, s)
    _draw_balconies(canvas, bmask, ss, b)
    fill_polygons(solid, [p for p in (project_polygon(ss, q) for q in _balcony_quads(b)) if p is not None], 255)
    if cam.has_distortion:
        mx, my = cam.scaled(SUPERSAMPLE).distortion_remap(ss)
        canvas = cv2.remap(canvas, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        solid = cv2.remap(solid, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        bmask = cv2.remap(bmask, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    size = (cam.width, cam.height)
    image = cv2.resize(canvas, size, interpolation=cv2.INTER_AREA)
    sky = 255 - cv2.resize(solid, size, interpolation=cv2.INTER_AREA)
    balc = cv2.resize(bmask, size, interpolation=cv2.INTER_AREA)
    return Background(image=image, sky_mask=sky, balcony_mask=balc)


def _balcony_quads(b: BuildingSpec) -> list[np.ndarray]:
    out = []
    for si in range(b.n_storeys):
        zf = b.floor_z_m[si]
        for ci in range(len(b.column_edges_m) - 1):
            if b.has_balcony(si, ci):
                x0, x1 = b.column_edges_m[ci] + 0.15, b.column_edges_m[ci + 1] - 0.15
                out.append(quad((x0, -b.balcony_depth_m, zf - 0.18), (x1 - x0, 0, 0), (0, 0, b.rail_height_m + 0.18)))
                out.append(quad((x0, -b.balcony_depth_m, zf - 0.18), (x1 - x0, 0, 0), (0, b.balcony_depth_m, 0)))
    return out


WALL_COLOURS = [
    (200, 214, 226),
    (176, 180, 184),
    (112, 128, 170),
    (226, 232, 236),
    (190, 196, 170),
    (150, 160, 178),
    (96, 110, 150),
    (210, 200, 185),
    (160, 150, 140),
]
SKY_TOPS = [(210, 150, 90), (200, 170, 140), (190, 185, 180), (225, 175, 120)]


def random_building(rng: np.random.Generator, n_storeys: int, name: str) -> BuildingSpec:
    """A plausible residential block with ``n_storeys`` storeys."""
    storey_h = float(rng.uniform(2.8, 3.3))
    ground_h = float(rng.uniform(max(storey_h, 3.2), 4.4))
    floors = [0.0] + [ground_h + i * storey_h for i in range(n_storeys - 1)]
    roof = floors[-1] + storey_h + float(rng.uniform(0.3, 1.2))
    n_cols = int(rng.integers(4, 10))
    widths = rng.uniform(2.8, 4.5, n_cols)
    edges = tuple(float(v) for v in np.concatenate([[0.0], np.cumsum(widths)]))
    pattern = rng.random()
    if pattern < 0.25:
        balc = tuple(True for _ in range(n_cols))
    elif pattern < 0.5:
        balc = tuple(i % 2 == 0 for i in range(n_cols))
    elif pattern < 0.85:
        balc = tuple(bool(rng.random() < 0.45) for _ in range(n_cols))
    else:
        balc = tuple(False for _ in range(n_cols))
    wall = np.array(WALL_COLOURS[int(rng.integers(len(WALL_COLOURS)))], float) * rng.uniform(0.85, 1.1, 3)
    wall = np.clip(wall, 40, 245)
    accent = np.clip(wall * rng.uniform(0.7, 1.15), 30, 250)
    neighbour = None
    if rng.random() < 0.6:
        neighbour = NeighbourSpec(
            side="left" if rng.random() < 0.5 else "right",
            gap_m=float(rng.uniform(2, 12)),
            width_m=float(rng.uniform(10, 30)),
            setback_m=float(rng.uniform(-3, 15)),
            height_m=float(rng.uniform(0.4, 1.3) * roof),
            wall_bgr=tuple(int(c) for c in np.clip(rng.uniform(90, 220, 3), 0, 255)),  # type: ignore[arg-type]
        )
    sky_top = np.array(SKY_TOPS[int(rng.integers(len(SKY_TOPS)))], float)
    return BuildingSpec(
        name=name,
        floor_z_m=tuple(floors),
        roof_z_m=float(roof),
        column_edges_m=edges,
        balcony_columns=balc,
        balcony_depth_m=float(rng.uniform(1.0, 1.5)),
        balcony_from_storey=1,
        rail_height_m=float(rng.uniform(1.0, 1.15)),
        balcony_style=str(rng.choice(["solid", "glass", "rail"])),
        window_width_m=float(rng.uniform(1.1, 2.0)),
        window_height_m=float(rng.uniform(1.3, 1.7)),
        sill_height_m=float(rng.uniform(0.8, 1.0)),
        wall_bgr=_bgr(wall),
        accent_bgr=_bgr(accent),
        frame_bgr=_bgr(rng.choice([[235, 235, 235], [60, 60, 62], [90, 110, 130], [200, 205, 200]])),
        glass_bgr=_bgr(np.array([95, 85, 70]) * rng.uniform(0.7, 1.3, 3)),
        balcony_bgr=_bgr(np.clip(wall * rng.uniform(0.8, 1.1), 40, 250)),
        wall_pattern=str(rng.choice(["plain", "tiles", "panels", "brick"])),
        sky_top_bgr=_bgr(sky_top),
        sky_horizon_bgr=_bgr(np.clip(sky_top * 0.3 + 175, 0, 255)),
        cloudiness=float(rng.uniform(0, 0.9)),
        texture_seed=int(rng.integers(2**31)),
        neighbour=neighbour,
    )


def _bgr(v: np.ndarray | list[int]) -> tuple[int, int, int]:
    a = np.clip(np.asarray(v, float), 0, 255)
    return (int(a[0]), int(a[1]), int(a[2]))
