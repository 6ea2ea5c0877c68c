"""A case as one zip archive: the violation, each event's JSON, clip and snapshot, their hashes, the review history.

Nothing here knows HTTP. The archive is written to a spooled temporary file (clips may be large); clips and
JPEGs are stored, not deflated (they are compressed already). ``SHA256SUMS`` lists every other file in the
format ``sha256sum -c`` reads, and ``hashes.json`` says for each clip whether the stored bytes still match the
sha256 the edge sent with the event.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

from server.clipstore import ClipStore

SPOOL_IN_MEMORY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class EvidenceFiles:
    """One event of the case: its JSON and where its clip and snapshot lie in the clip store (or None)."""

    event_id: str
    event: dict[str, Any]
    clip_key: str | None
    clip_sha256: str | None
    snapshot_key: str | None


def _hash_file(store: ClipStore, key: str) -> str:
    digest = hashlib.sha256()
    with store.open(key) as f:
        for block in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_clip(store: ClipStore, key: str | None, expected_sha256: str | None) -> dict[str, Any]:
    """The stored clip's sha256 now, against the one the edge sent: ``{sha256, expected_sha256, verified}``."""
    if key is None or store.size(key) is None:
        return {"sha256": None, "expected_sha256": expected_sha256, "verified": False}
    actual = _hash_file(store, key)
    return {"sha256": actual, "expected_sha256": expected_sha256, "verified": actual == expected_sha256}


def write_case_archive(store: ClipStore, case: dict[str, Any], audit: list[dict[str, Any]],
                       events: Iterable[EvidenceFiles]) -> IO[bytes]:
    """The archive of one case, rewound, ready to stream."""
    # Returned open to the caller, who streams and then drops it.
    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115
    sums: list[tuple[str, str]] = []
    hashes: dict[str, Any] = {}

    def put_json(zf: zipfile.ZipFile, name: str, data: Any) -> None:
        raw = json.dumps(data, indent=2, default=str).encode()
        zf.writestr(zipfile.ZipInfo(name), raw, compress_type=zipfile.ZIP_DEFLATED)
        sums.append((hashlib.sha256(raw).hexdigest(), name))

    def put_blob(zf: zipfile.ZipFile, name: str, key: str) -> str:
        digest = hashlib.sha256()
        with store.open(key) as src, zf.open(zipfile.ZipInfo(name), "w", force_zip64=True) as dst:
            for block in iter(lambda: src.read(1024 * 1024), b""):
                digest.update(block)
                dst.write(block)
        sums.append((digest.hexdigest(), name))
        return digest.hexdigest()

    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        put_json(zf, "case.json", case)
        put_json(zf, "review_history.json", audit)
        for ev in events:
            base = f"events/{ev.event_id}"
            put_json(zf, f"{base}/event.json", ev.event)
            entry: dict[str, Any] = {"clip_expected_sha256": ev.clip_sha256, "clip_sha256": None,
                                     "clip_verified": False, "snapshot_sha256": None}
            if ev.clip_key is not None and store.size(ev.clip_key) is not None:
                entry["clip_sha256"] = put_blob(zf, f"{base}/clip.mp4", ev.clip_key)
                entry["clip_verified"] = entry["clip_sha256"] == ev.clip_sha256
            if ev.snapshot_key is not None and store.size(ev.snapshot_key) is not None:
                entry["snapshot_sha256"] = put_blob(zf, f"{base}/snapshot.jpg", ev.snapshot_key)
            hashes[ev.event_id] = entry
        put_json(zf, "hashes.json", hashes)
        zf.writestr("SHA256SUMS", "".join(f"{h}  {name}\n" for h, name in sums))
    out.seek(0)
    return out
