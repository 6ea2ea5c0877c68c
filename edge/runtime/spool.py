"""A crash-safe disk spool of events waiting for the server's acknowledgement.

Layout: ``{dir}/{event_id}/`` holds ``event.json`` (the wire event message), ``clip.mp4``, ``snapshot.jpg`` and
``overlay.json``. An event is written into ``{dir}/.staging/{event_id}/``, every file fsynced, the staging folder
fsynced, renamed into place and the spool folder fsynced: after a kill -9 or a power cut an event folder is
either complete or absent (leftovers in ``.staging`` are removed at start).

Bounded by ``max_bytes``: when a new event does not fit, the oldest events are dropped first (all current event
types are violations; a future non-violation type goes first) and each drop is logged as an ERROR. A full disk
(ENOSPC) never crashes the worker: the event stays in memory and is written when space returns.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.runtime.ring import fsync_dir

log = logging.getLogger(__name__)

STAGING = ".staging"
EVENT_FILE = "event.json"
CLIP_FILE = "clip.mp4"
SNAPSHOT_FILE = "snapshot.jpg"
OVERLAY_FILE = "overlay.json"
VIOLATION_TYPES = frozenset({"falling_object", "missing_chef_hat", "uncovered_bin"})


@dataclass
class EvidenceBundle:
    """An event with its evidence, in memory until the spool has it on disk."""

    event_id: str
    message: dict[str, Any]
    clip: bytes | None = field(default=None, repr=False)
    snapshot: bytes | None = field(default=None, repr=False)
    overlay: dict[str, Any] | None = field(default=None, repr=False)
    snapshot_at: tuple[float, float] | None = None
    """(clip start, media time to show): the snapshot is still to be taken, off the ingest thread."""

    @property
    def size(self) -> int:
        return len(json.dumps(self.message)) + len(self.clip or b"") + len(self.snapshot or b"") + (
            len(json.dumps(self.overlay)) if self.overlay else 0)


@dataclass
class SpooledEvent:
    event_id: str
    path: Path
    size: int
    violation: bool

    @property
    def message_path(self) -> Path:
        return self.path / EVENT_FILE

    @property
    def clip_path(self) -> Path:
        return self.path / CLIP_FILE

    @property
    def snapshot_path(self) -> Path:
        return self.path / SNAPSHOT_FILE

    def message(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.message_path.read_text())
        return data


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


class Spool:
    """One camera's spool folder. Not thread-safe: one owner thread calls it (the worker's delivery thread)."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.dir = directory
        self.max_bytes = max_bytes
        self.dir.mkdir(parents=True, exist_ok=True)
        self.events: dict[str, SpooledEvent] = {}
        self.waiting: deque[EvidenceBundle] = deque()
        """Events that could not be written (disk full), oldest first; retried by :meth:`retry_waiting`."""
        self.dropped = 0
        self._recover()

    # --- state -------------------------------------------------------------------------------------------------

    @property
    def bytes(self) -> int:
        return sum(e.size for e in self.events.values())

    def __len__(self) -> int:
        return len(self.events)

    def oldest_first(self) -> list[SpooledEvent]:
        return [self.events[k] for k in sorted(self.events)]  # ULIDs sort by creation time

    def _recover(self) -> None:
        staging = self.dir / STAGING
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        for child in sorted(self.dir.iterdir()):
            if not child.is_dir() or child.name.startswith("."):
                continue
            if not (child / EVENT_FILE).is_file():
                log.warning("spool %s: removing incomplete event folder %s", self.dir, child.name)
                shutil.rmtree(child, ignore_errors=True)
                continue
            try:
                msg = json.loads((child / EVENT_FILE).read_text())
            except (OSError, ValueError) as exc:
                log.error("spool %s: unreadable event %s (%s); moving it aside", self.dir, child.name, exc)
                child.rename(child.with_name("." + child.name + ".bad"))
                continue
            self.events[child.name] = SpooledEvent(child.name, child, _dir_size(child),
                                                   msg.get("type") in VIOLATION_TYPES)
        if self.events:
            log.info("spool %s: %d event(s), %d bytes waiting for the server's ack", self.dir, len(self.events),
                     self.bytes)

    # --- writing -------------------------------------------------------------------------------------------------

    def put(self, bundle: EvidenceBundle) -> SpooledEvent | None:
        """Write ``bundle`` durably; None when the disk is full (it then waits in memory, see :meth:`retry_waiting`)."""
        if self.waiting and self.waiting[0] is not bundle:
            self.waiting.append(bundle)  # keep the order: older events waiting go to disk first
            self.retry_waiting()
            return self.events.get(bundle.event_id)
        return self._put(bundle)

    def _put(self, bundle: EvidenceBundle) -> SpooledEvent | None:
        size = bundle.size
        if size > self.max_bytes and (bundle.clip is not None or bundle.snapshot is not None):
            log.error("spool %s: event %s with its evidence (%d bytes) is larger than the whole spool "
                      "(max_bytes %d); keeping the event without clip and snapshot", self.dir, bundle.event_id,
                      size, self.max_bytes)
            bundle.clip = bundle.snapshot = None
            bundle.message.update({"clip": None, "clip_chunks": 0, "snapshot_sha256": None,
                                   "clip_dropped": "larger than the edge spool"})
            size = bundle.size
        self._make_room(size, bundle.event_id)
        staging = self.dir / STAGING / bundle.event_id
        final = self.dir / bundle.event_id
        try:
            staging.mkdir(parents=True, exist_ok=True)
            if bundle.clip is not None:
                _write_durably(staging / CLIP_FILE, bundle.clip)
            if bundle.snapshot is not None:
                _write_durably(staging / SNAPSHOT_FILE, bundle.snapshot)
            if bundle.overlay is not None:
                _write_durably(staging / OVERLAY_FILE, json.dumps(bundle.overlay).encode())
            _write_durably(staging / EVENT_FILE, json.dumps(bundle.message, separators=(",", ":")).encode())
            fsync_dir(staging)
            os.replace(staging, final)
            fsync_dir(self.dir)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                if not self.waiting or self.waiting[0] is not bundle:
                    self.waiting.appendleft(bundle)
                log.error("spool %s: disk full writing event %s (%s); keeping it in memory (%d waiting) "
                          "until space returns", self.dir, bundle.event_id, exc.strerror, len(self.waiting))
                return None
            raise
        if self.waiting and self.waiting[0] is bundle:
            self.waiting.popleft()
        spooled = SpooledEvent(bundle.event_id, final, _dir_size(final),
                               bundle.message.get("type") in VIOLATION_TYPES)
        self.events[bundle.event_id] = spooled
        return spooled

    def retry_waiting(self) -> int:
        """Write events that waited for disk space; returns how many were written."""
        written = 0
        while self.waiting:
            if self._put(self.waiting[0]) is None:
                break
            written += 1
        if written:
            log.warning("spool %s: disk space back: %d waiting event(s) written", self.dir, written)
        return written

    def _make_room(self, size: int, for_event: str) -> None:
        while self.events and self.bytes + size > self.max_bytes:
            # Non-violations go first (none exist yet), then the oldest.
            victim = min(self.events.values(), key=lambda e: (e.violation, e.event_id))
            self.dropped += 1
            log.error("SPOOL FULL (%s, max_bytes %d): DROPPING unacknowledged event %s (%d bytes) to make room "
                      "for %s; %d dropped so far. Raise spool.max_bytes or check the server/broker link.",
                      self.dir, self.max_bytes, victim.event_id, victim.size, for_event, self.dropped)
            self.delete(victim.event_id)

    def delete(self, event_id: str) -> bool:
        """Remove an event (after the server's ack). The event file goes first, so a crash mid-way leaves a
        folder that :meth:`_recover` removes rather than a half event that would be re-sent."""
        spooled = self.events.pop(event_id, None)
        if spooled is None:
            return False
        try:
            spooled.message_path.unlink(missing_ok=True)
            shutil.rmtree(spooled.path, ignore_errors=True)
            fsync_dir(self.dir)
        except OSError as exc:
            log.error("spool %s: cannot delete %s: %s", self.dir, event_id, exc)
        return True
