"""Object storage behind a tiny interface: list, get, put, delete.

A bucket URL picks the implementation: ``file://<folder>`` (or a plain path) is a local folder;
``s3://bucket/prefix`` is any S3-compatible endpoint through boto3 (``tasks/s3.py``). The demo and production run the same code;
only the URL differs. Keys are always ``/``-separated and relative to the store's root.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlparse

from tasks.errors import BucketNotFoundError, ConfigError, StorageError, UnsafeKeyError

if TYPE_CHECKING:
    from tasks.settings import Settings


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


class LocalStorage:
    """A folder used as a bucket. Writes are atomic (temp file, fsync, `os.replace`)."""

    def __init__(self, root: Path, *, create: bool = False) -> None:
        self.root = root.resolve()
        self.url = f"file://{self.root}"
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        if not self.root.is_dir():
            raise BucketNotFoundError(
                f"bucket folder {self.root} does not exist; create it or set THEMESIFT_BUCKET_URL to an existing folder"
            )

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root):
            # A symlink inside the folder can still point outside it.
            raise UnsafeKeyError(f"object key {key!r} resolves outside the bucket folder {self.root}")
        return path

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Yield regular files under the root whose relative key starts with ``prefix``, in key order (as S3 does)."""
        found = []
        for dirpath, _dirnames, filenames in os.walk(self.root):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    found.append((key, Path(dirpath) / name))
        for key, path in sorted(found):
            stat = path.stat(follow_symlinks=False)
            yield ObjectInfo(key, stat.st_size, f"{stat.st_mtime_ns:x}-{stat.st_size:x}", stat.st_mtime)

    def get(self, key: str) -> bytes:
        """Read a file's bytes."""
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise StorageError(f"object {key!r} is gone from {self.url} (deleted while the run was listing?)") from None
        except OSError as exc:
            raise StorageError(f"cannot read {key!r} from {self.url}: {exc.strerror}") from None

    def put(self, key: str, data: bytes) -> None:
        """Write atomically: readers see the old file or the new one, never a partial one."""
        atomic_write(self._path(key), data)

    def delete(self, key: str) -> None:
        """Remove a file if present, and the folders it leaves empty (S3 has no folders to leave behind)."""
        path = self._path(key)
        path.unlink(missing_ok=True)
        for parent in path.parents:
            if parent == self.root or not parent.is_relative_to(self.root):
                break
            try:
                parent.rmdir()
            except OSError:
                break  # not empty (or gone): stop climbing


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


def open_storage(url: str, *, create: bool = False, settings: Settings | None = None) -> Storage:
    """Return the store for a URL: ``file://folder`` (or a plain folder path) or ``s3://bucket/prefix``.

    Args:
        url: the bucket or output URL.
        create: create a missing local folder (for outputs) instead of failing; S3 buckets are never created.
        settings: S3 endpoint, region and addressing; read from the environment when omitted.

    Raises:
        ConfigError: for an unsupported URL. `StorageError` subclasses when the location is unusable.
    """
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        raw = url[len("file://") :] if url.startswith("file://") else url
        return LocalStorage(Path(raw).expanduser(), create=create)
    if parsed.scheme == "s3":
        from tasks.s3 import S3Storage
        from tasks.settings import load_settings

        settings = settings or load_settings()
        return S3Storage(url, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region,
                         addressing_style=settings.s3_addressing_style)
    raise ConfigError(f"unsupported storage URL {url!r}; use s3://bucket/prefix, file://<folder> or a folder path")


def content_hash(data: bytes) -> str:
    """A short, stable content hash (hex) used for change detection and ids."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()
