"""Accuracy benchmark of the falling-object detector on a generated, seeded set of scenes.

    python -m benchmarks.falling_bench                 # 64 scenes + isolation scenes, 2 processes
    python -m benchmarks.falling_bench --quick         # 12 scenes, for a smoke run
    python -m benchmarks.falling_bench --count 60 --point-errors   # also each track point against the truth

Prints event recall, precision, false alarms per camera-hour, median detection latency, release-storey
accuracy (physics back-projection against the naive facade-plane intersection), a per-distractor breakdown of
false alarms, false alarms on scenes with a single distractor type and no throw, and recall over the throws the
decoded video shows in enough frames for a track (``ShownCounter``: the encoder erases some faint ones). With
``--naive`` the naive OpenCV pipeline (benchmarks/naive.py) runs on the same scenes for comparison. With
``--point-errors`` every point of each detected throw's track is compared with the truth at its frame time
(benchmarks/point_errors.py), and the back-projection is run once more on the truth at those times: what perfect
localisation would give.
The scenes are generated into ``data/bench/`` (ignored by git) on first use and reused afterwards.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.environment import versions

DISTRACTORS = ["trees", "birds", "leaves", "paper", "rain", "insects", "laundry", "lighting", "jitter", "noise"]
MATCH_PX = 12.0


@dataclass
class SceneResult:
    name: str
    duration_s: float
    distractors: list[str]
    throws: int
    detected: list[int] = field(default_factory=list)
    """Truth throw ids matched by an event."""
    false_alarms: list[dict[str, Any]] = field(default_factory=list)
    latency_s: list[float] = field(default_factory=list)
    """Per detected throw: media time the event was emitted minus the time the object became visible."""
    floors: list[dict[str, Any]] = field(default_factory=list)
    """Per detected throw: truth storey, physics storey and probability, naive storey."""
    misses: list[dict[str, Any]] = field(default_factory=list)
    """Per missed throw (with ``--explain``): the throw and the closed tracks that lay on it, with why each was
    rejected (or that an event covered it only in part)."""
    points: list[dict[str, Any]] = field(default_factory=list)
    """Per detected throw (with ``--point-errors``): its event's track points beside the truth (see
    :func:`_point_record`)."""
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    """With ``--verdicts``: every track validation that reached the metric fit (accepted or not), its figures
    and whether it lay on a throw (see :func:`_verdict_record`)."""
    shown: dict[int, int] = field(default_factory=dict)
    """Per truth throw id: frames in which the decoded video shows it (see :class:`ShownCounter`)…"""
    shown_run: dict[int, int] = field(default_factory=dict)
    """…and the most of them one track could hold (:meth:`ShownCounter.runs`); the throw is *shown by the video*
    when that is at least the validation's ``min_points`` (``shown_needed``)."""
    shown_needed: int = 0
    naive_events: int = 0
    naive_false_alarms: int = 0
    naive_detected: int = 0
    frames: int = 0
    seconds: float = 0.0


