"""The supervisor: one worker process per camera (multiprocessing spawn), restarted with back-off when it
crashes; SIGTERM or SIGINT stops every worker cleanly."""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

from edge.runtime.backoff import Backoff
from edge.runtime.config import EdgeConfig
from edge.runtime.worker import WorkerSettings, worker_main

log = logging.getLogger(__name__)

STABLE_S = 60.0
"""A worker that ran this long before crashing starts again with the shortest back-off."""


@dataclass
class _Slot:
    settings: WorkerSettings
    process: Any = None
    started_s: float = 0.0
    restart_at_s: float | None = None
    crashes: int = 0
    backoff: Backoff | None = None


class Supervisor:
    def __init__(self, config: EdgeConfig, log_level: int, version: str, stop_grace_s: float = 10.0) -> None:
        self.config = config
        self.ctx = mp.get_context("spawn")
        self.stop_flag = self.ctx.Event()
        self.stopping = threading.Event()
        self.stop_grace_s = stop_grace_s
        n = len(config.cameras)
        per_camera = max(1, config.spool.max_bytes // n)
        self.slots = [
            _Slot(WorkerSettings(config.site, cam, config.mqtt, config.spool.dir, per_camera, log_level, version),
                  backoff=Backoff(1.0, 60.0))
            for cam in config.cameras
        ]

    def _start(self, slot: _Slot) -> None:
        import os

        cam = slot.settings.camera.camera_id
        slot.process = self.ctx.Process(target=worker_main, args=(slot.settings, self.stop_flag, os.getpid()),
                                        name=f"edgewatch-{cam}", daemon=False)
        slot.process.start()
        slot.started_s = time.monotonic()
        slot.restart_at_s = None
        log.info("worker %s started (pid %d)", cam, slot.process.pid)

    def request_stop(self, signum: int | None = None, _frame: Any = None) -> None:
        if not self.stopping.is_set():
            log.warning("stopping all workers (%s)", signal.Signals(signum).name if signum else "requested")
        self.stopping.set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        for slot in self.slots:
            self._start(slot)
        while not self.stopping.wait(0.5):
            now = time.monotonic()
            for slot in self.slots:
                self._check(slot, now)
        return self._shutdown()

    def _check(self, slot: _Slot, now: float) -> None:
        cam = slot.settings.camera.camera_id
        if slot.restart_at_s is not None:
            if now >= slot.restart_at_s:
                self._start(slot)
            return
        if slot.process is None or slot.process.is_alive():
            return
        code = slot.process.exitcode
        assert slot.backoff is not None
        if now - slot.started_s >= STABLE_S:
            slot.backoff.reset()
        slot.crashes += 1
        delay = slot.backoff.next()
        log.error("worker %s exited unexpectedly (exit code %s, crash #%d); restarting in %.1f s", cam, code,
                  slot.crashes, delay)
        slot.restart_at_s = now + delay

    def _shutdown(self) -> int:
        self.stop_flag.set()
        deadline = time.monotonic() + self.stop_grace_s
        for slot in self.slots:
            if slot.process is not None:
                slot.process.join(max(0.1, deadline - time.monotonic()))
        for slot in self.slots:
            p = slot.process
            if p is not None and p.is_alive():
                log.error("worker %s did not stop in %.0f s; terminating it", slot.settings.camera.camera_id,
                          self.stop_grace_s)
                p.terminate()
                p.join(3.0)
                if p.is_alive():
                    p.kill()
                    p.join()
        log.warning("all workers stopped")
        return 0
