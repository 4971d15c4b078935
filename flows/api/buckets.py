"""The bucket a request names, checked: allowed by the deployment, and there."""

from __future__ import annotations

from fastapi.concurrency import run_in_threadpool

from flows.api.errors import ApiError
from flows.api.security import BucketNotAllowed, resolve_bucket
from tasks.infra.errors import BucketNotFoundError, StorageError
from tasks.infra.settings import Settings
from tasks.infra.storage import open_storage


def check_bucket(bucket_url: str, settings: Settings) -> None:
    """Refuse a bucket that does not exist (404) or cannot be reached now (503) before queueing a job on it."""
    try:
        open_storage(bucket_url, settings=settings)
    except BucketNotFoundError:
        raise ApiError(404, "bucket not found") from None
    except StorageError as exc:
        raise ApiError(503, f"the bucket could not be reached: {type(exc).__name__}") from None


def allowed_bucket(bucket: str, settings: Settings) -> str:
    """The URL of a bucket the deployment serves (404 for any other, without saying which are served)."""
    try:
        return resolve_bucket(bucket, settings.api_buckets)
    except BucketNotAllowed as exc:
        raise ApiError(404, str(exc)) from None


async def served_bucket(bucket: str, settings: Settings) -> str:
    """`allowed_bucket`, then checked to exist (in a worker thread: storage calls block)."""
    bucket_url = allowed_bucket(bucket, settings)
    await run_in_threadpool(check_bucket, bucket_url, settings)
    return bucket_url