class ShownCounter:
    """Counts, per throw, the frames in which the *decoded* video shows the object to a frame differencer.

    The generator draws a throw wherever it covers more than a quarter of a pixel, and its truth calls it
    visible there; the H.264 encoder then decides what survives. A faint sub-pixel stone against a facade of
    its own colour is often quantised away whole: the decoded frames are identical where it passes
    (``falling_1000_021``: no difference at all around the stone in most of its 84 frames). A frame *shows*
    the object when, within a few pixels of where it is drawn (truth plus the frame's shake), a pixel differs
    from both previous frames by more than the motion stage's noise threshold at that moment — the motion
    stage's own test without its allowance for edges. A throw shown in fewer frames than a fall needs points
    cannot be detected by any frame differencer, however good the rest of the detector is; the benchmark
    reports recall over the throws shown in enough frames beside the plain recall.
    """

    def __init__(self, throws: list[dict[str, Any]], fps: float) -> None:
        self.fps = fps
        self.by_frame = [{round(float(p["t"]) * fps): p for p in th["track"]} for th in throws]
        self.ids = [int(th["id"]) for th in throws]
        self.frames: dict[int, list[int]] = {tid: [] for tid in self.ids}
        self._prev: list[np.ndarray] = []

    @property
    def counts(self) -> dict[int, int]:
        """Frames showing each throw, in all."""
        return {tid: len(f) for tid, f in self.frames.items()}

    def runs(self, tracker: Any, validation: Any) -> dict[int, int]:
        """Per throw, the most frames showing it that one track could hold: a run with no gap longer than the
        tracker's longest coast (``TrackerParams.coast_gap_s``) and as dense as the validation asks of a track
        (``ValidationParams.min_fill_short``, ``min_fill`` from ``short_track_points`` points). Shown frames
        scattered over a fall (a stone the encoder keeps in one frame of three) are not a track."""
        out = {}
        gap = tracker.coast_gap_s * self.fps
        for tid, frames in self.frames.items():
            best = 0
            for i in range(len(frames)):
                for j in range(i, len(frames)):
                    if j > i and frames[j] - frames[j - 1] > gap:
                        break
                    k = j - i + 1
                    fill = validation.min_fill if k >= validation.short_track_points else validation.min_fill_short
                    if k > best and k / (frames[j] - frames[i] + 1) >= fill:
                        best = k
            out[tid] = best
        return out

    def feed(self, t_s: float, luma: np.ndarray, threshold: float) -> None:
        fi = round(t_s * self.fps)
        h, w = luma.shape
        if len(self._prev) == 2:
            for tid, points in zip(self.ids, self.by_frame, strict=True):
                p = points.get(fi)
                if p is None or not p.get("visible", True):
                    continue
                shake = p.get("shake_px", (0.0, 0.0))
                u, v = float(p["u"]) + shake[0], float(p["v"]) + shake[1]
                r = 2 + math.ceil(0.5 * float(p.get("size_px", 1.0)))
                x0, x1 = max(0, round(u) - r), min(w, round(u) + r + 1)
                y0, y1 = max(0, round(v) - r), min(h, round(v) + r + 1)
                if x0 >= x1 or y0 >= y1:
                    continue
                cur = luma[y0:y1, x0:x1].astype(np.int16)
                d1 = np.abs(cur - self._prev[1][y0:y1, x0:x1])
                d2 = np.abs(cur - self._prev[0][y0:y1, x0:x1])
                if int(np.minimum(d1, d2).max()) > threshold:
                    self.frames[tid].append(fi)
        self._prev = [*self._prev[-1:], luma.copy()]


def _truth_track(throw: dict[str, Any], visible_only: bool = True) -> tuple[np.ndarray, np.ndarray]:
    pts = [p for p in throw["track"] if p.get("visible", True) or not visible_only]
    return np.array([p["t"] for p in pts]), np.array([[p["u"], p["v"]] for p in pts])


def _truth_at(t: np.ndarray, throw: dict[str, Any], fps: float) -> tuple[np.ndarray, np.ndarray]:
    """The throw's truth position nearest in time to each of ``t`` (M, 2), and whether one is within 0.6 frame
    intervals (M,).

    Every drawn position counts, visible or not: an event is matched to a throw by where the object was. The
    generator's ``visible`` flag (inside the frame, more than a quarter of a pixel covered, not behind a tree)
    marks a stone of 1–2 px as hidden for most of its fall, while it still changes its pixels enough to be
    tracked; an event that followed it there was once counted as a false alarm and its throw as missed
    (``falling_4000_039``, 2026-12-07)."""
    tt, tuv = _truth_track(throw, visible_only=False)
    if tt.size == 0:
        return np.zeros((t.size, 2)), np.zeros(t.size, bool)
    idx = np.clip(np.searchsorted(tt, t), 0, tt.size - 1)
    prev = np.clip(idx - 1, 0, tt.size - 1)
    idx = np.where(np.abs(tt[prev] - t) < np.abs(tt[idx] - t), prev, idx)
    return tuv[idx], np.abs(tt[idx] - t) < 0.6 / fps


def _matches(ev_t: np.ndarray, ev_uv: np.ndarray, throw: dict[str, Any], fps: float) -> bool:
    truth_uv, near_t = _truth_at(ev_t, throw, fps)
    if near_t.sum() < max(3, 0.5 * ev_t.size):
        return False
    d = np.hypot(*(truth_uv[near_t] - ev_uv[near_t]).T)
    return bool(np.median(d) <= MATCH_PX)


def _storey_index(names: list[str], name: str | None) -> int | None:
    return names.index(name) if name in names else None


