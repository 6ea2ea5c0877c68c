"""Offline analysis of one video file: the engine behind ``edgewatch analyze``."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from edge.clips import cut_clip
from edge.config import CameraConfig
from edge.events import Event
from edge.falling.detector import FallingDetector
from edge.frames import DecodeStats, decode_frames, open_video
from edgewatch.errors import UserError
from edgewatch.progress import Progress

if TYPE_CHECKING:
    from edge.kitchen.detections import BoxDetector
    from edge.kitchen.detector import KitchenDetector

log = logging.getLogger(__name__)

def file_start_time(path: Path, metadata: dict[str, str] | None = None) -> datetime:
    """Wall clock of media time 0: the container's ``creation_time`` tag (cameras and NVRs write it), else the
    file's modification time."""
    tag = (metadata or {}).get("creation_time")
    if tag:
        try:
            parsed = datetime.fromisoformat(tag.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            log.warning("%s: unreadable creation_time %r; using the file's modification time", path, tag)
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def iter_events(
    video: Path,
    camera: CameraConfig,
    calibration_path: Path | None,
    on_progress: Callable[[int, int, int], None] | None = None,
    stats: DecodeStats | None = None,
    model: BoxDetector | None = None,
) -> Iterator[Event]:
    """Decode ``video`` and yield the detector's events as they complete.

    ``model``: the kitchen detector's object detector, instead of the camera's model file (benchmarks).
    """
    container = open_video(video)
    stream = container.streams.video[0]
    total = int(stream.frames or 0)
    if not total and stream.duration and stream.average_rate and stream.time_base:
        total = int(float(stream.duration * stream.time_base) * float(stream.average_rate))
    start = file_start_time(video, dict(container.metadata))
    if camera.detector == "falling":
        cal = None
        path = calibration_path or camera.calibration
        if path is not None:
            from calibration import load_calibration

            cal = load_calibration(path)
        detector: FallingDetector | KitchenDetector = FallingDetector(camera.camera_id, cal, stream_start=start)
    else:
        from edge.kitchen.build import kitchen_detector

        try:
            detector = kitchen_detector(camera, start, model)
        except BaseException:
            container.close()
            raise
    n_events = 0
    frame_index = -1
    try:
        try:
            for frame in decode_frames(container, stats=stats):
                frame_index = frame.index
                for event in detector.process(frame):
                    n_events += 1
                    yield event
                if on_progress is not None:
                    on_progress(frame.index + 1, total, n_events)
        except ValueError as exc:
            raise UserError(f"{video}: {exc}") from None
        for event in detector.finish():
            n_events += 1
            yield event
    finally:
        container.close()
    if frame_index < 0:
        raise UserError(f"{video}: no frame could be decoded (corrupt or truncated file?)")
    if isinstance(detector, FallingDetector):
        log.info("%s: %d frames, %d events; rejected tracks: %s; skipped frames: %s", video, frame_index + 1,
                 n_events, dict(detector.rejections), dict(detector.skipped))
    else:
        log.info("%s: %d frames, %d events; %d samples at %.1f/s, model ran on %d (the rest unchanged)", video,
                 frame_index + 1, n_events, detector.samples, camera.detect_fps, detector.model_runs)


def analyze(
    video: Path,
    camera: CameraConfig,
    calibration_path: Path | None,
    clips_dir: Path | None,
    out: TextIO,
    show_progress: bool = True,
) -> int:
    """Write one JSON event per line to ``out``; returns the number of events."""
    progress = Progress(0, "frames") if show_progress else None

    def on_progress(done: int, total: int, events: int) -> None:
        if progress is not None:
            progress.total = total
            progress.update(done, events=events)

    count = 0
    stats = DecodeStats()
    for event in iter_events(video, camera, calibration_path, on_progress, stats):
        if clips_dir is not None:
            event.clip = cut_clip(video, max(0.0, event.start - camera.pre_roll_s), event.end + camera.post_roll_s,
                                  clips_dir / f"{event.event_id}.mp4")
        out.write(json.dumps(event.to_json(), separators=(",", ":")) + "\n")
        out.flush()
        count += 1
    if progress is not None:
        progress.close()
    if stats.corrupt_packets:
        # Events from the readable parts were written; the exit status still tells a script the file is damaged.
        raise UserError(f"{video}: {stats.corrupt_packets} corrupt or unreadable packet(s) skipped; "
                        f"{count} event(s) from the readable parts were written")
    return count
