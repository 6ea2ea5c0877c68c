"""Edge runtime parts on their own: config errors, ring buffer + remux, spool bounds and ENOSPC, wire protocol,
ingest of damaged and resolution-changing streams."""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import threading
from pathlib import Path

import av
import numpy as np
import pytest

from edge.runtime import spool as spool_mod
from edge.runtime import wire
from edge.runtime.config import SourceConfig, load_edge_config
from edge.runtime.ingest import CameraStream
from edge.runtime.ring import PacketRing, remux_clip
from edge.runtime.spool import EvidenceBundle, Spool
from edgewatch.cli import main as cli_main
from edgewatch.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_videos/falling/falling_easy_mid_floor.mp4"


# --- config --------------------------------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_example_config_loads() -> None:
    config = load_edge_config(ROOT / "examples/edge.yaml")
    assert config.site == "caima-b3"
    cam = config.cameras[0]
    assert cam.source is not None and Path(cam.source).is_file()
    assert cam.calibration is not None and cam.calibration.is_file()


def test_wrong_keys_are_named_with_their_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _write(tmp_path / "edge.yaml", "site: s\nmqtt: {host: h, prot: 1}\nspool: {dir: sp}\ncameras:\n"
                 "  - {camera_id: a, detector: falling, source: x.mp4, pre_rol_s: 3}\n")
    with pytest.raises(UserError) as exc:
        load_edge_config(bad)
    assert "mqtt.prot: unknown key" in str(exc.value)
    assert "cameras.0: pre_rol_s: unknown key" in str(exc.value)
    assert cli_main(["edge", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "edgewatch edge: error:" in err and "mqtt.prot" in err


def test_camera_by_path_and_bad_site(tmp_path: Path) -> None:
    _write(tmp_path / "cam.yaml", f"camera_id: c1\ndetector: falling\nsource: {SAMPLE}\npre_roll_s: 2\n")
    cfg = load_edge_config(_write(tmp_path / "edge.yaml", "site: s\nmqtt: {host: h}\nspool: {dir: sp}\n"
                                  "cameras:\n  - {path: cam.yaml, replay: fast, loop: true}\n"))
    cam = cfg.cameras[0]
    assert (cam.camera_id, cam.pre_roll_s, cam.replay, cam.loop) == ("c1", 2, "fast", True)
    assert cfg.spool.dir == tmp_path / "sp"
    with pytest.raises(UserError, match="site: String should match pattern"):
        load_edge_config(_write(tmp_path / "e2.yaml", "site: 'a b'\nmqtt: {host: h}\nspool: {dir: sp}\n"
                                "cameras:\n  - {path: cam.yaml}\n"))


# --- ring buffer and clips ---------------------------------------------------------------------------------


def test_ring_clip_is_bit_exact_and_starts_on_a_keyframe() -> None:
    stop = threading.Event()
    stream = CameraStream("c", SourceConfig(url=str(SAMPLE), replay="fast"), stop)
    ring = PacketRing(keep_s=30.0)
    originals: list[bytes] = []
    for item in stream.run():
        if item.packet is not None:
            ring.append(item.packet)
            originals.append(item.packet.data)
    packets = ring.select(3.1, 5.0)
    assert packets[0].keyframe and packets[0].t_s == pytest.approx(2.0)
    assert packets[-1].t_s == pytest.approx(5.0)
    clip = remux_clip(packets)
    assert hashlib.sha256(clip.data).hexdigest() == clip.sha256
    with av.open(io.BytesIO(clip.data)) as c:
        got = [bytes(p) for p in c.demux(video=0) if p.size]
    with av.open(io.BytesIO(clip.data)) as c:
        frames = list(c.decode(video=0))
    assert frames[0].key_frame and len(frames) == len(packets)
    first = originals.index(packets[0].data)
    assert got == originals[first : first + len(packets)]  # bit-exact: no re-encode


def test_ring_keeps_whole_gops_within_its_window() -> None:
    stream = CameraStream("c", SourceConfig(url=str(SAMPLE), replay="fast"), threading.Event())
    ring = PacketRing(keep_s=3.0)
    for item in stream.run():
        if item.packet is not None:
            ring.append(item.packet)
            newest = item.packet.t_s
            assert ring.packets[0].keyframe
            assert ring.packets[0].t_s <= max(0.0, newest - 3.0) + 1e-6  # covers the window…
            assert newest - ring.packets[0].t_s < 3.0 + 2.0 + 0.05  # …plus at most one GOP


# --- ingest of damaged and changing streams -----------------------------------------------------------------


def _ts_copy(src: Path, dst: Path) -> None:
    with av.open(str(src)) as i, av.open(str(dst), "w", format="mpegts") as o:
        s = i.streams.video[0]
        out = o.add_stream_from_template(s)
        for p in i.demux(s):
            if p.dts is not None:
                p.stream = out
                o.mux(p)


def make_corrupt_ts(tmp_path: Path) -> Path:
    """The falling sample as MPEG-TS with garbage written over 40 kB a third of the way in."""
    _ts_copy(SAMPLE, tmp_path / "ok.ts")
    data = bytearray((tmp_path / "ok.ts").read_bytes())
    rng = np.random.default_rng(1)
    for off in range(len(data) // 3, len(data) // 3 + 40_000, 1000):
        data[off : off + 200] = rng.integers(0, 256, 200, dtype=np.uint8).tobytes()
    (tmp_path / "bad.ts").write_bytes(bytes(data))
    return tmp_path / "bad.ts"


def test_corrupt_packets_are_logged_and_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    make_corrupt_ts(tmp_path)
    stream = CameraStream("cam", SourceConfig(url=str(tmp_path / "bad.ts"), replay="fast"), threading.Event())
    with caplog.at_level(logging.WARNING):
        frames = sum(len(item.frames) for item in stream.run())
    assert stream.stats.corrupt_packets > 0
    assert any("corrupt" in r.getMessage() for r in caplog.records)
    assert frames > 150  # decoding went on past the damage


def make_two_size_ts(tmp_path: Path) -> Path:
    """2 s at 320x240 then 2 s at 480x272 in one MPEG-TS stream."""
    from edgewatch.scenes.video import H264Writer

    ts = tmp_path / "two-sizes.ts"
    parts = []
    for w, h in ((320, 240), (480, 272)):
        path = tmp_path / f"{w}.mp4"
        with H264Writer(path, w, h, fps=25, gop_s=1.0) as wr:
            for i in range(50):
                wr.write(np.full((h, w, 3), (i * 5) % 255, np.uint8))
        parts.append(path)
    # Each part goes through its own MPEG-TS muxer (which puts that part's SPS/PPS in band), and the byte
    # streams are concatenated, as a camera that switches resolution sends them.
    offset = 0
    blob = b""
    for k, path in enumerate(parts):
        part_ts = tmp_path / f"part{k}.ts"
        with av.open(str(path)) as i, av.open(str(part_ts), "w", format="mpegts") as o:
            s = i.streams.video[0]
            out = o.add_stream_from_template(s)
            last = 0
            for p in i.demux(s):
                if p.dts is None:
                    continue
                p.pts += offset
                p.dts += offset
                last = max(last, p.pts + (p.duration or 0))
                p.stream = out
                o.mux(p)
        offset = last
        blob += part_ts.read_bytes()
    ts.write_bytes(blob)
    return ts


def test_resolution_change_starts_a_new_segment(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ts = make_two_size_ts(tmp_path)
    stream = CameraStream("cam", SourceConfig(url=str(ts), replay="fast"), threading.Event())
    ring = PacketRing(keep_s=60.0)
    sizes = []
    with caplog.at_level(logging.WARNING):
        for item in stream.run():
            if item.packet is not None:
                ring.append(item.packet)
            sizes += [(f.width, f.height) for f in item.frames]
    assert (320, 240) in sizes and (480, 272) in sizes
    assert any("resolution changed from 320x240 to 480x272" in r.getMessage() for r in caplog.records)
    late = ring.select(3.0, 3.5)
    assert late[0].segment.width == 480 and late[0].keyframe
    clip = remux_clip(late)
    with av.open(io.BytesIO(clip.data)) as c:
        frame = next(c.decode(video=0))
    assert (frame.width, frame.height) == (480, 272)


# --- spool ------------------------------------------------------------------------------------------------


def _bundle(event_id: str, clip_bytes: int) -> EvidenceBundle:
    msg = {"event_id": event_id, "type": "falling_object", "camera_id": "c"}
    return EvidenceBundle(event_id, msg, b"x" * clip_bytes, b"jpg", {"track": []})


def test_full_spool_drops_the_oldest_loudly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sp = Spool(tmp_path / "spool", max_bytes=25_000)
    with caplog.at_level(logging.ERROR):
        for i in range(4):
            assert sp.put(_bundle(f"01A{i}", 10_000)) is not None
    assert sorted(sp.events) == ["01A2", "01A3"]
    assert sp.dropped == 2
    drops = [r for r in caplog.records if "SPOOL FULL" in r.getMessage()]
    assert len(drops) == 2 and "01A0" in drops[0].getMessage()
    # Larger than the whole spool: kept, without its evidence, and said so.
    with caplog.at_level(logging.ERROR):
        assert sp.put(_bundle("01B0", 100_000)) is not None
    assert not (sp.events["01B0"].clip_path).exists()
    assert sp.events["01B0"].message()["clip_dropped"]
    assert any("larger than the whole spool" in r.getMessage() for r in caplog.records)
    # A fresh Spool object (a restarted worker) finds what is on disk.
    assert sorted(Spool(tmp_path / "spool", 25_000).events) == sorted(sp.events)


def test_disk_full_keeps_the_event_in_memory(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    sp = Spool(tmp_path / "spool", max_bytes=10**9)
    real = spool_mod._write_durably
    full = {"on": True}

    def write(path: Path, data: bytes) -> None:
        if full["on"]:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(spool_mod, "_write_durably", write)
    with caplog.at_level(logging.ERROR):
        assert sp.put(_bundle("01C0", 100)) is None
        assert sp.put(_bundle("01C1", 100)) is None
    assert [b.event_id for b in sp.waiting] == ["01C0", "01C1"] and not sp.events
    assert any("disk full" in r.getMessage() for r in caplog.records)
    assert not list((tmp_path / "spool" / ".staging").iterdir())
    full["on"] = False
    assert sp.retry_waiting() == 2
    assert sorted(sp.events) == ["01C0", "01C1"] and not sp.waiting


def test_recovery_discards_half_written_events(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 10**6)
    sp.put(_bundle("01D0", 10))
    (tmp_path / ".staging" / "01D1").mkdir(parents=True)
    (tmp_path / "01D2").mkdir()  # deleted half-way: event.json went first
    (tmp_path / "01D2" / "clip.mp4").write_bytes(b"x")
    again = Spool(tmp_path, 10**6)
    assert list(again.events) == ["01D0"]
    assert not (tmp_path / "01D2").exists() and not (tmp_path / ".staging").exists()


# --- wire protocol ------------------------------------------------------------------------------------------


def test_wire_topics_chunks_and_acks() -> None:
    assert wire.clip_topic("s", "c", "01E", 3) == "edgewatch/v1/s/c/clip/01E/3"
    with pytest.raises(ValueError):
        wire.event_topic("s/x", "c")
    data = bytes(range(256)) * 2049
    n = wire.chunk_count(len(data))
    assert n == 3 and b"".join(wire.clip_chunk(data, i) for i in range(n)) == data
    assert all(len(wire.clip_chunk(data, i)) <= wire.CHUNK_BYTES for i in range(n))
    ack = wire.parse_ack(b'{"event_id": "01E", "status": "missing", "missing_chunks": [1, 2]}')
    assert (ack.status, ack.missing_chunks) == ("missing", [1, 2])
    for bad in (b"nope", b'{"event_id": "x", "status": "ok"}', b'{"status": "stored"}'):
        with pytest.raises(ValueError):
            wire.parse_ack(bad)
