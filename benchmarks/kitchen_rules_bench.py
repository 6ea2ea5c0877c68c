"""Kitchen rules, event by event, on generated kitchen clips with exact truth.

    python -m benchmarks.kitchen_rules_bench                     # 32 clips, the shipped model, default rate
    python -m benchmarks.kitchen_rules_bench --clips 8 --model models/other.onnx
    python -m benchmarks.kitchen_rules_bench --free-bins         # also the model-free bin mode
    python -m benchmarks.kitchen_rules_bench --oracle            # the truth's boxes instead of a model

Clips come from ``edgewatch.scenes.kitchen.generate_set`` (seeded, other seeds than the committed samples and
the training set) and are cached in data/kitchen-bench/ (ignored by git). Each clip's camera file is analysed
with analyze's engine (:func:`edge.analyze.iter_events`) and the events are matched to the truth's violations:

- a ``missing_chef_hat`` event belongs to the true person whose box overlaps the event's box most (IoU ≥ 0.3,
  in the frame of the alarm), and matches that person's violation in the same zone when the alarm time lies
  in ``[alarm_s − early_s, end_s + late_s]``;
- an ``uncovered_bin`` event matches the violation of its bin zone under the same time rule.

Recall = matched violations / violations; precision = events matching a violation not matched before / events;
a second event matching an already matched violation is a duplicate (it counts against precision). Delay =
event alarm time − the truth's ``alarm_s``.

Borderline cases (``--tolerance S``, default 0.5 s; reported beside the strict figures, never instead of them):
the truth's dwell is frame-exact, the product looks 3 times a second and votes a hat state over 3 looks, so a
condition that lasted within S of the dwell cannot be called either way. A violation whose condition ended less
than S after its ``alarm_s`` (including one cut off by the clip's end) is then not required: missing it is no
miss, and an event on it is neither a hit nor a false event. Likewise an event on a condition that lasted at
least dwell − S but fell short of the dwell is not counted as false. The strict figures (tolerance 0) are the
definition above unchanged. CPU share = CPU seconds of the whole process (all threads:
decoding, the model on one thread, the rules) / seconds of video.

``--oracle`` replaces the model by the truth's visible boxes (objects at least a quarter visible, as the
training labels): it measures the tracker, association and rules alone, not the product. ``--free-bins`` runs
the model-free bin mode: each bin zone compared with a reference image of the scene's kitchen, empty and with
the bins closed, with no model at all (people at the bin seen as activity in the zone).

The truth's stay is frame-exact (one frame with the floor point outside ends it), the product's is sampled and
bridges exits of up to 0.75 s; ``truth_stays_vs_grace`` in the report counts where that could change a figure
(:func:`short_exits`), so a reader can tell the rules' errors from the two notions' difference.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks.environment import versions

ROOT = Path(__file__).resolve().parent.parent
EARLY_S = 1.0
LATE_S = 2.0
TOLERANCE_S = 0.5


@dataclass
class Score:
    violations: int = 0
    events: int = 0
    matched: int = 0
    duplicates: int = 0
    false_events: list[dict[str, Any]] = field(default_factory=list)
    missed: list[dict[str, Any]] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    borderline_violations: int = 0
    """Violations within the tolerance of the dwell: not counted in ``violations``."""
    borderline_events: int = 0
    """Events on borderline violations or conditions: not counted in ``events``."""

    def add(self, other: Score) -> None:
        self.violations += other.violations
        self.events += other.events
        self.matched += other.matched
        self.duplicates += other.duplicates
        self.false_events += other.false_events
        self.missed += other.missed
        self.delays += other.delays
        self.borderline_violations += other.borderline_violations
        self.borderline_events += other.borderline_events

    def summary(self) -> dict[str, Any]:
        return {"violations": self.violations, "events": self.events, "matched": self.matched,
                "borderline_violations": self.borderline_violations, "borderline_events": self.borderline_events,
                "recall": round(self.matched / self.violations, 3) if self.violations else None,
                "precision": round(self.matched / self.events, 3) if self.events else None,
                "duplicates": self.duplicates, "false_events": len(self.false_events) - self.duplicates,
                "median_delay_s": round(statistics.median(self.delays), 2) if self.delays else None,
                "max_delay_s": round(max(self.delays), 2) if self.delays else None}


def clip_set(seed: int, count: int, width: int, height: int, seconds: float) -> list[Path]:
    from edgewatch.progress import Progress
    from edgewatch.scenes.kitchen import generate_set

    root = ROOT / "data" / "kitchen-bench" / f"s{seed}-{width}x{height}-{seconds:g}s"
    truths = [root / f"kitchen-{seed}-{k:03d}.truth.json" for k in range(count)]
    if all(t.exists() for t in truths):
        return truths
    print(f"generating {count} kitchen clips into {root} (once) …", file=sys.stderr)
    bar = Progress(0, "frames")

    def step(done: int, total: int) -> None:
        bar.total = total
        bar.update(done)

    made = generate_set(root, count, seed, width=width, height=height, duration_s=seconds, progress=step)
    bar.close()
    return [Path(p) for p in made]


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def score_clip(truth: dict[str, Any], events: list[dict[str, Any]], kinds: set[str],
               tolerance_s: float = 0.0) -> Score:
    """Match one clip's events to its violations (module docstring); ``tolerance_s`` > 0 sets borderline
    violations and conditions aside."""
    dwell = {"missing_chef_hat": float(truth["rules"]["missing_chef_hat_after_s"]),
             "uncovered_bin": float(truth["rules"]["uncovered_bin_after_s"])}
    every = [v for v in truth["violations"] if v["type"] in kinds]
    viols = [v for v in every if v["end_s"] - v["alarm_s"] >= tolerance_s]
    border = [v for v in every if v["end_s"] - v["alarm_s"] < tolerance_s]
    # conditions that fell short of the dwell by less than the tolerance, with when their alarm would have been
    border += [{**c, "alarm_s": c["start_s"] + dwell[c["type"]]} for c in truth["conditions"]
               if c["type"] in kinds and dwell[c["type"]] - tolerance_s <= c["end_s"] - c["start_s"] < dwell[c["type"]]]
    sc = Score(violations=len(viols), borderline_violations=len(every) - len(viols))
    matched: set[int] = set()
    frames = truth["frames"]
    for ev in sorted(events, key=lambda e: e["end"]):
        if ev["type"] not in kinds:
            continue
        sc.events += 1
        t = float(ev["end"])
        person = None
        if ev["type"] == "missing_chef_hat":
            frame = frames[min(len(frames) - 1, round(t * truth["fps"]))]
            best = max(((_iou(ev["boxes"][0], o["box"]), o["track_id"]) for o in frame["objects"]
                        if o["label"] == "person"), default=(0.0, None))
            person = best[1] if best[0] >= 0.3 else None
        def fits(v: dict[str, Any], ev: dict[str, Any] = ev, person: int | None = person, t: float = t) -> bool:
            return (v["type"] == ev["type"] and v["zone"] == ev["zone"]
                    and (ev["type"] != "missing_chef_hat" or v["track_id"] == person)
                    and v["alarm_s"] - EARLY_S <= t <= v["end_s"] + LATE_S)

        cands = [i for i, v in enumerate(viols) if fits(v)]
        if not cands and any(fits(v) for v in border):
            sc.events -= 1
            sc.borderline_events += 1
            continue
        if not cands:
            sc.false_events.append({"clip": truth["name"], "type": ev["type"], "zone": ev["zone"], "t": t,
                                    "person": person})
            continue
        fresh = [i for i in cands if i not in matched]
        if not fresh:
            sc.duplicates += 1
            sc.false_events.append({"clip": truth["name"], "type": ev["type"], "zone": ev["zone"], "t": t,
                                    "duplicate": True})
            continue
        i = min(fresh, key=lambda k: abs(viols[k]["alarm_s"] - t))
        matched.add(i)
        sc.matched += 1
        sc.delays.append(t - viols[i]["alarm_s"])
    sc.missed = [{"clip": truth["name"], **v} for i, v in enumerate(viols) if i not in matched]
    return sc


class TruthBoxes:
    """The truth's visible boxes as a detector's output (``--oracle``): set :attr:`t_s` before each frame."""

    def __init__(self, truth: dict[str, Any]) -> None:
        from models import Detections

        self._Detections = Detections
        self.names = tuple(truth["classes"])
        self.frames = truth["frames"]
        self.fps = float(truth["fps"])
        self.t_s = 0.0

    def detect(self, images: list[np.ndarray]) -> list[Any]:
        frame = self.frames[min(len(self.frames) - 1, round(self.t_s * self.fps))]
        objs = [o for o in frame["objects"] if o["visible"] >= 0.25
                and o["box"][2] - o["box"][0] >= 3 and o["box"][3] - o["box"][1] >= 3]
        boxes = np.array([o["box"] for o in objs], np.float32).reshape(-1, 4)
        ids = np.array([self.names.index(o["label"]) for o in objs], np.int64)
        return [self._Detections(boxes, np.full(len(objs), 0.9, np.float32), ids, self.names) for _ in images]


class _RunCounts(logging.Handler):
    """Collects analyze's closing log line of a kitchen run: (samples, model runs)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.samples = 0
        self.runs = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "model ran on" in str(record.msg) and isinstance(record.args, tuple):
            self.samples += int(str(record.args[3]))
            self.runs += int(str(record.args[5]))


