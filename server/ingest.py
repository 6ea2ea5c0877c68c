"""MQTT ingest, without MQTT: what to do with one message on one topic, and which ack to send back.

:class:`Ingest` is idempotent by ``event_id`` (primary keys, ``INSERT … ON CONFLICT DO NOTHING``) and keeps clip
chunks in the shared database until the clip is whole, so any replica may receive any chunk and whichever sees
the last piece assembles, verifies (sha256) and stores the clip. A malformed message is logged, counted and
answered with a "rejected" ack where its event id can be told; it never stops ingest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from edge.events import Event
from server.clipstore import ClipStore
from server.config import IngestConfig
from server.db import Camera, ClipChunk, EventRow, insert_ignore, lock_key, utcnow
from server.metrics import COUNTERS
from server.rules import Rules
from server.tagging import tag_event

log = logging.getLogger(__name__)

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
TOPIC_ROOT = "edgewatch/v1"
OPEN_CLIP = ("pending", "incomplete", "corrupt")


class RejectedError(ValueError):
    """A message that breaks the wire protocol; the text is the ack's reason."""


@dataclass(frozen=True)
class Ack:
    site: str
    camera: str
    event_id: str | None
    status: Literal["stored", "missing", "rejected"]
    missing_chunks: list[int] = field(default_factory=list)
    reason: str | None = None

    @property
    def topic(self) -> str:
        return f"{TOPIC_ROOT}/{self.site}/{self.camera}/ack"

    def payload(self) -> bytes:
        return json.dumps({"event_id": self.event_id, "status": self.status,
                           "missing_chunks": self.missing_chunks, "reason": self.reason}).encode()


class WireFields(BaseModel):
    """What the MQTT event message adds to the contract event."""

    model_config = ConfigDict(extra="ignore")

    site: str = Field(pattern=ID_RE.pattern)
    clip_chunks: int = Field(default=0, ge=0)
    chunk_bytes: int = Field(default=262144, ge=1)
    snapshot_sha256: str | None = Field(default=None, pattern=SHA256_RE.pattern)


class Heartbeat(BaseModel):
    model_config = ConfigDict(extra="allow")

    state: Literal["online", "offline"]
    t: float | str | None = None
    stream: str | None = Field(default=None, description="the camera's stream: connecting, up, down or ended")

    @property
    def camera_state(self) -> Literal["online", "offline"]:
        """What inspectors see: a worker that is connected but whose camera stream is down is offline too."""
        return "offline" if self.state == "offline" or self.stream == "down" else "online"


def clip_key(site: str, camera: str, event_id: str) -> str:
    return f"{site}/{camera}/{event_id}.mp4"


def snapshot_key(site: str, camera: str, event_id: str) -> str:
    return f"{site}/{camera}/{event_id}.jpg"


def parse_time(value: str) -> datetime:
    t = datetime.fromisoformat(value)
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


