"""H.264 MP4 writing for generated scenes, through PyAV (libx264)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np


class H264Writer:
    """Write BGR or grey uint8 frames to an H.264 MP4 at a constant frame rate.

    The stream uses yuv420p, a fixed GOP (``gop_s`` seconds) and no B-frames, like a typical IP camera, so
    that clips cut from it by remuxing start on a keyframe.

    >>> with H264Writer("out.mp4", 1280, 720, fps=25) as w:  # doctest: +SKIP
    ...     w.write(np.zeros((720, 1280, 3), np.uint8))
    """

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        fps: float = 25.0,
        crf: int = 23,
        gop_s: float = 2.0,
        preset: str = "veryfast",
    ) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"frame size must be even for yuv420p, got {width}x{height}")
        self.path = Path(path)
        self.width, self.height = width, height
        self.fps = Fraction(fps).limit_denominator(1001)
        self._container = av.open(str(self.path), mode="w")
        stream = self._container.add_stream("libx264", rate=self.fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = max(1, round(float(self.fps) * gop_s))
        stream.codec_context.max_b_frames = 0
        stream.options = {"crf": str(crf), "preset": preset, "tune": "zerolatency", "sc_threshold": "0"}
        self._stream = stream
        self.frames_written = 0

    def write(self, image: np.ndarray) -> None:
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame is {image.shape[1]}x{image.shape[0]}, writer is {self.width}x{self.height}")
        fmt = "gray" if image.ndim == 2 else "bgr24"
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=fmt)
        frame.pts = self.frames_written
        frame.time_base = 1 / self.fps
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> None:
        if self._container is None:
            return
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        self._container = None  # type: ignore[assignment]

    def __enter__(self) -> H264Writer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
