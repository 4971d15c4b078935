"""Object storage behind a tiny interface: list, get, put, delete.

A bucket URL picks the implementation: ``file://<folder>`` (or a plain path) is a local folder
(`tasks.infra.storage.local`); ``s3://bucket/prefix`` is any S3-compatible endpoint through boto3
(`tasks.infra.storage.s3`). The demo and production run the same code; only the URL differs.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from tasks.infra.errors import ConfigError
from tasks.infra.settings import Settings, load_settings
from tasks.infra.storage.base import ObjectInfo, Storage, atomic_write, check_key, content_hash
from tasks.infra.storage.local import LocalStorage

__all__ = ["PROBE_KEY", "LocalStorage", "ObjectInfo", "Storage", "absolute_url", "atomic_write", "check_key",
           "check_writable", "content_hash", "nested_prefix", "open_storage"]


def absolute_url(url: str) -> str:
    """A storage URL with a local folder made absolute (a worker's flow runs start in another folder)."""
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        raw = url[len("file://"):] if url.startswith("file://") else url
        return f"file://{Path(raw).expanduser().resolve()}"
    return url.rstrip("/")


#: The object the start stage writes and deletes to prove the output location takes writes.
PROBE_KEY = ".themesift-write-probe"


def check_writable(storage: Storage) -> None:
    """Write and delete a small object, so a read-only, full or forbidden output fails before any work.

    Raises:
        StorageError: naming the location, the cause and the fix.
    """
    storage.put(PROBE_KEY, b"themesift checks that it can write here; this object is deleted at once\n")
    storage.delete(PROBE_KEY)


def nested_prefix(bucket_url: str, output_url: str) -> str | None:
    """The output location's key prefix inside the bucket (``"out/"``) when the output lies inside the bucket,
    where the next run would read its own reports; ``""`` when they are the same place; None when apart."""
    def parts(url: str) -> tuple[str, str]:
        parsed = urlparse(absolute_url(url))
        if parsed.scheme == "s3":
            return f"s3://{parsed.netloc}", parsed.path.strip("/")
        return "file://", parsed.path.strip("/")

    (bucket_root, bucket_path), (output_root, output_path) = parts(bucket_url), parts(output_url)
    if bucket_root != output_root:
        return None
    if output_path == bucket_path:
        return ""
    if not bucket_path:
        return output_path + "/"
    return output_path[len(bucket_path) + 1:] + "/" if output_path.startswith(bucket_path + "/") else None


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
        # boto3 costs ~0.4 s to import: only runs that use S3 pay it.
        from tasks.infra.storage.s3 import S3Storage

        settings = settings or load_settings()
        return S3Storage(url, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region,
                         addressing_style=settings.s3_addressing_style)
    raise ConfigError(f"unsupported storage URL {url!r}; use s3://bucket/prefix, file://<folder> or a folder path")
