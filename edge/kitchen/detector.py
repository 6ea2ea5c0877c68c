"""The kitchen detector: frames in, missing_chef_hat / uncovered_bin events out. Pure computation: no I/O
besides reading the bin reference images once, no MQTT.

Per frame only a timestamp check; per *sample* (``detect_fps`` per second of media time, by PTS):

1. the motion gate compares the shrunk luma in the zones with the last model run; when nothing moved the last
   detections stand, else the model runs on the colour frame;
2. person boxes go through the tracker, head boxes are paired with persons and vote their hat state, bin boxes
   (or, in model-free mode, the comparison with the closed reference) give each bin zone's state;
3. each person's floor point (:mod:`edge.kitchen.floor`: the bottom centre of the box, or where the feet are
   when a counter hides the legs) decides the zones they are in;
4. the rules (:mod:`edge.kitchen.rules`) raise alarms, which become contract events.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import numpy as np

from edge.config import CameraConfig
from edge.events import Event, TrackPoint, wall_clock_at
from edge.frames import Frame
from edge.kitchen.appearance import Appearance, AppearanceParams, person_appearance
from edge.kitchen.bin_reference import BinReference, ReferenceParams, read_reference
from edge.kitchen.detections import BIN_CLASSES, HEAD_CLASSES, PERSON, BoxDetector, SceneDetections
from edge.kitchen.floor import FloorParams, FloorPoints
from edge.kitchen.gate import GateParams, MotionGate, watch_mask
from edge.kitchen.heads import HatVote, HeadParams, assign_heads, head_observation
from edge.kitchen.rules import Alarm, BinSample, MissingHatRule, PersonSample, UncoveredBinRule
from edge.kitchen.tracker import HEAD_CLASS, PersonTracker, TrackerParams
from edge.kitchen.zones import ZoneShape, scaled_zones

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KitchenParams:
    gate: GateParams = field(default_factory=GateParams)
    tracker: TrackerParams = field(default_factory=TrackerParams)
    heads: HeadParams = field(default_factory=HeadParams)
    reference: ReferenceParams = field(default_factory=ReferenceParams)
    floor: FloorParams = field(default_factory=FloorParams)
    appearance: AppearanceParams = field(default_factory=AppearanceParams)
    bin_min_score: float = 0.6
    """A bin_open/bin_closed box counts only from this score: the shipped model gives a closed bin with a dark
    lid 0.3–0.55 as open (kitchen-missing-hat), and its real open bins score above 0.6."""
    bin_window: int = 3
    """Bin observations a bin's open/closed state is voted from."""
    leave_grace_s: float = 0.75
    """A person's floor point may leave a zone this long without ending their stay (box jitter at the edge)."""
    use_lost_s: float = 1.0
    """A person hidden this long (behind the bin's lid, another person) still counts as using a bin."""
    rejudge_s: float = 15.0
    """A track's boxes of this many past seconds are kept, to judge again which zones they were in when the
    camera has learnt more (``PersonSample.zones_since``)."""
    use_radius_bins: float = 0.75
    """A person uses a bin when their floor point is in its zone and within this many bin widths of the bin's
    foot (the bottom of its box). The zone polygon alone is too generous: drawn up to the open lid's height, it
    also covers floor well behind the bin."""


@dataclass
class _BinVote:
    seen: list[tuple[str, float, float]] = field(default_factory=list)
    box: np.ndarray | None = None
    """The bin's last detected box."""

    def add(self, label: str, score: float, t_s: float, window: int) -> None:
        self.seen = [*self.seen, (label, score, t_s)][-window:]

    def since_s(self) -> float | None:
        st = self.state()
        since = None
        for lab, _, t in reversed(self.seen):
            if (lab == "bin_open") != (st == "open"):
                break
            since = t
        return since

    def state(self) -> Literal["open", "closed"] | None:
        if not self.seen:
            return None
        open_w = sum(s for lab, s, _ in self.seen if lab == "bin_open")
        closed_w = sum(s for lab, s, _ in self.seen if lab != "bin_open")
        if open_w == closed_w:
            return "open" if self.seen[-1][0] == "bin_open" else "closed"
        return "open" if open_w > closed_w else "closed"

    def confidence(self) -> float:
        st = self.state()
        votes = [s for lab, s, _ in self.seen if (lab == "bin_open") == (st == "open")]
        return float(np.mean(votes)) if votes else 0.0


