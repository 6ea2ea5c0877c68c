"""False-alarm sources for the falling-object scenes, each switchable by name.

Every distractor is built from its own random stream and draws itself into the frame at a time ``t_s``;
``events`` lists when it is active, for the truth file. Layer order (see ``falling.render_scene``): laundry,
falling objects, birds, leaves, paper, trees, lighting, rain, insects, jitter, noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from edgewatch.scenes.camera import PinholeCamera
from edgewatch.scenes.facade import Background, BuildingSpec, fill_polygons
from edgewatch.scenes.sprites import draw_blurred, regular_polygon

DISTRACTOR_TYPES = ("trees", "birds", "leaves", "paper", "rain", "insects", "laundry", "lighting", "jitter", "noise")


@dataclass
class SceneContext:
    cam: PinholeCamera
    building: BuildingSpec
    background: Background
    fps: float
    duration_s: float
    shutter_s: float

    @property
    def px_scale(self) -> float:
        """Image-space sizes are tuned at 720 rows; scale them with the frame height."""
        return self.cam.height / 720.0

    def sub_times(self, t_s: float, n: int) -> np.ndarray:
        """``n`` sample times spread over a shutter centred on ``t_s``."""
        return t_s + self.shutter_s * ((np.arange(n) + 0.5) / n - 0.5)

    def back_project(self, u: float, v: float, depth_m: float) -> np.ndarray:
        """The building-frame point at camera depth ``depth_m`` seen at ideal pixel (u, v)."""
        c = self.cam
        pc = np.array([(u - c.cx) / c.fx * depth_m, (v - c.cy) / c.fy * depth_m, depth_m])
        return c.R.T @ (pc - c.t)


@dataclass
class Distractor:
    name: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def draw(self, frame: np.ndarray, t_s: float) -> None:  # pragma: no cover - interface
        raise NotImplementedError


def _smooth_series(rng: np.random.Generator, n_terms: int, f_lo: float, f_hi: float) -> tuple[np.ndarray, ...]:
    return rng.uniform(f_lo, f_hi, n_terms), rng.uniform(0, 2 * math.pi, n_terms), rng.uniform(0.5, 1.0, n_terms)


def _eval_series(series: tuple[np.ndarray, ...], t: float | np.ndarray) -> np.ndarray:
    f, ph, a = series
    tt = np.asarray(t, dtype=np.float64)[..., None]
    return np.sum(a * np.sin(2 * math.pi * f * tt + ph), axis=-1) / np.sum(a)


# --------------------------------------------------------------------------------------------- trees


class Trees(Distractor):
    """A foreground canopy in a lower corner: two leaf layers swaying out of phase, and leaf flicker."""

    def __init__(self, ctx: SceneContext, rng: np.random.Generator) -> None:
        super().__init__("trees")
        W, H, k = ctx.cam.width, ctx.cam.height, ctx.px_scale
        self.left = bool(rng.random() < 0.5)
        tw, th = int(W * rng.uniform(0.22, 0.42)), int(H * rng.uniform(0.35, 0.7))
        self.x0 = 0 if self.left else W - tw
        self.y0 = H - th
        self.layers: list[tuple[np.ndarray, np.ndarray]] = []
        base_green = np.array([rng.uniform(30, 70), rng.uniform(80, 130), rng.uniform(40, 80)])
        trunk_x = int(tw * (0.35 if self.left else 0.65))
        for layer in range(2):
            col = np.zeros((th, tw, 3), np.uint8)
            alpha = np.zeros((th, tw), np.uint8)
            if layer == 0:
                cv2.line(col, (trunk_x, th), (trunk_x, int(th * 0.45)), (40, 55, 70), max(2, int(14 * k)))
                cv2.line(alpha, (trunk_x, th), (trunk_x, int(th * 0.45)), 255, max(2, int(14 * k)))
            n_clusters = int(rng.integers(25, 45))
            for _ in range(n_clusters):
                cx = int(np.clip(rng.normal(trunk_x, tw * 0.25), 0.1 * tw, 0.9 * tw))
                cy = int(rng.uniform(0.12, 0.6) * th)
                for _ in range(int(rng.integers(15, 40))):
                    px, py = (
                        int(cx + rng.normal(0, 22 * k)),
                        int(cy + np.clip(rng.normal(0, 16 * k), -0.1 * th, 0.1 * th)),
                    )
                    ax, ay = max(1, int(rng.uniform(3, 9) * k)), max(1, int(rng.uniform(2, 6) * k))
                    shade = base_green * rng.uniform(0.6, 1.35) * (0.8 if layer == 0 else 1.1)
                    color = tuple(int(c) for c in np.clip(shade, 0, 255))
                    ang = float(rng.uniform(0, 180))
                    cv2.ellipse(col, (px, py), (ax, ay), ang, 0, 360, color, -1, cv2.LINE_AA)
                    cv2.ellipse(alpha, (px, py), (ax, ay), ang, 0, 360, 255, -1, cv2.LINE_AA)
            self.layers.append((col, alpha))
        self.sway_px = float(rng.uniform(2, 9) * k)
        self.sway = [_smooth_series(rng, 3, 0.15, 0.9), _smooth_series(rng, 3, 0.4, 1.6)]
        self.flicker_fields = [
            rng.uniform(0.8, 1.2, (max(2, th // 12), max(2, tw // 12))).astype(np.float32) for _ in range(8)
        ]
        yy = np.arange(th, dtype=np.float32)
        self.bend = ((th - yy) / th) ** 1.5  # base fixed, crown moves most
        self.grid_x = np.tile(np.arange(tw, dtype=np.float32), (th, 1))
        self.grid_y = np.tile(yy[:, None], (1, tw))
        self.last_alpha = np.zeros((th, tw), np.float32)
        self.events.append({"type": "trees", "t_start_s": 0.0, "t_end_s": ctx.duration_s, "sway_px": self.sway_px})
        a = np.maximum(self.layers[0][1], self.layers[1][1])
        pts = cv2.findNonZero((a > 25).astype(np.uint8))
        hull = cv2.convexHull(pts).reshape(-1, 2).astype(np.float64) if pts is not None else np.zeros((0, 2))
        c = hull.mean(0) if len(hull) else np.zeros(2)
        grow = 1.0 + (self.sway_px * 1.5 + 4) / max(tw, th) * 2
        self.outline_px = (c + (hull - c) * grow + [self.x0, self.y0]) if len(hull) else hull

    def draw(self, frame: np.ndarray, t_s: float) -> None:
        th, tw = self.layers[0][1].shape
        roi = frame[self.y0 : self.y0 + th, self.x0 : self.x0 + tw]
        out = roi.astype(np.float32)
        total_alpha = np.zeros((th, tw), np.float32)
        i = t_s * 3.0
        k0, fr = int(i) % len(self.flicker_fields), i - int(i)
        flick = self.flicker_fields[k0] * (1 - fr) + self.flicker_fields[(k0 + 1) % len(self.flicker_fields)] * fr
        flick = cv2.resize(flick, (tw, th), interpolation=cv2.INTER_LINEAR)
        for li, (col, alpha) in enumerate(self.layers):
            dx = self.sway_px * (1 + 0.5 * li) * float(_eval_series(self.sway[li], t_s))
            mx = self.grid_x - (dx * self.bend)[:, None]
            c = cv2.remap(col, mx, self.grid_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            a = cv2.remap(alpha, mx, self.grid_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            af = a.astype(np.float32) / 255.0
            shade = flick if li == 1 else 1.0
            out = out * (1 - af[..., None]) + c.astype(np.float32) * (af * shade)[..., None]
            total_alpha = np.maximum(total_alpha, af)
        roi[:] = np.clip(out, 0, 255).astype(np.uint8)
        self.last_alpha = total_alpha

    def coverage(self, u: float, v: float) -> float:
        iu, iv = round(u) - self.x0, round(v) - self.y0
        th, tw = self.last_alpha.shape
        return float(self.last_alpha[iv, iu]) if 0 <= iu < tw and 0 <= iv < th else 0.0


# -------------------------------------------------------------------------------- flying / falling


@dataclass
class _Path:
    """A sampled 3-D path (building frame) at 100 Hz."""

    t0: float
    xyz: np.ndarray
    dt: float = 0.01

    def at(self, t: np.ndarray) -> np.ndarray:
        s = np.clip((np.asarray(t) - self.t0) / self.dt, 0, len(self.xyz) - 1.001)
        i = s.astype(int)
        f = (s - i)[:, None]
        return self.xyz[i] * (1 - f) + self.xyz[i + 1] * f

    @property
    def t1(self) -> float:
        return self.t0 + (len(self.xyz) - 1) * self.dt


def _visible_span(ctx: SceneContext, path: _Path) -> tuple[float, float] | None:
    t = np.arange(max(0.0, path.t0), min(ctx.duration_s, path.t1), 1.0 / ctx.fps)
    if len(t) == 0:
        return None
    p = path.at(t)
    ok = ctx.cam.depth(p) > 0.5
    uv = ctx.cam.project(p)
    ok &= (uv[:, 0] >= 0) & (uv[:, 0] < ctx.cam.width) & (uv[:, 1] >= 0) & (uv[:, 1] < ctx.cam.height)
    if not ok.any():
        return None
    return float(t[ok][0]), float(t[ok][-1])


class _Flyers(Distractor):
    """Things moving along 3-D paths, drawn as blurred shapes scaled by perspective."""

    def __init__(self, name: str, ctx: SceneContext) -> None:
        super().__init__(name)
        self.ctx = ctx
        self.items: list[dict[str, Any]] = []

    def _add(self, item: dict[str, Any], event: dict[str, Any]) -> None:
        span = _visible_span(self.ctx, item["path"])
        if span is None:
            return
        self.items.append(item)
        self.events.append({**event, "t_start_s": round(span[0], 3), "t_end_s": round(span[1], 3)})

    def _random_start(
        self, rng: np.random.Generator, depth_lo: float, depth_hi: float, v_lo: float, v_hi: float
    ) -> np.ndarray:
        c = self.ctx.cam
        return self.ctx.back_project(
            float(rng.uniform(0, c.width)),
            float(rng.uniform(v_lo, v_hi) * c.height),
            float(rng.uniform(depth_lo, depth_hi)),
        )

    def draw(self, frame: np.ndarray, t_s: float) -> None:
        for it in self.items:
            p: _Path = it["path"]
            if not (p.t0 - 0.05 <= t_s <= p.t1 + 0.05):
                continue
            n = 4
            ts = self.ctx.sub_times(t_s, n)
            xyz = p.at(ts)
            if np.any(self.ctx.cam.depth(xyz) < 0.3):
                continue
            uv = self.ctx.cam.project(xyz)
            scale = float(np.mean(self.ctx.cam.local_scale_px_per_m(xyz)))
            self._draw_item(frame, it, t_s, ts, uv, scale)

    def _draw_item(
        self, frame: np.ndarray, it: dict[str, Any], t_s: float, ts: np.ndarray, uv: np.ndarray, scale: float
    ) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class Birds(_Flyers):
    """Pigeons, crows, gulls: flapping bouts and glides across the view, some diving downwards."""

    def __init__(self, ctx: SceneContext, rng: np.random.Generator) -> None:
        super().__init__("birds", ctx)
        for _ in range(int(rng.integers(2, 7))):
            t0 = float(rng.uniform(-1.0, max(0.05, ctx.duration_s - 0.5)))
            p0 = self._random_start(rng, 6, 45, 0.0, 0.9)
            heading = float(rng.uniform(-0.5, 0.5)) + (0 if rng.random() < 0.5 else math.pi)
            speed = float(rng.uniform(5, 13))
            dive = bool(rng.random() < 0.35)
            n = int(6.0 / 0.01)
            v = np.array([math.cos(heading) * speed, math.sin(heading) * speed * 0.3, float(rng.uniform(-1, 1))])
            xyz = np.empty((n, 3))
            pos = p0 - v * 2.0  # start two seconds before reaching p0, so it enters the view
            t_dive = float(rng.uniform(1.0, 3.0))
            for i in range(n):
                tt = i * 0.01
                vz = v[2]
                if dive and t_dive <= tt < t_dive + 1.0:
                    vz = -float(min(14.0, 6 + 8 * (tt - t_dive)))
                elif dive and t_dive + 1.0 <= tt < t_dive + 1.6:
                    vz = 3.0
                pos = pos + np.array([v[0], v[1], vz]) * 0.01
                pos[2] = max(pos[2], 0.5)
                xyz[i] = pos
            kind = int(rng.integers(3))
            color = [(118, 118, 124), (32, 32, 34), (228, 230, 232)][kind]
            self._add(
                {
                    "path": _Path(t0 - 2.0, xyz),
                    "span_m": float(rng.uniform(0.5, 0.9)) * (1.3 if kind == 2 else 1.0),
                    "flap_hz": float(rng.uniform(4, 8)),
                    "glide": _smooth_series(rng, 2, 0.2, 0.6),
                    "color": color,
                    "phase": float(rng.uniform(0, 6.28)),
                },
                {"type": "bird", "dive": dive},
            )

    def _draw_item(
        self, frame: np.ndarray, it: dict[str, Any], t_s: float, ts: np.ndarray, uv: np.ndarray, scale: float
    ) -> None:
        span = it["span_m"] * scale
        gliding = float(_eval_series(it["glide"], t_s)) > 0.3
        phase = 2 * math.pi * it["flap_hz"] * t_s + it["phase"]
        open_ = 0.35 + 0.65 * abs(math.cos(phase)) if not gliding else 1.0
        lift = (0.25 * math.sin(phase) if not gliding else 0.05) * span
        half, body = max(span * open_ / 2, 0.4), max(span * 0.22, 0.5)
        shape = np.array(
            [
                [-body, 0],
                [-0.2 * body, -half],
                [0.1 * body, -half * 0.4],
                [body * 0.8, 0],
                [0.1 * body, half * 0.4],
                [-0.2 * body, half],
            ],
            np.float64,
        )
        shape[[1, 5], 0] -= lift
        d = uv[-1] - uv[0]
        ang = math.atan2(d[1], d[0]) if np.hypot(*d) > 0.2 else 0.0
        draw_blurred(frame, shape, uv, np.full(len(uv), ang), it["color"])


class FallingLitter(_Flyers):
    """Leaves or paper drifting down near their terminal speed, fluttering sideways and flipping."""

    def __init__(self, ctx: SceneContext, rng: np.random.Generator, kind: str) -> None:
        super().__init__("leaves" if kind == "leaf" else "paper", ctx)
        self.kind = kind
        count = int(rng.integers(3, 12)) if kind == "leaf" else int(rng.integers(1, 4))
        for _ in range(count):
            t0 = float(rng.uniform(-3.0, max(0.05, ctx.duration_s - 1.0)))
            depth = (4, 18) if kind == "leaf" else (6, 35)
            p0 = self._random_start(rng, depth[0], depth[1], -0.1, 0.5)
            p0[1] = min(p0[1], -0.3)
            v_fall = float(rng.uniform(0.5, 2.0) if kind == "leaf" else rng.uniform(0.5, 1.5))
            wind = rng.uniform(-1.0, 1.0, 2)
            amp, f = float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.3, 1.2))
            n = int(12.0 / 0.01)
            tt = np.arange(n) * 0.01
            xyz = np.stack(
                [
                    p0[0] + wind[0] * tt + amp * np.sin(2 * math.pi * f * tt),
                    np.minimum(p0[1] + wind[1] * 0.3 * tt + 0.3 * amp * np.cos(2 * math.pi * f * tt), -0.2),
                    p0[2] - v_fall * tt + 0.1 * amp * np.sin(4 * math.pi * f * tt),
                ],
                1,
            )
            keep = xyz[:, 2] > 0.0
            xyz = xyz[keep] if keep.sum() > 2 else xyz[:2]
            if kind == "leaf":
                size = float(rng.uniform(0.04, 0.1))
                col = (rng.uniform(20, 60), rng.uniform(90, 170), rng.uniform(60, 190))
            else:
                size = float(rng.uniform(0.15, 0.3))
                g = float(rng.uniform(200, 250))
                col = (g, g, g * rng.uniform(0.92, 1.0))
            self._add(
                {
                    "path": _Path(t0, xyz),
                    "size_m": size,
                    "color": col,
                    "flip_hz": f * rng.uniform(1.0, 2.5),
                    "spin": float(rng.uniform(-3, 3)),
                },
                {"type": kind, "fall_speed_mps": round(v_fall, 2)},
            )

    def _draw_item(
        self, frame: np.ndarray, it: dict[str, Any], t_s: float, ts: np.ndarray, uv: np.ndarray, scale: float
    ) -> None:
        flip = np.cos(2 * math.pi * it["flip_hz"] * ts)
        r = max(it["size_m"] * scale / 2, 0.3)
        if self.kind == "leaf":
            shape = regular_polygon(8, r, r * 0.45)
        else:
            shape = np.array([[-r, -r * 0.7], [r, -r * 0.7], [r, r * 0.7], [-r, r * 0.7]], np.float64)
        shape = shape * [1.0, max(0.15, abs(float(flip[len(flip) // 2])))]
        draw_blurred(frame, shape, uv, it["spin"] * ts, it["color"], shading=0.75 + 0.25 * np.abs(flip))


# ------------------------------------------------------------------------------------------- laundry


class Laundry(Distractor):
    """Cloth hanging from balcony rails (or window racks), flapping in the wind."""

    def __init__(self, ctx: SceneContext, rng: np.random.Generator) -> None:
        super().__init__("laundry")
        self.ctx = ctx
        b = ctx.building
        self.items: list[dict[str, Any]] = []
        cands = []
        for si in range(1, b.n_storeys):
            for ci in range(len(b.column_edges_m) - 1):
                xa, xb = b.column_edges_m[ci], b.column_edges_m[ci + 1]
                zf = b.floor_z_m[si]
                y = -b.balcony_depth_m - 0.03 if b.has_balcony(si, ci) else -0.35
                ztop = zf + (b.rail_height_m if b.has_balcony(si, ci) else b.sill_height_m)
                p = np.array([[0.5 * (xa + xb), y, ztop]])
                uv = ctx.cam.project(p)[0]
                if 0 < uv[0] < ctx.cam.width and 0 < uv[1] < ctx.cam.height and ctx.cam.depth(p)[0] > 1:
                    cands.append((si, ci, xa, xb, y, ztop))
        if not cands:
            return
        for _ in range(int(rng.integers(2, 6))):
            si, ci, xa, xb, y, ztop = cands[int(rng.integers(len(cands)))]
            w = float(rng.uniform(0.4, 1.2))
            x0 = float(rng.uniform(xa + 0.2, max(xa + 0.25, xb - 0.2 - w)))
            self.items.append(
                {
                    "x0": x0,
                    "w": w,
                    "y": y,
                    "z": ztop,
                    "len": float(rng.uniform(0.5, 1.1)),
                    "color": np.clip(rng.uniform(40, 250, 3), 0, 255),
                    "flap": _smooth_series(rng, 3, 0.6, 2.5),
                    "amp": float(rng.uniform(0.05, 0.35)),
                }
            )
            self.events.append(
                {
                    "type": "laundry",
                    "t_start_s": 0.0,
                    "t_end_s": ctx.duration_s,
                    "floor": str(si + 1),
                    "column": b.column_names[ci],
                }
            )

    def draw(self, frame: np.ndarray, t_s: float) -> None:
        for it in self.items:
            a = float(_eval_series(it["flap"], t_s)) * it["amp"]
            b_ = float(_eval_series(it["flap"], t_s + 0.21)) * it["amp"]
            x0, w, y, z, L = it["x0"], it["w"], it["y"], it["z"], it["len"]
            pts = np.array(
                [
                    [x0, y, z],
                    [x0 + w, y, z],
                    [x0 + w + 0.3 * a, y - abs(a), z - L * (1 - 0.3 * abs(a))],
                    [x0 + w / 2 + 0.3 * b_, y - abs(b_) * 1.2, z - L * 1.05],
                    [x0 + 0.3 * a, y - abs(b_), z - L * (1 - 0.3 * abs(b_))],
                ]
            )
            if np.any(self.ctx.cam.depth(pts) < 0.5):
                continue
            uv = self.ctx.cam.project(pts)
            shade = 0.8 + 0.4 * (a / max(it["amp"], 1e-6)) * 0.5
            fill_polygons(frame, [uv], tuple(int(c) for c in np.clip(it["color"] * shade, 0, 255)))


# --------------------------------------------------------------------------------- lighting & camera


class Lighting(Distractor):
    """A drifting cloud shadow over the buildings and auto-exposure steps with slow recovery."""

    def __init__(self, ctx: SceneContext, rng: np.random.Generator) -> None:
        super().__init__("lighting")
        W, H = ctx.cam.width, ctx.cam.height
        self.lw, self.lh = max(2, W // 8), max(2, H // 8)
        self.solid = cv2.resize(255 - ctx.background.sky_mask, (self.lw, self.lh), interpolation=cv2.INTER_AREA)
        self.solid = self.solid.astype(np.float32) / 255.0
        big = rng.uniform(0, 1, (6, 12)).astype(np.float32)
        self.cloud = cv2.resize(big, (self.lw * 3, self.lh), interpolation=cv2.INTER_CUBIC)
        self.cloud = np.clip((self.cloud - 0.45) * 3, 0, 1)
        self.shadow_depth = float(rng.uniform(0.2, 0.45)) if rng.random() < 0.8 else 0.0
        self.drift_px_s = float(rng.uniform(4, 20)) * (1 if rng.random() < 0.5 else -1) * self.lw / 160
        if self.shadow_depth > 0:
            self.events.append(
                {
                    "type": "cloud_shadow",
                    "t_start_s": 0.0,
                    "t_end_s": ctx.duration_s,
                    "depth": round(self.shadow_depth, 3),
                }
            )
        self.steps: list[tuple[float, float, float]] = []
        for _ in range(int(rng.integers(1, 3))):
            t0 = float(
                rng.uniform(min(0.5, ctx.duration_s / 4), max(min(0.5, ctx.duration_s / 4), ctx.duration_s - 0.5))
            )
            gain = float(rng.choice([-1, 1]) * rng.uniform(0.1, 0.3))
            tau = float(rng.uniform(0.4, 1.5))
            self.steps.append((t0, gain, tau))
            self.events.append(
                {
                    "type": "exposure_step",
                    "t_start_s": round(t0, 3),
                    "t_end_s": round(min(ctx.duration_s, t0 + 3 * tau), 3),
                    "gain": round(gain, 3),
                }
            )

    def gain_at(self, t_s: float) -> float:
        g = 1.0
        for t0, dg, tau in self.steps:
            if t_s >= t0:
                g *= 1.0 + dg * math.exp(-(t_s - t0) / tau)
        return g

    def draw(self, frame: np.ndarray, t_s: float) -> None:
        off = round(t_s * self.drift_px_s) % (self.lw * 2)
        shadow = self.cloud[:, off : off + self.lw]
        gain = self.gain_at(t_s) * (1.0 - self.shadow_depth * shadow * self.solid)
        g8 = np.clip(gain * 128.0, 0, 255).astype(np.uint8)
        g8 = cv2.resize(g8, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)
        g3 = cv2.merge([g8, g8, g8])
        cv2.multiply(frame, g3, dst=frame, scale=1.0 / 128.0)


class Rain(Distractor):
    """Rain streaks (each frame's drops are new: a drop crosses the view within an exposure or two)."""

    def __init__(self, ctx: SceneContext, rng: np.random.Generator) -> None:
        super().__init__("rain")
        self.rng = rng
        self.k = ctx.px_scale
        self.n = int(rng.uniform(150, 600) * (ctx.cam.width * ctx.cam.height) / (1280 * 720))
        self.angle = float(rng.uniform(-0.25, 0.25))
        self.len_px = (float(rng.uniform(10, 25)) * self.k, float(rng.uniform(30, 50)) * self.k)
        self.bright = float(rng.uniform(12, 35))
        self.layer = np.zeros((ctx.cam.height, ctx.cam.width), np.uint8)
        self.events.append({"type": "rain", "t_start_s": 0.0, "t_end_s": ctx.duration_s, "drops_per_frame": self.n})

    def draw(self, frame: np.ndarray, t_s: float) -> None:
        h, w = frame.shape[:2]
        r = self.rng
        self.layer[:] = 0
        x = r.uniform(0, w, self.n)
        y = r.uniform(-20, h, self.n)
        L = r.uniform(*self.len_px, self.n)
        dx, dy = L * math.sin(self.angle), L * math.cos(self.angle)
        b = r.uniform(0.4, 1.0, self.n) * self.bright
        th = max(1, round(self.k))
        for i in range(self.n):
            cv2.line(
                self.layer, (int(x[i]), int(y[i])), (int(x[i] + dx[i]), int(y[i] + dy[i])), int(b[i]), th, cv2.LINE_AA
            )
        cv2.add(frame, cv2.merge([self.layer, self.layer, self.layer]), dst=frame)


class Insects(Distractor):
    """Insects right in front of the lens: big, out of focus, erratic."""

    def __init__(self, ctx: SceneContext, rng: np.random.Generator) -> None:
        super().__init__("insects")
        self.items: list[dict[str, Any]] = []
        W, H, k = ctx.cam.width, ctx.cam.height, ctx.px_scale
        for _ in range(int(rng.integers(1, 4))):
            t0 = float(rng.uniform(0, max(0.05, ctx.duration_s - 0.5)))
            dur = float(rng.uniform(0.4, 2.5))
            r = float(rng.uniform(8, 40) * k)
            blob = np.zeros((int(6 * r) | 1, int(6 * r) | 1), np.float32)
            c = blob.shape[0] // 2
            cv2.ellipse(
                blob,
                (c, c),
                (int(r), int(r * rng.uniform(0.5, 0.9))),
                float(rng.uniform(0, 180)),
                0,
                360,
                1.0,
                -1,
                cv2.LINE_AA,
            )
            blob = cv2.GaussianBlur(blob, (0, 0), r * 0.6)
            blob /= max(float(blob.max()), 1e-6)
            self.items.append(
                {
                    "t0": t0,
                    "t1": min(ctx.duration_s, t0 + dur),
                    "blob": blob,
                    "color": (20.0, 20.0, 22.0) if rng.random() < 0.7 else (210.0, 220.0, 225.0),
                    "opacity": float(rng.uniform(0.3, 0.85)),
                    "c0": np.array([rng.uniform(0, W), rng.uniform(0, H)]),
                    "drift": rng.normal(0, W * 0.3, 2),
                    "wx": _smooth_series(rng, 4, 0.8, 5),
                    "wy": _smooth_series(rng, 4, 0.8, 5),
                    "amp": float(rng.uniform(0.05, 0.2) * W),
                }
            )
            self.events.append(
                {"type": "insect", "t_start_s": round(t0, 3), "t_end_s": round(min(ctx.duration_s, t0 + dur), 3)}
            )

    def draw(self, frame: np.ndarray, t_s: float) -> None:
        h, w = frame.shape[:2]
        for it in self.items:
            if not it["t0"] <= t_s <= it["t1"]:
                continue
            tt = t_s - it["t0"]
            c = (
                it["c0"]
                + it["drift"] * tt
                + it["amp"] * np.array([_eval_series(it["wx"], t_s), _eval_series(it["wy"], t_s)])
            )
            blob = it["blob"]
            s = blob.shape[0]
            x0, y0 = int(c[0]) - s // 2, int(c[1]) - s // 2
            xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + s, w), min(y0 + s, h)
            if xb <= xa or yb <= ya:
                continue
            a = blob[ya - y0 : yb - y0, xa - x0 : xb - x0] * it["opacity"]
            roi = frame[ya:yb, xa:xb]
            roi[:] = (roi * (1 - a[..., None]) + np.array(it["color"], np.float32) * a[..., None]).astype(np.uint8)