def _on_truth(t: np.ndarray, uv: np.ndarray, throw: dict[str, Any], fps: float) -> int:
    """How many of a track's points lie on the throw's truth track (same time, within MATCH_PX)."""
    truth_uv, near_t = _truth_at(t, throw, fps)
    return int((near_t & (np.hypot(*(truth_uv - uv).T) <= MATCH_PX)).sum())


def _explain_miss(throw: dict[str, Any], fps: float, rejected: list[tuple[np.ndarray, np.ndarray, str]],
                  events: list[tuple[np.ndarray, np.ndarray]], shown: int, shown_run: int,
                  min_points: int) -> dict[str, Any]:
    """Why a throw was missed: the rejected tracks and unmatched events that lay (partly) on it, and in how
    many frames the decoded video showed it (``shown``, of which one track could hold ``shown_run``; under
    ``min_points``: "not shown by the video")."""
    tt, _ = _truth_track(throw)
    pieces = []
    for t, uv, reason in rejected:
        on = _on_truth(t, uv, throw, fps)
        if on >= 3:
            pieces.append({"t": [round(float(t[0]), 2), round(float(t[-1]), 2)], "points": int(t.size),
                           "on_truth": on, "why": reason})
    for t, uv in events:
        on = _on_truth(t, uv, throw, fps)
        if on >= 3:
            pieces.append({"t": [round(float(t[0]), 2), round(float(t[-1]), 2)], "points": int(t.size),
                           "on_truth": on, "why": "event only partly on the throw"})
    pieces.sort(key=lambda p: p["t"][0])
    return {
        "throw": throw["id"], "floor": throw["floor"], "kind": throw.get("object", {}).get("kind"),
        "size_m": throw.get("size_m"),
        "visible_s": [round(float(tt[0]), 2), round(float(tt[-1]), 2)] if tt.size else None,
        "pieces": pieces,
        "shown_frames": shown,
        "shown_run": shown_run,
        "category": "not shown by the video" if shown_run < min_points else "no track on it" if not pieces
        else "fragments only" if all(p["points"] < min_points for p in pieces)
        else pieces[max(range(len(pieces)), key=lambda i: pieces[i]["on_truth"])]["why"].split(":")[0],
    }


def _point_record(track: Any, verdict: Any, prefix_keys: set[tuple[float, float, float]], throw: dict[str, Any],
                  fps: float, shutter_s: float, cal: Any = None, scale: float = 1.0) -> dict[str, Any]:
    """An event's track points beside the truth at the same frame times, as lists (one entry per point).

    The truth is the projection of the object's centre at the frame's time, the middle of its exposure
    (edgewatch.scenes.falling); the camera shake of that frame (``shake_px``) moves the whole picture after
    the object is drawn, so the object appears at truth + shake. ``source`` is "prefix" for points found by
    looking back (edge.falling.rewind), else "track" (the motion stage's blobs).
    """
    keep = verdict.keep if verdict.keep is not None else np.ones(len(track), bool)
    by_frame = {round(float(p["t"]) * fps): p for p in throw["track"]}
    rows: dict[str, list[Any]] = {k: [] for k in (
        "t", "u", "v", "raw_u", "raw_v", "area", "length", "contrast", "source", "tu", "tv", "shake_u", "shake_v",
        "vu", "vv", "size_px", "visible")}
    centres = track.centre_arrays()[1]
    for i in np.nonzero(keep)[0]:
        t = float(track.t[i])
        fi = round(t * fps)
        p = by_frame.get(fi)
        if p is None:
            continue
        before, after = by_frame.get(fi - 1, p), by_frame.get(fi + 1, p)
        span = (float(after["t"]) - float(before["t"])) or 1.0
        key = (round(t, 3), round(float(track.u[i]), 1), round(float(track.v[i]), 1))
        remeasured = t in track.centres
        for name, value in (
                ("t", t), ("u", float(centres[i, 0])), ("v", float(centres[i, 1])), ("raw_u", float(track.u[i])),
                ("raw_v", float(track.v[i])), ("area", float(track.area[i])),
                ("length", float(track.length[i])), ("contrast", float(track.contrast[i])),
                ("source", "prefix" if key in prefix_keys else "measured again" if remeasured else "track"),
                ("tu", float(p["u"])),
                ("tv", float(p["v"])), ("shake_u", float(p.get("shake_px", [0, 0])[0])),
                ("shake_v", float(p.get("shake_px", [0, 0])[1])),
                ("vu", (float(after["u"]) - float(before["u"])) / span),
                ("vv", (float(after["v"]) - float(before["v"])) / span),
                ("size_px", float(p.get("size_px", 0.0))), ("visible", bool(p.get("visible", True)))):
            rows[name].append(value)
    rel = verdict.release
    extras = rel.to_json() if rel is not None else {}
    out = {"throw": throw["id"], "floor": throw["floor"], "kind": throw.get("object", {}).get("kind"),
           "size_m": throw.get("size_m"), "release_t_s": float(throw["release_t_s"]), "fps": fps,
           "shutter_s": shutter_s, "pixel_sigma_px": extras.get("pixel_sigma_px"),
           "physics_floor": rel.floor if rel is not None else None,
           "p_truth": float(rel.floor_probabilities.get(throw["floor"], 0.0)) if rel is not None else 0.0,
           "points": rows}
    if cal is not None and len(rows["t"]) >= 5:
        # The same back-projection given the truth at the track's own times: what perfect localisation would
        # give (with the frame's shake, as the picture shows it, and without, as the calibration has it).
        from calibration.backproject import estimate_release

        t = np.asarray(rows["t"])
        truth_uv = np.column_stack([rows["tu"], rows["tv"]])
        shake = np.column_stack([rows["shake_u"], rows["shake_v"]])
        for key, uv in (("truth_points", truth_uv + shake), ("truth_points_no_shake", truth_uv)):
            est = estimate_release(cal, t, uv / scale)
            out[key] = {"floor": est.floor if est else None,
                        "p_truth": float(est.floor_probabilities.get(throw["floor"], 0.0)) if est else 0.0}
    return out


