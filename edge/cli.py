"""`edgewatch analyze`: offline analysis of one video file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.config import CameraConfig, load_camera
from edgewatch.errors import UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="analyse one video file offline, one JSON event per line on stdout",
        description="Run a detector over a recorded video and print one contract event JSON per line on "
        "stdout; progress and logs go to stderr. Exit status 0 on success, 2 on bad input.",
    )
    p.add_argument("video", type=Path, help="video file (MP4, MKV, TS, …)")
    p.add_argument("--detector", choices=["falling", "kitchen"], default=None,
                   help="which detector (default: the camera file's, else falling)")
    p.add_argument("--calibration", type=Path, help="facade calibration YAML: adds the release floor and column")
    p.add_argument("--camera", type=Path, help="camera YAML (camera_id, zones, pre/post roll, calibration)")
    p.add_argument("--clips", type=Path, metavar="DIR", help="also cut an evidence clip per event into DIR")
    p.add_argument("--jsonl", action="store_true", help="JSON lines on stdout (the only output format)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge.analyze import analyze

    if args.camera is not None:
        camera = load_camera(args.camera)
        if args.detector and args.detector != camera.detector:
            camera = camera.model_copy(update={"detector": args.detector})
    else:
        camera = CameraConfig(camera_id=_camera_id_from(args.video), detector=args.detector or "falling")
    if args.calibration is not None and not args.calibration.exists():
        raise UserError(f"{args.calibration}: no such calibration file")
    analyze(args.video, camera, args.calibration, args.clips, sys.stdout, show_progress=not args.no_progress)
    return 0


def _camera_id_from(video: Path) -> str:
    stem = "".join(c if c.isalnum() or c in "._-" else "-" for c in video.stem).strip("-._")
    return stem or "camera"
