"""The MQTT wire protocol between edge and server (docs/mqtt.md is the same text for the server's side).

Topics under ``edgewatch/v1/{site}/{camera}/``: ``event`` (the event JSON), ``clip/{event_id}/{seq}`` (raw clip
chunks of at most :data:`CHUNK_BYTES`), ``snapshot/{event_id}`` (the JPEG), ``status`` (retained heartbeat and last
will) and ``ack`` (the server's answers). QoS 1 everywhere.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from edge.events import Event

PREFIX = "edgewatch/v1"
CHUNK_BYTES = 262_144
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_id(value: str, what: str) -> str:
    if not ID_RE.match(value):
        raise ValueError(f"{what} {value!r} must match {ID_RE.pattern} (it is part of MQTT topics)")
    return value


def camera_root(site: str, camera: str) -> str:
    return f"{PREFIX}/{check_id(site, 'site')}/{check_id(camera, 'camera')}"


def event_topic(site: str, camera: str) -> str:
    return f"{camera_root(site, camera)}/event"


def clip_topic(site: str, camera: str, event_id: str, seq: int) -> str:
    return f"{camera_root(site, camera)}/clip/{event_id}/{seq}"


def snapshot_topic(site: str, camera: str, event_id: str) -> str:
    return f"{camera_root(site, camera)}/snapshot/{event_id}"


def status_topic(site: str, camera: str) -> str:
    return f"{camera_root(site, camera)}/status"


def ack_topic(site: str, camera: str) -> str:
    return f"{camera_root(site, camera)}/ack"


def chunk_count(size: int) -> int:
    return math.ceil(size / CHUNK_BYTES)


def clip_chunk(data: bytes, seq: int) -> bytes:
    return data[seq * CHUNK_BYTES : (seq + 1) * CHUNK_BYTES]


def event_message(event: Event, site: str, clip_bytes: int | None, snapshot_sha256: str | None,
                  overlay: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``event`` message: the contract event JSON plus site, chunking and snapshot fields."""
    msg = event.to_json()
    msg["site"] = site
    msg["clip"] = msg.get("clip")  # {"path", "sha256", "bytes"} or null when no clip could be cut
    msg["clip_chunks"] = chunk_count(clip_bytes) if clip_bytes else 0
    msg["chunk_bytes"] = CHUNK_BYTES
    msg["snapshot_sha256"] = snapshot_sha256
    if overlay is not None:
        msg["overlay"] = overlay
    return msg


AckStatus = Literal["stored", "missing", "rejected"]


@dataclass
class Ack:
    event_id: str
    status: AckStatus
    missing_chunks: list[int] = field(default_factory=list)
    reason: str | None = None
    missing_snapshot: bool = False


def parse_ack(payload: bytes) -> Ack:
    """Parse the server's ack; ValueError names what is wrong."""
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise ValueError(f"ack is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("ack must be a JSON object")
    event_id, status = data.get("event_id"), data.get("status")
    if not isinstance(event_id, str) or not event_id:
        raise ValueError("ack without event_id")
    if status not in ("stored", "missing", "rejected"):
        raise ValueError(f"ack status must be stored, missing or rejected, got {status!r}")
    missing = data.get("missing_chunks") or []
    if not isinstance(missing, list) or not all(isinstance(s, int) and s >= 0 for s in missing):
        raise ValueError("missing_chunks must be a list of chunk numbers")
    reason = data.get("reason")
    return Ack(event_id, status, missing, str(reason) if reason is not None else None,
               bool(data.get("missing_snapshot", False)))