def _verdict_record(track: Any, verdict: Any, throws: list[dict[str, Any]], fps: float) -> dict[str, Any]:
    """One validation's figures, and the throw the track lay on (the one with most of its points on the truth,
    as a fraction of the track's points; ``throw`` None when under half of them lie on any)."""
    t, uv = track.arrays()
    on = [(_on_truth(t, uv, th, fps), th) for th in throws]
    best, nearest = max(on, key=lambda x: x[0], default=(0, None))
    throw = nearest if best >= 0.5 * len(track) else None
    rel = verdict.release
    keep = verdict.keep if verdict.keep is not None else np.ones(len(track), bool)
    out: dict[str, Any] = {
        "t": [round(float(t[0]), 3), round(float(t[-1]), 3)], "points": len(track), "kept": int(keep.sum()),
        "uv": [[round(float(uv[0, 0]), 1), round(float(uv[0, 1]), 1)], [round(float(uv[-1, 0]), 1),
                                                                        round(float(uv[-1, 1]), 1)]],
        "accepted": bool(verdict.accepted), "reason": verdict.reason, "confidence": verdict.confidence,
        "image_rms_px": round(float(verdict.rms_px), 3), "accel_ratio": round(float(verdict.accel_ratio), 3),
        "blob_px": round(float(np.sqrt(np.median(track.area))), 2),
        "on_truth": round(best / len(track), 3), "throw": throw["id"] if throw else None,
        "truth_floor": throw["floor"] if throw else None,
    }
    if rel is not None:
        out["release"] = rel.to_json()
    return out


def falling_params(overrides: tuple[str, ...] = (), **top: Any) -> Any:
    """``FallingParams`` with ``overrides`` applied: ``"motion.min_threshold=4"``, ``"validation.min_points=11"``
    (a field of FallingParams or of one of its parts; the value is parsed as the field's current type)."""
    from dataclasses import replace

    from edge.falling.detector import FallingParams

    params = FallingParams(**top)
    for item in overrides:
        key, _, text = item.partition("=")
        path = key.strip().split(".")
        if not text or len(path) > 2:
            raise SystemExit(f"--param {item!r}: expected PART.FIELD=VALUE or FIELD=VALUE")
        owner = getattr(params, path[0]) if len(path) == 2 else params
        field_name = path[-1]
        if not hasattr(owner, field_name):
            raise SystemExit(f"--param {item!r}: {type(owner).__name__} has no field {field_name!r}")
        current = getattr(owner, field_name)
        if isinstance(current, bool):
            value: Any = text.strip().lower() in {"1", "true", "yes", "on"}
        else:
            value = type(current)(text)
        owner = replace(owner, **{field_name: value})
        params = replace(params, **{path[0]: owner}) if len(path) == 2 else owner
    return params


