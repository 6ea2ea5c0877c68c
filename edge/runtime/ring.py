"""A ring buffer of ENCODED packets and evidence clips remuxed from it (no re-encode: bit-exact with the camera).

Keeping packets rather than decoded frames costs the stream's bitrate (a 1080p camera at 4 Mbit/s: 0.5 MB a
second) instead of 3 MB per 1080p frame, and the clip is exactly what the camera sent.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Segment:
    """One run of packets that share codec parameters: a connection to the camera, one pass over a file, or the
    part of a stream between two resolution changes. A clip never spans two segments.

    ``stream`` is the input stream the packets came from; it is the template of the clip's MP4 track, so the
    input container stays open while the ring holds packets of this segment (:meth:`PacketRing.trim` closes it).
    """

    number: int
    stream: Any  # av.video.stream.VideoStream
    container: Any  # av.container.InputContainer
    time_base: Fraction
    t0_s: float
    """Media time (of the runtime's clock) of pts ``first_pts``."""
    first_pts: int | None = None
    width: int = 0
    height: int = 0
    closed: bool = False
    retired: bool = False

    def media_time(self, pts: int) -> float:
        assert self.first_pts is not None
        return self.t0_s + float((pts - self.first_pts) * self.time_base)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.container.close()
            except Exception as exc:  # a dead RTSP session may fail to send TEARDOWN; nothing to do about it
                log.debug("closing segment %d: %s", self.number, exc)


@dataclass(slots=True)
class RingPacket:
    data: bytes
    pts: int
    dts: int
    duration: int
    keyframe: bool
    t_s: float
    segment: Segment


@dataclass
class ClipResult:
    data: bytes = field(repr=False)
    sha256: str
    start_s: float
    """Media time of the clip's first packet (a keyframe)."""
    end_s: float
    packets: int
    width: int
    height: int

    @property
    def size(self) -> int:
        return len(self.data)


class PacketRing:
    """The last ``keep_s`` seconds of encoded packets, always starting on a keyframe.

    >>> ring = PacketRing(keep_s=18.0)  # doctest: +SKIP
    >>> ring.append(RingPacket(bytes(pkt), pkt.pts, pkt.dts, pkt.duration, pkt.is_keyframe, t, segment))
    """

    def __init__(self, keep_s: float) -> None:
        self.keep_s = keep_s
        self.packets: deque[RingPacket] = deque()
        self.bytes = 0
        self._segments: dict[int, Segment] = {}

    def append(self, packet: RingPacket) -> None:
        if not self.packets and not packet.keyframe:
            return  # a clip must start on a keyframe: nothing before the first one is useful
        self.packets.append(packet)
        self.bytes += len(packet.data)
        self._segments[packet.segment.number] = packet.segment
        self.trim(packet.t_s)

    def trim(self, now_s: float) -> None:
        """Drop whole GOPs while the next GOP still starts at or before ``now_s - keep_s``."""
        horizon = now_s - self.keep_s
        while self.packets:
            nxt = self._next_keyframe_index()
            if nxt is None or self.packets[nxt].t_s > horizon:
                break
            for _ in range(nxt):
                self.bytes -= len(self.packets.popleft().data)
        live = {p.segment.number for p in (self.packets[0], self.packets[-1])} if self.packets else set()
        for number in list(self._segments):
            seg = self._segments[number]
            if number not in live and seg.retired and not any(p.segment is seg for p in self.packets):
                seg.close()
                del self._segments[number]

    def _next_keyframe_index(self) -> int | None:
        for i, p in enumerate(self.packets):
            if i > 0 and p.keyframe:
                return i
        return None

    def retire(self, segment: Segment) -> None:
        """The source moved on from ``segment``: close it once its packets leave the ring."""
        segment.retired = True
        if not any(p.segment is segment for p in self.packets):
            segment.close()
            self._segments.pop(segment.number, None)

    def select(self, start_s: float, end_s: float) -> list[RingPacket]:
        """Packets of one segment covering [start_s, end_s]: from the last keyframe at or before ``start_s``
        (or the segment's first keyframe in the ring) up to the last packet at or before ``end_s``.

        The segment is the one holding the packet nearest ``start_s`` that is not after it.
        """
        if not self.packets:
            return []
        items = list(self.packets)
        ref = next((p for p in reversed(items) if p.t_s <= start_s), items[0])
        seg = ref.segment
        mine = [p for p in items if p.segment is seg]
        first = 0
        for i, p in enumerate(mine):
            if p.keyframe and p.t_s <= start_s:
                first = i
        while first < len(mine) and not mine[first].keyframe:
            first += 1
        return [p for p in mine[first:] if p.t_s <= end_s]


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remux_clip(packets: list[RingPacket]) -> ClipResult:
    """Mux ``packets`` (one segment, starting on a keyframe) into an MP4 in memory, without re-encoding.

    Timestamps are shifted so that the clip starts at 0. In memory, so that a full disk never loses the
    evidence: the spool writes the bytes when it can.
    """
    if not packets:
        raise ValueError("no packets to write")
    if not packets[0].keyframe:
        raise ValueError("a clip must start on a keyframe")
    seg = packets[0].segment
    if seg.closed:
        raise ValueError(f"segment {seg.number} was closed; its codec parameters are gone")
    buf = io.BytesIO()
    base = min(p.dts for p in packets)
    with av.open(buf, "w", format="mp4") as dst:
        out = dst.add_stream_from_template(seg.stream)
        for p in packets:
            if p.segment is not seg:
                raise ValueError("a clip cannot span two segments")
            pkt = av.Packet(p.data)
            pkt.pts = p.pts - base
            pkt.dts = p.dts - base
            pkt.duration = p.duration
            pkt.time_base = seg.time_base
            pkt.is_keyframe = p.keyframe
            pkt.stream = out
            dst.mux(pkt)
    data = buf.getvalue()
    return ClipResult(data, hashlib.sha256(data).hexdigest(), packets[0].t_s, packets[-1].t_s, len(packets),
                      seg.width, seg.height)
