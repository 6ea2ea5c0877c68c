"""The evidence beside a clip: a JPEG snapshot of a frame from the event and an overlay JSON for the viewer."""

from __future__ import annotations

import io
import logging
from typing import Any

import av
import cv2
import numpy as np

from edge.events import Event

log = logging.getLogger(__name__)

MAX_SNAPSHOT_BYTES = 256 * 1024


def event_mid_time(event: Event) -> float:
    """The media time to show: the middle of the track (the object is in view), else of the event."""
    if event.track:
        return event.track[len(event.track) // 2].t
    return 0.5 * (event.start + event.end)


def snapshot_jpeg(clip: bytes, clip_start_s: float, at_s: float, max_bytes: int = MAX_SNAPSHOT_BYTES) -> bytes:
    """Decode the frame of the MP4 ``clip`` at media time ``at_s`` (the clip's first frame is at
    ``clip_start_s``) and encode it as a JPEG no larger than ``max_bytes`` (lower quality, then smaller, until it
    fits). Decoding starts at the keyframe before the target (a seek), so it costs at most one GOP."""
    target = max(0.0, at_s - clip_start_s)
    best: av.VideoFrame | None = None
    with av.open(io.BytesIO(clip), "r") as container:
        stream = container.streams.video[0]
        tb = stream.time_base
        if tb is not None and target > 0:
            container.seek(int(target / tb), stream=stream, backward=True, any_frame=False)
        for frame in container.decode(stream):
            t = float(frame.pts * tb) if frame.pts is not None and tb is not None else 0.0
            best = frame
            if t >= target - 1e-6:
                break
        if best is None:
            raise ValueError("no frame could be decoded from the clip")
        image: np.ndarray = best.to_ndarray(format="bgr24")
    while True:
        for quality in (85, 70, 55, 40):
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok and len(buf) <= max_bytes:
                return bytes(buf)
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
        if image.shape[1] < 16:
            raise ValueError("cannot fit a snapshot into the size limit")


def overlay(event: Event, clip_start_s: float, width: int, height: int) -> dict[str, Any]:
    """What the viewer draws over the clip: the track (and kitchen boxes) with times relative to the clip.

    ``t`` is seconds from the clip's first frame; ``media_t`` the event's media time, as in the event JSON.
    """
    return {
        "event_id": event.event_id,
        "clip_start_media_s": round(clip_start_s, 3),
        "image_size": [width, height],
        "track": [{"t": round(p.t - clip_start_s, 3), "media_t": p.t, "u": p.u, "v": p.v}
                  for p in (event.track or [])],
        "boxes": event.boxes or [],
        "zone": event.zone,
    }