def evaluate_scene(truth_path: str, calibrated: bool = True, naive: bool = False,
                   explain: bool = False, look_back: bool = True, point_errors: bool = False,
                   measure_again: bool = True, verdicts: bool = False,
                   overrides: tuple[str, ...] = ()) -> SceneResult:
    from calibration import load_calibration
    from calibration.naive import naive_release
    from edge.falling.detector import FallingDetector
    from edge.frames import decode_frames, open_video

    truth_file = Path(truth_path)
    truth = json.loads(truth_file.read_text())
    base = truth_file.parent
    cal = load_calibration(base / truth["calibration"]) if calibrated else None
    fps = float(truth["fps"])
    res = SceneResult(truth["name"], float(truth["duration_s"]), list(truth["distractors"]), len(truth["throws"]))
    det = FallingDetector(truth["name"], cal, falling_params(overrides, look_back=look_back,
                                                            measure_again=measure_again))
    rejected: list[tuple[np.ndarray, np.ndarray, str]] = []
    if explain:
        det.on_rejected = lambda tr, v: rejected.append((*tr.arrays(), v.reason))
    emitted: list[tuple[float, Any]] = []
    made: dict[int, tuple[Any, Any]] = {}  # id(event) -> (track, verdict), with --point-errors
    prefix_keys: set[tuple[float, float, float]] = set()
    if point_errors:
        make_event, with_prefix = det._event, det._with_prefix

        def _event(track: Any, verdict: Any) -> Any:
            ev = make_event(track, verdict)
            made[id(ev)] = (track, verdict)
            return ev

        def _with_prefix(track: Any, verdict: Any) -> Any:
            if track.prefix is not None:
                prefix_keys.update((round(t, 3), round(u, 1), round(v, 1)) for t, u, v in zip(
                    track.prefix.t, track.prefix.u, track.prefix.v, strict=True) if t < track.t[0] - 1e-6)
            return with_prefix(track, verdict)

        det._event = _event  # type: ignore[method-assign]
        det._with_prefix = _with_prefix  # type: ignore[method-assign]
    validated: list[tuple[Any, Any]] = []
    if verdicts:
        validate = det._validate

        def _validate(track: Any) -> Any:
            verdict = validate(track)
            if verdict.release is not None:
                validated.append((track, verdict))
            return verdict

        det._validate = _validate  # type: ignore[method-assign]
    t0 = time.perf_counter()
    container = open_video(base / truth["video"])
    last_t = 0.0
    shown = ShownCounter(truth["throws"], fps)
    min_threshold = det.params.motion.min_threshold
    try:
        for frame in decode_frames(container):
            last_t = frame.t_s
            res.frames += 1
            emitted += [(frame.t_s, ev) for ev in det.process(frame)]
            motion = det._motion
            shown.feed(frame.t_s, frame.luma, motion.threshold[0] if motion is not None else min_threshold)
    finally:
        container.close()
    emitted += [(last_t, ev) for ev in det.finish()]
    res.seconds = time.perf_counter() - t0
    res.shown, res.shown_run = shown.counts, shown.runs(det.params.tracker, det.params.validation)
    res.shown_needed = det.params.validation.min_points

    names = load_calibration(base / truth["calibration"]).floor_names
    unmatched: list[tuple[np.ndarray, np.ndarray]] = []
    for at_t, ev in emitted:
        ev_t = np.array([p.t for p in ev.track])
        ev_uv = np.array([[p.u, p.v] for p in ev.track])
        hit = next((th for th in truth["throws"] if th["id"] not in res.detected and _matches(ev_t, ev_uv, th, fps)),
                   None)
        if hit is None:
            res.false_alarms.append({
                "t": round(float(ev_t[0]), 2), "blame": _blame(truth, ev_t[0], ev_t[-1]),
                # what the event itself says, to read a false alarm without running its scene again
                "t_end": round(float(ev_t[-1]), 2), "points": len(ev_t), "confidence": round(ev.confidence, 3),
                "uv": [[round(float(c), 1) for c in ev_uv[0]], [round(float(c), 1) for c in ev_uv[-1]]],
                "floor": ev.release.floor if ev.release else None,
                "rms_px": (ev.physics or {}).get("rms_px"),
            })
            unmatched.append((ev_t, ev_uv))
            continue
        res.detected.append(hit["id"])
        if point_errors and id(ev) in made:
            res.points.append(_point_record(*made[id(ev)], prefix_keys, hit, fps,
                                            float(truth.get("shutter_s", 0.02)), cal, det._scale))
        res.latency_s.append(round(at_t - float(hit["visible_from_s"]), 3))
        if cal is not None:
            baseline = naive_release(cal, ev_t, ev_uv)
            rel = ev.release
            res.floors.append({
                "truth": hit["floor"],
                "physics": rel.floor if rel else None,
                "p_truth": float(rel.floor_probabilities.get(hit["floor"], 0.0)) if rel else 0.0,
                "p_top": max(rel.floor_probabilities.values(), default=0.0) if rel else 0.0,
                "naive": baseline.floor if baseline else None,
                "outward_m": round(-float(hit["release_xyz"][1]), 2),
                "first_after_release_s": round(float(ev_t[0]) - float(hit["release_t_s"]), 3),
                "d_physics": _diff(names, hit["floor"], rel.floor if rel else None),
                "d_naive": _diff(names, hit["floor"], baseline.floor if baseline else None),
            })
    seen: set[tuple[float, float, int, bool]] = set()
    for track, verdict in validated:
        key = (round(track.t[0], 3), round(track.t[-1], 3), len(track), bool(verdict.accepted))
        if key not in seen:
            seen.add(key)
            res.verdicts.append(_verdict_record(track, verdict, truth["throws"], fps))
    if explain:
        res.misses = [_explain_miss(th, fps, rejected, unmatched, res.shown[th["id"]], res.shown_run[th["id"]],
                                    res.shown_needed) for th in truth["throws"] if th["id"] not in res.detected]
    if naive:
        _run_naive(base / truth["video"], truth, fps, res)
    return res


