"""Evidence clips cut from a recorded file by remuxing (no re-encode: bit-exact with the camera's stream)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import av

from edge.events import Clip


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cut_clip(source: str | Path, start_s: float, end_s: float, out_path: Path) -> Clip:
    """Copy the packets covering [start_s, end_s] (media time from the file's start) into an MP4.

    The clip starts at the keyframe at or before ``start_s`` so it decodes on its own. Written to a temporary
    name, fsynced and renamed, so a crash never leaves a half clip under the final name.
    """
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + ".part")
    with av.open(str(source)) as src:
        stream = src.streams.video[0]
        tb = stream.time_base
        assert tb is not None
        first_pts = stream.start_time or 0
        target = first_pts + int(max(0.0, start_s) / tb)
        src.seek(target, stream=stream, backward=True, any_frame=False)
        with av.open(str(tmp), "w", format="mp4") as dst:
            out = dst.add_stream_from_template(stream)
            started = False
            base_pts = None
            for packet in src.demux(stream):
                if packet.pts is None or packet.dts is None:
                    continue
                t = float((packet.pts - first_pts) * tb)
                if not started:
                    if not packet.is_keyframe:
                        continue
                    started = True
                    base_pts = packet.dts
                if t > end_s and packet.is_keyframe:
                    break
                if t > end_s + 1.0:
                    break
                assert base_pts is not None
                packet.pts -= base_pts
                packet.dts -= base_pts
                packet.stream = out
                dst.mux(packet)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, out_path)
    return Clip(path=str(out_path), sha256=sha256_file(out_path), bytes=out_path.stat().st_size)
