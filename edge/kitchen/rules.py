"""The two kitchen rules as state machines over sampled observations. Pure: no pixels, no model.

missing_chef_hat — per (person track, hat-required zone). A *stay* begins when the person's floor point enters
the zone and ends when it has been outside for more than ``leave_grace_s`` or the track is lost for good (the
tracker gives up); a track's stay counts from the sample the tracker first saw it in the zone, before the track
was confirmed. Within a stay, the *condition* holds while the person's hat state is ``no_hat``; it starts at
the first such sample and resets when a chef hat is seen again. The alarm is raised at the first sample with
``t − condition start ≥ T``, at most once per stay, and only while the person is in view (the event needs
their box); while a track that is held but unseen overlaps that box, the alarm waits up to ``max_defer_s`` for
a sample where the two people are told apart (the one box seen may have gone to either track). A person leaving
and coming back starts a new stay, which can alarm again — unless their boxes, judged again on the way back in
(``PersonSample.zones_since``), were in the zone since before the last stay ended: then the floor points that
took them out were wrong, and the last stay, raised or not, goes on.

uncovered_bin — per bin zone. The condition holds while the bin is open and nobody uses it (no person's floor
point in the bin zone); it starts at the first such sample and resets when the bin is closed or used. One alarm
per condition interval, at the first sample with ``t − condition start ≥ T``.

Times are media seconds; samples arrive in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from edge.kitchen.heads import HatState
from models.postprocess import box_iou

_EPS = 1e-6


@dataclass(frozen=True)
class PersonSample:
    """One tracked person at one sample."""

    track_id: int
    box: np.ndarray
    floor_uv: tuple[float, float]
    zones: frozenset[str]
    """Hat-required zones holding the floor point."""
    hat: HatState | None
    visible: bool = True
    """Matched to a detection at this sample (False: predicted through an occlusion)."""
    hat_confidence: float = 0.0
    headwear: str | None = None
    hat_since_s: float | None = None
    """When the current hat state was first seen (the vote may tip a sample later)."""
    confirmed: bool = True
    """False on a track's first sample, before the tracker has confirmed it: only where it was is remembered
    (its stay starts there once confirmed), it raises nothing."""
    zones_since: Mapping[str, float] = field(default_factory=dict)
    """For a zone the floor point has just entered: since when the person's earlier boxes, judged again with
    what the camera has learnt since, were already in it (someone first seen behind a counter is placed too far
    back until the camera has learnt how tall people look; once it has, their stay began when they came)."""
    bare_since_s: float | None = None
    """When the person's current run of ``no_hat`` states began (over the whole track, not the vote's window):
    the condition of a stay that began earlier than it was seen."""


@dataclass(frozen=True)
class BinSample:
    zone: str
    state: Literal["open", "closed"] | None
    """None: not seen (occluded) or not yet known."""
    used: bool
    box: np.ndarray | None = None
    confidence: float = 0.0
    state_since_s: float | None = None
    """When the current state was first seen."""


@dataclass
class Alarm:
    type: Literal["missing_chef_hat", "uncovered_bin"]
    zone: str
    start_s: float
    t_s: float
    box: np.ndarray
    confidence: float
    track_id: int | None = None
    track: list[tuple[float, float, float]] = field(default_factory=list)
    """(t, u, v) floor points of the person during the stay."""
    detail: dict[str, object] = field(default_factory=dict)


@dataclass
class _Stay:
    entered_s: float
    last_in_s: float
    cond_since: float | None = None
    fired: bool = False
    points: list[tuple[float, float, float]] = field(default_factory=list)
    dated_back: bool = False
    """Begun before the sample that saw it begin (``PersonSample.zones_since``)."""


class MissingHatRule:
    """See the module docstring. A track the tracker gave up on while it was in a zone leaves its stay behind for
    ``inherit_s``: a new track that appears in that zone within half a person's height of where it was (judged
    where the new track is, or where it was first seen before the tracker confirmed it) takes the stay over (the
    same person, re-found under a new id), so a lost-and-refound track does not raise twice. The same holds for
    a track the tracker still keeps but does not see at the moment the new one appears. Not for a track that was
    in view farther away than that when the lost one was last seen: that is someone else who came to the place."""

    def __init__(self, after_s: float, leave_grace_s: float = 0.75, max_points: int = 400,
                 inherit_s: float = 3.0, max_defer_s: float = 1.0) -> None:
        self.after_s = after_s
        self.max_defer_s = max_defer_s
        self.leave_grace_s = leave_grace_s
        self.max_points = max_points
        self.inherit_s = inherit_s
        self._stays: dict[tuple[int, str], _Stay] = {}
        self._where: dict[int, tuple[float, float, float]] = {}
        """Last seen floor point and box height of each track."""
        self._last_where: dict[int, tuple[float, float, float]] = {}
        """Where tracks gone in the last ``inherit_s`` were last seen, and when they went."""
        self._gone_at: dict[int, float] = {}
        self._raised: list[tuple[str, int, float]] = []
        """(zone, track id, time) of the alarms raised, while their track is held or recently gone and the stay
        that raised goes on (a track that left the zone since is no longer in it)."""
        self._orphans: list[tuple[str, float, tuple[float, float, float], _Stay, int]] = []
        """(zone, time lost, (u, v, height), stay, track id) of tracks lost while in a zone."""
        self._first_in: dict[tuple[int, str], tuple[float, float, float]] = {}
        """(track, zone) → (t, u, v) where an unconfirmed track was seen in the zone."""
        self._seen_at: dict[int, dict[float, tuple[float, float]]] = {}
        """Floor points of each track at its recent samples in view (the last ``inherit_s``)."""
        self._last_seen_s: dict[int, float] = {}
        """When each track was last in view."""
        self._left: dict[tuple[int, str], _Stay] = {}
        """(track, zone) → the track's last stay in the zone that ended by leaving it, while the track lives."""

    def update(self, t_s: float, people: list[PersonSample]) -> list[Alarm]:
        """``people``: every track the tracker still holds (visible or not). Tracks absent here are gone."""
        alarms: list[Alarm] = []
        alive = {p.track_id for p in people}
        self._first_in = {k: t for k, t in self._first_in.items() if k[0] in alive}
        self._left = {k: st for k, st in self._left.items() if k[0] in alive}
        for p in people:
            if not p.confirmed:
                for zone in p.zones:
                    self._first_in.setdefault((p.track_id, zone), (t_s, *p.floor_uv))
        people = [p for p in people if p.confirmed]
        alive = {p.track_id for p in people}
        for key in [k for k in self._stays if k[0] not in alive]:
            where = self._where.get(key[0])
            if where is not None:
                self._orphans.append((key[1], t_s, where, self._stays[key], key[0]))
            del self._stays[key]
        for k in [k for k in self._where if k not in alive]:
            self._last_where[k] = self._where.pop(k)
            self._gone_at[k] = t_s
        for k in [k for k, t in self._gone_at.items() if t_s - t > self.inherit_s]:
            self._last_where.pop(k, None)
            del self._gone_at[k]
        self._raised = [r for r in self._raised if r[1] in alive or r[1] in self._last_where]
        self._orphans = [o for o in self._orphans if t_s - o[1] <= self.inherit_s]
        for tid in [k for k in self._seen_at if k not in alive and k not in self._last_where]:
            del self._seen_at[tid]
            self._last_seen_s.pop(tid, None)
        for p in people:
            if p.visible:
                # the height of the whole person: a box whose legs a counter hides is short, its floor point is not
                self._where[p.track_id] = (*p.floor_uv, float(max(p.box[3], p.floor_uv[1]) - p.box[1]))
                seen = self._seen_at.setdefault(p.track_id, {})
                seen[t_s] = p.floor_uv
                for old in [k for k in seen if t_s - k > self.inherit_s]:
                    del seen[old]
                self._last_seen_s[p.track_id] = t_s
            for zone in p.zones if p.visible else ():
                stay = self._stays.get((p.track_id, zone))
                if stay is None:
                    first = self._first_in.get((p.track_id, zone))
                    since = p.zones_since.get(zone)
                    left = self._left.pop((p.track_id, zone), None)
                    if since is not None and left is not None and since <= left.last_in_s + _EPS:
                        # Judged again, the person was in the zone since before their last stay there ended:
                        # the floor points that took them out were wrong, and this is that stay going on (an
                        # alarm it raised is not raised again).
                        stay = self._stays[(p.track_id, zone)] = left
                        if left.fired:
                            self._raised.append((zone, p.track_id, t_s))
                    else:
                        stay = self._stays[(p.track_id, zone)] = (
                            self._adopt(zone, p, first) or self._take_over(zone, p, people, first)
                            or (_Stay(first[0], first[0], points=[first]) if first else _Stay(t_s, t_s)))
                        if since is not None and since < stay.entered_s:
                            stay.entered_s = since  # judged again: they were in the zone before it was known
                            stay.dated_back = True
                stay.last_in_s = t_s
            for zone in [z for tid, z in self._first_in if tid == p.track_id]:
                del self._first_in[(p.track_id, zone)]  # confirmed: used, or it left the zone meanwhile
            for (tid, zone), stay in list(self._stays.items()):
                if tid != p.track_id:
                    continue
                if p.visible and zone not in p.zones and t_s - stay.last_in_s > self.leave_grace_s:
                    self._left[(tid, zone)] = self._stays.pop((tid, zone))
                    # Its alarm belonged to that stay: the person left, and a later stay of theirs, under this
                    # id or another, is a new one (it may raise again).
                    self._raised = [r for r in self._raised if r[:2] != (zone, tid)]
                    continue
                if not p.visible:
                    continue  # occluded: the stay and its condition carry on unseen
                if len(stay.points) < self.max_points:
                    stay.points.append((t_s, *p.floor_uv))
                if p.hat == "no_hat":
                    if stay.cond_since is None:
                        # A stay dated back began before the vote's window: its condition is timed from the
                        # track's whole no-hat run. Any other (a new entry, a stay taken over from another track)
                        # from the vote's onset, as the track's run may have begun elsewhere, or as someone else.
                        onsets = (p.bare_since_s, p.hat_since_s) if stay.dated_back else (p.hat_since_s,)
                        since = next((x for x in onsets if x is not None), t_s)
                        stay.cond_since = max(since, stay.entered_s)
                elif p.hat == "hat":
                    stay.cond_since = None
                if (stay.cond_since is not None and not stay.fired
                        and t_s - stay.cond_since >= self.after_s - _EPS):
                    if (t_s - stay.cond_since < self.after_s + self.max_defer_s - _EPS
                            and self._box_in_doubt(p, people)):
                        continue  # the box may be the other person's this sample: raise at the next
                    stay.fired = True
                    if self._already_raised(zone, p, people):
                        continue
                    self._raised.append((zone, p.track_id, t_s))
                    alarms.append(Alarm("missing_chef_hat", zone, stay.cond_since, t_s, p.box.copy(),
                                        p.hat_confidence, p.track_id,
                                        [pt for pt in stay.points if pt[0] >= stay.cond_since],
                                        {"headwear": p.headwear, "stay_entered_s": round(stay.entered_s, 3)}))
        return alarms


    def _already_raised(self, zone: str, p: PersonSample, people: list[PersonSample]) -> bool:
        """Was this person's event raised under another track id that the tracker has lost since? (A track that
        is out of sight, or gone less than ``inherit_s`` ago, raised in this zone in a stay it had not left, and
        was last seen within half a person's height of where this one stands.) Identity switches between two
        existing tracks escape the stay take-over; this catches them at the alarm.

        Not when this track was in view at another place when the other was last seen and has stayed there (it
        is nearer where it stood then than half the way to where the other was): two people seen at once, one
        of whom walked behind the other, are two people; a swap moves this track over to where the other was.
        Nor when this track was still farther than that radius from the place at its first sample after the
        other was last seen: a swap jumps a track onto the other person at once, and a track seen walking over
        afterwards is someone else who came there (a crowd of bare-headed cooks at a table)."""
        visible = {q.track_id for q in people if q.visible}
        for z, tid, _ in self._raised:
            if z != zone or tid == p.track_id or tid in visible:
                continue
            where = self._where.get(tid) or self._last_where.get(tid)
            if where is None:
                continue
            u, v, h = where
            if float(np.hypot(p.floor_uv[0] - u, p.floor_uv[1] - v)) > 0.5 * max(h, 1.0):
                continue
            seen = self._seen_at.get(p.track_id, {})
            last = self._last_seen_s.get(tid, -1.0)
            then = seen.get(last)
            if then is not None:
                moved = float(np.hypot(p.floor_uv[0] - then[0], p.floor_uv[1] - then[1]))
                if moved < 0.5 * float(np.hypot(then[0] - u, then[1] - v)):
                    continue  # stayed where it was while the other was still seen elsewhere
                after = min((k for k in seen if k > last), default=None)
                if after is not None and float(np.hypot(seen[after][0] - u, seen[after][1] - v)) > 0.5 * max(h, 1.0):
                    continue  # was still elsewhere after the other was lost: it walked over, no swap
            return True
        return False

    @staticmethod
    def _box_in_doubt(p: PersonSample, people: list[PersonSample]) -> bool:
        """Does a track the tracker holds but does not see now overlap this one's box (IoU ≥ 0.3)? Then one
        person walked behind the other, and the one box seen may have gone to either track; the alarm, which
        carries the box, waits (up to ``max_defer_s``) for a sample where the two are told apart again."""
        for q in people:
            if q.visible or q.track_id == p.track_id:
                continue
            if float(box_iou(p.box[None, :], q.box[None, :])[0, 0]) >= 0.3:
                return True
        return False

    def _take_over(self, zone: str, p: PersonSample, people: list[PersonSample],
                   first: tuple[float, float, float] | None = None) -> _Stay | None:
        """The stay of a track the tracker still holds but does not see now, lost nearby in this zone: the
        tracker has re-found that person under a new id before giving the old one up."""
        best, best_d = None, float("inf")
        for q in people:
            if q.visible or q.track_id == p.track_id or (q.track_id, zone) not in self._stays:
                continue
            where = self._where.get(q.track_id)
            if where is None:
                continue
            u, v, h = where
            d = self._appeared_from(p, first, u, v)
            if d <= 0.5 * max(h, 1.0) and d < best_d and not self._elsewhere(p, q.track_id, where):
                best, best_d = q.track_id, d
        if best is None:
            return None
        return self._stays.pop((best, zone))

    @staticmethod
    def _appeared_from(p: PersonSample, first: tuple[float, float, float] | None, u: float, v: float) -> float:
        """Distance from (u, v) to where ``p`` is now or, nearer, where it was first seen in the zone before the
        tracker confirmed it (``first``: t, u, v): a re-found person walking on is judged where they reappeared."""
        d = float(np.hypot(p.floor_uv[0] - u, p.floor_uv[1] - v))
        if first is not None:
            d = min(d, float(np.hypot(first[1] - u, first[2] - v)))
        return d

    def _elsewhere(self, p: PersonSample, tid: int, where: tuple[float, float, float]) -> bool:
        """Was ``p`` in view farther than half a person's height from where track ``tid`` was last seen, at that
        very sample? Then they were two people, and ``p`` has come to the place since: it is not ``tid``'s
        person re-found under another id. (A track that swaps onto a hidden person was beside them.)"""
        then = self._seen_at.get(p.track_id, {}).get(self._last_seen_s.get(tid, -1.0))
        if then is None:
            return False
        u, v, h = where
        return float(np.hypot(then[0] - u, then[1] - v)) > 0.5 * max(h, 1.0)

    def _adopt(self, zone: str, p: PersonSample, first: tuple[float, float, float] | None = None) -> _Stay | None:
        """The stay of a track lost nearby in this zone, if any (the nearest); removed from the orphans."""
        best, best_d = None, float("inf")
        for i, (z, _, (u, v, h), _stay, tid) in enumerate(self._orphans):
            d = self._appeared_from(p, first, u, v)
            if z == zone and d <= 0.5 * max(h, 1.0) and d < best_d and not self._elsewhere(p, tid, (u, v, h)):
                best, best_d = i, d
        if best is None:
            return None
        return self._orphans.pop(best)[3]


