"""Person tracker in the manner of ByteTrack (Zhang et al., 2022): two-stage IoU association by score.

Per sample:

1. Predict each track's box with its smoothed velocity (box corners, pixels per second).
2. Match **confident** detections (score ≥ ``high``) to all live tracks by IoU (Hungarian, IoU ≥ ``match_iou``).
3. Match the **weak** detections (``low`` ≤ score < ``high``) to the tracks left over (IoU ≥ ``weak_iou``): a
   person half hidden by a counter or another person scores low but should keep their track.
4. Confident detections still left are matched to tracks still left by the distance of the box centres, in
   units of the track's box height (≤ ``max_centre_dist``), when the heights agree within ``max_height_ratio``:
   ByteTrack assumes 25–30 fps, but at 2–5 samples a second a walking person moves most of a body width
   between samples and the boxes of one person may not overlap enough.
   In stages 2–4 a detection whose head disagrees with the track's recent heads (a head class — chef hat,
   bare head, other headwear such as a cap or a bandana — other than the one the track's last ``hat_window``
   heads all had) costs ``hat_penalty`` more (IoU units; in stage 4 height units): when two people cross, the
   one box seen at the crossing goes to the track whose head it has, a cook in a cap and a bare-headed one as
   much as a cook in a hat and one without. It only chooses between pairs that pass the stage's gate, so
   someone alone who takes their hat off keeps their track.
   Likewise, when the colour frame is given, a detection costs ``colour_penalty`` times the Bhattacharyya
   distance between its colours (:mod:`edge.kitchen.appearance`: the upper part of the box) and the track's
   running average of them: two bare-headed cooks crossing differ in hair, skin and clothes. A small weight: it
   chooses between near-equal candidates that pass the gate, as the head does, never alone.
5. Confident detections left over start new tracks (confirmed after ``confirm_hits`` matches); tracks not
   matched are kept, predicted forward, for ``max_lost_s`` so a brief occlusion does not change a person's id.

Why not the ``trackers``/``supervision`` package: its ByteTrack pulls matplotlib, pillow, requests and a second
OpenCV build into the edge install. This one is small, vectorised and measured against the scenes' true
identities in ``benchmarks/kitchen_rules_bench.py`` (identity switches per person).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from edge.kitchen.appearance import Appearance, bhattacharyya
from edge.kitchen.detections import Boxes
from models.postprocess import box_iou

HEAD_CLASS = {"chef_hat": 1.0, "bare_head": 2.0, "other_headwear": 3.0}
"""Codes of the head classes in the tracker's head looks (0: no head paired)."""


@dataclass(frozen=True)
class TrackerParams:
    high: float = 0.5
    """Detections at least this confident are matched first and may start tracks."""
    low: float = 0.15
    """Weaker detections only extend existing tracks."""
    match_iou: float = 0.2
    weak_iou: float = 0.3
    max_centre_dist: float = 0.6
    max_height_ratio: float = 1.5
    confirm_hits: int = 2
    max_lost_s: float = 2.0
    velocity_gain: float = 0.5
    """Weight of a new velocity measurement in the running estimate."""
    max_predict_s: float = 1.0
    """Boxes are extrapolated at most this far ahead (a lost person has usually stopped or turned)."""
    hat_penalty: float = 0.5
    """Association cost of a detection whose head class differs from the track's recent heads'."""
    hat_window: int = 3
    """A track has a head class for association when its last this many head looks (one per matched detection
    with a head) all agree."""
    colour_penalty: float = 0.5
    """Association cost per unit of Bhattacharyya distance between a detection's colours and the track's; 0
    turns the cue off."""
    colour_gain: float = 0.3
    """Weight of a new (unobstructed) colour histogram in the track's running average."""


