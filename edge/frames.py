"""Decoded frames as detectors see them: the luma plane as a zero-copy numpy view, and the media time.

Detectors use presentation timestamps, never frame counts: real cameras drop and duplicate frames.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from edgewatch.errors import UserError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Frame:
    """One decoded picture.

    ``luma`` is the Y plane (H×W uint8) viewed straight out of the decoder's buffer: no colour conversion and
    no copy. Never write to it. A detector may keep it (the falling detector keeps a second and a half of
    frames to look back on): the view holds the decoder's reference-counted buffer, which FFmpeg then does not
    reuse, so keeping a frame costs its memory, not a copy.
    """

    index: int
    t_s: float
    luma: np.ndarray
    keyframe: bool = False
    av_frame: av.VideoFrame | None = field(default=None, repr=False)

    @property
    def width(self) -> int:
        return int(self.luma.shape[1])

    @property
    def height(self) -> int:
        return int(self.luma.shape[0])

    def bgr(self) -> np.ndarray:
        """A BGR copy of the picture, for detectors that need colour (kitchen) and for snapshots."""
        if self.av_frame is None:
            return np.repeat(self.luma[:, :, None], 3, axis=2)
        return self.av_frame.to_ndarray(format="bgr24")


def luma_view(frame: av.VideoFrame) -> np.ndarray:
    """The Y plane of a planar YUV/grey frame as an H×W view of the decoder's buffer (row padding dropped)."""
    plane = frame.planes[0]
    if frame.format.name not in {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "gray",
                                 "nv12"}:
        # Unusual formats (10-bit, RGB): convert once; rare on cameras.
        return frame.to_ndarray(format="gray")
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : plane.width]


def open_video(path: str | Path) -> av.container.InputContainer:
    """Open a video file with errors a user can act on."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such file")
    if p.is_dir():
        raise UserError(f"{p}: is a directory, expected a video file")
    if p.stat().st_size == 0:
        raise UserError(f"{p}: the file is empty (0 bytes); was the recording interrupted?")
    try:
        container = av.open(str(p))
    except av.error.InvalidDataError as exc:
        raise UserError(f"{p}: not a video file FFmpeg can read ({exc.strerror or exc})") from exc
    except (av.error.FFmpegError, OSError) as exc:
        raise UserError(f"{p}: cannot open video: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise UserError(f"{p}: contains no video stream")
    return container


@dataclass
class DecodeStats:
    """What went wrong while decoding, for the caller to report."""

    corrupt_packets: int = 0
    duplicate_frames: int = 0


def decode_frames(
    container: av.container.InputContainer, threads: bool = True, stats: DecodeStats | None = None
) -> Iterator[Frame]:
    """Decode the first video stream, yielding frames with media time in seconds from the stream's start.

    Frames whose timestamp does not advance (duplicates) are dropped; corrupt packets are skipped with a
    warning rather than ending the stream. The iteration ends at the end of the file.
    """
    stream = container.streams.video[0]
    if threads:
        stream.thread_type = "AUTO"
    time_base = stream.time_base or av.time_base
    t0: float | None = None
    last_t = -float("inf")
    index = 0
    stats = stats if stats is not None else DecodeStats()
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.error.FFmpegError as exc:  # a damaged container: stop here, keep what was decoded
            stats.corrupt_packets += 1
            log.warning("stopping at an unreadable part of the file: %s", exc)
            break
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            stats.corrupt_packets += 1
            log.warning("skipping a corrupt packet at pts=%s (%d so far)", packet.pts, stats.corrupt_packets)
            continue
        for av_frame in frames:
            pts = av_frame.pts if av_frame.pts is not None else av_frame.dts
            if pts is None:
                continue
            t = float(pts * time_base)
            if t0 is None:
                t0 = t
            t -= t0
            if t <= last_t:
                stats.duplicate_frames += 1
                continue
            last_t = t
            yield Frame(index, t, luma_view(av_frame), bool(av_frame.key_frame), av_frame)
            index += 1
