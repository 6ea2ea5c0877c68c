"""Kitchen floor plans: fixtures (counters, prep tables, stove, hood, shelves), waste bins, hat-required prep zones,
the spots where staff stand, and walking paths between them.

All geometry is in the world frame of :mod:`edgewatch.scenes.kitchen_camera` (metres, floor z = 0, room
x ∈ [0, W], y ∈ [0, D]). Fixtures and bins are axis-aligned, which keeps painter's ordering exact (see
:func:`front_of`).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

BGR = tuple[int, int, int]

#: how far a person's centre keeps from fixtures, bins and walls (body radius plus a little)
CLEARANCE_M = 0.3
#: a person whose floor point lies this close to a bin's footprint is using it
BIN_USE_RADIUS_M = 0.8
NAV_CELL_M = 0.15
#: the walkable band behind the two walls the camera hangs on: staff enter and leave the picture through it
OUTSIDE_M = 2.5


@dataclass(frozen=True)
class Box3:
    """Axis-aligned box ``[x0, x1] × [y0, y1] × [z0, z1]`` in metres."""

    x0: float
    x1: float
    y0: float
    y1: float
    z0: float
    z1: float

    def corners(self) -> np.ndarray:
        xs, ys, zs = (self.x0, self.x1), (self.y0, self.y1), (self.z0, self.z1)
        return np.array([[x, y, z] for z in zs for y in ys for x in xs], float)

    def grown(self, d: float) -> Box3:
        return Box3(self.x0 - d, self.x1 + d, self.y0 - d, self.y1 + d, self.z0, self.z1)


@dataclass(frozen=True)
class Fixture:
    """A static piece of the kitchen drawn as a box: ``kind`` is counter | prep_table | stove | hood | shelf |
    rack. ``items`` are small boxes standing on it (jars, trays) with their colours."""

    kind: str
    box: Box3
    top_bgr: BGR
    side_bgr: BGR
    items: tuple[tuple[Box3, BGR], ...] = ()

    @property
    def blocks_floor(self) -> bool:
        return self.box.z0 < 1.0


@dataclass(frozen=True)
class WasteBin:
    """A pedal bin with a hinged lid. ``hinge`` is the unit floor vector from the centre to the hinge edge (the
    side facing the wall); users stand on the opposite side."""

    name: str
    x_m: float
    y_m: float
    half_m: float
    height_m: float
    round: bool
    body_bgr: BGR
    lid_bgr: BGR
    hinge: tuple[float, float]

    @property
    def box(self) -> Box3:
        return Box3(self.x_m - self.half_m, self.x_m + self.half_m, self.y_m - self.half_m,
                    self.y_m + self.half_m, 0.0, self.height_m)


@dataclass(frozen=True)
class PrepZone:
    """A hat-required floor rectangle around prep tables."""

    name: str
    x0: float
    x1: float
    y0: float
    y1: float

    def floor_corners(self) -> np.ndarray:
        return np.array([[self.x0, self.y0, 0], [self.x1, self.y0, 0], [self.x1, self.y1, 0],
                         [self.x0, self.y1, 0]], float)


@dataclass(frozen=True)
class Spot:
    """Where a person stands to work: ``kind`` prep | counter | bin; ``heading`` is the facing angle (rad);
    ``target`` names the table, counter or bin."""

    kind: str
    x_m: float
    y_m: float
    heading: float
    target: str


@dataclass(frozen=True)
class KitchenLayout:
    width_m: float
    depth_m: float
    wall_h_m: float
    fixtures: tuple[Fixture, ...]
    bins: tuple[WasteBin, ...]
    prep_zones: tuple[PrepZone, ...]
    spots: tuple[Spot, ...]
    #: entry/exit points outside the picture
    doors: tuple[tuple[float, float], ...]


def front_of(a: tuple[float, float, float, float], b: tuple[float, float, float, float], cam_xy: np.ndarray) -> int:
    """Painter's order of two disjoint floor footprints ``(x0, x1, y0, y1)`` seen from ``cam_xy``.

    If a plane separates them with the camera on ``a``'s side, no ray from the camera to ``a`` crosses ``b``: ``a``
    may only hide ``b``. Returns +1 when ``a`` must be drawn after ``b``, −1 when before, 0 when either order is
    right (or the footprints overlap, where the caller falls back to distance).
    """
    front = back = False
    for k in (0, 1):
        a0, a1, b0, b1, c = a[2 * k], a[2 * k + 1], b[2 * k], b[2 * k + 1], cam_xy[k]
        if a1 <= b0:
            front |= c < b0
            back |= c > a1
        elif a0 >= b1:
            front |= c > b1
            back |= c < a0
    if front and not back:
        return 1
    if back and not front:
        return -1
    return 0


class NavGrid:
    """Occupancy grid of the floor (plus the band outside the camera's walls) for walking paths."""

    def __init__(self, layout: KitchenLayout) -> None:
        self.x_min, self.y_min = -OUTSIDE_M, -OUTSIDE_M
        self.nx = math.ceil((layout.width_m - self.x_min) / NAV_CELL_M)
        self.ny = math.ceil((layout.depth_m - self.y_min) / NAV_CELL_M)
        xs = self.x_min + (np.arange(self.nx) + 0.5) * NAV_CELL_M
        ys = self.y_min + (np.arange(self.ny) + 0.5) * NAV_CELL_M
        X, Y = np.meshgrid(xs, ys, indexing="ij")
        free = (layout.width_m - CLEARANCE_M >= X) & (layout.depth_m - CLEARANCE_M >= Y)
        free &= (self.x_min + 0.2 <= X) & (self.y_min + 0.2 <= Y)
        boxes = [f.box for f in layout.fixtures if f.blocks_floor] + [b.box for b in layout.bins]
        for bx in boxes:
            g = bx.grown(CLEARANCE_M)
            free &= ~((g.x0 < X) & (g.x1 > X) & (g.y0 < Y) & (g.y1 > Y))
        self.free = free

    def cell(self, x: float, y: float) -> tuple[int, int]:
        i = int(np.clip((x - self.x_min) / NAV_CELL_M, 0, self.nx - 1))
        j = int(np.clip((y - self.y_min) / NAV_CELL_M, 0, self.ny - 1))
        return i, j

    def centre(self, c: tuple[int, int]) -> tuple[float, float]:
        return self.x_min + (c[0] + 0.5) * NAV_CELL_M, self.y_min + (c[1] + 0.5) * NAV_CELL_M

    def nearest_free(self, x: float, y: float) -> tuple[float, float]:
        i, j = self.cell(x, y)
        if self.free[i, j]:
            return x, y
        fi, fj = np.nonzero(self.free)
        k = int(np.argmin((fi - i) ** 2 + (fj - j) ** 2))
        return self.centre((int(fi[k]), int(fj[k])))

    def is_free(self, x: float, y: float) -> bool:
        i, j = self.cell(x, y)
        return bool(self.free[i, j])

    def _line_free(self, a: tuple[float, float], b: tuple[float, float]) -> bool:
        n = max(2, int(math.hypot(b[0] - a[0], b[1] - a[1]) / (NAV_CELL_M * 0.5)))
        return all(self.is_free(a[0] + (b[0] - a[0]) * s, a[1] + (b[1] - a[1]) * s) for s in np.linspace(0, 1, n))

    def path(self, start: tuple[float, float], goal: tuple[float, float]) -> list[tuple[float, float]]:
        """Shortest 8-connected grid path (A*), string-pulled to straight segments; ends exactly at the points."""
        s, g = self.cell(*self.nearest_free(*start)), self.cell(*self.nearest_free(*goal))
        came: dict[tuple[int, int], tuple[int, int]] = {}
        cost = {s: 0.0}
        heap = [(0.0, s)]
        steps = [(-1, 0, 1.0), (1, 0, 1.0), (0, -1, 1.0), (0, 1, 1.0), (-1, -1, 1.414), (1, 1, 1.414),
                 (-1, 1, 1.414), (1, -1, 1.414)]
        while heap:
            _, c = heapq.heappop(heap)
            if c == g:
                break
            for di, dj, w in steps:
                n = (c[0] + di, c[1] + dj)
                if not (0 <= n[0] < self.nx and 0 <= n[1] < self.ny) or not self.free[n]:
                    continue
                nc = cost[c] + w
                if nc < cost.get(n, math.inf):
                    cost[n] = nc
                    came[n] = c
                    heapq.heappush(heap, (nc + math.hypot(n[0] - g[0], n[1] - g[1]), n))
        cells = [g]
        while cells[-1] != s and cells[-1] in came:
            cells.append(came[cells[-1]])
        pts = [start] + [self.centre(c) for c in reversed(cells)] + [goal]
        pulled = [pts[0]]
        k = 0
        while k < len(pts) - 1:
            far = k + 1
            for m in range(len(pts) - 1, k + 1, -1):
                if self._line_free(pts[k], pts[m]):
                    far = m
                    break
            pulled.append(pts[far])
            k = far
        return pulled


# ---------------------------------------------------------------------------------------------- generation

_STEEL: BGR = (190, 188, 182)
_COUNTER_TOPS: list[BGR] = [(190, 188, 182), (200, 200, 196), (120, 140, 165), (225, 225, 222), (90, 90, 95)]
_COUNTER_SIDES: list[BGR] = [(170, 168, 162), (205, 205, 200), (70, 95, 130), (140, 120, 95), (60, 60, 64)]
_ITEM_COLOURS: list[BGR] = [(40, 60, 200), (30, 150, 230), (50, 160, 60), (200, 200, 200), (40, 40, 40),
                            (170, 120, 40), (80, 200, 220), (210, 210, 230)]
_BIN_COLOURS: list[BGR] = [(120, 120, 120), (60, 140, 40), (160, 90, 30), (40, 40, 40), (220, 220, 220),
                           (40, 180, 220), (50, 50, 170)]


def _items_on(rng: np.random.Generator, top: Box3, n: int) -> tuple[tuple[Box3, BGR], ...]:
    items = []
    for _ in range(n):
        w, d, h = rng.uniform(0.08, 0.3), rng.uniform(0.08, 0.25), rng.uniform(0.05, 0.3)
        if top.x1 - top.x0 < w + 0.05 or top.y1 - top.y0 < d + 0.05:
            continue
        x = rng.uniform(top.x0 + 0.02, top.x1 - w - 0.02)
        y = rng.uniform(top.y0 + 0.02, top.y1 - d - 0.02)
        items.append((Box3(x, x + w, y, y + d, top.z1, top.z1 + h), _ITEM_COLOURS[rng.integers(len(_ITEM_COLOURS))]))
    return tuple(items)


def random_layout(rng: np.random.Generator, width_m: float, depth_m: float, wall_h_m: float) -> KitchenLayout:
    """Counters along the two far walls (with a stove and its hood on one of them), shelves, one or two
    stainless prep tables in the middle (each with its hat-required zone), 1–3 bins near the walls."""
    W, D = width_m, depth_m
    fixtures: list[Fixture] = []
    top_i = int(rng.integers(len(_COUNTER_TOPS)))
    top, side = _COUNTER_TOPS[top_i], _COUNTER_SIDES[top_i]
    cd = rng.uniform(0.6, 0.75)  # counter depth
    ch = rng.uniform(0.86, 0.94)
    # back wall (y = D) counter run with a stove
    bx0 = rng.uniform(0.8, 2.0)
    bx1 = W - cd - rng.uniform(0.0, 0.3)
    stove_w = rng.uniform(0.8, 1.2)
    sx0 = rng.uniform(bx0 + 0.2, max(bx0 + 0.3, bx1 - stove_w - 0.2))
    back_parts = [(bx0, sx0), (sx0 + stove_w, bx1)]
    for x0, x1 in back_parts:
        if x1 - x0 > 0.3:
            b = Box3(x0, x1, D - cd, D, 0.0, ch)
            fixtures.append(Fixture("counter", b, top, side, _items_on(rng, b, int(rng.integers(0, 4)))))
    fixtures.append(Fixture("stove", Box3(sx0, sx0 + stove_w, D - cd - 0.05, D, 0.0, ch), (35, 35, 38),
                            (150, 150, 155)))
    fixtures.append(Fixture("hood", Box3(sx0 - 0.1, sx0 + stove_w + 0.1, D - cd - 0.1, D, 2.0,
                                         min(wall_h_m, 2.45)), _STEEL, (175, 175, 172)))
    # right wall (x = W): counter or a standing shelf rack
    ry0 = rng.uniform(1.2, 2.2)
    ry1 = D - cd
    if rng.random() < 0.5:
        b = Box3(W - cd, W, ry0, ry1, 0.0, ch)
        fixtures.append(Fixture("counter", b, top, side, _items_on(rng, b, int(rng.integers(0, 4)))))
    else:
        rack_len = min(ry1 - ry0, rng.uniform(1.2, 2.2))
        b = Box3(W - 0.5, W, ry1 - rack_len, ry1, 0.0, rng.uniform(1.6, 1.9))
        rack_col: BGR = _STEEL if rng.random() < 0.6 else (60, 90, 140)
        fixtures.append(Fixture("rack", b, rack_col, rack_col))
    # wall shelf above the back counter
    if rng.random() < 0.8:
        b = Box3(bx0, min(sx0 - 0.1, bx0 + rng.uniform(1.0, 2.5)), D - 0.32, D, 1.45, 1.49)
        if b.x1 - b.x0 > 0.5:
            fixtures.append(Fixture("shelf", b, _STEEL, _STEEL, _items_on(rng, b, int(rng.integers(2, 6)))))
    # prep tables
    n_tables = 1 if (W < 6.5 or rng.random() < 0.5) else 2
    zones: list[PrepZone] = []
    spots: list[Spot] = []
    for t in range(n_tables):
        along_x = rng.random() < 0.6
        L, Wd = rng.uniform(1.4, 2.2), rng.uniform(0.7, 0.9)
        lx, ly = (L, Wd) if along_x else (Wd, L)
        cx = rng.uniform(0.42, 0.62) * W if n_tables == 1 else (0.32 + 0.36 * t) * W
        cy = rng.uniform(0.4, 0.52) * D
        b = Box3(cx - lx / 2, cx + lx / 2, cy - ly / 2, cy + ly / 2, 0.0, rng.uniform(0.88, 0.95))
        fixtures.append(Fixture("prep_table", b, _STEEL, (150, 150, 150),
                                _items_on(rng, b, int(rng.integers(1, 5)))))
        m = rng.uniform(0.8, 1.1)
        zones.append(PrepZone(f"prep-{t + 1}", b.x0 - m, b.x1 + m, b.y0 - m, b.y1 + m))
        name = f"table-{t + 1}"
        off = 0.45
        if along_x:
            for fx in np.linspace(b.x0 + 0.35, b.x1 - 0.35, 2 if L < 1.8 else 3):
                spots.append(Spot("prep", float(fx), b.y0 - off, math.pi / 2, name))
                spots.append(Spot("prep", float(fx), b.y1 + off, -math.pi / 2, name))
        else:
            for fy in np.linspace(b.y0 + 0.35, b.y1 - 0.35, 2 if L < 1.8 else 3):
                spots.append(Spot("prep", b.x0 - off, float(fy), 0.0, name))
                spots.append(Spot("prep", b.x1 + off, float(fy), math.pi, name))
    for f in fixtures:
        if f.kind in ("counter", "stove") and f.box.y1 >= D - 1e-6:
            for fx in np.arange(f.box.x0 + 0.4, f.box.x1 - 0.3, 0.8):
                spots.append(Spot("counter", float(fx), f.box.y0 - 0.42, math.pi / 2, f.kind))
        elif f.kind == "counter":
            for fy in np.arange(f.box.y0 + 0.4, f.box.y1 - 0.3, 0.8):
                spots.append(Spot("counter", f.box.x0 - 0.42, float(fy), 0.0, f.kind))
    # bins: along the walls, in gaps, or at counter ends
    bins: list[WasteBin] = []
    candidates = [
        (rng.uniform(0.5, max(0.6, bx0 - 0.35)), D - 0.35, (0.0, 1.0)),
        (W - 0.35, rng.uniform(0.9, max(1.0, ry0 - 0.35)), (1.0, 0.0)),
        (rng.uniform(0.35 * W, 0.6 * W), 0.35 + rng.uniform(1.4, 2.0), (0.0, -1.0)),
        (W - 0.35, D - cd - 0.4, (1.0, 0.0)),
    ]
    order = rng.permutation(len(candidates))
    n_bins = int(rng.integers(1, 4))
    for k in order:
        if len(bins) >= n_bins:
            break
        x, y, hinge = candidates[int(k)]
        half = rng.uniform(0.18, 0.24)
        bb = Box3(x - half, x + half, y - half, y + half, 0, 1).grown(0.25)
        others = [f.box for f in fixtures if f.blocks_floor] + [b.box for b in bins]
        if any(bb.x0 < o.x1 and bb.x1 > o.x0 and bb.y0 < o.y1 and bb.y1 > o.y0 for o in others):
            continue
        body = _BIN_COLOURS[rng.integers(len(_BIN_COLOURS))]
        lid = body if rng.random() < 0.6 else _BIN_COLOURS[rng.integers(len(_BIN_COLOURS))]
        wb = WasteBin(f"bin-{len(bins) + 1}", x, y, half, rng.uniform(0.55, 0.75), bool(rng.random() < 0.4),
                      body, lid, hinge)
        bins.append(wb)
        spots.append(Spot("bin", x - hinge[0] * (half + 0.42), y - hinge[1] * (half + 0.42),
                          math.atan2(hinge[1], hinge[0]), wb.name))
    doors = ((-1.8, rng.uniform(0.3, 0.45) * D), (rng.uniform(0.3, 0.45) * W, -1.8), (-1.5, -1.5))
    return KitchenLayout(W, D, wall_h_m, tuple(fixtures), tuple(bins), tuple(zones), tuple(spots), doors)
