"""One camera's worker: ingest → detector → evidence (clip, snapshot, overlay) → spool → MQTT.

Runs in its own process (see :mod:`edge.runtime.supervisor`). The main thread ingests, detects and cuts clips;
the delivery thread owns the spool and the MQTT connection.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.events import Clip, Event, utc_iso
from edge.falling.detector import FallingDetector
from edge.frames import Frame
from edge.runtime import wire
from edge.runtime.config import EdgeCamera, MqttConfig
from edge.runtime.delivery import Delivery
from edge.runtime.evidence import event_mid_time, overlay
from edge.runtime.ingest import CameraStream, IngestStats
from edge.runtime.ring import ClipResult, PacketRing, Segment, remux_clip
from edge.runtime.spool import CLIP_FILE, EvidenceBundle, Spool
from edgewatch.errors import UserError

if TYPE_CHECKING:
    from edge.kitchen.detections import BoxDetector
    from edge.kitchen.detector import KitchenDetector

log = logging.getLogger(__name__)


@dataclass
class WorkerSettings:
    """Everything a worker process needs, picklable for multiprocessing's spawn."""

    site: str
    camera: EdgeCamera
    mqtt: MqttConfig
    spool_dir: Path
    spool_max_bytes: int
    log_level: int = logging.WARNING
    version: str = "0"


@dataclass
class _PendingEvidence:
    event: Event
    due_t_s: float