RUN_COUNTS = _RunCounts()


def run_clip(truth_path: Path, model: Any, oracle: bool, free_bins: bool,
             detect_fps: float | None = None) -> tuple[list[dict[str, Any]], float, float]:
    """(events as JSON, CPU seconds, video seconds) of one clip."""
    from edge.analyze import iter_events
    from edge.config import load_camera
    from edge.frames import decode_frames, open_video
    from edge.kitchen.build import kitchen_detector

    truth = json.loads(truth_path.read_text())
    camera = load_camera(truth_path.parent / truth["camera"])
    if detect_fps is not None:
        camera = camera.model_copy(update={"detect_fps": detect_fps})
    if free_bins:
        model = None  # no model at all: people at a bin are seen as activity in its zone
        ref = closed_reference(truth, truth_path.parent / f"{truth['name']}.closed.jpg")
        zones = [z.model_copy(update={"reference": ref}) for z in camera.zones if z.kind == "bin"]
        camera = camera.model_copy(update={"zones": zones})
        if not zones:
            return [], 0.0, float(truth["duration_s"])
    video = truth_path.parent / truth["video"]
    c0 = time.process_time()
    if oracle:
        from datetime import UTC, datetime

        boxes = TruthBoxes(truth)
        det = kitchen_detector(camera, datetime.now(UTC), None if free_bins else boxes)
        events = []
        container = open_video(video)
        try:
            for frame in decode_frames(container):
                boxes.t_s = frame.t_s
                events += det.process(frame)
        finally:
            container.close()
        events += det.finish()
    else:
        events = list(iter_events(video, camera, None, model=model))
    cpu = time.process_time() - c0
    return [e.to_json() for e in events], cpu, float(truth["duration_s"])


