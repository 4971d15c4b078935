"""The storage contract: a tiny interface (list, get, put, delete), object keys and atomic local writes.

Keys are always ``/``-separated and relative to the store's root; `check_key` refuses any key that could
escape it. Backends: `tasks.infra.storage.local` (a folder) and `tasks.infra.storage.s3` (boto3).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from tasks.infra.errors import UnsafeKeyError


@dataclass(frozen=True)
class ObjectInfo:
    """What a listing says about one object, enough to tell whether it changed."""

    key: str
    size: int
    etag: str
    last_modified: float


class Storage(Protocol):
    """The storage contract every backend meets (tests run the same suite against each)."""

    url: str

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Yield objects whose key starts with ``prefix``, in key order."""

    def get(self, key: str) -> bytes:
        """Return an object's bytes; raise `StorageError` subclasses on failure."""

    def put(self, key: str, data: bytes) -> None:
        """Write an object so that readers see either the old or the new bytes, never a mix."""

    def delete(self, key: str) -> None:
        """Remove an object; deleting a missing key is not an error."""


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key, else raise `UnsafeKeyError`.

    Refuses absolute keys, ``..`` segments, backslashes and NUL, so no key can escape a root folder.
    """
    parts = PurePosixPath(key).parts
    if not key or key.startswith("/") or "\\" in key or "\x00" in key or ".." in parts:
        raise UnsafeKeyError(f"object key {key!r} is not a safe relative key (absolute, '..', '\\' or NUL)")
    return key


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder, fsync, then `os.replace`.

    The file is made world-readable (0644: mkstemp's 0600 would hide published reports from a web
    server) and the folder entry is flushed too, so the new name survives a crash.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Flush a folder entry to disk where the platform allows it (best effort)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def content_hash(data: bytes) -> str:
    """A short, stable content hash (hex) used for change detection and ids."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()
