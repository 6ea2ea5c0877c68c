"""Camera ingest with PyAV: demux → keep the encoded packet → decode, with reconnects, loops and pacing.

An RTSP source is read over TCP with socket timeouts; when the camera or the network drops, the stream is
reopened with a capped exponential back-off inside the same process. A file source is replayed at its recorded
speed (paced by media time) or as fast as decoding goes, once or in a loop.

Media time runs on one clock for the whole life of the worker, so the detector and the ring buffer never see
time go backwards: each new connection or pass starts after the previous one ended (and, for RTSP, no earlier
than the wall-clock time elapsed since the first frame, so ``started_at`` stays true across outages).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import av

from edge.frames import Frame, luma_view
from edge.runtime.backoff import Backoff
from edge.runtime.config import SourceConfig
from edge.runtime.ring import RingPacket, Segment

log = logging.getLogger(__name__)

StreamState = Literal["connecting", "up", "down", "ended"]


def redact(url: str) -> str:
    """``rtsp://user:pass@host/x`` → ``rtsp://user:***@host/x``: logs must not carry camera passwords."""
    return re.sub(r"(//[^/:@]*:)[^/@]*@", r"\1***@", url)


@dataclass
class IngestStats:
    packets: int = 0
    frames: int = 0
    corrupt_packets: int = 0
    dropped_frames: int = 0
    reconnects: int = 0
    connects: int = 0
    last_t_s: float = 0.0
    started_wall_s: float | None = None
    stream: StreamState = "connecting"
    """``connecting`` until the first packet; ``up`` while packets arrive; ``down`` after the stream was lost or
    the source could not be opened; ``ended`` when a file replayed once is over."""
    stream_since_wall_s: float | None = None


@dataclass
class Ingested:
    """One demuxed packet (None for a packet without any timestamp yet) and the frames it decoded to."""

    packet: RingPacket | None
    frames: list[Frame] = field(default_factory=list)


class _Handle:
    """An open input container shared by the segments cut from it (a resolution change starts a segment)."""

    def __init__(self, container: Any) -> None:
        self.container = container
        self.users = 0

    def close(self) -> None:
        self.users -= 1
        if self.users <= 0:
            self.container.close()


class _SharedContainer:
    """What a :class:`Segment` calls ``container``: closing it releases one user of the handle."""

    def __init__(self, handle: _Handle) -> None:
        self.handle = handle
        handle.users += 1

    def close(self) -> None:
        self.handle.close()


