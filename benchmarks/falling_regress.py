"""Record what the falling-object detector finds on the generated scenes, and compare two records.

    python -m benchmarks.falling_regress record before.json            # all scenes under data/bench/
    python -m benchmarks.falling_regress record after.json
    python -m benchmarks.falling_regress compare before.json after.json

A guard for speed work on the detector: per scene it keeps every event (track, confidence, release storey),
the number of candidates and a digest of their exact values frame by frame, and the frames the motion stage
skipped. ``compare`` says which scenes differ and how; a pure refactor must give identical records.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any


def record_scene(truth_path: str) -> dict[str, Any]:
    import numpy as np

    from calibration import load_calibration
    from edge.falling.detector import FallingDetector
    from edge.falling.motion import Candidates, MotionDetector
    from edge.frames import decode_frames, open_video

    seen: list[Candidates] = []
    motion_process = getattr(MotionDetector, "_unspied_process", MotionDetector.process)

    def spy(self: MotionDetector, luma: np.ndarray) -> Candidates:  # keeps each frame's candidates
        cands = motion_process(self, luma)
        seen.append(cands)
        return cands

    # In this worker process only (the pool runs one scene at a time), the original kept for the next scene.
    MotionDetector._unspied_process = motion_process  # type: ignore[attr-defined]
    MotionDetector.process = spy  # type: ignore[method-assign]

    truth_file = Path(truth_path)
    truth = json.loads(truth_file.read_text())
    cal = load_calibration(truth_file.parent / truth["calibration"])
    det = FallingDetector(truth["name"], cal)
    digest = hashlib.sha256()
    n_cands = 0
    events: list[dict[str, Any]] = []
    t0 = time.process_time()
    container = open_video(truth_file.parent / truth["video"])
    try:
        for frame in decode_frames(container):
            seen.clear()
            out = det.process(frame)
            for c in seen:
                n_cands += len(c)
                digest.update(np.float64(frame.t_s).tobytes())
                for arr in (c.u, c.v, c.area_px, c.contrast, c.length_px):
                    digest.update(np.ascontiguousarray(arr, np.float64).tobytes())
            events += [_event(e, frame.t_s) for e in out]
    finally:
        container.close()
    events += [_event(e, None) for e in det.finish()]
    return {
        "name": truth_file.name,
        "frames": det.frames,
        "candidates": n_cands,
        "candidate_digest": digest.hexdigest()[:16],
        "skipped": dict(det.skipped),
        "rejections": dict(det.rejections),
        "events": events,
        "cpu_s": round(time.process_time() - t0, 2),
    }


def _event(ev: Any, emitted_at: float | None) -> dict[str, Any]:
    rel = ev.release
    return {
        "emitted_at": emitted_at,
        "start": ev.start,
        "end": ev.end,
        "points": len(ev.track),
        "confidence": ev.confidence,
        "floor": rel.floor if rel else None,
        "track": [[p.t, p.u, p.v] for p in ev.track],
    }


def scenes(root: Path) -> list[Path]:
    return sorted(root.glob("falling-*/*.truth.json")) + sorted(root.glob("speed-*.truth.json"))


def record(out: Path, root: Path, workers: int, limit: int | None) -> None:
    paths = scenes(root)[:limit] if limit else scenes(root)
    results = []
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(workers) as pool:
        for i, r in enumerate(pool.imap(record_scene, [str(p) for p in paths]), 1):
            results.append(r)
            eta = (time.perf_counter() - t0) / i * (len(paths) - i)
            print(f"\r  {i}/{len(paths)} scenes, ETA {eta:.0f} s ", end="", file=sys.stderr)
    print(file=sys.stderr)
    out.write_text(json.dumps({"scenes": results}, indent=1))
    cpu = sum(r["cpu_s"] for r in results)
    frames = sum(r["frames"] for r in results)
    print(f"{len(results)} scenes, {frames} frames, {sum(len(r['events']) for r in results)} events, "
          f"detector+decode {1000 * cpu / max(frames, 1):.2f} CPU ms/frame -> {out}")


def compare(a_path: Path, b_path: Path) -> int:
    a = {s["name"]: s for s in json.loads(a_path.read_text())["scenes"]}
    b = {s["name"]: s for s in json.loads(b_path.read_text())["scenes"]}
    differ = 0
    for name in sorted(set(a) | set(b)):
        sa, sb = a.get(name), b.get(name)
        if sa is None or sb is None:
            print(f"{name}: only in {'after' if sa is None else 'before'}")
            differ += 1
            continue
        notes = []
        if sa["candidate_digest"] != sb["candidate_digest"]:
            notes.append(f"candidates {sa['candidates']} -> {sb['candidates']} (digest differs)")
        if sa["skipped"] != sb["skipped"]:
            notes.append(f"skipped {sa['skipped']} -> {sb['skipped']}")
        if sa["events"] != sb["events"]:
            ea = [(e["start"], e["end"], e["points"], e["floor"]) for e in sa["events"]]
            eb = [(e["start"], e["end"], e["points"], e["floor"]) for e in sb["events"]]
            notes.append(f"events {ea} -> {eb}" if ea != eb else "events differ in detail (track/confidence)")
        if notes:
            differ += 1
            print(f"{name}: " + "; ".join(notes))
    print(f"{differ} of {len(set(a) | set(b))} scenes differ")
    return 1 if differ else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record", help="run the detector on every scene and write the record")
    rec.add_argument("out", type=Path)
    rec.add_argument("--data", type=Path, default=Path("data/bench"))
    rec.add_argument("--workers", type=int, default=2)
    rec.add_argument("--limit", type=int, help="only the first N scenes")
    cmp_ = sub.add_parser("compare", help="compare two records")
    cmp_.add_argument("before", type=Path)
    cmp_.add_argument("after", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "record":
        record(args.out, args.data, args.workers, args.limit)
        return 0
    return compare(args.before, args.after)


if __name__ == "__main__":
    raise SystemExit(main())