def closed_reference(truth: dict[str, Any], out: Path) -> Path:
    """The scene's kitchen with every bin closed and nobody in it, as a JPEG: what an installer saves from the
    live view at a quiet moment (the reference of the model-free bin mode). Rendered from the scene's spec at
    time 0, so its lighting is the clip's at the start, not at the moment compared."""
    from edgewatch.scenes.kitchen import make_renderer, random_spec

    if not out.exists():
        w, h = truth["image_size"]
        spec = random_spec(truth["seed"], width=w, height=h, duration_s=truth["duration_s"], fps=truth["fps"])
        lids = {b.name: 0.0 for b in spec.layout.bins}
        image, _ = make_renderer(spec).render(0.0, [], lids, 0, with_people=False)
        cv2.imwrite(str(out), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return out


def floor_point_agreement(truth_paths: list[Path], params: Any = None) -> dict[str, Any]:
    """How often a person's floor point falls in the same hat-required zones as the truth's ``floor_uv``, for
    three estimates on the truth's own boxes at 3 samples/s: the box's bottom centre, the bottom centre raised
    5 % of the height, and :class:`edge.kitchen.floor.FloorPoints` (which also handles legs hidden by counters;
    ``params``: its :class:`~edge.kitchen.floor.FloorParams`), fed each person's head box from the truth (at
    least a quarter visible, as the detector's would be) as the detector feeds it the model's.
    Persons whose box touches the image border are left out (their feet may be outside the picture)."""
    from edge.config import load_camera
    from edge.kitchen.floor import FloorPoints
    from edge.kitchen.zones import scaled_zones

    agree = {"bottom_centre": 0, "raised_5pc": 0, "floor_points": 0}
    total = hidden = 0
    agree_hidden = dict.fromkeys(agree, 0)
    for tp in truth_paths:
        truth = json.loads(tp.read_text())
        w, h = truth["image_size"]
        zones = [z for z in scaled_zones(load_camera(tp.parent / truth["camera"]).zones, w, h, None)
                 if z.kind == "hat_required"]
        fp = FloorPoints(params, image_height=h, image_width=w)
        step = round(truth["fps"] / 3)
        for i in range(0, len(truth["frames"]), step):
            t = i / truth["fps"]
            heads = {o["track_id"]: o for o in truth["frames"][i]["objects"]
                     if o["label"] in ("chef_hat", "bare_head", "other_headwear") and o["visible"] >= 0.25}
            for o in truth["frames"][i]["objects"]:
                if o["label"] != "person":
                    continue
                x1, y1, x2, y2 = o["box"]
                head = heads.get(o["track_id"])
                ours = fp.point(o["track_id"], np.array(o["box"], float), t,
                                None if head is None else np.array(head["box"], float),
                                None if head is None else str(head["label"]))
                if x1 <= 0 or y1 <= 0 or x2 >= w or y2 >= h:
                    continue
                cands = {"bottom_centre": ((x1 + x2) / 2, y2), "raised_5pc": ((x1 + x2) / 2, y2 - 0.05 * (y2 - y1)),
                         "floor_points": ours}
                want = {z.name for z in zones if z.contains(np.array([o["floor_uv"]]))[0]}
                total += 1
                occluded = o["visible"] < 0.9
                hidden += occluded
                for k, uv in cands.items():
                    ok = {z.name for z in zones if z.contains(np.array([uv]))[0]} == want
                    agree[k] += ok
                    agree_hidden[k] += ok and occluded
    return {"persons": total, "partly_hidden": hidden,
            "agreement": {k: round(v / max(total, 1), 4) for k, v in agree.items()},
            "agreement_partly_hidden": {k: round(v / max(hidden, 1), 4) for k, v in agree_hidden.items()}}


def short_exits(truth_paths: list[Path], grace_s: float = 0.75) -> dict[str, int]:
    """Where the truth's notion of a stay and the product's differ. The truth's stay is a run of frames (25/s)
    with the person's true floor point in the zone: one frame outside ends it, and the bare-head condition with
    it. The product sees 3 samples a second and keeps a stay through exits of up to ``grace_s`` (box jitter at a
    zone's edge), so an exit shorter than a sample period cannot be seen at all, and a longer one within the
    grace is bridged. Counted here from the truth alone: the exits of at most ``grace_s``, those shorter than a
    sample at 3/s, violations in both stays around such an exit (the truth counts two, the product one), and
    bare spells that reach the dwell only across one, or reach it earlier than the later stay's violation can be
    matched (the product's rule raises an event the truth does not have, and may miss the later one)."""
    from edge.config import load_camera

    out = {"exits_within_grace": 0, "exits_shorter_than_a_sample": 0, "violations_split_by_an_exit": 0,
           "bare_spells_joined_by_an_exit": 0}
    for tp in truth_paths:
        truth = json.loads(tp.read_text())
        dt = 1.0 / truth["fps"]
        camera = load_camera(tp.parent / truth["camera"])
        zones = {z.name: np.array(z.polygon, np.float32) for z in camera.zones if z.kind == "hat_required"}
        frames_in: dict[tuple[int, str], list[int]] = {}
        for i, fr in enumerate(truth["frames"]):
            for o in fr["objects"]:
                if o["label"] != "person":
                    continue
                for name, poly in zones.items():
                    if cv2.pointPolygonTest(poly, (float(o["floor_uv"][0]), float(o["floor_uv"][1])), False) >= 0:
                        frames_in.setdefault((o["track_id"], name), []).append(i)
        for (tid, name), idx in frames_in.items():
            runs: list[list[int]] = []
            for i in idx:
                if runs and i == runs[-1][1] + 1:
                    runs[-1][1] = i
                else:
                    runs.append([i, i])
            mine = [c for c in truth["conditions"] if c["type"] == "missing_chef_hat" and c["track_id"] == tid
                    and c["zone"] == name]
            viols = [v for v in truth["violations"] if v["type"] == "missing_chef_hat" and v["track_id"] == tid
                     and v["zone"] == name]
            for a, b in pairwise(runs):
                gap = (b[0] - a[1] - 1) * dt
                if gap > grace_s:
                    continue
                out["exits_within_grace"] += 1
                out["exits_shorter_than_a_sample"] += gap < 1 / 3
                before = [v for v in viols if a[0] * dt - dt / 2 <= v["start_s"] <= (a[1] + 1) * dt]
                after = [v for v in viols if b[0] * dt - dt / 2 <= v["start_s"] <= (b[1] + 1) * dt]
                out["violations_split_by_an_exit"] += bool(before and after)
                ends = [c for c in mine if abs(c["end_s"] - (a[1] + 1) * dt) < dt / 2]
                starts = [c for c in mine if abs(c["start_s"] - b[0] * dt) < dt / 2]
                if not (ends and starts) or before:
                    continue
                # Joined, the spell reaches the dwell at joined_alarm: an event the truth has no violation for,
                # or one earlier than the second stay's violation allows (a false event and a miss).
                joined_alarm = ends[0]["start_s"] + float(camera.rules.missing_chef_hat_after_s)
                if joined_alarm <= starts[0]["end_s"] and (not after or joined_alarm < after[0]["alarm_s"] - EARLY_S):
                    out["bare_spells_joined_by_an_exit"] += 1
    return out


def decode_share(truth_path: Path) -> float:
    """CPU seconds per video second of decoding alone (the floor under any detector)."""
    from edge.frames import decode_frames, open_video

    truth = json.loads(truth_path.read_text())
    c0 = time.process_time()
    container = open_video(truth_path.parent / truth["video"])
    try:
        for _ in decode_frames(container):
            pass
    finally:
        container.close()
    return (time.process_time() - c0) / float(truth["duration_s"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=32)
    ap.add_argument("--seed", type=int, default=8111)
    ap.add_argument("--size", default="960x540")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--model", type=Path, default=None, help="ONNX model (default: the shipped one)")
    ap.add_argument("--detect-fps", type=float, default=None, help="override the camera files' rate")
    ap.add_argument("--oracle", action="store_true", help="the truth's boxes instead of a model (rules only)")
    ap.add_argument("--free-bins", action="store_true", help="also run the model-free bin mode")
    ap.add_argument("--floor-points", action="store_true",
                    help="also: zone agreement of floor-point estimates with the truth's floor points")
    ap.add_argument("--tolerance", type=float, default=TOLERANCE_S,
                    help="seconds around the dwell within which a case is borderline (the 'tolerant' figures; "
                         "default %(default)s)")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    ap.add_argument("-v", "--verbose", action="store_true", help="list missed and false events")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    analyze_log = logging.getLogger("edge.analyze")
    analyze_log.setLevel(logging.INFO)
    analyze_log.addHandler(RUN_COUNTS)
    width, height = (int(x) for x in args.size.split("x"))
    truths = clip_set(args.seed, args.clips, width, height, args.seconds)
    model = None
    if not args.oracle:
        from edge.kitchen.build import KITCHEN_MODEL_CONF
        from models import OnnxDetector, default_model_path

        model = OnnxDetector(args.model or default_model_path(), conf=KITCHEN_MODEL_CONF, iou=0.45, threads=1)
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "versions": versions(), "clips": len(truths),
                              "seed": args.seed,
                              "size": args.size, "seconds": args.seconds,
                              "detector": "oracle (truth boxes)" if args.oracle else str(args.model or "shipped")}
    modes = [("model", False)] + ([("model-free bins", True)] if args.free_bins else [])
    for mode, free in modes:
        total = {"missing_chef_hat": Score(), "uncovered_bin": Score()}
        tolerant = {"missing_chef_hat": Score(), "uncovered_bin": Score()}
        clips: dict[str, list[dict[str, Any]]] = {}
        cpu = video = 0.0
        RUN_COUNTS.samples = RUN_COUNTS.runs = 0
        for k, tp in enumerate(truths):
            truth = json.loads(tp.read_text())
            events, c, v = run_clip(tp, model, args.oracle, free, args.detect_fps)
            cpu += c
            video += v
            kinds = {"uncovered_bin"} if free else {"missing_chef_hat", "uncovered_bin"}
            clips[truth["name"]] = events
            for kind in kinds:
                total[kind].add(score_clip(truth, events, {kind}))
                tolerant[kind].add(score_clip(truth, events, {kind}, args.tolerance))
            print(f"[{mode}] {k + 1}/{len(truths)} {truth['name']}: {len(events)} events, "
                  f"{sum(1 for x in truth['violations'] if x['type'] in kinds)} violations, "
                  f"CPU {c / v:.3f} s/s", file=sys.stderr)
        both = Score()
        for kind, sc in total.items():
            if free and kind == "missing_chef_hat":
                continue
            both.add(sc)
        res: dict[str, Any] = {kind: sc.summary() for kind, sc in total.items()
                               if not (free and kind == "missing_chef_hat")}
        res["all"] = both.summary()
        res[f"tolerant_{args.tolerance:g}s"] = {kind: sc.summary() for kind, sc in tolerant.items()
                                               if not (free and kind == "missing_chef_hat")}
        res["cpu_share"] = round(cpu / video, 3)
        if RUN_COUNTS.samples:
            res["samples_per_s"] = round(RUN_COUNTS.samples / video, 2)
            res["model_runs_per_s"] = round(RUN_COUNTS.runs / video, 2)
        if args.verbose:
            res["missed"] = both.missed
            res["false"] = both.false_events
            res["events"] = clips  # every clip's events, to re-score (score_clip) without running again
        report[mode] = res
    if args.floor_points:
        report["floor_points"] = floor_point_agreement(truths)
    report["truth_stays_vs_grace"] = short_exits(truths)
    report["decode_only_cpu_share"] = round(statistics.mean(decode_share(tp) for tp in truths[:4]), 3)
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