class CameraStream:
    """Iterate :meth:`run` for packets and frames until ``stop`` is set (or a non-looping file ends)."""

    def __init__(self, camera_id: str, source: SourceConfig, stop: threading.Event,
                 stats: IngestStats | None = None,
                 on_stream_change: Callable[[StreamState], None] | None = None) -> None:
        self.camera_id = camera_id
        self.source = source
        self.stop = stop
        self.stats = stats or IngestStats()
        self.on_stream_change = on_stream_change
        self._segment_number = 0
        self._clock_end_s = 0.0
        self._frame_interval_s = 0.04

    # --- opening --------------------------------------------------------------------------------------------

    def _open(self) -> Any:
        if self.source.is_rtsp:
            us = str(int(self.source.timeout_s * 1_000_000))
            options = {"rtsp_transport": "tcp", "timeout": us, "rw_timeout": us, "max_delay": "500000"}
            return av.open(self.source.url, options=options,
                           timeout=(self.source.timeout_s, self.source.timeout_s))
        return av.open(self.source.url)

    def _connect(self) -> Any | None:
        """Open the source, retrying with back-off; None once ``stop`` is set."""
        backoff = Backoff(initial_s=0.25, max_s=self.source.reconnect_max_s)
        while not self.stop.is_set():
            try:
                container = self._open()
                if not container.streams.video:
                    container.close()
                    raise ValueError("no video stream")
                return container
            except (av.error.FFmpegError, OSError, ValueError) as exc:
                self._set_stream("down")
                delay = backoff.next()
                if not self.source.is_rtsp:
                    delay = max(delay, 1.0)  # a file does not come back in a quarter of a second
                log.warning("%s: cannot open %s (%s); retrying in %.1f s", self.camera_id,
                            redact(self.source.url), exc, delay)
                self.stop.wait(delay)
        return None

    def _new_segment(self, handle: _Handle, stream: Any, t0_s: float, first_pts: int | None,
                     width: int, height: int) -> Segment:
        self._segment_number += 1
        tb = stream.time_base or Fraction(1, 90000)
        return Segment(self._segment_number, stream, _SharedContainer(handle), tb, t0_s, first_pts, width,
                       height)

    # --- the loop --------------------------------------------------------------------------------------------

    def run(self) -> Iterator[Ingested]:
        first = True
        empty_passes = Backoff(initial_s=0.25, max_s=self.source.reconnect_max_s)
        while not self.stop.is_set():
            container = self._connect()
            if container is None:
                return
            again = ""
            if not first and self.source.is_rtsp:
                self.stats.reconnects += 1
                again = f", reconnect #{self.stats.reconnects}"
            elif not first:
                again = f", pass #{self.stats.connects + 1}"
            self.stats.connects += 1
            stream = container.streams.video[0]
            log.info("%s: connected to %s (%s %dx%d)%s", self.camera_id, redact(self.source.url),
                     stream.codec_context.name, stream.codec_context.width, stream.codec_context.height, again)
            first = False
            packets_before = self.stats.packets
            ended_cleanly = yield from self._pass(container, stream)
            if self.stop.is_set():
                return
            if self.source.is_rtsp:
                self._set_stream("down")
            if self.stats.packets == packets_before:
                # Opens but sends nothing (a camera half up, an empty file): do not spin.
                self.stop.wait(empty_passes.next())
            else:
                empty_passes.reset()
            if not self.source.is_rtsp and ended_cleanly and not self.source.loop:
                log.info("%s: end of %s", self.camera_id, self.source.url)
                self._set_stream("ended")
                return
            if self.source.is_rtsp:
                log.warning("%s: stream %s ended; reconnecting", self.camera_id, redact(self.source.url))

    def _pass(self, container: Any, stream: Any) -> Generator[Ingested, None, bool]:
        """One connection or one pass over the file. Returns True at a clean end of file."""
        handle = _Handle(container)
        if self.stats.started_wall_s is None:
            self.stats.started_wall_s = time.time()
        t0 = self._clock_end_s
        if self.source.is_rtsp and self.stats.frames:
            t0 = max(t0, time.time() - self.stats.started_wall_s)
        seg = self._new_segment(handle, stream, t0, None, 0, 0)
        handle.users += 1  # the pass itself holds the container until it ends
        pace_wall0: float | None = None
        pace_t0 = 0.0
        last_pts: int | None = None
        last_frame_t: float | None = None
        held: list[av.Packet] = []
        clean = False
        packets = container.demux(stream)
        try:
            while not self.stop.is_set():
                try:
                    packet = next(packets)
                except StopIteration:
                    clean = True
                    break
                except (av.error.FFmpegError, OSError) as exc:
                    if self.source.is_rtsp:
                        log.warning("%s: stream lost: %s", self.camera_id, exc)
                    else:
                        self.stats.corrupt_packets += 1
                        log.warning("%s: unreadable data in %s, ending this pass: %s", self.camera_id,
                                    self.source.url, exc)
                        clean = True
                    break
                if packet.size == 0:
                    continue  # a flush packet at the end of the file
                self.stats.packets += 1
                if self.stats.stream != "up":
                    self._set_stream("up")
                frames, seg = self._decode(packet, seg, handle, stream)
                pts = packet.pts if packet.pts is not None else packet.dts
                if pts is None and last_pts is not None:
                    pts = last_pts + (packet.duration or self._interval_ticks(seg))
                out: RingPacket | None = None
                if pts is None:
                    # ffmpeg's RTSP client gives the first packet no timestamp until RTCP has synchronised:
                    # hold it and date it from the next one.
                    held.append(packet)
                else:
                    if seg.first_pts is None:
                        seg.first_pts = pts - len(held) * (packet.duration or self._interval_ticks(seg))
                    for h in held:
                        last_pts = (last_pts + self._interval_ticks(seg)) if last_pts is not None else seg.first_pts
                        yield Ingested(self._ring_packet(h, last_pts, seg))
                    held.clear()
                    out = self._ring_packet(packet, pts, seg)
                    last_pts = pts
                timed: list[Frame] = []
                for fr in frames:
                    t = self._frame_time(fr, seg, last_frame_t)
                    if t is None:
                        continue
                    if last_frame_t is not None and t <= last_frame_t:
                        self.stats.dropped_frames += 1
                        continue
                    if last_frame_t is not None and 0 < t - last_frame_t < 1.0:
                        self._frame_interval_s += 0.1 * (t - last_frame_t - self._frame_interval_s)
                    last_frame_t = t
                    self.stats.frames += 1
                    self.stats.last_t_s = t
                    timed.append(Frame(self.stats.frames - 1, t, luma_view(fr), bool(fr.key_frame), fr))
                if timed and not self.source.is_rtsp and self.source.replay == "realtime":
                    t = timed[-1].t_s
                    if pace_wall0 is None:
                        pace_wall0, pace_t0 = time.monotonic(), t
                    ahead = (t - pace_t0) - (time.monotonic() - pace_wall0)
                    if ahead > 0.002 and self.stop.wait(ahead):
                        break
                yield Ingested(out, timed)
        finally:
            end = max(self.stats.last_t_s, self._clock_end_s)
            self._clock_end_s = end + self._frame_interval_s
            seg.retired = True  # the caller's ring closes it once its packets have left
            handle.close()
        return clean

    def _set_stream(self, state: StreamState) -> None:
        """Record the camera's stream state; a change is logged and reported at once (the status heartbeat)."""
        st = self.stats
        if state == st.stream:
            return
        now = time.time()
        if state == "down":
            log.warning("%s: camera stream DOWN (%s); reported offline until it returns", self.camera_id,
                        redact(self.source.url))
        elif state == "up" and st.stream == "down" and st.stream_since_wall_s is not None:
            log.warning("%s: camera stream back after %.1f s down", self.camera_id, now - st.stream_since_wall_s)
        st.stream, st.stream_since_wall_s = state, now
        if self.on_stream_change is not None:
            self.on_stream_change(state)

    def _interval_ticks(self, seg: Segment) -> int:
        return max(1, round(self._frame_interval_s / float(seg.time_base)))

    def _ring_packet(self, packet: av.Packet, pts: int, seg: Segment) -> RingPacket:
        dts = packet.dts if packet.dts is not None else pts
        return RingPacket(bytes(packet), pts, dts, int(packet.duration or 0), bool(packet.is_keyframe),
                          seg.media_time(pts), seg)

    def _frame_time(self, fr: av.VideoFrame, seg: Segment, last_t: float | None) -> float | None:
        pts = fr.pts if fr.pts is not None else fr.dts
        if pts is None or seg.first_pts is None:
            return None if last_t is None else last_t + self._frame_interval_s
        return seg.media_time(pts)

    def _decode(self, packet: av.Packet, seg: Segment, handle: _Handle, stream: Any
                ) -> tuple[list[av.VideoFrame], Segment]:
        try:
            frames = list(packet.decode())
        except av.error.FFmpegError as exc:
            self.stats.corrupt_packets += 1
            log.warning("%s: corrupt packet skipped (pts=%s, %d so far): %s", self.camera_id, packet.pts,
                        self.stats.corrupt_packets, exc)
            return [], seg
        if packet.is_corrupt:
            self.stats.corrupt_packets += 1
            log.warning("%s: packet flagged corrupt by the demuxer (pts=%s, %d so far)", self.camera_id,
                        packet.pts, self.stats.corrupt_packets)
        if frames:
            w, h = frames[-1].width, frames[-1].height
            if seg.width == 0:
                seg.width, seg.height = w, h
            elif (w, h) != (seg.width, seg.height):
                log.warning("%s: resolution changed from %dx%d to %dx%d", self.camera_id, seg.width, seg.height,
                            w, h)
                old = seg
                seg = self._new_segment(handle, stream, old.t0_s, old.first_pts, w, h)
                old.retired = True
        return frames, seg
