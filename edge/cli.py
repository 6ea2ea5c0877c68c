"""`edgewatch analyze` (offline analysis of one video file) and `edgewatch edge` (the edge runtime)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.config import CameraConfig, load_camera
from edgewatch.errors import UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    _add_analyze(sub)
    _add_edge(sub)


def _add_edge(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "edge",
        help="run all cameras of one edge box (RTSP/file ingest, detection, evidence clips, MQTT delivery)",
        description="Run one worker process per camera of edge.yaml: ingest, detect, cut evidence clips, spool "
        "them to disk and deliver them over MQTT until the server acknowledges. Stops cleanly on SIGTERM/Ctrl-C. "
        "Use -v to see connections, events and deliveries.",
    )
    p.add_argument("--config", type=Path, required=True, help="edge.yaml (see examples/edge.yaml)")
    p.add_argument("--check", action="store_true", help="validate the configuration and exit")
    p.set_defaults(func=run_edge)


def run_edge(args: argparse.Namespace) -> int:
    import logging

    from edge.runtime.config import load_edge_config

    config = load_edge_config(args.config)
    if args.check:
        print(f"{args.config}: OK: site {config.site}, {len(config.cameras)} camera(s): "
              + ", ".join(c.camera_id for c in config.cameras))
        return 0
    from edge.runtime.supervisor import Supervisor
    from edgewatch import __version__

    level = logging.getLogger().getEffectiveLevel()
    return Supervisor(config, level, __version__).run()


def _add_analyze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="analyse one video file offline, one JSON event per line on stdout",
        description="Run a detector over a recorded video and print one contract event JSON per line on "
        "stdout; progress and logs go to stderr. Exit status 0 on success, 2 on bad input. The kitchen detector "
        "(missing_chef_hat, uncovered_bin) needs a camera file with zones (see examples/kitchen-camera.yaml) "
        "and runs its model (the camera's `model:`, else the shipped one) on one thread at `detect_fps`.",
    )
    p.add_argument("video", type=Path, help="video file (MP4, MKV, TS, …)")
    p.add_argument("--detector", choices=["falling", "kitchen"], default=None,
                   help="which detector (default: the camera file's, else falling)")
    p.add_argument("--calibration", type=Path, help="facade calibration YAML: adds the release floor and column")
    p.add_argument("--camera", type=Path,
                   help="camera YAML (camera_id, pre/post roll; falling: calibration; kitchen: zones, rules, "
                        "model, detect_fps)")
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