class KitchenDetector:
    """Watches one kitchen camera's frames for the two hygiene rules.

    ``detector`` is an object detector such as :class:`models.OnnxDetector` (``names``, ``detect(images)``);
    it may be None only when the camera needs no model: no hat-required zone, and every bin zone has a
    ``reference`` image (model-free bin mode). Feed frames in order with :meth:`process`; :meth:`finish` at the
    end of a file returns nothing more (a condition that has not lasted its dwell by the end is no violation).
    """

    def __init__(self, camera_id: str, camera: CameraConfig, detector: BoxDetector | None,
                 params: KitchenParams | None = None, stream_start: datetime | None = None) -> None:
        self.camera_id = camera_id
        self.camera = camera
        self.model = detector
        self.params = params or KitchenParams()
        self.stream_start = stream_start or datetime.now(UTC)
        self.period_s = 1.0 / camera.detect_fps
        hat_zones = [z for z in camera.zones if z.kind == "hat_required"]
        model_bins = [z for z in camera.zones if z.kind == "bin" and z.reference is None]
        names = set(detector.names) if detector is not None else set()
        if detector is None and (hat_zones or model_bins):
            raise ValueError("this camera has hat-required zones or bin zones without a reference image, so it "
                             "needs a detection model")
        if hat_zones and not ({PERSON, *HEAD_CLASSES} <= names):
            raise ValueError(f"the model's classes {sorted(names)} lack person/chef_hat/bare_head/other_headwear, "
                             "which the missing-chef-hat rule needs")
        if model_bins and not (set(BIN_CLASSES) <= names):
            raise ValueError(f"the model's classes {sorted(names)} lack bin_open/bin_closed; give bin zones "
                             f"{', '.join(z.name for z in model_bins)} a reference image (model-free bin mode)")
        self.hat_rule = MissingHatRule(camera.rules.missing_chef_hat_after_s, self.params.leave_grace_s)
        self.bin_rule = UncoveredBinRule(camera.rules.uncovered_bin_after_s)
        self.tracker = PersonTracker(self.params.tracker)
        self._floor = FloorPoints(self.params.floor)
        self._floor_uv: dict[int, tuple[float, float]] = {}
        self._boxes: dict[int, deque[tuple[float, np.ndarray, np.ndarray | None, str | None]]] = {}
        """Each track's matched boxes of the last ``rejudge_s``, with the head box paired with each and its class."""
        self._zones_was: dict[int, frozenset[str]] = {}
        """The hat-required zones each track was in at its last sample in view."""
        self._bare_since: dict[int, float] = {}
        self._in_hat_zone: dict[int, bool] = {}
        self._zones: list[ZoneShape] = []
        self._gate: MotionGate | None = None
        self._refs: dict[str, BinReference] = {}
        self._size: tuple[int, int] | None = None
        self._next_sample_s: float | None = None
        self._dets = SceneDetections.empty()
        self._colours: Appearance | None = None
        self._votes: dict[int, HatVote] = {}
        self._bin_votes: dict[str, _BinVote] = {}
        self.samples = 0
        self.model_runs = 0
        self.counts: Counter[str] = Counter()

    # --- frames ----------------------------------------------------------------------------------------------

    def _setup(self, frame: Frame) -> None:
        w, h = frame.width, frame.height
        self._size = (w, h)
        self._zones = scaled_zones(self.camera.zones, w, h, None)
        self._gate = MotionGate(watch_mask([z.polygon for z in self._zones], w, h, self.params.gate.sweep_frac),
                                self.params.gate)
        self._refs = {z.name: BinReference(z.mask(w, h), read_reference(z.reference, w, h), self.params.reference)
                      for z in self._zones if z.kind == "bin" and z.reference is not None}
        self.tracker = PersonTracker(self.params.tracker)
        self._floor = FloorPoints(self.params.floor, h, w)
        self._floor_uv = {}
        self._boxes.clear()
        self._zones_was.clear()
        self._bare_since.clear()
        self._votes.clear()
        self._bin_votes.clear()
        self._dets = SceneDetections.empty()
        self._colours = None

    def process(self, frame: Frame) -> list[Event]:
        if self._size != (frame.width, frame.height):
            if self._size is not None:
                log.warning("%s: resolution changed to %dx%d; restarting detection", self.camera_id, frame.width,
                            frame.height)
            self._setup(frame)
            self._next_sample_s = frame.t_s
        assert self._next_sample_s is not None and self._gate is not None
        t = frame.t_s
        if t < self._next_sample_s - 1e-6:
            return []
        # Next sample one period after this one's slot; after a gap (dropped frames), one period after now.
        self._next_sample_s += self.period_s
        if self._next_sample_s <= t:
            self._next_sample_s = t + self.period_s
        self.samples += 1
        moved = self._gate.moved(frame.luma, t)
        if self.model is not None and (moved or self._unresolved()):
            bgr = frame.bgr()
            out = self.model.detect([bgr])[0]
            self._dets = SceneDetections.from_model(out, self.model.names)
            # Taken with the boxes: a sample the gate lets pass reuses both (nothing moved).
            self._colours = person_appearance(bgr, self._dets.persons.xyxy, self.params.appearance)
            self._gate.ran(t)
            self.model_runs += 1
        return self._sample(t, frame.luma)

    def finish(self) -> list[Event]:
        return []

    def _unresolved(self) -> bool:
        """A person in view whose hat state is still unknown: look again rather than reuse a miss."""
        return any(tr.confirmed and tr.track_id not in self._votes and self._in_hat_zone.get(tr.track_id, False)
                   for tr in self.tracker.tracks)

    # --- one sample ------------------------------------------------------------------------------------------

    def _sample(self, t: float, luma: np.ndarray) -> list[Event]:
        p = self.params
        dets = self._dets
        matched = self.tracker.update(t, dets.persons, self._head_looks(dets), self._colours)
        heads: dict[int, int] = {}
        if matched:
            # Unconfirmed tracks vote too. A sample the gate found unchanged votes again with the last run's
            # heads: nothing moved, so what was seen then is still there (a hat taken off by a person standing
            # still is seen once, then confirmed by the unchanged samples).
            heads = assign_heads(np.array([tr.box for tr in matched]), dets.heads, p.heads)
            for i, hi in heads.items():
                vote = self._votes.setdefault(matched[i].track_id, HatVote(p.heads.window))
                label, score, against = head_observation(dets.heads, hi)
                vote.add(label, score, t, against)
        for i, tr in enumerate(matched):
            head, head_label = None, None
            if i in heads:
                head, head_label = dets.heads.xyxy[heads[i]], str(dets.heads.labels[heads[i]])
            self._floor_uv[tr.track_id] = self._floor.point(tr.track_id, tr.box, t, head, head_label)
            past = self._boxes.setdefault(tr.track_id, deque())
            past.append((t, tr.box.copy(), head, head_label))
            while past and t - past[0][0] > p.rejudge_s:
                past.popleft()
        # Unconfirmed tracks (first seen now) go to the hat rule too, which only notes where they were: a stay
        # counts from the first sighting, not from the confirming one a sample later.
        everyone = list(self.tracker.tracks)
        live = {tr.track_id for tr in everyone}
        self._votes = {k: v for k, v in self._votes.items() if k in live}
        self._floor_uv = {k: v for k, v in self._floor_uv.items() if k in live}
        self._boxes = {k: v for k, v in self._boxes.items() if k in live}
        self._zones_was = {k: v for k, v in self._zones_was.items() if k in live}
        for tid, vote in self._votes.items():
            if vote.state != "no_hat":
                self._bare_since.pop(tid, None)
            elif tid not in self._bare_since:
                self._bare_since[tid] = vote.since_s if vote.since_s is not None else t
        self._bare_since = {k: v for k, v in self._bare_since.items() if k in live}
        self._floor.forget(live)
        hat_zones = [z for z in self._zones if z.kind == "hat_required"]
        bin_zones = [z for z in self._zones if z.kind == "bin"]
        floor_all = np.array([self._floor_uv[tr.track_id] for tr in everyone]).reshape(-1, 2)
        inside_all = {z.name: z.contains(floor_all) for z in (*hat_zones, *bin_zones)}
        people = []
        for k, tr in enumerate(everyone):
            seen = self._votes.get(tr.track_id)
            zones = frozenset(z.name for z in hat_zones if inside_all[z.name][k])
            visible = tr.t_s == t
            since: dict[str, float] = {}
            if visible:
                entered = [z for z in hat_zones if z.name in zones - self._zones_was.get(tr.track_id, frozenset())]
                if entered:
                    since = self._in_zone_since(tr.track_id, entered)
                self._zones_was[tr.track_id] = zones
            people.append(PersonSample(
                tr.track_id, tr.box, (float(floor_all[k, 0]), float(floor_all[k, 1])), zones,
                seen.state if seen else None, visible,
                seen.confidence() if seen else 0.0, seen.headwear if seen else None,
                seen.since_s if seen else None, tr.confirmed, since, self._bare_since.get(tr.track_id)))
        conf = np.array([tr.confirmed for tr in everyone], bool)
        tracks = [tr for tr in everyone if tr.confirmed]
        floor = floor_all[conf]
        inside = {name: m[conf] for name, m in inside_all.items()}
        self._in_hat_zone = {tr.track_id: any(inside[z.name][k] for z in hat_zones) for k, tr in enumerate(tracks)}
        alarms = self.hat_rule.update(t, people)
        bins = [self._bin_sample(z, t, luma, tracks, floor, inside[z.name]) for z in bin_zones]
        alarms += self.bin_rule.update(t, bins)
        return [self._event(a) for a in alarms]

    def _head_looks(self, dets: SceneDetections) -> np.ndarray:
        """Per person box: the class of the head paired with it (``HEAD_CLASS``: chef hat, bare head, other
        headwear), 0 when none (the tracker's association cue when two people cross)."""
        looks = np.zeros(len(dets.persons))
        for i, hi in assign_heads(dets.persons.xyxy, dets.heads, self.params.heads).items():
            label, _, _ = head_observation(dets.heads, hi)
            looks[i] = HEAD_CLASS.get(label, 0.0)
        return looks

    def _in_zone_since(self, track_id: int, zones: list[ZoneShape]) -> dict[str, float]:
        """For each zone this track has just entered: the earliest of its past samples from which on every box,
        judged with what the camera knows now (:meth:`FloorPoints.estimate`), lay in the zone. Only earlier
        than now when the camera has learnt something since those samples (the person-height plane)."""
        past = list(self._boxes.get(track_id, ()))[:-1]
        if not past:
            return {}
        uv = np.array([self._floor.estimate(box, head, label) for _, box, head, label in past])
        out = {}
        for z in zones:
            inside = z.contains(uv)
            run = len(past)
            while run > 0 and inside[run - 1]:
                run -= 1
            if run < len(past):
                out[z.name] = past[run][0]
        return out

    def _near(self, floor_uv: np.ndarray, bin_box: np.ndarray) -> bool:
        """Is the floor point within ``use_radius_bins`` bin widths of the bin's foot (its box's bottom)?"""
        x1, _, x2, y2 = (float(v) for v in bin_box)
        u, v = float(floor_uv[0]), float(floor_uv[1])
        dist = np.hypot(max(x1 - u, 0.0, u - x2), v - y2)
        return bool(dist <= self.params.use_radius_bins * max(x2 - x1, 1.0))

    def _bin_sample(self, zone: ZoneShape, t: float, luma: np.ndarray, tracks: list, floor: np.ndarray,
                    inside: np.ndarray) -> BinSample:
        p = self.params
        ref = self._refs.get(zone.name)
        vote = self._bin_votes.setdefault(zone.name, _BinVote())
        foot = ref.box() if ref is not None else vote.box
        used = any(inside[k] and t - tr.t_s <= p.use_lost_s and (foot is None or self._near(floor[k], foot))
                   for k, tr in enumerate(tracks))
        if ref is not None:
            differs, active = ref.update(luma, t)
            return BinSample(zone.name, "open" if differs else "closed", used or active, ref.box(),
                             round(min(1.0, ref.changed_share / max(p.reference.open_share, 1e-6) / 2), 3))
        box = None
        bins = self._dets.bins  # on an unchanged sample, the last run's: the bin is as it was
        keep = np.nonzero(bins.scores >= p.bin_min_score)[0]
        if len(keep):
            centres = np.stack([(bins.xyxy[keep, 0] + bins.xyxy[keep, 2]) / 2,
                                (bins.xyxy[keep, 1] + bins.xyxy[keep, 3]) / 2], axis=1)
            keep = keep[zone.contains(centres)]
        if len(keep):
            best = keep[int(np.argmax(bins.scores[keep]))]
            vote.add(str(bins.labels[best]), float(bins.scores[best]), t, p.bin_window)
            box = vote.box = bins.xyxy[best].copy()
        return BinSample(zone.name, vote.state(), used, box, vote.confidence(), vote.since_s())

    # --- events ----------------------------------------------------------------------------------------------

    def _event(self, a: Alarm) -> Event:
        self.counts[a.type] += 1
        x1, y1, x2, y2 = (round(float(v), 1) for v in a.box)
        extra: dict[str, object] = {"alarm_s": round(a.t_s, 3), "dwell_s": round(a.t_s - a.start_s, 3),
                                    "detect_fps": self.camera.detect_fps}
        if a.track_id is not None:
            extra["person_track_id"] = a.track_id
        extra.update({k: v for k, v in a.detail.items() if v is not None})
        log.info("%s: %s in %s from %.2f s, raised at %.2f s", self.camera_id, a.type, a.zone, a.start_s, a.t_s)
        event = Event(
            type=a.type,
            camera_id=self.camera_id,
            start=round(a.start_s, 3),
            end=round(a.t_s, 3),
            started_at=wall_clock_at(self.stream_start, a.start_s),
            confidence=round(min(1.0, max(0.0, a.confidence)), 3),
            zone=a.zone,
            boxes=[[x1, y1, x2, y2]],
            track=[TrackPoint(t=round(t, 3), u=round(u, 1), v=round(v, 1)) for t, u, v in a.track] or None,
        )
        for key, value in extra.items():  # extra fields: the contract may grow
            setattr(event, key, value)
        return event
