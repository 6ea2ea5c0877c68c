"""Speed and memory of the falling-object pipeline, as ratios measured in one run.

    python -m benchmarks.falling_speed                  # 1080p25 and 1440p25 generated clips
    python -m benchmarks.falling_speed --seconds 10

For each clip, in the same process and one after the other: (a) a plain PyAV decode loop, (b) the falling
pipeline (PyAV decode → FallingDetector with the scene's calibration, OpenCV on one thread as the edge worker
runs it; --opencv-threads -1 for OpenCV's default pool), (c) the naive OpenCV pipeline
(cv2.VideoCapture → MOG2 → contours → nearest-neighbour tracks). Frames per second of each (wall clock, best
of --repeat) and the ratios (b)/(a) and (b)/(c); also CPU milliseconds per frame (all threads), which do not
depend on what else the machine is doing and give the cameras one core can carry at 25 fps. Peak memory is
the maximum resident set of a fresh process running (b) alone: one camera's worker. Clips are generated
once into data/bench/ (ignored by git).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.environment import versions


def make_clip(root: Path, width: int, height: int, seconds: float, seed: int, distractors: list[str],
              throws: int = 2) -> Path:
    from edgewatch.scenes.falling import random_spec, render_scene

    name = f"speed-{width}x{height}-{int(seconds)}s-s{seed}-{'-'.join(distractors)}"
    if throws != 2:
        name += f"-t{throws}"
    truth = root / f"{name}.truth.json"
    if not truth.exists():
        print(f"generating {name} (once) …", file=sys.stderr)
        spec = random_spec(seed, width=width, height=height, duration_s=seconds, n_throws=throws,
                           distractors=distractors)
        render_scene(spec, root, name)
    return truth


def plain_decode(video: Path) -> int:
    import av

    with av.open(str(video)) as c:
        c.streams.video[0].thread_type = "AUTO"
        n = 0
        for frame in c.decode(video=0):
            frame.planes[0]  # touch the luma plane as the pipeline does
            n += 1
    return n


def pipeline(video: Path, calibration: Path, opencv_threads: int = 1, look_back: bool = True) -> tuple[int, int]:
    """One camera's worker: decode → detector, with OpenCV's thread pool as the edge worker sets it (one
    thread: edge/runtime/worker.py; the cores are shared out by running a worker per camera). OpenCV's default
    pool measured between −0.1 and +0.9 ms of CPU per 1080p frame dearer (docs/benchmarks.md). The previous
    setting is restored, so the naive pipeline keeps OpenCV's default."""
    import cv2

    from calibration import load_calibration
    from edge.falling.detector import FallingDetector, FallingParams
    from edge.frames import decode_frames, open_video

    threads = cv2.getNumThreads()
    cv2.setNumThreads(opencv_threads)
    try:
        det = FallingDetector("speed", load_calibration(calibration), FallingParams(look_back=look_back))
        events = 0
        n = 0
        container = open_video(video)
        try:
            for frame in decode_frames(container):
                events += len(det.process(frame))
                n += 1
        finally:
            container.close()
        events += len(det.finish())
    finally:
        cv2.setNumThreads(threads)
    return n, events


def naive(video: Path) -> int:
    from benchmarks.naive import run_naive

    return run_naive(str(video))[1]


def timed(fn: Any, *args: Any) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of all this process's threads, result)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    return time.perf_counter() - t0, time.process_time() - c0, out


def peak_rss_mb(video: Path, calibration: Path, look_back: bool = True) -> float:
    """Peak RSS of a fresh interpreter running one camera's pipeline over the clip."""
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across execve, so a child started by this
    # (large) process would report the parent's peak.
    code = (
        "from benchmarks.falling_speed import pipeline; from pathlib import Path; "
        f"pipeline(Path({str(video)!r}), Path({str(calibration)!r}), look_back={look_back}); "
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("data/bench"))
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--sizes", default="1920x1080,2560x1440")
    ap.add_argument("--seed", type=int, default=77)
    ap.add_argument("--repeat", type=int, default=2, help="best of N for each measurement")
    ap.add_argument("--distractors", default="trees,birds,lighting,jitter,noise",
                    help="distractors in the generated clip (add rain for the worst case)")
    ap.add_argument("--throws", type=int, default=2,
                    help="objects falling in the generated clip; 0: the steady cost of a camera where nothing "
                         "falls (each event adds its metric fit, ~0.13 s of CPU)")
    ap.add_argument("--opencv-threads", type=int, default=1,
                    help="OpenCV threads in the falling pipeline: 1 as the edge worker sets it, -1 OpenCV's default")
    ap.add_argument("--compare-look-back", action="store_true",
                    help="also run the pipeline without looking back for a fall's start (its cost in CPU and memory)")
    args = ap.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in args.sizes.split(","):
        w, h = (int(x) for x in size.split("x"))
        truth_path = make_clip(args.data, w, h, args.seconds, args.seed, args.distractors.split(","), args.throws)
        truth = json.loads(truth_path.read_text())
        video, cal = truth_path.parent / truth["video"], truth_path.parent / truth["calibration"]
        best: dict[str, float] = {}
        cpu: dict[str, float] = {}
        frames = 0
        events = 0
        row_extra: dict[str, Any] = {}
        for _ in range(args.repeat):
            runs: tuple[tuple[str, Any, tuple[Any, ...]], ...] = (
                ("decode", plain_decode, (video,)),
                ("pipeline", pipeline, (video, cal, args.opencv_threads)),
                ("naive", naive, (video,)),
            )
            if args.compare_look_back:
                runs += (("no_look_back", pipeline, (video, cal, args.opencv_threads, False)),)
            for key, fn, fargs in runs:
                dt, dc, out = timed(fn, *fargs)
                if key == "decode":
                    frames = out
                elif key == "pipeline":
                    events = out[1]
                elif key == "no_look_back":
                    row_extra["events_no_look_back"] = out[1]
                best[key] = min(best.get(key, 1e9), dt)
                cpu[key] = min(cpu.get(key, 1e9), dc)
        fps = {k: frames / v for k, v in best.items()}
        cpu_ms = {k: 1000.0 * v / frames for k, v in cpu.items()}
        row = {
            "size": size,
            "distractors": args.distractors,
            "throws": args.throws,
            "opencv_threads": args.opencv_threads,
            "frames": frames,
            "events": events,
            "decode_fps": round(fps["decode"], 1),
            "pipeline_fps": round(fps["pipeline"], 1),
            "naive_fps": round(fps["naive"], 1),
            "pipeline_vs_decode": round(fps["pipeline"] / fps["decode"], 3),
            "pipeline_vs_naive": round(fps["pipeline"] / fps["naive"], 2),
            "cpu_ms_per_frame": {k: round(v, 2) for k, v in cpu_ms.items()},
            "cpu_pipeline_vs_decode": round(cpu_ms["decode"] / cpu_ms["pipeline"], 3),
            "cameras_at_25fps_per_core": round(1000.0 / (25.0 * cpu_ms["pipeline"]), 2),
            "peak_rss_mb": round(peak_rss_mb(video, cal), 1),
        }
        if args.compare_look_back:
            row.update(row_extra)
            row["cpu_look_back_vs_without"] = round(cpu_ms["pipeline"] / cpu_ms["no_look_back"], 3)
            row["peak_rss_mb_no_look_back"] = round(peak_rss_mb(video, cal, look_back=False), 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(json.dumps({"date": time.strftime("%Y-%m-%d"), "versions": versions(), "cpu_count": _cpus(),
                      "self_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "rows": rows}, indent=2))
    return 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    raise SystemExit(main())
