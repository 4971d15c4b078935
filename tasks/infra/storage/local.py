"""A local folder used as a bucket or an output location (``file://<folder>`` or a plain path)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

from tasks.infra.errors import BucketNotFoundError, ObjectNotFoundError, StorageError, UnsafeKeyError
from tasks.infra.storage.base import ObjectInfo, atomic_write, check_key


class LocalStorage:
    """A folder used as a bucket. Writes are atomic (temp file, fsync, `os.replace`)."""

    def __init__(self, root: Path, *, create: bool = False) -> None:
        self.root = root.resolve()
        self.url = f"file://{self.root}"
        if create:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise folder_error(exc, f"cannot create the folder {self.root}") from None
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
            raise ObjectNotFoundError(f"object {key!r} is gone from {self.url} (deleted while the run was listing?)") \
                from None
        except OSError as exc:
            raise StorageError(f"cannot read {key!r} from {self.url}: {exc.strerror}") from None

    def put(self, key: str, data: bytes) -> None:
        """Write atomically: readers see the old file or the new one, never a partial one."""
        try:
            atomic_write(self._path(key), data)
        except OSError as exc:
            raise folder_error(exc, f"cannot write {key!r} to {self.url}") from None

    def delete(self, key: str) -> None:
        """Remove a file if present, and the folders it leaves empty (S3 has no folders to leave behind)."""
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise folder_error(exc, f"cannot delete {key!r} from {self.url}") from None
        for parent in path.parents:
            if parent == self.root or not parent.is_relative_to(self.root):
                break
            try:
                parent.rmdir()
            except OSError:
                break  # not empty (or gone): stop climbing


def folder_error(exc: OSError, what: str) -> StorageError:
    """An OS error on a folder as one line: what failed, why, and what to do."""
    fixes = {errno.ENOSPC: "the disk is full: free space there or set THEMESIFT_OUTPUT_URL to another place",
             errno.EDQUOT: "the disk quota is used up: free space there or set THEMESIFT_OUTPUT_URL elsewhere",
             errno.EROFS: "it is on a read-only file system: set THEMESIFT_OUTPUT_URL to a writable place",
             errno.EACCES: "permission denied: let this user write there or set THEMESIFT_OUTPUT_URL elsewhere",
             errno.EPERM: "not permitted: let this user write there or set THEMESIFT_OUTPUT_URL elsewhere"}
    return StorageError(f"{what}: {fixes.get(exc.errno, exc.strerror or str(exc))}")
