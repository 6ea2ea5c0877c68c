"""Kitchen staff: how each person looks, what they wear on their head, and their timed script (walk, work at a
prep table or counter, use a bin, put a hat on or take it off, leave).

Headwear and compliance (the rule "missing_chef_hat" counts a person as compliant only in a chef hat):

============== ========= ==================================================================
style          compliant what it is
============== ========= ==================================================================
toque          yes       tall pleated white chef's toque
low_pleated    yes       short pleated chef hat
paper_cap      yes       disposable paper skull/forage cap
baseball_cap   no        peaked cap: not a chef hat
bandana        no        cloth bandana: covers hair but is not a chef hat in this product
(none)         no        bare head
============== ========= ==================================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgewatch.scenes.kitchen_layout import KitchenLayout, NavGrid, Spot

BGR = tuple[int, int, int]

#: headwear style → counts as a chef hat for the "missing_chef_hat" rule
HAT_STYLES: dict[str, bool] = {
    "toque": True,
    "low_pleated": True,
    "paper_cap": True,
    "baseball_cap": False,
    "bandana": False,
}
COMPLIANT_HATS = tuple(k for k, v in HAT_STYLES.items() if v)
OTHER_HEADWEAR = tuple(k for k, v in HAT_STYLES.items() if not v)

SKIN_TONES: list[BGR] = [(189, 208, 241), (150, 180, 224), (120, 160, 205), (90, 130, 180), (60, 95, 140),
                         (45, 65, 100)]
HAIR_COLOURS: list[BGR] = [(20, 20, 25), (30, 40, 60), (40, 70, 110), (80, 130, 180), (150, 150, 155),
                           (30, 50, 150)]
JACKETS: list[BGR] = [(240, 240, 238), (235, 238, 240), (225, 228, 230), (40, 40, 40), (120, 120, 125),
                      (130, 80, 30), (60, 60, 140)]
TROUSERS: list[BGR] = [(35, 35, 38), (60, 60, 62), (110, 110, 112), (90, 60, 40), (200, 200, 200)]
APRONS: list[BGR] = [(235, 235, 235), (120, 70, 30), (40, 40, 40), (80, 110, 150), (60, 100, 60)]
CAP_COLOURS: list[BGR] = [(30, 30, 30), (40, 40, 170), (150, 70, 20), (40, 120, 40), (200, 200, 200)]
WALK_STRIDE_M = 1.4


@dataclass(frozen=True)
class Look:
    skin_bgr: BGR
    hair_bgr: BGR
    long_hair: bool
    jacket_bgr: BGR
    trousers_bgr: BGR
    apron_bgr: BGR | None
    height_m: float
    #: colour of non-white headwear (caps, bandanas) and of a paper cap's stripe
    cap_bgr: BGR


@dataclass(frozen=True)
class Leg:
    """One piece of a script: from ``t0_s`` to ``t1_s`` the person goes straight from ``(x0, y0)`` to ``(x1, y1)``
    (equal for standing), facing ``heading`` (rad); ``pose`` is walk | stand | work | bin; ``d0_m`` is the distance
    walked before the leg (it drives the stride)."""

    t0_s: float
    t1_s: float
    x0: float
    y0: float
    x1: float
    y1: float
    heading: float
    pose: str
    d0_m: float


@dataclass(frozen=True)
class StaffMember:
    track_id: int
    look: Look
    legs: tuple[Leg, ...]
    #: (time, style or None): the headwear worn from that time on; the first entry is at the start of the script
    hats: tuple[tuple[float, str | None], ...]

    @property
    def t_start_s(self) -> float:
        return self.legs[0].t0_s

    @property
    def t_end_s(self) -> float:
        return self.legs[-1].t1_s


@dataclass(frozen=True)
class PersonState:
    track_id: int
    x_m: float
    y_m: float
    heading: float
    pose: str
    #: walking phase in radians (legs and arms swing with sin(phase))
    phase: float
    hat: str | None
    #: 0..1 while an arm is raised to the head to put on or take off a hat
    reach: float
    look: Look


def hat_at(member: StaffMember, t: float) -> str | None:
    hat = member.hats[0][1]
    for ts, style in member.hats:
        if ts <= t:
            hat = style
    return hat


def state_at(member: StaffMember, t: float) -> PersonState | None:
    """Where the person is and what they do at time ``t``; None before they appear or after they left."""
    if not member.legs or t < member.t_start_s or t >= member.t_end_s:
        return None
    leg = member.legs[-1]
    for lg in member.legs:
        if lg.t0_s <= t < lg.t1_s:
            leg = lg
            break
    s = (t - leg.t0_s) / max(leg.t1_s - leg.t0_s, 1e-9)
    x = leg.x0 + (leg.x1 - leg.x0) * s
    y = leg.y0 + (leg.y1 - leg.y0) * s
    walked = leg.d0_m + math.hypot(leg.x1 - leg.x0, leg.y1 - leg.y0) * s
    reach = 0.0
    for ts, _ in member.hats[1:]:
        reach = max(reach, 1.0 - abs(t - ts) / 0.6)
    return PersonState(member.track_id, x, y, leg.heading, leg.pose, 2 * math.pi * walked / WALK_STRIDE_M,
                       hat_at(member, t), reach, member.look)


def random_look(rng: np.random.Generator) -> Look:
    white = rng.random() < 0.65
    jacket = JACKETS[int(rng.integers(0, 3))] if white else JACKETS[int(rng.integers(3, len(JACKETS)))]
    return Look(
        skin_bgr=SKIN_TONES[int(rng.integers(len(SKIN_TONES)))],
        hair_bgr=HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))],
        long_hair=bool(rng.random() < 0.35),
        jacket_bgr=jacket,
        trousers_bgr=TROUSERS[int(rng.integers(len(TROUSERS)))],
        apron_bgr=APRONS[int(rng.integers(len(APRONS)))] if rng.random() < 0.45 else None,
        height_m=float(rng.uniform(1.55, 1.92)),
        cap_bgr=CAP_COLOURS[int(rng.integers(len(CAP_COLOURS)))],
    )


def _random_hat(rng: np.random.Generator, p_compliant: float) -> str | None:
    r = rng.random()
    if r < p_compliant:
        return COMPLIANT_HATS[int(rng.integers(len(COMPLIANT_HATS)))]
    if r < p_compliant + (1 - p_compliant) * 0.35:
        return OTHER_HEADWEAR[int(rng.integers(len(OTHER_HEADWEAR)))]
    return None


class _Planner:
    """Writes one person's script leg by leg, walking along grid paths."""

    def __init__(self, grid: NavGrid, x: float, y: float, t: float, speed: float) -> None:
        self.grid, self.x, self.y, self.t, self.speed = grid, x, y, t, speed
        self.legs: list[Leg] = []
        self.walked = 0.0
        self.heading = 0.0

    def walk_to(self, x: float, y: float) -> None:
        for px, py in self.grid.path((self.x, self.y), (x, y))[1:]:
            d = math.hypot(px - self.x, py - self.y)
            if d < 1e-3:
                continue
            self.heading = math.atan2(py - self.y, px - self.x)
            dt = d / self.speed
            self.legs.append(Leg(self.t, self.t + dt, self.x, self.y, px, py, self.heading, "walk", self.walked))
            self.t += dt
            self.walked += d
            self.x, self.y = px, py

    def stand(self, dt: float, pose: str, heading: float | None = None) -> None:
        if heading is not None:
            self.heading = heading
        self.legs.append(Leg(self.t, self.t + dt, self.x, self.y, self.x, self.y, self.heading, pose, self.walked))
        self.t += dt