def _diff(names: list[str], a: str, b: str | None) -> int | None:
    ia, ib = _storey_index(names, a), _storey_index(names, b)
    return None if ia is None or ib is None else ib - ia


def _blame(truth: dict[str, Any], t0: float, t1: float) -> str:
    """The distractor active when a false alarm happened (or the scene's list when none is logged then)."""
    for d in truth.get("distractor_events", []):
        if d["t_start_s"] - 0.5 <= t1 and t0 <= d["t_end_s"] + 0.5:
            return str(d["type"])
    return "+".join(truth["distractors"]) or "none"


def _run_naive(video: Path, truth: dict[str, Any], fps: float, res: SceneResult) -> None:
    from benchmarks.naive import run_naive

    pipe, _ = run_naive(str(video), fps)
    res.naive_events = len(pipe.events)
    matched: set[int] = set()
    for ev in pipe.events:
        ev_t = np.array([p[0] for p in ev.track])
        ev_uv = np.array([[p[1], p[2]] for p in ev.track])
        hit = next((th for th in truth["throws"] if _matches(ev_t, ev_uv, th, fps)), None)
        if hit is None:
            res.naive_false_alarms += 1
        else:
            matched.add(hit["id"])
    res.naive_detected = len(matched)


def ensure_sets(root: Path, count: int, seed: int, iso_per_type: int, width: int, height: int) -> tuple[
        list[Path], list[Path]]:
    from edgewatch.scenes.falling import generate_set, random_spec, render_scene

    main_dir = root / f"falling-{width}x{height}-n{count}-s{seed}"
    marker = main_dir / "complete"
    if not marker.exists():
        print(f"generating {count} scenes into {main_dir} (once) …", file=sys.stderr)
        generate_set(main_dir, count, seed, width=width, height=height, progress=_gen_progress, workers=2)
        marker.write_text("ok\n")
    main = sorted(main_dir.glob("*.truth.json"))
    iso_dir = root / f"falling-isolation-{width}x{height}-k{iso_per_type}-s{seed}"
    iso_marker = iso_dir / "complete"
    if not iso_marker.exists() and iso_per_type > 0:
        print(f"generating isolation scenes into {iso_dir} (once) …", file=sys.stderr)
        iso_dir.mkdir(parents=True, exist_ok=True)
        for k, kind in enumerate(DISTRACTORS):
            for j in range(iso_per_type):
                spec = random_spec(seed + 10_000 + 100 * k + j, width=width, height=height, n_throws=0,
                                   distractors=[kind])
                render_scene(spec, iso_dir, f"iso-{kind}-{j}")
                print(f"  {kind} {j + 1}/{iso_per_type}", file=sys.stderr)
        iso_marker.write_text("ok\n")
    iso = sorted(iso_dir.glob("*.truth.json")) if iso_per_type > 0 else []
    return main, iso