class Ingest:
    """Handles messages of the wire protocol (docs/server.md) and publishes acks through ``publish``."""

    def __init__(self, sessions: sessionmaker[Session], store: ClipStore, rules: Rules, config: IngestConfig,
                 publish: Callable[[Ack], None]) -> None:
        self.sessions = sessions
        self.store = store
        self.rules = rules
        self.config = config
        self.publish = publish

    # --- dispatch --------------------------------------------------------------------------------------------

    def handle(self, topic: str, payload: bytes) -> None:
        """Handle one message; never raises (a bad message must not stop ingest)."""
        parts = topic.split("/")
        kind = parts[4] if len(parts) >= 5 else "unknown"
        try:
            if len(parts) < 5 or "/".join(parts[:2]) != TOPIC_ROOT:
                raise RejectedError("not an edgewatch/v1 topic")
            site, camera = parts[2], parts[3]
            if not (ID_RE.match(site) and ID_RE.match(camera)):
                raise RejectedError("site or camera id not allowed")
            if kind == "event" and len(parts) == 5:
                self.on_event(site, camera, payload)
            elif kind == "clip" and len(parts) == 7:
                self.on_chunk(site, camera, parts[5], parts[6], payload)
            elif kind == "snapshot" and len(parts) == 6:
                self.on_snapshot(site, camera, parts[5], payload)
            elif kind == "status" and len(parts) == 5:
                self.on_status(site, camera, payload)
            elif kind == "ack" and len(parts) == 5:
                return  # our own acks, if someone subscribed us to them
            else:
                raise RejectedError("unknown topic")
            COUNTERS.inc("edgewatch_ingest_messages_total", kind=kind, result="ok")
        except RejectedError as exc:
            COUNTERS.inc("edgewatch_ingest_messages_total", kind=kind, result="rejected")
            log.warning("rejected message on %r (%d bytes): %s", topic[:200], len(payload), exc)
        except Exception:
            COUNTERS.inc("edgewatch_ingest_messages_total", kind=kind, result="error")
            log.exception("error handling message on %r; it will be redelivered or asked for again", topic[:200])

    def _send(self, ack: Ack) -> None:
        COUNTERS.inc("edgewatch_acks_total", status=ack.status)
        self.publish(ack)

    # --- event -----------------------------------------------------------------------------------------------

    def on_event(self, site: str, camera: str, payload: bytes) -> None:
        event_id: str | None = None
        try:
            if len(payload) > self.config.max_event_bytes:
                raise RejectedError(f"event message of {len(payload)} bytes exceeds {self.config.max_event_bytes}")
            try:
                data = json.loads(payload)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise RejectedError(f"not JSON: {exc}") from None
            if not isinstance(data, dict):
                raise RejectedError("event is not a JSON object")
            raw_id = data.get("event_id")
            event_id = raw_id if isinstance(raw_id, str) and ID_RE.match(raw_id) else None
            row, snapshot_sha = self._validate_event(site, camera, data)
        except RejectedError as exc:
            self._send(Ack(site, camera, event_id, "rejected", reason=str(exc)))
            raise

        with self.sessions.begin() as s:
            inserted = insert_ignore(s, EventRow, row)
            if inserted:
                ev = s.get(EventRow, row["event_id"])
                assert ev is not None
                tag_event(s, self.rules, ev)
                self._touch_camera(s, site, camera, last_event_at=ev.started_at)
            existing = s.get(EventRow, row["event_id"])
            assert existing is not None
            status, received_at = existing.clip_status, existing.received_at
        if snapshot_sha:
            self._check_snapshot(site, camera, row["event_id"], snapshot_sha)
        if status in ("none", "stored"):
            self._send(Ack(site, camera, row["event_id"], "stored"))
        elif inserted:
            self.try_complete(row["event_id"])
        elif not self.try_complete(row["event_id"]) and \
                utcnow() - received_at >= timedelta(seconds=self.config.missing_grace_s):
            self._send_missing(row["event_id"])

    def _validate_event(self, site: str, camera: str, data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        try:
            event = Event.model_validate(data)
            wire = WireFields.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise RejectedError(f"{where}: {first['msg']}") from None
        if not ID_RE.match(event.event_id):
            raise RejectedError("event_id not allowed")
        if event.camera_id != camera or wire.site != site:
            raise RejectedError("camera_id/site differ from the topic")
        place = self.rules.cameras.get(camera)
        if place is not None and place.site != site:
            raise RejectedError(f"camera {camera} belongs to site {place.site}, not {site}")
        try:
            started_at = parse_time(event.started_at)
        except ValueError:
            raise RejectedError("started_at is not an ISO 8601 time") from None
        for name, value in (("zone", event.zone), ("release.floor", event.release and event.release.floor),
                            ("release.column", event.release and event.release.column)):
            if isinstance(value, str) and len(value) > 64:
                raise RejectedError(f"{name} longer than 64 characters")
        clip = event.clip
        if clip is None:
            if wire.clip_chunks:
                raise RejectedError("clip_chunks without a clip")
            clip_status = "none"
        else:
            if not SHA256_RE.match(clip.sha256):
                raise RejectedError("clip.sha256 is not 64 lowercase hex digits")
            if not 0 < clip.bytes <= self.config.max_clip_bytes:
                raise RejectedError(f"clip.bytes must be 1..{self.config.max_clip_bytes}")
            if wire.chunk_bytes > self.config.max_chunk_bytes:
                raise RejectedError(f"chunk_bytes above {self.config.max_chunk_bytes}")
            if wire.clip_chunks != math.ceil(clip.bytes / wire.chunk_bytes):
                raise RejectedError("clip_chunks does not match clip.bytes / chunk_bytes")
            clip_status = "pending"
        release = event.release
        row = {
            "event_id": event.event_id, "site": site, "camera_id": camera, "type": event.type,
            "started_at": started_at, "received_at": utcnow(), "confidence": event.confidence,
            "floor": release.floor if release else None, "column": release.column if release else None,
            "zone": event.zone, "payload": data, "clip_status": clip_status,
            "clip_sha256": clip.sha256 if clip else None, "clip_bytes": clip.bytes if clip else None,
            "clip_chunks": wire.clip_chunks, "chunk_bytes": wire.chunk_bytes, "clip_key": None,
            "snapshot_sha256": wire.snapshot_sha256, "violation_id": None,
        }
        return row, wire.snapshot_sha256

    @staticmethod
    def _touch_camera(s: Session, site: str, camera: str, **values: Any) -> None:
        if not insert_ignore(s, Camera, {"site": site, "camera_id": camera, **values}):
            s.execute(update(Camera).where(Camera.site == site, Camera.camera_id == camera).values(**values))

    # --- clip chunks -----------------------------------------------------------------------------------------

    def on_chunk(self, site: str, camera: str, event_id: str, seq_text: str, payload: bytes) -> None:
        if not ID_RE.match(event_id):
            raise RejectedError("event_id not allowed")
        if not seq_text.isdigit() or len(seq_text) > 9:
            raise RejectedError("chunk seq is not a number")
        seq = int(seq_text)
        if seq >= math.ceil(self.config.max_clip_bytes / 1024):
            raise RejectedError("chunk seq out of range")
        if not 0 < len(payload) <= self.config.max_chunk_bytes:
            raise RejectedError(f"chunk of {len(payload)} bytes (allowed 1..{self.config.max_chunk_bytes})")
        with self.sessions.begin() as s:
            ev = s.get(EventRow, event_id)
            if ev is not None:
                if ev.clip_status not in OPEN_CLIP:
                    return  # already stored (a duplicate or a resend after the ack was lost)
                if ev.site != site or ev.camera_id != camera:
                    raise RejectedError("chunk topic's site/camera differ from the event's")
                if seq >= ev.clip_chunks:
                    raise RejectedError(f"chunk {seq} beyond clip_chunks={ev.clip_chunks}")
            insert_ignore(s, ClipChunk, {"event_id": event_id, "seq": seq, "data": payload,
                                         "received_at": utcnow()})
        # Checked after the commit: of two replicas storing the last two chunks, the later check sees both.
        self.try_complete(event_id)

    def try_complete(self, event_id: str) -> bool:
        """Assemble, verify and store the clip when every chunk is in; True when it is stored now."""
        with self.sessions.begin() as s:
            ev = s.get(EventRow, event_id)
            if ev is None or ev.clip_status not in OPEN_CLIP:
                return False
            have = s.scalars(select(ClipChunk.seq).where(ClipChunk.event_id == event_id)).all()
            if len(set(have) & set(range(ev.clip_chunks))) < ev.clip_chunks:
                return False
            lock_key(s, f"clip|{event_id}")
            ev = s.get(EventRow, event_id, populate_existing=True)
            if ev is None or ev.clip_status not in OPEN_CLIP:
                return False
            chunks = s.scalars(
                select(ClipChunk.data).where(ClipChunk.event_id == event_id, ClipChunk.seq < ev.clip_chunks)
                .order_by(ClipChunk.seq)).all()
            data = b"".join(chunks)
            s.execute(delete(ClipChunk).where(ClipChunk.event_id == event_id))
            if len(data) != ev.clip_bytes or hashlib.sha256(data).hexdigest() != ev.clip_sha256:
                ev.clip_status = "corrupt"
                ack = Ack(ev.site, ev.camera_id, event_id, "rejected", list(range(ev.clip_chunks)),
                          reason=f"clip sha256/size mismatch ({len(data)} bytes): send the clip again")
                log.warning("event %s: clip failed verification (%d bytes); chunks dropped", event_id, len(data))
                stored = False
            else:
                key = clip_key(ev.site, ev.camera_id, event_id)
                self.store.put(key, data)
                ev.clip_status, ev.clip_key = "stored", key
                ack = Ack(ev.site, ev.camera_id, event_id, "stored")
                stored = True
        COUNTERS.inc("edgewatch_ingest_messages_total", kind="clip", result="stored" if stored else "corrupt")
        self._send(ack)
        return stored

    def _send_missing(self, event_id: str) -> None:
        with self.sessions.begin() as s:
            ev = s.get(EventRow, event_id)
            if ev is None or ev.clip_status not in OPEN_CLIP:
                return
            have = set(s.scalars(select(ClipChunk.seq).where(ClipChunk.event_id == event_id)).all())
            missing = [i for i in range(ev.clip_chunks) if i not in have]
            site, camera = ev.site, ev.camera_id
        self._send(Ack(site, camera, event_id, "missing", missing, reason="clip incomplete"))

    def sweep(self, now: datetime | None = None) -> int:
        """Flag clips still incomplete after ``clip_timeout_s`` and send their 'missing' acks; the event stays."""
        cutoff = (now or utcnow()) - timedelta(seconds=self.config.clip_timeout_s)
        with self.sessions.begin() as s:
            ids = s.scalars(select(EventRow.event_id).where(
                EventRow.clip_status == "pending", EventRow.received_at < cutoff).limit(1000)).all()
            claimed = []
            for event_id in ids:  # claim each with a conditional update, so one replica reports it
                result = s.execute(update(EventRow).where(EventRow.event_id == event_id,
                                                          EventRow.clip_status == "pending")
                                   .values(clip_status="incomplete"))
                if getattr(result, "rowcount", 0):
                    claimed.append(event_id)
        for event_id in claimed:
            log.warning("event %s: clip incomplete after %.0f s; kept and flagged", event_id,
                        self.config.clip_timeout_s)
            self._send_missing(event_id)
        return len(claimed)

    # --- snapshot, status --------------------------------------------------------------------------------------

    def on_snapshot(self, site: str, camera: str, event_id: str, payload: bytes) -> None:
        if not ID_RE.match(event_id):
            raise RejectedError("event_id not allowed")
        if not 0 < len(payload) <= self.config.max_snapshot_bytes:
            raise RejectedError(f"snapshot of {len(payload)} bytes (allowed 1..{self.config.max_snapshot_bytes})")
        with self.sessions() as s:
            ev = s.get(EventRow, event_id)
            expected = ev.snapshot_sha256 if ev is not None else None
        if expected is not None and hashlib.sha256(payload).hexdigest() != expected:
            raise RejectedError("snapshot sha256 mismatch")
        self.store.put(snapshot_key(site, camera, event_id), payload)

    def _check_snapshot(self, site: str, camera: str, event_id: str, expected: str) -> None:
        """A snapshot that came before its event is verified once the event says what it should be."""
        key = snapshot_key(site, camera, event_id)
        if self.store.size(key) is None:
            return
        with self.store.open(key) as f:
            if hashlib.sha256(f.read()).hexdigest() != expected:
                log.warning("event %s: earlier snapshot fails its sha256; deleted", event_id)
                self.store.delete(key)

    def on_status(self, site: str, camera: str, payload: bytes) -> None:
        if not payload:
            return  # a cleared retained message
        if len(payload) > 16384:
            raise RejectedError("status message too large")
        try:
            beat = Heartbeat.model_validate_json(payload)
        except ValidationError as exc:
            raise RejectedError(f"bad heartbeat: {exc.errors()[0]['msg']}") from None
        with self.sessions.begin() as s:
            self._touch_camera(s, site, camera, state=beat.camera_state, heartbeat=beat.model_dump(mode="json"),
                               last_heartbeat_at=utcnow())