@dataclass
class _BinState:
    cond_since: float | None = None
    free_since_s: float | None = None
    """First sample of the current spell with nobody at the bin."""
    fired: bool = False
    box: np.ndarray | None = None
    scores: list[float] = field(default_factory=list)


class UncoveredBinRule:
    def __init__(self, after_s: float) -> None:
        self.after_s = after_s
        self._bins: dict[str, _BinState] = {}

    def update(self, t_s: float, bins: list[BinSample]) -> list[Alarm]:
        alarms: list[Alarm] = []
        for b in bins:
            st = self._bins.setdefault(b.zone, _BinState())
            if b.box is not None:
                st.box = b.box.copy()
            if b.used:
                st.free_since_s = None
            elif st.free_since_s is None:
                st.free_since_s = t_s
            if b.state == "closed" or b.used:
                st.cond_since, st.fired, st.scores = None, False, []
                continue
            if b.state != "open":
                continue  # unseen: whatever held goes on
            if st.cond_since is None:
                since = b.state_since_s if b.state_since_s is not None else t_s
                st.cond_since = max(since, st.free_since_s if st.free_since_s is not None else since)
            st.scores.append(b.confidence)
            if not st.fired and t_s - st.cond_since >= self.after_s - _EPS:
                st.fired = True
                box = st.box if st.box is not None else np.zeros(4)
                alarms.append(Alarm("uncovered_bin", b.zone, st.cond_since, t_s, box.copy(),
                                    float(np.mean(st.scores)) if st.scores else 0.0))
        return alarms