def _gen_progress(done: int, total: int) -> None:
    if done == total or done % 250 == 0:
        print(f"  {done}/{total} frames", file=sys.stderr)


def summarise(results: list[SceneResult], label: str) -> dict[str, Any]:
    throws = sum(r.throws for r in results)
    detected = sum(len(r.detected) for r in results)
    fas = [fa for r in results for fa in r.false_alarms]
    hours = sum(r.duration_s for r in results) / 3600.0
    lat = [x for r in results for x in r.latency_s]
    floors = [f for r in results for f in r.floors]
    shown_ok = [(tid in r.detected) for r in results for tid, n in r.shown_run.items() if n >= r.shown_needed]
    out: dict[str, Any] = {
        "set": label,
        "scenes": len(results),
        "hours": round(hours, 4),
        "throws": throws,
        "detected": detected,
        "recall": round(detected / throws, 4) if throws else None,
        # throws the decoded video shows in enough frames for a fall's track (ShownCounter), and recall on them
        "shown_throws": len(shown_ok),
        "recall_shown": round(sum(shown_ok) / len(shown_ok), 4) if shown_ok else None,
        "events": detected + len(fas),
        "precision": round(detected / (detected + len(fas)), 4) if detected + len(fas) else None,
        "false_alarms": len(fas),
        "false_alarms_per_hour": round(len(fas) / hours, 2) if hours else None,
        "median_latency_s": round(float(np.median(lat)), 3) if lat else None,
        "fa_by_distractor": _count([fa["blame"] for fa in fas]),
        "frames": sum(r.frames for r in results),
        "fps_single_core": round(sum(r.frames for r in results) / max(1e-9, sum(r.seconds for r in results)), 1),
    }
    if floors:
        def rate(key: str, tol: int) -> float:
            return round(sum(1 for f in floors if f[key] is not None and abs(f[key]) <= tol) / len(floors), 4)

        right = [f for f in floors if f["d_physics"] == 0]
        wrong = [f for f in floors if f["d_physics"] != 0]
        out["floor"] = {
            "n": len(floors),
            "physics_exact": rate("d_physics", 0),
            "physics_within_1": rate("d_physics", 1),
            "naive_exact": rate("d_naive", 0),
            "naive_within_1": rate("d_naive", 1),
            "p_truth_ge_0.5_when_right": round(sum(f["p_truth"] >= 0.5 for f in right) / len(right), 4)
            if right else None,
            "mean_p_top_when_wrong": round(float(np.mean([f["p_top"] for f in wrong])), 3) if wrong else None,
            "mean_log_p_truth": round(float(np.mean([np.log(max(f["p_truth"], 1e-3)) for f in floors])), 3),
            "median_first_point_after_release_s": round(float(np.median([f["first_after_release_s"]
                                                                         for f in floors])), 3),
            "naive_mean_error_storeys": round(float(np.mean([f["d_naive"] for f in floors
                                                             if f["d_naive"] is not None] or [0])), 2),
        }
    if any(r.naive_events for r in results):
        out["naive"] = {
            "events": sum(r.naive_events for r in results),
            "recall": round(sum(r.naive_detected for r in results) / throws, 4) if throws else None,
            "false_alarms_per_hour": round(sum(r.naive_false_alarms for r in results) / hours, 1),
        }
    return out