def plan_staff(
    rng: np.random.Generator, layout: KitchenLayout, n_staff: int, duration_s: float,
    p_compliant: float, p_leave_open: float,
) -> tuple[tuple[StaffMember, ...], tuple[tuple[str, float, bool], ...]]:
    """Scripts for ``n_staff`` people and the bin lid events ``(bin name, time, open?)`` they cause."""
    grid = NavGrid(layout)
    reserved: list[tuple[int, float, float]] = []
    lid_events: list[tuple[str, float, bool]] = []
    staff: list[StaffMember] = []
    spots = layout.spots

    def free_spot(kind: str, t0: float, t1: float) -> int | None:
        cands = [i for i, s in enumerate(spots) if s.kind == kind and grid.is_free(s.x_m, s.y_m)
                 and not any(r == i and a < t1 + 1.0 and t0 - 1.0 < b for r, a, b in reserved)]
        return int(cands[int(rng.integers(len(cands)))]) if cands else None

    for k in range(n_staff):
        look = random_look(rng)
        speed = float(rng.uniform(0.9, 1.4))
        hat = _random_hat(rng, p_compliant)
        inside = k == 0 or rng.random() < 0.5
        if inside:
            i0 = free_spot("prep", 0.0, 4.0) if rng.random() < 0.7 else None
            if i0 is not None:
                sp: Spot = spots[i0]
                x0, y0 = sp.x_m, sp.y_m
            else:
                fi, fj = np.nonzero(grid.free)
                pick = int(rng.integers(len(fi)))
                x0, y0 = grid.centre((int(fi[pick]), int(fj[pick])))
                x0, y0 = min(max(x0, 0.8), layout.width_m - 0.5), min(max(y0, 0.8), layout.depth_m - 0.5)
                x0, y0 = grid.nearest_free(x0, y0)
            t0 = 0.0
        else:
            door = layout.doors[int(rng.integers(2))]
            x0, y0 = door
            t0 = float(rng.uniform(0.0, 0.55 * duration_s))
        pl = _Planner(grid, x0, y0, t0, speed)
        hats: list[tuple[float, str | None]] = [(t0, hat)]
        own_style = hat if hat in COMPLIANT_HATS else COMPLIANT_HATS[int(rng.integers(len(COMPLIANT_HATS)))]
        if inside:
            pl.stand(float(rng.uniform(0.5, 5.0)), "work", float(rng.uniform(-math.pi, math.pi)))
        n_acts = 0
        while pl.t < duration_s + 1.0:
            n_acts += 1
            r = rng.random()
            leaving = n_acts > 2 and r < 0.12
            if leaving:
                door = layout.doors[int(rng.integers(2))]
                pl.walk_to(*door)
                break
            kind = "prep" if r < 0.5 else "counter" if r < 0.64 else "bin" if r < 0.88 else "wander"
            if kind == "bin" and not layout.bins:
                kind = "prep"
            if kind == "wander":
                x, y = grid.nearest_free(rng.uniform(0.5, layout.width_m - 0.5), rng.uniform(0.5, layout.depth_m - 0.5))
                pl.walk_to(x, y)
                pl.stand(float(rng.uniform(0.3, 2.0)), "stand")
                continue
            dwell = float(rng.uniform(1.5, 3.0) if kind == "bin" else rng.uniform(2.5, 9.0))
            si = free_spot(kind, pl.t, pl.t + 8.0 + dwell)
            if si is None:
                pl.stand(1.0, "stand")
                continue
            sp = spots[si]
            pl.walk_to(sp.x_m, sp.y_m)
            reserved.append((si, pl.t, pl.t + dwell))
            t_arrive = pl.t
            if kind == "bin":
                lid_events.append((sp.target, t_arrive + 0.3, True))
                if rng.random() >= p_leave_open:
                    lid_events.append((sp.target, t_arrive + dwell - 0.3, False))
                pl.stand(dwell, "bin", sp.heading)
                continue
            if dwell > 3.0 and rng.random() < 0.3:
                tc = t_arrive + float(rng.uniform(1.0, dwell - 1.0))
                cur = hats[-1][1]
                hats.append((tc, None if cur in COMPLIANT_HATS else own_style))
            pl.stand(dwell, "work", sp.heading)
        if pl.legs:
            staff.append(StaffMember(k + 1, look, tuple(pl.legs), tuple(hats)))
    return tuple(staff), tuple(sorted(lid_events, key=lambda e: e[1]))
