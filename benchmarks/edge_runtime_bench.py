"""Edge runtime cost per camera, detector off: ingest (demux + decode + luma view) + encoded-packet ring buffer
+ evidence clip cut, against a plain PyAV decode loop; clip cut latency; ring memory for a 10 s pre-roll at
1080p.

    python -m benchmarks.edge_runtime_bench            # renders data/bench/edge-1080p.mp4 the first time

Results (with the command and date) go in docs/edge.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import av

from edge.frames import luma_view
from edge.runtime.config import SourceConfig
from edge.runtime.evidence import snapshot_jpeg
from edge.runtime.ingest import CameraStream
from edge.runtime.ring import PacketRing, remux_clip

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "data" / "bench"


def bench_clip(seed: int = 7) -> Path:
    """A 12 s 1920x1080 falling scene (rendered once, kept in data/bench/, ignored by git)."""
    path = BENCH_DIR / "edge-1080p.mp4"
    if not path.exists():
        from edgewatch.scenes.falling import random_spec, render_scene

        print(f"rendering {path} (once) …", flush=True)
        render_scene(random_spec(seed, width=1920, height=1080, duration_s=12), BENCH_DIR, "edge-1080p")
    return path


def plain_decode(path: Path) -> tuple[float, int, float]:
    """CPU seconds, frames and media seconds of `for frame in container.decode(stream)`, with the luma view."""
    cpu0 = time.process_time()
    n = 0
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        for frame in c.decode(s):
            luma_view(frame)  # as the runtime hands frames to a detector
            n += 1
        media = float(s.duration * s.time_base) if s.duration and s.time_base else n / 25.0
    return time.process_time() - cpu0, n, media


def runtime_loop(path: Path, pre_roll_s: float, cut_every_s: float | None) -> dict[str, float]:
    """The worker's ingest + ring (detector off), with a clip cut (and, apart, a snapshot) every ``cut_every_s``
    of media time once the pre-roll is full. CPU of the cuts and snapshots is counted separately."""
    stream = CameraStream("bench", SourceConfig(url=str(path), replay="fast"), threading.Event())
    ring = PacketRing(keep_s=pre_roll_s)
    cuts: list[float] = []
    snaps: list[float] = []
    peak_ring = 0
    next_cut = pre_roll_s if cut_every_s else float("inf")
    cut_cpu = snap_cpu = 0.0
    clip_bytes = 0
    cpu0 = time.process_time()
    for item in stream.run():
        if item.packet is not None:
            ring.append(item.packet)
            peak_ring = max(peak_ring, ring.bytes)
        t = stream.stats.last_t_s
        if t >= next_cut and cut_every_s:
            c0, w0 = time.process_time(), time.perf_counter()
            clip = remux_clip(ring.select(t - pre_roll_s, t))
            cuts.append(time.perf_counter() - w0)
            c1, w1 = time.process_time(), time.perf_counter()
            cut_cpu += c1 - c0
            snapshot_jpeg(clip.data, clip.start_s, t - 1.0)  # taken by the delivery thread in the worker
            snaps.append(time.perf_counter() - w1)
            snap_cpu += time.process_time() - c1
            clip_bytes = len(clip.data)
            next_cut += cut_every_s
    cpu = time.process_time() - cpu0
    return {"cpu_s": cpu - cut_cpu - snap_cpu, "cut_cpu_s": cut_cpu, "snap_cpu_s": snap_cpu,
            "frames": stream.stats.frames, "media_s": stream.stats.last_t_s + 0.04,
            "cut_ms_median": 1000 * statistics.median(cuts) if cuts else 0.0,
            "cut_ms_max": 1000 * max(cuts) if cuts else 0.0,
            "snapshot_ms_median": 1000 * statistics.median(snaps) if snaps else 0.0,
            "cuts": len(cuts), "ring_peak_bytes": peak_ring, "clip_bytes": clip_bytes}


def child_rss(mode: str, path: Path, pre_roll_s: float) -> float:
    """Max resident set (MB) of a fresh process running one camera's ``mode`` (plain | runtime) over ``path``."""
    code = ("import resource, sys; from pathlib import Path; from benchmarks import edge_runtime_bench as b; "
            f"p = Path({str(path)!r}); "
            + ("b.plain_decode(p)" if mode == "plain" else f"b.runtime_loop(p, {pre_roll_s}, 1.0)")
            + "; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="video to use (default: the rendered 1080p bench clip)")
    parser.add_argument("--pre-roll", type=float, default=10.0, help="pre-roll seconds (ring window)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each loop; the fastest counts")
    args = parser.parse_args()
    path = args.video or bench_clip()
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {s.codec_context.name} "
              f"{s.width}x{s.height} {s.average_rate} fps, {path.stat().st_size * 8 / 1e6 / 12:.1f} Mbit/s")
    cpu_plain, frames, media = min((plain_decode(path) for _ in range(args.repeat)), key=lambda r: r[0])
    bare = min((runtime_loop(path, args.pre_roll, None) for _ in range(args.repeat)), key=lambda r: r["cpu_s"])
    cut = min((runtime_loop(path, args.pre_roll, 1.0) for _ in range(args.repeat)), key=lambda r: r["cpu_s"])
    print(f"plain decode loop:             {cpu_plain / media:.3f} CPU-s per media-s "
          f"({1000 * cpu_plain / frames:.2f} ms/frame, {frames} frames)")
    print(f"runtime, ingest + ring:        {bare['cpu_s'] / bare['media_s']:.3f} CPU-s per media-s "
          f"({1000 * bare['cpu_s'] / bare['frames']:.2f} ms/frame) = {bare['cpu_s'] / cpu_plain:.2f}x plain")
    print(f"clip cut ({args.pre_roll:.0f} s pre-roll, remux in memory): median {cut['cut_ms_median']:.1f} ms, "
          f"max {cut['cut_ms_max']:.1f} ms, {1000 * cut['cut_cpu_s'] / max(1, cut['cuts']):.1f} CPU-ms each "
          f"({cut['cuts']} cuts, clip {cut['clip_bytes'] / 1e6:.2f} MB)")
    print(f"snapshot (seek + decode ≤ 1 GOP + JPEG): median {cut['snapshot_ms_median']:.0f} ms")
    print(f"ring buffer ({args.pre_roll:.0f} s + whole GOPs): peak {bare['ring_peak_bytes'] / 1e6:.2f} MB")
    rss_plain = child_rss("plain", path, args.pre_roll)
    rss_runtime = child_rss("runtime", path, args.pre_roll)
    print(f"max RSS of one camera's process: plain decode {rss_plain:.0f} MB, runtime with cuts "
          f"{rss_runtime:.0f} MB (+{rss_runtime - rss_plain:.0f} MB)")


if __name__ == "__main__":
    main()