def _count(items: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for it in items:
        out[it] = out.get(it, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _eval(args: tuple[str, bool, bool, bool, bool, bool, bool, bool, tuple[str, ...]]) -> SceneResult:
    return evaluate_scene(*args)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("data/bench"), help="where generated scenes are kept")
    ap.add_argument("--count", type=int, default=64, help="scenes in the main set (≥ 25 %% without a throw)")
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--isolation", type=int, default=2, help="no-throw scenes per single distractor type")
    ap.add_argument("--size", default="1280x720", help="WxH of the generated scenes")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--uncalibrated", action="store_true", help="run without the calibration (image tests only)")
    ap.add_argument("--naive", action="store_true", help="also run the naive OpenCV pipeline on the main set")
    ap.add_argument("--quick", action="store_true", help="12 scenes, 1 isolation scene per type")
    ap.add_argument("--json", type=Path, help="write the summary and per-scene results here")
    ap.add_argument("--limit", type=int, help="evaluate only the first N scenes of the set")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="evaluate only these scenes (names as in the set)")
    ap.add_argument("--explain", action="store_true",
                    help="say why each missed throw was missed (the tracks that lay on it and their verdicts, and "
                         "in how many frames the decoded video shows it)")
    ap.add_argument("--no-look-back", action="store_true",
                    help="do not look for a fall's start in the frames before its track (FallingParams.look_back)")
    ap.add_argument("--no-measure-again", action="store_true",
                    help="keep the motion stage's blob centroids as the track's points (FallingParams.measure_again)")
    ap.add_argument("--point-errors", action="store_true",
                    help="compare every point of each detected throw's track with the truth at its time and print "
                         "the error distributions (with --json, the points too)")
    ap.add_argument("--verdicts", action="store_true",
                    help="with --json, record every track validation that reached the metric fit (accepted or "
                         "not), its figures and the throw it lay on: the data for judging a validation rule")
    ap.add_argument("--param", action="append", default=[], metavar="PART.FIELD=VALUE",
                    help="run with a detector parameter changed, e.g. motion.min_threshold=4 or "
                         "validation.min_points=11 (repeatable; recorded in the summary)")
    args = ap.parse_args(argv)
    falling_params(tuple(args.param))  # a wrong name fails here, before any scene is generated
    if args.quick:
        args.count, args.isolation = 12, 1
    w, h = (int(x) for x in args.size.lower().split("x"))
    main_set, iso_set = ensure_sets(args.data, args.count, args.seed, args.isolation, w, h)
    if args.limit:
        main_set = main_set[: args.limit]
    if args.only:
        main_set = [p for p in main_set if p.name.removesuffix(".truth.json") in args.only]
        iso_set = []
    calibrated = not args.uncalibrated
    look_back = not args.no_look_back
    measure_again = not args.no_measure_again
    overrides = tuple(args.param)
    jobs = ([(str(p), calibrated, args.naive, args.explain, look_back, args.point_errors, measure_again,
              args.verdicts, overrides) for p in main_set]
            + [(str(p), calibrated, False, False, look_back, False, measure_again, args.verdicts, overrides)
               for p in iso_set])
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(args.workers) as pool:
        results = []
        for i, r in enumerate(pool.imap(_eval, jobs), 1):
            results.append(r)
            print(f"\r  evaluated {i}/{len(jobs)} scenes", end="", file=sys.stderr)
    print(file=sys.stderr)
    main_res, iso_res = results[: len(main_set)], results[len(main_set):]
    summary = {
        "date": time.strftime("%Y-%m-%d"),
        "versions": versions(),
        "calibrated": calibrated,
        "look_back": look_back,
        "measure_again": measure_again,
        "params": list(args.param),
        "size": args.size,
        "main": summarise(main_res, f"{len(main_res)} scenes, seed {args.seed}"),
        "isolation": {kind: sum(len(r.false_alarms) for r in iso_res if r.distractors == [kind])
                      for kind in DISTRACTORS} if iso_res else {},
        "isolation_hours": round(sum(r.duration_s for r in iso_res) / 3600, 4),
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    if args.explain:
        summary["misses_by_category"] = _count([m["category"] for r in main_res for m in r.misses])
        for r in main_res:
            for m in r.misses:
                print(f"MISS {r.name} throw {m['throw']} storey {m['floor']} {m['kind']} {m['size_m']} m "
                      f"visible {m['visible_s']}, shown in {m['shown_frames']} frames ({m['shown_run']} in a run): "
                      f"{m['category']}",
                      file=sys.stderr)
                for piece in m["pieces"]:
                    print(f"    {piece['t']} {piece['points']} pts ({piece['on_truth']} on it): {piece['why']}",
                          file=sys.stderr)
    if args.point_errors:
        from benchmarks.point_errors import format_summary
        from benchmarks.point_errors import summarise as summarise_points

        summary["point_errors"] = summarise_points([p for r in main_res for p in r.points])
        print(format_summary(summary["point_errors"]), file=sys.stderr)
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"summary": summary, "scenes": [asdict(r) for r in results]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