@dataclass
class PersonTrack:
    track_id: int
    box: np.ndarray
    """Last matched box, xyxy."""
    score: float
    t_s: float
    """Media time of the last match."""
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    hits: int = 1
    confirmed: bool = False
    born_s: float = 0.0
    heads: list[float] = field(default_factory=list)
    """Head classes of the last matched detections (``HEAD_CLASS`` codes), newest last."""
    colour: np.ndarray | None = None
    """Running average of the colour histograms of the matched detections (:mod:`edge.kitchen.appearance`)."""

    def head_class(self, window: int) -> float:
        """The head class of the last ``window`` heads when they all had it, else 0 (unknown or mixed)."""
        last = self.heads[-window:]
        if len(last) < window or any(x != last[0] for x in last):
            return 0.0
        return last[0]

    def predict(self, t_s: float, max_s: float) -> np.ndarray:
        return self.box + self.velocity * min(max(0.0, t_s - self.t_s), max_s)


class PersonTracker:
    """Feed each sample's person boxes in time order with :meth:`update`; read :attr:`tracks`."""

    def __init__(self, params: TrackerParams | None = None) -> None:
        self.params = params or TrackerParams()
        self.tracks: list[PersonTrack] = []
        self._next_id = 1
        # The current sample's colour histograms and their "not covered" flags (kept boxes only), set by
        # update() for its helpers (_cue_cost, _match, _colour_of) and replaced at the next sample.
        self._hist: np.ndarray | None = None
        self._clean: np.ndarray | None = None

    def update(self, t_s: float, persons: Boxes, heads: np.ndarray | None = None,
               colours: Appearance | None = None) -> list[PersonTrack]:
        """Associate this sample's boxes; returns the tracks matched now (confirmed or not). ``heads``: per
        person box, the ``HEAD_CLASS`` code of its head, 0 when none was paired;
        ``colours``: per person box, its colour histogram (none: the cue is not used)."""
        p = self.params
        self.tracks = [tr for tr in self.tracks if t_s - tr.t_s <= p.max_lost_s]
        keep = persons.scores >= p.low
        boxes, scores = persons.xyxy[keep], persons.scores[keep]
        looks = (np.zeros(len(persons)) if heads is None else np.asarray(heads, float))[keep]
        if colours is not None and len(colours) != len(persons):
            raise ValueError(f"{len(colours)} colour histograms for {len(persons)} person boxes")
        self._hist = None if colours is None else colours.hist[keep]
        self._clean = None if colours is None else colours.clean[keep]
        strong = scores >= p.high
        matched: list[PersonTrack] = []
        pool = list(self.tracks)
        unmatched_strong = np.zeros(0, np.int64)
        for sel, min_iou in ((strong, p.match_iou), (~strong, p.weak_iou)):
            idx = np.nonzero(sel)[0]
            if not len(idx) or not pool:
                if sel is strong:
                    unmatched_strong = idx
                continue
            pred = np.array([tr.predict(t_s, p.max_predict_s) for tr in pool])
            iou = box_iou(pred, boxes[idx])
            ok = iou >= min_iou
            rows, cols = linear_sum_assignment(-iou + self._cue_cost(pool, looks, idx))
            used_tracks, used_dets = set(), set()
            for r, c in zip(rows, cols, strict=True):
                if not ok[r, c]:
                    continue
                self._match(pool[r], boxes[idx[c]], float(scores[idx[c]]), t_s, float(looks[idx[c]]), int(idx[c]))
                matched.append(pool[r])
                used_tracks.add(r)
                used_dets.add(c)
            pool = [tr for i, tr in enumerate(pool) if i not in used_tracks]
            if sel is strong:
                unmatched_strong = np.array([i for k, i in enumerate(idx) if k not in used_dets], np.int64)
        if len(unmatched_strong) and pool:
            unmatched_strong = self._match_by_distance(t_s, pool, boxes, scores, looks, unmatched_strong, matched)
        for i in unmatched_strong:
            tr = PersonTrack(self._next_id, boxes[i].copy(), float(scores[i]), t_s, born_s=t_s,
                             confirmed=p.confirm_hits <= 1, heads=[float(looks[i])] if looks[i] else [],
                             colour=self._colour_of(int(i)))
            self._next_id += 1
            self.tracks.append(tr)
            matched.append(tr)
        # An unconfirmed track that missed a sample was most likely a false detection.
        self.tracks = [tr for tr in self.tracks if tr.confirmed or tr.t_s == t_s]
        return matched

    def _colour_of(self, i: int) -> np.ndarray | None:
        if self._hist is None or not self._hist[i].any():
            return None
        return self._hist[i].astype(np.float64)

    def _cue_cost(self, pool: list[PersonTrack], looks: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """(tracks, detections) extra cost from the heads and the colours; 0 where a cue is unknown."""
        p = self.params
        cost = p.hat_penalty * self._disagree(pool, looks[idx])
        if self._hist is None or p.colour_penalty <= 0:
            return cost
        det = self._hist[idx]
        have_t = np.array([tr.colour is not None for tr in pool])
        have_d = det.any(axis=1)
        if not have_t.any() or not have_d.any():
            return cost
        track = np.array([tr.colour if tr.colour is not None else np.zeros(det.shape[1]) for tr in pool])
        dist = bhattacharyya(track, det)
        return cost + p.colour_penalty * np.where(have_t[:, None] & have_d[None, :], dist, 0.0)

    def _disagree(self, pool: list[PersonTrack], looks: np.ndarray) -> np.ndarray:
        """(tracks, detections): 1 where the detection's head class contradicts the track's recent heads'."""
        window = self.params.hat_window
        classes = np.array([tr.head_class(window) for tr in pool])
        return ((classes[:, None] != 0) & (looks[None, :] != 0) & (classes[:, None] != looks[None, :])).astype(float)

    def _match_by_distance(self, t_s: float, pool: list[PersonTrack], boxes: np.ndarray, scores: np.ndarray,
                           looks: np.ndarray, idx: np.ndarray, matched: list[PersonTrack]) -> np.ndarray:
        """Stage 4: centre distance / track height; returns the detections still unmatched."""
        p = self.params
        pred = np.array([tr.predict(t_s, p.max_predict_s) for tr in pool])
        det = boxes[idx]
        ph = np.maximum(pred[:, 3] - pred[:, 1], 1.0)
        dh = np.maximum(det[:, 3] - det[:, 1], 1.0)
        pc = np.column_stack([pred[:, 0] + pred[:, 2], pred[:, 1] + pred[:, 3]]) / 2
        dc = np.column_stack([det[:, 0] + det[:, 2], det[:, 1] + det[:, 3]]) / 2
        dist = np.hypot(pc[:, None, 0] - dc[None, :, 0], pc[:, None, 1] - dc[None, :, 1]) / ph[:, None]
        ratio = np.maximum(ph[:, None] / dh[None, :], dh[None, :] / ph[:, None])
        ok = (dist <= p.max_centre_dist) & (ratio <= p.max_height_ratio)
        cost = np.where(ok, dist + self._cue_cost(pool, looks, idx), 1e6)
        rows, cols = linear_sum_assignment(cost)
        used = set()
        for r, c in zip(rows, cols, strict=True):
            if ok[r, c]:
                self._match(pool[r], det[c], float(scores[idx[c]]), t_s, float(looks[idx[c]]), int(idx[c]))
                matched.append(pool[r])
                used.add(c)
        return np.array([i for k, i in enumerate(idx) if k not in used], np.int64)

    def _match(self, tr: PersonTrack, box: np.ndarray, score: float, t_s: float, look: float = 0.0,
               det: int = -1) -> None:
        if look:
            tr.heads = [*tr.heads, look][-self.params.hat_window:]
        if det >= 0 and self._hist is not None and self._clean is not None:
            new = self._colour_of(det)
            if new is not None and tr.colour is None:
                tr.colour = new
            elif new is not None and tr.colour is not None and self._clean[det]:
                g = self.params.colour_gain
                tr.colour = (1 - g) * tr.colour + g * new
        dt = t_s - tr.t_s
        if dt > 0:
            g = self.params.velocity_gain
            tr.velocity = (1 - g) * tr.velocity + g * (box - tr.box) / dt
        tr.box = box.copy()
        tr.score = score
        tr.t_s = t_s
        tr.hits += 1
        if tr.hits >= self.params.confirm_hits:
            tr.confirmed = True
