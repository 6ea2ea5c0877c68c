"""`edgewatch generate`: synthetic scenes with ground truth (benchmarks, CI replay, kitchen training data)."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from edgewatch.errors import UserError

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "sample_videos"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="generate synthetic scenes with ground truth",
        description="Render deterministic synthetic scenes (MP4 + calibration or camera file + truth JSON). "
        "The same seed always gives the same scenes.",
    )
    p.add_argument("kind", choices=["falling", "kitchen", "samples", "kitchen-dataset"],
                   help="falling: facade scenes with throws and distractors; kitchen: kitchen scenes; "
                   "samples: rewrite the committed sample_videos/ sets; kitchen-dataset: YOLO training images")
    p.add_argument("--out", type=Path, help="output folder (samples: default sample_videos/)")
    p.add_argument("--count", type=int, default=8, help="number of scenes (or images for kitchen-dataset)")
    p.add_argument("--seed", type=int, default=0, help="first seed of the set")
    p.add_argument("--size", default="1280x720", help="frame size WxH (default 1280x720)")
    p.add_argument("--duration", type=float, help="seconds per scene (default: 10 falling, 20 kitchen)")
    p.add_argument("--imgsz", type=int, default=640,
                   help="kitchen-dataset: image width in pixels, 16:9 (default 640)")
    p.add_argument("--val-fraction", type=float, default=0.2,
                   help="kitchen-dataset: fraction of scenes held out for validation (default 0.2)")
    p.add_argument("--jobs", type=int, default=1,
                   help="kitchen-dataset: processes rendering side by side; the images are the same for any "
                   "number (default 1)")
    p.set_defaults(func=run)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise UserError(f"--size: expected WxH such as 1280x720, got {text!r}") from None
    if w < 64 or h < 64 or w % 2 or h % 2:
        raise UserError(f"--size: {w}x{h} must be even and at least 64x64")
    return w, h


def _progress(done: int, total: int) -> None:
    print(f"  {done}/{total}", file=sys.stderr, flush=True)


def _every(step: int) -> Callable[[int, int], None]:
    """Progress for many small items: a line every ``step`` items and at the end."""

    def report(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            _progress(done, total)

    return report


def run(args: argparse.Namespace) -> int:
    w, h = _size(args.size)
    if args.count < 1:
        raise UserError("--count must be at least 1")
    if args.kind == "samples":
        from edgewatch.scenes import falling, kitchen

        out = args.out or SAMPLES_DIR
        written = falling.write_samples(out / "falling") + kitchen.write_samples(out / "kitchen")
        print("\n".join(str(p) for p in written))
        return 0
    if args.out is None:
        raise UserError(f"generate {args.kind}: --out DIR is required")
    if args.kind == "falling":
        from edgewatch.scenes.falling import generate_set

        paths = generate_set(args.out, args.count, args.seed, width=w, height=h,
                             duration_s=args.duration or 10.0, progress=_progress)
    elif args.kind == "kitchen":
        from edgewatch.scenes.kitchen import generate_set as generate_kitchen

        paths = generate_kitchen(args.out, args.count, args.seed, width=w, height=h,
                                 duration_s=args.duration or 20.0, progress=_progress)
    else:
        from edgewatch.scenes.kitchen import export_yolo_dataset

        if not 64 <= args.imgsz <= 4096:
            raise UserError(f"--imgsz must be between 64 and 4096, got {args.imgsz}")
        if not 0.0 <= args.val_fraction < 1.0:
            raise UserError(f"--val-fraction must be in [0, 1), got {args.val_fraction}")
        if args.jobs < 1:
            raise UserError(f"--jobs must be at least 1, got {args.jobs}")
        data_yaml = export_yolo_dataset(args.out, args.count, args.seed, imgsz=args.imgsz,
                                        val_fraction=args.val_fraction, jobs=args.jobs, progress=_every(50))
        # Provenance for `edgewatch train`, which copies it into the model's manifest; Ultralytics ignores it.
        with data_yaml.open("a") as f:
            f.write(yaml.safe_dump({
                "description": f"{args.count} synthetic kitchen images (edgewatch.scenes.kitchen), seed {args.seed}",
                "generated_by": shlex.join(["edgewatch", "generate", "kitchen-dataset", "--out", str(args.out),
                                            "--count", str(args.count), "--seed", str(args.seed),
                                            "--imgsz", str(args.imgsz), "--val-fraction", str(args.val_fraction)]),
            }, sort_keys=False, width=1000))
        paths = [data_yaml]
    print("\n".join(str(p) for p in paths))
    return 0