class CameraWorker:
    def __init__(self, settings: WorkerSettings, stop: threading.Event) -> None:
        self.s = settings
        cam = settings.camera
        self.camera = cam
        self.stop = stop
        self.stats = IngestStats()
        self.stream = CameraStream(cam.camera_id, cam.source_config(), stop, self.stats,
                                   on_stream_change=lambda _state: self.delivery.report_status_now())
        keep_s = cam.pre_roll_s + cam.post_roll_s + cam.ring_extra_s
        if cam.detector == "kitchen":
            # A kitchen event starts when its condition began, a dwell before it is raised: keep that much more.
            keep_s += max(cam.rules.missing_chef_hat_after_s, cam.rules.uncovered_bin_after_s)
        self.ring = PacketRing(keep_s=keep_s)
        self.spool = Spool(settings.spool_dir / cam.camera_id, settings.spool_max_bytes)
        self.delivery = Delivery(settings.site, cam.camera_id, settings.mqtt, self.spool, self._status_fields,
                                 settings.version)
        self._calibration: Any = None
        if cam.calibration is not None and cam.detect:
            from calibration import load_calibration

            self._calibration = load_calibration(cam.calibration)
        self._kitchen_model: BoxDetector | None = None
        if cam.detector == "kitchen" and cam.detect:
            from edge.kitchen.build import kitchen_model

            self._kitchen_model = kitchen_model(cam)  # loaded once; detectors are re-created on resolution changes
        self._detector: FallingDetector | KitchenDetector | None = None
        self._detector_size: tuple[int, int] | None = None
        self._detection_paused = False
        self._pending: list[_PendingEvidence] = []
        self._segment: Segment | None = None
        self._rate_mark = (time.monotonic(), 0, 0)
        self.events = 0
        self.detector_errors = 0

    # --- status ------------------------------------------------------------------------------------------------

    def _status_fields(self) -> dict[str, Any]:
        now = time.monotonic()
        t_prev, p_prev, f_prev = self._rate_mark
        dt = max(1e-3, now - t_prev)
        st = self.stats
        self._rate_mark = (now, st.packets, st.frames)
        lag = None
        if st.started_wall_s is not None and (self.stream.source.is_rtsp or self.camera.replay == "realtime"):
            lag = round(max(0.0, (time.time() - st.started_wall_s) - st.last_t_s), 3)
        since = datetime.fromtimestamp(st.stream_since_wall_s, UTC) if st.stream_since_wall_s is not None else None
        return {"fps_in": round((st.packets - p_prev) / dt, 2), "fps_out": round((st.frames - f_prev) / dt, 2),
                "decode_lag_s": lag, "dropped_frames": st.dropped_frames + st.corrupt_packets,
                "reconnects": st.reconnects, "events": self.events, "detector_errors": self.detector_errors,
                "frames": st.frames,
                "stream": st.stream, "stream_since": utc_iso(since) if since is not None else None}

    # --- main loop -----------------------------------------------------------------------------------------------

    def run(self) -> None:
        cam = self.camera
        self.delivery.start()
        log.info("%s: worker started (source %s, detector %s)", cam.camera_id, cam.source and
                 _redact(cam.source), cam.detector if cam.detect else "off")
        try:
            for item in self.stream.run():
                if item.packet is not None:
                    seg = item.packet.segment
                    if seg is not self._segment:
                        if self._segment is not None:
                            self._flush_pending()  # the old segment's clips end here
                            self.ring.retire(self._segment)
                        self._segment = seg
                    self.ring.append(item.packet)
                for frame in item.frames:
                    self._detect(frame)
                if self._pending:
                    now = self.stats.last_t_s
                    due = [p for p in self._pending if p.due_t_s <= now]
                    for p in due:
                        self._pending.remove(p)
                        self._evidence(p.event)
            if self._detector is not None:
                for event in self._detector.finish():
                    self._queue(event)
            self._flush_pending()
            if not self.stop.is_set():
                log.info("%s: source ended; delivering the spool until stopped", cam.camera_id)
                self.stop.wait()
        finally:
            self.delivery.stop()
            log.info("%s: worker stopped", cam.camera_id)

    def _detect(self, frame: Frame) -> None:
        if not self.camera.detect:
            return
        size = (frame.width, frame.height)
        if size != self._detector_size:
            if self._detector is not None:
                for event in self._detector.finish():
                    self._queue(event)
                log.warning("%s: resolution changed from %dx%d to %dx%d; detector re-created", self.camera.camera_id,
                            *(self._detector_size or (0, 0)), *size)
            self._detector_size = size
            self._detection_paused = False
            start = datetime.fromtimestamp(time.time() - frame.t_s, UTC)
            if self.camera.detector == "kitchen":
                from edge.kitchen.build import kitchen_detector

                self._detector = kitchen_detector(self.camera, start, self._kitchen_model)
            else:
                self._detector = FallingDetector(self.camera.camera_id, self._calibration, stream_start=start)
        if self._detection_paused or self._detector is None:
            return
        try:
            events = self._detector.process(frame)
        except (ValueError, UserError) as exc:  # e.g. the calibration or a bin reference does not fit this size
            log.error("%s: detection paused until the resolution changes: %s", self.camera.camera_id, exc)
            self._detection_paused = True
            return
        except Exception:
            # A bug in detection (one bad track, say) must not end the camera's recording, its evidence
            # delivery or the other events: log it with its traceback (the first, then every 1000th) and go
            # on with the next frame. The status's ``detector_errors`` shows it.
            self.detector_errors += 1
            if self.detector_errors == 1 or self.detector_errors % 1000 == 0:
                log.exception("%s: detection failed on frame %.3f s (%d so far); going on", self.camera.camera_id,
                              frame.t_s, self.detector_errors)
            return
        for event in events:
            self._queue(event)

    def _queue(self, event: Event) -> None:
        self.events += 1
        log.info("%s: event %s %s %.2f–%.2f s (confidence %.2f)", self.camera.camera_id, event.event_id,
                 event.type, event.start, event.end, event.confidence)
        self._pending.append(_PendingEvidence(event, event.end + self.camera.post_roll_s))

    def _flush_pending(self) -> None:
        for p in self._pending:
            self._evidence(p.event)
        self._pending.clear()

    def _evidence(self, event: Event) -> None:
        """Cut the clip from the ring, take the snapshot and overlay, and hand the bundle to delivery."""
        cam = self.camera
        clip: ClipResult | None = None
        started = time.perf_counter()
        packets = self.ring.select(event.start - cam.pre_roll_s, event.end + cam.post_roll_s)
        if packets:
            try:
                clip = remux_clip(packets)
            except (ValueError, OSError) as exc:
                log.error("%s: no clip for event %s: %s", cam.camera_id, event.event_id, exc)
        else:
            log.error("%s: no packets in the ring buffer for event %s (%.2f–%.2f s)", cam.camera_id, event.event_id,
                      event.start, event.end)
        over = None
        snapshot_at = None
        if clip is not None:
            snapshot_at = (clip.start_s, event_mid_time(event))
            over = overlay(event, clip.start_s, clip.width, clip.height)
            event.clip = Clip(path=str(self.spool.dir / event.event_id / CLIP_FILE), sha256=clip.sha256,
                              bytes=clip.size)
            log.info("%s: clip for %s: %.2f–%.2f s, %d packets, %d bytes, cut in %.0f ms", cam.camera_id,
                     event.event_id, clip.start_s, clip.end_s, clip.packets, clip.size,
                     1000 * (time.perf_counter() - started))
        message = wire.event_message(event, self.s.site, clip.size if clip else None, None, over)
        self.delivery.submit(EvidenceBundle(event.event_id, message, clip.data if clip else None, None, over,
                                            snapshot_at=snapshot_at))


def _redact(url: str) -> str:
    from edge.runtime.ingest import redact

    return redact(url)


def configure_logging(level: int, camera_id: str) -> None:
    logging.basicConfig(level=level, format=f"%(asctime)s %(levelname)s [{camera_id}] %(name)s: %(message)s",
                        force=True)
    if level > logging.DEBUG:
        logging.getLogger("libav").setLevel(logging.ERROR)


def worker_main(settings: WorkerSettings, stop_flag: Any, parent_pid: int) -> None:
    """Entry point of a worker process. ``stop_flag`` is the supervisor's multiprocessing Event."""
    configure_logging(settings.log_level, settings.camera.camera_id)
    # One process per camera: the box's cores are shared out by running several workers, not by OpenCV's
    # thread pool inside each, whose hand-offs cost ~7 % more CPU per 1080p frame (docs/benchmarks.md).
    import cv2

    cv2.setNumThreads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the supervisor decides
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def watch() -> None:
        while not stop.wait(0.5):
            if stop_flag.is_set():
                stop.set()
            elif os.getppid() != parent_pid:
                log.error("%s: the supervisor died; stopping", settings.camera.camera_id)
                stop.set()

    threading.Thread(target=watch, name="stop-watch", daemon=True).start()
    CameraWorker(settings, stop).run()
