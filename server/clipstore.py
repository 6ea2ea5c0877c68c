"""Where evidence clips and snapshots live: a small interface and its local-disk implementation.

Keys are ``site/camera/event_id.ext`` built from validated ids. An S3-compatible store implements the same five
methods (``put`` → PutObject, ``range`` → GetObject with a Range header, ``size`` → HeadObject, …).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


class ClipStore(Protocol):
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` durably (atomically replacing any older object)."""

    def open(self, key: str) -> BinaryIO:
        """The whole object, for reading; FileNotFoundError when absent."""

    def range(self, key: str, start: int, length: int, block: int = 65536) -> Iterator[bytes]:
        """``length`` bytes from offset ``start``, in blocks."""

    def size(self, key: str) -> int | None:
        """Size in bytes, or None when absent."""

    def delete(self, key: str) -> None:
        """Remove the object (no error when absent)."""


def check_key(key: str) -> str:
    if not _KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"invalid clip store key {key!r}")
    return key


class LocalClipStore:
    """Files under ``root``: written to a temporary name, fsynced, then renamed, so a reader never sees half."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def range(self, key: str, start: int, length: int, block: int = 65536) -> Iterator[bytes]:
        with self.open(key) as f:
            f.seek(start)
            left = length
            while left > 0:
                data = f.read(min(block, left))
                if not data:
                    return
                left -= len(data)
                yield data

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