class Jitter(Distractor):
    """Camera shake from wind: a slow wander plus gusts of faster shaking, a few pixels."""

    def __init__(self, ctx: SceneContext, rng: np.random.Generator) -> None:
        super().__init__("jitter")
        k = ctx.px_scale
        self.amp = float(rng.uniform(0.3, 1.5) * k)
        self.sx, self.sy = _smooth_series(rng, 3, 0.3, 2.0), _smooth_series(rng, 3, 0.3, 2.0)
        self.gusts = []
        for _ in range(int(rng.integers(0, 3))):
            t0 = float(rng.uniform(0, max(0.05, ctx.duration_s - 0.5)))
            self.gusts.append(
                (
                    t0,
                    float(rng.uniform(0.4, 1.2)),
                    float(rng.uniform(1.0, 4.0) * k),
                    _smooth_series(rng, 3, 5, 11),
                    _smooth_series(rng, 3, 5, 11),
                )
            )
        self.events.append(
            {"type": "jitter", "t_start_s": 0.0, "t_end_s": ctx.duration_s, "amplitude_px": round(self.amp, 2)}
        )
        for t0, d, a, _, _ in self.gusts:
            self.events.append(
                {
                    "type": "shake_gust",
                    "t_start_s": round(t0, 3),
                    "t_end_s": round(t0 + d, 3),
                    "amplitude_px": round(a, 2),
                }
            )

    def offset_px(self, t_s: float) -> tuple[float, float]:
        dx = self.amp * float(_eval_series(self.sx, t_s))
        dy = self.amp * float(_eval_series(self.sy, t_s))
        for t0, d, a, gx, gy in self.gusts:
            if t0 <= t_s <= t0 + d:
                env = math.sin(math.pi * (t_s - t0) / d)
                dx += a * env * float(_eval_series(gx, t_s))
                dy += a * env * float(_eval_series(gy, t_s))
        return dx, dy

    def draw(self, frame: np.ndarray, t_s: float) -> None:
        dx, dy = self.offset_px(t_s)
        M = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
        frame[:] = cv2.warpAffine(
            frame, M, (frame.shape[1], frame.shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )


class SensorNoise(Distractor):
    """Gaussian read/shot noise from a precomputed bank, sliced at a random offset every frame."""

    def __init__(self, ctx: SceneContext, rng: np.random.Generator) -> None:
        super().__init__("noise")
        self.rng = rng
        self.sigma = float(rng.uniform(1.0, 4.0))
        h, w, m = ctx.cam.height, ctx.cam.width, 32
        n = rng.normal(0, self.sigma, (h + m, w + m, 3)).astype(np.float32)
        self.pos = np.clip(n, 0, 255).astype(np.uint8)
        self.neg = np.clip(-n, 0, 255).astype(np.uint8)
        self.m = m
        self.events.append(
            {"type": "noise", "t_start_s": 0.0, "t_end_s": ctx.duration_s, "sigma": round(self.sigma, 2)}
        )

    def draw(self, frame: np.ndarray, t_s: float) -> None:
        h, w = frame.shape[:2]
        ox, oy = (int(v) for v in self.rng.integers(0, self.m, 2))
        cv2.add(frame, self.pos[oy : oy + h, ox : ox + w], dst=frame)
        ox, oy = (int(v) for v in self.rng.integers(0, self.m, 2))
        cv2.subtract(frame, self.neg[oy : oy + h, ox : ox + w], dst=frame)


def build_distractors(ctx: SceneContext, names: list[str], seed: int) -> dict[str, Distractor]:
    """The requested distractors, each from its own random stream (so switching one off leaves the rest
    unchanged)."""
    unknown = set(names) - set(DISTRACTOR_TYPES)
    if unknown:
        raise ValueError(f"unknown distractor(s) {sorted(unknown)}; choose from {', '.join(DISTRACTOR_TYPES)}")
    out: dict[str, Distractor] = {}
    for i, name in enumerate(DISTRACTOR_TYPES):
        if name not in names:
            continue
        rng = np.random.default_rng([seed, 1000 + i])
        if name == "trees":
            out[name] = Trees(ctx, rng)
        elif name == "birds":
            out[name] = Birds(ctx, rng)
        elif name == "leaves":
            out[name] = FallingLitter(ctx, rng, "leaf")
        elif name == "paper":
            out[name] = FallingLitter(ctx, rng, "paper")
        elif name == "rain":
            out[name] = Rain(ctx, rng)
        elif name == "insects":
            out[name] = Insects(ctx, rng)
        elif name == "laundry":
            out[name] = Laundry(ctx, rng)
        elif name == "lighting":
            out[name] = Lighting(ctx, rng)
        elif name == "jitter":
            out[name] = Jitter(ctx, rng)
        else:
            out[name] = SensorNoise(ctx, rng)
    return out
