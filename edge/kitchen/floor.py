"""Where a tracked person stands: the floor point under their box, also when a counter hides their legs.

An unhidden person's floor point (between the feet) is the box's bottom centre raised by a small fraction of
its height — the box bottom is the toes nearest the camera (``offset_frac``, measured on the generated scenes:
median 0.052 of the height, 25–75 % 0.044–0.064).

When a person walks behind a counter or a table, the box loses their legs: its bottom jumps up while its top
moves on smoothly, and the bottom centre would put them metres further away — out of the zone in front of the
counter they are standing at. So each track remembers its full height ``h_full`` while the box looks whole; a
sample whose bottom rises by more than ``jump_frac × h_full``, while the box loses that much more of its height
than walking away would take (the head box shrinks by as much as the person; an arm coming down from the head
lowers only the top), starts an *occluded* spell, during which the feet are placed at ``top + h_full`` — the
remembered height carried to where the person is now by their head's size (:meth:`FloorPoints._hidden_height`).
Near a ceiling camera someone walking away shrinks by a seventh from one sample to the next, and the top's
motion alone took that for a counter. The spell ends when the bottom drops back the same way,
or when the box regains ``recover_frac`` of that height, scaled to where the head is now (the legs are back in
view); not after a time (``max_occluded_s``, off by default): a cook may stand at a prep table for minutes.
When the image's top edge cuts the head off, the top cannot tell a counter from walking away: a spell then
begins when the bottom rises by the jump more than its own motion of the last sample would have taken it, and
the floor row is held where it was (there is no height to go by) until the bottom comes back down.

A person who comes into view already behind a counter has no whole box to remember, so the camera also learns
how tall a whole person looks where their head is: a least-squares plane ``h ≈ a + b·top + c·u`` over recent
whole boxes (on a flat floor seen by a pinhole camera, a standing person's image height is close to linear in
the image row of their head), refitted without the boxes far below it (hidden legs that slipped in), used only
when whole boxes fit it (median deviation ≤ 10 %) and only for heads within the span it was fitted on. A box
shorter than ``short_frac`` of that prediction is taken as cut by something in front, and its feet are placed
at ``top + predicted height`` — unless the track is in an occluded spell: its own remembered height, scaled to
where its head is, is the better guess there (whole people differ from the camera's average by ±15 %) — or the
track has been seen to come out from behind something: its box's bottom dropped by a jump while its top did
not (the legs came into view, the mirror of an occluded spell's start), and the box has kept that height since;
or the plane itself judged one of the track's boxes whole, and the box has kept that height since (a short
person's box a few pixels shorter, or nearer the camera where the plane expects more, would flicker across
``short_frac``: 8111-017's cook, placed back in a zone they had left).
That box is a whole person, whatever the plane says (a plane fitted on other people, elsewhere in the picture,
can be 40 % off for one short person); a new occluded spell, a box shrinking below ``recover_frac`` of the
remembered height, or one squeezed from below (its top coming down while its bottom rises: someone walking up
to a counter, its edge cutting the box at a fixed row) ends it.

A person's box is not centred over their feet: a camera looking down from the ceiling sees upright people
lean away from the image's centre column (vertical lines converge towards a vanishing point below the image),
so the head sits beside the feet and the box's centre half-way between them — 17 px beside the feet on the
generated scenes (median; 90th percentile 40 px). Each camera learns the lean from its whole boxes with a head:
a head at ``u_head`` over a box centred at ``u`` is a lean of ``2 (u_head − u)``, and a least-squares line
through the centre column, ``lean ≈ k · (u − c_x)``, refitted without the boxes far off it (an arm stretched out
moves the box's centre, not the head), gives every box's lean. The feet then lie at ``u − lean / 2`` for a whole
box, and at ``u − lean · (1 − h / 2 h_full)`` for one whose legs are hidden (its centre is nearer the head). On
the generated scenes (truth heads, fitted per clip) this puts the floor point a median 6.5 px beside the feet
(90th percentile 14 px).

A box cut by the image's bottom edge (someone walking in under the camera) has its feet below the picture: its
floor point is put one row below the image, so it lies in no zone (zones are polygons in the image), instead of
on the edge row, which a zone drawn down to the edge of the picture would hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FloorParams:
    offset_frac: float = 0.05
    jump_frac: float = 0.12
    """A box losing this share of the full height beyond what walking away takes, in one sample: legs hidden."""
    recover_frac: float = 0.9
    """An occluded spell ends when the box regains this share of the person's height (scaled to where the head
    is now)."""
    max_occluded_s: float | None = None
    """An occluded spell ends after this long at the latest; None: only on evidence (the legs back in view, the
    box regaining the person's height, the person-height plane calling the box whole). A cook stands at a prep
    table for minutes, hidden from the waist down all the while: a limit of a few seconds took such a person for
    a whole short one standing metres further back."""
    adapt: float = 0.5
    """Weight of a new whole-box height in the remembered full height (people walk nearer and further)."""
    short_frac: float = 0.75
    """A box shorter than this share of the height the camera's person model predicts has its legs hidden."""
    min_fit_boxes: int = 40
    """Whole boxes needed before the person-height model is used."""
    max_fit_boxes: int = 600
    min_head_boxes: int = 15
    """Boxes with a head (not a chef hat) needed before the camera's person-in-heads ratio is used…"""
    min_head_tracks: int = 2
    """…from at least this many tracks: one person who stays behind a counter all the while (the only one
    without a chef hat in view) gives a ratio of hidden boxes, which would then pass their own boxes as whole."""
    head_short_frac: float = 0.9
    """A box shorter than this share of the height its head says (``HeadHeights``) has its legs hidden; 0: the
    head is not used to judge boxes. Whole boxes are at least 0.94 of it in 95 % of cases on the generated
    scenes; lower, someone a seventh hidden behind a counter goes in and out of a zone's edge as a detector's
    head box is a few pixels taller or shorter from one look to the next."""
    min_lean_boxes: int = 10
    """Whole boxes with a head needed before the camera's lean is used."""
    max_lean: float = 0.6
    """Largest slope ``k`` believed (a lean of 0.3 of the distance from the centre column at the feet)."""
    max_lean_se: float = 0.05
    """The lean's slope is used once its standard error is this small…"""
    lean_span_frac: float = 0.25
    """…and its boxes span this share of the image's width (one person standing in one place repeats one pose,
    and an arm held out would pass for a lean)."""
    bottom_margin_frac: float = 0.01
    """A box whose bottom is this close to the image's bottom edge (share of the image height) is cut by it."""
    max_head_step: float = 1.33
    """A head's size may change by this factor at most from one sample to the next when judging what walking
    took off a box (a larger change is a detector's loose box)."""
    max_head_scale: float = 2.0
    """A remembered height is scaled by at most this factor by the head's size."""
    squeeze_frac: float = 0.02
    """A box whose top comes down while its bottom rises, by this share of the height together, is cut by
    something in front (a whole person's bottom comes down faster than the top as they come nearer)."""


@dataclass
class _Feet:
    y1: float
    y2: float
    h_full: float
    top_full: float = 0.0
    """The box's top row when ``h_full`` was last measured."""
    occluded_since: float | None = None
    whole: bool = False
    """The legs were seen to come into view (the bottom dropped by a jump) and the box has stayed that tall."""
    t_s: float = 0.0
    """Media time of the last sample."""
    down_rate: float = 0.0
    """How fast the box's bottom last moved down the image, rows per second (negative: up)."""
    v: float = 0.0
    """The floor row given at the last sample."""
    held: tuple[float, float] | None = None
    """(floor row, box bottom) held through an occluded spell that began with the head cut by the image's top
    edge: no height to go by, so the floor row stays where it was until the bottom comes back down."""
    head: tuple[float, str] | None = None
    """(height, label) of the head box paired with the person at the last sample, if any."""
    head_full: tuple[float, str] | None = None
    """(height, label) of the head when ``h_full`` was last measured: the person's height is carried to where
    they are now in proportion to their head's (:meth:`FloorPoints._hidden_height`)."""


class PersonHeights:
    """The camera's whole-person image height as a plane over (head row, column): ``h ≈ a + b·top + c·u``."""

    def __init__(self, params: FloorParams) -> None:
        self.params = params
        self._rows: list[tuple[float, float, float]] = []
        self._coef: np.ndarray | None = None
        self._top_range = (0.0, 0.0)
        self._u_range = (0.0, 0.0)
        self._since_fit = 0

    def add(self, u: float, top: float, h: float) -> None:
        self._rows.append((u, top, h))
        if len(self._rows) > self.params.max_fit_boxes:
            del self._rows[: len(self._rows) - self.params.max_fit_boxes]
        self._since_fit += 1
        if len(self._rows) >= self.params.min_fit_boxes and (self._coef is None or self._since_fit >= 20):
            self._fit()

    def _fit(self) -> None:
        self._since_fit = 0
        data = np.array(self._rows)
        X = np.column_stack([np.ones(len(data)), data[:, 1], data[:, 0]])
        h = data[:, 2]
        keep = np.ones(len(data), bool)
        for _ in range(3):
            if keep.sum() < 10 or np.ptp(data[keep, 1]) < 20:
                return
            coef, *_ = np.linalg.lstsq(X[keep], h[keep], rcond=None)
            keep = h >= 0.85 * (X @ coef)
        rel = h[keep] / np.maximum(X[keep] @ coef, 1.0)
        if keep.sum() < 10 or float(np.median(np.abs(rel - 1.0))) > 0.1:
            self._coef = None  # whole people do not fit a plane here (yet): do not guess
            return
        self._coef = coef
        self._top_range = (float(data[keep, 1].min()), float(data[keep, 1].max()))
        self._u_range = (float(data[keep, 0].min()), float(data[keep, 0].max()))

    def horizon(self, u: float) -> float | None:
        """The image row where the plane's height reaches zero at column ``u`` (the horizon), if fitted."""
        if self._coef is None or self._coef[1] <= 1e-6:
            return None
        return float(-(self._coef[0] + self._coef[2] * u) / self._coef[1])

    def predict(self, u: float, top: float) -> float | None:
        """The whole-person height for a head at (u, top), only inside the span of heads the fit has seen
        (extrapolating the plane guesses)."""
        if self._coef is None:
            return None
        (t0, t1), (u0, u1) = self._top_range, self._u_range
        if not (t0 <= top <= t1 and u0 <= u <= u1):
            return None
        return float(self._coef[0] + self._coef[1] * top + self._coef[2] * u)


class HeadHeights:
    """The camera's whole person in head heights: ``h ≈ R · head_h`` for a head without a chef hat (a hat's box
    is the hat's height, not the head's). Adults are about seven and a half heads tall whatever their stature
    (±6 % between a 1.55 m and a 1.92 m person, against ±25 % in the ratio of image height to the head's
    distance below the horizon, which the person-height plane has to live with), and near a ceiling camera the
    foreshortening of the body is alike for people at one place. ``R`` is the median ratio of the camera's boxes
    not cut by the image's edges, taken again over those within ``head_short_frac`` of it (legs hidden by a
    counter make a box short, never tall). On the generated scenes (truth boxes) a whole box is at least 0.94
    of its camera's ``R`` in 95 % of cases and one that a counter cuts by a fifth or more at most 0.77."""

    def __init__(self, params: FloorParams) -> None:
        self.params = params
        self._ratios: list[float] = []
        self._tracks: list[int] = []
        self.ratio: float | None = None
        self._since_fit = 0

    def add(self, h: float, head_h: float, track_id: int = 0) -> None:
        if head_h <= 0:
            return
        self._ratios.append(h / head_h)
        self._tracks.append(track_id)
        if len(self._ratios) > self.params.max_fit_boxes:
            del self._ratios[: len(self._ratios) - self.params.max_fit_boxes]
            del self._tracks[: len(self._tracks) - self.params.max_fit_boxes]
        self._since_fit += 1
        if (len(self._ratios) >= self.params.min_head_boxes and (self.ratio is None or self._since_fit >= 5)
                and len(set(self._tracks)) >= self.params.min_head_tracks):
            self._since_fit = 0
            r = np.array(self._ratios)
            med = float(np.median(r))
            self.ratio = float(np.median(r[r >= self.params.head_short_frac * med]))

    def predict(self, head: tuple[float, str] | None) -> float | None:
        """The whole-person height for this head (None: a chef hat, no head, or not learnt yet)."""
        if self.ratio is None or head is None or head[1] == "chef_hat":
            return None
        return self.ratio * head[0]


class PersonLean:
    """How far an upright person's head sits beside their feet in this camera's image, as a line through the
    centre column: ``lean(u) = u_head − u_feet ≈ k · (u − c_x)`` (module docstring)."""

    def __init__(self, params: FloorParams, image_width: int | None) -> None:
        self.params = params
        self.centre_u = None if image_width is None else image_width / 2.0
        self._rows: list[tuple[float, float]] = []
        self.slope: float | None = None
        self._since_fit = 0

    def add(self, u: float, u_head: float) -> None:
        """A whole box centred at column ``u`` with its head centred at ``u_head``."""
        if self.centre_u is None:
            return
        self._rows.append((u - self.centre_u, 2.0 * (u_head - u)))
        if len(self._rows) > self.params.max_fit_boxes:
            del self._rows[: len(self._rows) - self.params.max_fit_boxes]
        self._since_fit += 1
        if len(self._rows) >= self.params.min_lean_boxes and (self.slope is None or self._since_fit >= 10):
            self._fit()

    def _fit(self) -> None:
        self._since_fit = 0
        assert self.centre_u is not None
        data = np.array(self._rows)
        x, y = data[:, 0], data[:, 1]
        keep = np.ones(len(x), bool)
        k = 0.0
        for _ in range(3):
            if keep.sum() < self.params.min_lean_boxes or float(np.sum(x[keep] ** 2)) < 1.0:
                return
            k = float(np.sum(x[keep] * y[keep]) / np.sum(x[keep] ** 2))
            resid = np.abs(y - k * x)
            keep = resid <= max(3.0 * float(np.median(resid[keep])), 4.0)
        n = int(keep.sum())
        se = float(np.sqrt(np.sum((y[keep] - k * x[keep]) ** 2) / max(n - 1, 1) / max(np.sum(x[keep] ** 2), 1e-9)))
        spread = float(np.ptp(x[keep])) if n else 0.0
        if (n < self.params.min_lean_boxes or se > self.params.max_lean_se
                or spread < self.params.lean_span_frac * 2.0 * self.centre_u):
            return  # too few, or all in one place (one person standing still repeats one pose): not known yet
        self.slope = float(np.clip(k, -self.params.max_lean, self.params.max_lean))

    def lean(self, u: float) -> float:
        """Head column minus feet column of an upright person whose box is centred at ``u`` (0 until fitted)."""
        if self.slope is None or self.centre_u is None:
            return 0.0
        return self.slope * (u - self.centre_u)


class FloorPoints:
    """Floor points of tracks, sample by sample: ``point(track_id, box, t_s)``; ``forget(alive_ids)``."""

    def __init__(self, params: FloorParams | None = None, image_height: int | None = None,
                 image_width: int | None = None) -> None:
        self.params = params or FloorParams()
        self.image_height = image_height
        self.image_width = image_width
        self._feet: dict[int, _Feet] = {}
        self.heights = PersonHeights(self.params)
        self.heads = HeadHeights(self.params)
        self.lean = PersonLean(self.params, image_width)

    def point(self, track_id: int, box: np.ndarray, t_s: float, head: np.ndarray | None = None,
              head_label: str | None = None) -> tuple[float, float]:
        """The floor point of a track's box at ``t_s``; ``head``: the xyxy box of the head paired with it (any
        head class, ``head_label``), which scales the person's remembered height as they walk nearer or away."""
        p = self.params
        x1, y1, x2, y2 = (float(v) for v in box)
        h = y2 - y1
        u = 0.5 * (x1 + x2)
        at_bottom = self._at_bottom(y2)
        at_border = at_bottom or y1 <= 1
        now, by_head = self._head(head, head_label, at_border)
        f = self._feet.get(track_id)
        predicted = self.heights.predict(u, y1)
        whole_by_head = by_head is not None and h >= p.head_short_frac * by_head
        if f is None:
            f = self._feet[track_id] = _Feet(y1, y2, h, y1, t_s=t_s, head=now, head_full=now)
        else:
            self._follow(f, u, y1, y2, h, t_s, at_bottom, now)
            if f.occluded_since is not None and (whole_by_head or (
                    by_head is None and predicted is not None and h >= p.recover_frac * predicted)):
                # The person's head, or the camera's person model, says this box is a whole person: the
                # remembered height was wrong (a first box that held two people, a loose box), so the spell ends.
                f.occluded_since = None
                f.held = None
                f.h_full, f.top_full, f.head_full = h, y1, now
        full = h
        if f.occluded_since is not None:
            # their own height, scaled, rather than the camera's average person's (people differ by ±15 %)
            full = self._hidden_height(f, u, y1, now)
        elif by_head is not None and not whole_by_head:
            full = by_head  # short for its head: a counter hides the legs
        elif (by_head is None and predicted is not None and not at_border and h < p.short_frac * predicted
              and not f.whole):
            full = predicted
        elif not at_border:
            if by_head is None and predicted is not None:
                # The plane judged this box whole: it stays the person until it shrinks a tenth, its bottom jumps
                # up or a counter's edge squeezes it (``_follow``), not as the plane's 0.75 flickers.
                f.whole = True
            if now is not None and now[1] != "chef_hat":
                self.heads.add(h, now[0], track_id)
            self.heights.add(u, y1, h)
            if head is not None and x1 > 1 and (self.image_width is None or x2 < self.image_width - 2):
                self.lean.add(u, 0.5 * float(head[0] + head[2]))
        v = max(y2, y1 + full) - p.offset_frac * full
        # the box's centre lies between head and feet, at its own half-height along the lean
        u -= self.lean.lean(u) * (1.0 - 0.5 * h / max(full, h, 1.0))
        if f.occluded_since is not None and f.held is not None:
            v = f.held[0]
        if at_bottom:
            v = max(v, float(self.image_height or 0))  # the feet are below the picture
        f.v = v
        f.head = now
        return u, v

    def estimate(self, box: np.ndarray, head: np.ndarray | None = None,
                 head_label: str | None = None) -> tuple[float, float]:
        """The floor point of a box from what the camera has learnt so far (its person-in-heads ratio, its
        person-height plane, the lean), without any track's memory and without learning from it: to judge a
        person's earlier samples again once the camera knows more (someone first seen behind a counter, placed
        too far back until the plane is fitted). ``head``, ``head_label``: the head paired with the box then; a
        box whole for its head (:class:`HeadHeights`) is the person, as in :meth:`point`, whatever the plane
        says (fitted on everyone, it takes a short whole person for one behind a counter: 4242-001). A box
        short for its head is left to the plane here: near the camera, looking down steeply, whole people are
        fewer heads tall than the camera's ratio, and there the plane's second judgement has put right what the
        head got wrong live (9333-021, truth's boxes and model alike)."""
        p = self.params
        x1, y1, x2, y2 = (float(v) for v in box)
        h = y2 - y1
        u = 0.5 * (x1 + x2)
        at_bottom = self._at_bottom(y2)
        _, by_head = self._head(head, head_label, at_bottom or y1 <= 1)
        predicted = self.heights.predict(u, y1)
        if by_head is not None and h >= p.head_short_frac * by_head:
            full = h  # whole for its head: a short person, whatever the plane (fitted on everyone) says
        elif predicted is not None and not at_bottom and y1 > 1 and h < p.short_frac * predicted:
            full = predicted
        else:
            full = h
        v = max(y2, y1 + full) - p.offset_frac * full
        u -= self.lean.lean(u) * (1.0 - 0.5 * h / max(full, h, 1.0))
        if at_bottom:
            v = max(v, float(self.image_height or 0))
        return u, v

    def _head(self, head: np.ndarray | None, head_label: str | None,
              at_border: bool) -> tuple[tuple[float, str] | None, float | None]:
        """The paired head as (height, class), and the person's height it says (:class:`HeadHeights`; None for a
        box cut by the image's edge, without a head or a learnt ratio, or with the head test off)."""
        now = (float(head[3] - head[1]), str(head_label)) if head is not None and head[3] > head[1] else None
        by_head = self.heads.predict(now) if self.params.head_short_frac > 0 and not at_border else None
        return now, by_head

    def _at_bottom(self, y2: float) -> bool:
        """Is the box cut by the image's bottom edge? A detector's box of someone walking in under the camera
        stops a few pixels short of the edge (``bottom_margin_frac`` of the image height), not on it."""
        if self.image_height is None:
            return False
        return y2 >= self.image_height - max(2.0, self.params.bottom_margin_frac * self.image_height)

    def _follow(self, f: _Feet, u: float, y1: float, y2: float, h: float, t_s: float, at_bottom: bool,
                head: tuple[float, str] | None) -> None:
        p = self.params
        at_border = at_bottom or y1 <= 1
        dt = t_s - f.t_s
        if f.occluded_since is None:
            rise_bottom, rise_top = f.y2 - y2, f.y1 - y1  # image rows upwards since the last sample
            jump = p.jump_frac * f.h_full
            # What the box lost beyond what walking away took (the head shrank by as much as the person did):
            # someone walking away near a ceiling camera shrinks a seventh a sample, a counter's edge takes more.
            r = self._head_ratio(f.head, head, p.max_head_step)
            lost = (f.y2 - f.y1) * (r if r is not None else 1.0) - h
            if not at_border and rise_bottom > jump and lost > jump:
                f.occluded_since = t_s
                f.whole = False
            elif y1 <= 1 and not at_bottom and dt > 0 and rise_bottom + f.down_rate * dt > jump:
                # The head is cut by the image's top edge, so the top says nothing, and the bottom rose by a
                # jump beyond its own recent motion: a counter hides the legs. No height to go by: the floor
                # row stays where it was (the person may have walked on a little behind the counter).
                f.occluded_since = t_s
                f.whole = False
                f.held = (f.v, f.y2)
            else:
                if dt > 0:
                    f.down_rate = (y2 - f.y2) / dt
                if not at_border and -rise_bottom > jump and -lost > jump:
                    f.whole = True  # the bottom dropped, the top did not: legs came into view
                    f.h_full, f.top_full, f.head_full = h, y1, head
                elif h < p.recover_frac * f.h_full or rise_bottom - rise_top > p.squeeze_frac * f.h_full:
                    # Shrunk, or squeezed from below: the top came down while the bottom rose, which no whole
                    # person walking does (nearer, the bottom comes down faster than the top): a counter's edge.
                    f.whole = False
                f.h_full += p.adapt * (h - f.h_full)
                f.top_full += p.adapt * (y1 - f.top_full)
                if head is not None and f.head_full is not None and head[1] == f.head_full[1]:
                    f.head_full = (f.head_full[0] + p.adapt * (head[0] - f.head_full[0]), head[1])
                else:
                    f.head_full = head
        else:
            drop_bottom, drop_top = y2 - f.y2, y1 - f.y1  # image rows downwards since the last sample
            jump = p.jump_frac * f.h_full
            legs_back = drop_bottom > jump and drop_bottom - drop_top > jump
            if f.held is not None:
                # The bottom back down near where it was before the legs were hidden (the top says nothing).
                regained = y2 >= f.held[1] - jump
            else:
                # Whole again: as tall as the person is where their head is now (someone who walked away behind
                # the counter is shorter than the height remembered nearer the camera, and comes out shorter).
                regained = h >= p.recover_frac * self._hidden_height(f, u, y1, head)
            timed_out = p.max_occluded_s is not None and t_s - f.occluded_since > p.max_occluded_s
            if legs_back or regained or timed_out:
                f.occluded_since = None
                f.held = None
                f.down_rate = 0.0
                f.h_full, f.top_full, f.head_full = h, y1, head
        f.y1, f.y2 = y1, y2
        f.t_s = t_s

    @staticmethod
    def _head_ratio(then: tuple[float, str] | None, now: tuple[float, str] | None,
                    limit: float | None = None) -> float | None:
        """How much larger the head looks now than then (the same kind of head: a toque taken off changes the
        box, not the distance), within ``[1 / limit, limit]``; None when unknown."""
        if then is None or now is None or then[1] != now[1] or then[0] <= 0:
            return None
        r = now[0] / then[0]
        if limit is not None:
            r = min(max(r, 1.0 / limit), limit)
        return r

    def _hidden_height(self, f: _Feet, u: float, top: float, head: tuple[float, str] | None = None) -> float:
        """The remembered full height, carried to where the person is now. Both the person and their head
        look smaller in proportion to their distance, so the height scales with the head box's height: the
        median error of the height so carried is 1 % on the generated scenes (truth heads), 3 % unscaled, and it
        needs nothing the camera has to learn first. Without a head of the same kind then and now: a person's
        image height is proportional to the depth of their head below the horizon row ``v_h``: ``h ∝ top −
        v_h`` (pinhole camera, flat floor), ``v_h`` where the camera's person-height plane reaches zero; without
        a plane the height is not scaled (someone walking away behind a counter is then placed too near)."""
        r = self._head_ratio(f.head_full, head, self.params.max_head_scale)
        if r is not None:
            return f.h_full * r
        v_h = self.heights.horizon(u)
        if v_h is None or top - v_h <= 0 or f.top_full - v_h <= 0:
            return f.h_full
        return f.h_full * (top - v_h) / (f.top_full - v_h)

    def forget(self, alive: set[int]) -> None:
        self._feet = {k: v for k, v in self._feet.items() if k in alive}
