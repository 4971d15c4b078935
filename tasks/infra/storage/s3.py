"""The S3 store: any S3-compatible endpoint through boto3.

Credentials come from the standard AWS chain (environment, shared config/credentials files and
``AWS_PROFILE``, instance or container roles); themesift never reads them itself. Listing is paginated,
reads stream the body, writes go through boto3's transfer manager (multipart above 64 MiB). A single PUT
is atomic in S3, so ``latest.json`` flips in one step. Every botocore failure is translated here into a
`StorageError` subclass that names the bucket, the cause and the fix.

Transient faults are retried, with a bounded total: every call through botocore's ``standard`` retry mode
(5xx, throttling, dropped and timed-out connections; up to :data:`ATTEMPTS` attempts with jittered exponential
backoff, at most 20 s apart), and a body read that breaks off midway by reading the object again (up to
:data:`ATTEMPTS` times). A call that needed retries says so in the run's log.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from urllib.parse import urlparse

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from tasks.infra.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    ConfigError,
    EndpointUnreachableError,
    ObjectNotFoundError,
    StorageError,
)
from tasks.infra.stage import stage_logger
from tasks.infra.storage.base import ObjectInfo, check_key

DENIED_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden",
                "ExpiredToken", "InvalidToken", "AllAccessDisabled", "AccountProblem"}
MISSING_BUCKET_CODES = {"NoSuchBucket"}
UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)
TRANSFER = TransferConfig(multipart_threshold=64 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024)
READ_BLOCK = 1 << 20
#: Attempts per call (botocore's standard mode) and per object read; the backoff between them doubles from
#: :data:`READ_BACKOFF_S`.
ATTEMPTS = 6
READ_BACKOFF_S = 0.2
#: A body read that breaks off midway (the GET itself succeeded): read the object again.
BROKEN_READ = (ConnectionClosedError, ReadTimeoutError, ResponseStreamingError, IncompleteReadError)


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → (``bucket``, ``some/prefix/``); the root prefix ends with ``/`` or is empty."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ConfigError(f"{url!r} is not an S3 URL; use s3://bucket or s3://bucket/prefix")
    root = parsed.path.strip("/")
    return parsed.netloc, f"{root}/" if root else ""


class S3Storage:
    """A bucket (or a prefix inside one) used as the store."""

    def __init__(self, url: str, *, endpoint_url: str | None = None, region: str | None = None,
                 addressing_style: str = "auto") -> None:
        self.url = url.rstrip("/")
        self.bucket, self.root = parse_s3_url(url)
        self.endpoint = endpoint_url or "AWS"
        config = Config(retries={"max_attempts": ATTEMPTS, "mode": "standard"}, connect_timeout=5, read_timeout=60,
                        s3={"addressing_style": addressing_style})
        try:
            self.client = boto3.session.Session(region_name=region).client("s3", endpoint_url=endpoint_url,
                                                                           config=config)
        except (BotoCoreError, ValueError) as exc:
            raise ConfigError(f"cannot set up an S3 client for {url} ({exc}); check THEMESIFT_S3_ENDPOINT_URL "
                              "and THEMESIFT_S3_REGION") from None
        self._call(f"bucket {self.bucket}", self.client.head_bucket, Bucket=self.bucket)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Yield objects under the root whose relative key starts with ``prefix``, in key order."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.root + prefix)
        iterator = iter(pages)
        while True:
            page = self._call(f"s3://{self.bucket}/{self.root}{prefix}", next, iterator, None)
            if page is None:
                return
            for obj in page.get("Contents", []):
                key = obj["Key"][len(self.root) :]
                if key and not key.endswith("/"):  # "folder" marker objects hold no document
                    yield ObjectInfo(key, int(obj["Size"]), obj["ETag"].strip('"'), obj["LastModified"].timestamp())

    def get(self, key: str) -> bytes:
        """Stream an object's body into memory (sizes are capped by the caller from the listing)."""
        full = self.root + check_key(key)
        what = f"s3://{self.bucket}/{full}"
        attempt = 1
        while True:  # every pass returns, raises, or reads the object again
            body = self._call(what, self.client.get_object, Bucket=self.bucket, Key=full)["Body"]
            try:
                return b"".join(iter(lambda b=body: b.read(READ_BLOCK), b""))
            except BROKEN_READ as exc:
                if attempt == ATTEMPTS:
                    raise translate_error(exc, what, bucket=self.bucket, endpoint=self.endpoint) from None
                stage_logger().warning(f"S3: reading {what} broke off ({type(exc).__name__}); reading it again "
                                       f"(attempt {attempt + 1} of {ATTEMPTS})")
                time.sleep(READ_BACKOFF_S * 2 ** (attempt - 1))
                attempt += 1
            except Exception as exc:  # noqa: BLE001 - translated like every other botocore failure
                raise translate_error(exc, what, bucket=self.bucket, endpoint=self.endpoint) from None
            finally:
                body.close()

    def put(self, key: str, data: bytes) -> None:
        """Upload (multipart when large); S3 makes the new object visible all at once."""
        full = self.root + check_key(key)
        self._call(f"s3://{self.bucket}/{full}", self.client.upload_fileobj, io.BytesIO(data), self.bucket, full,
                   Config=TRANSFER)

    def delete(self, key: str) -> None:
        """Delete an object (S3 does not mind a missing key)."""
        full = self.root + check_key(key)
        self._call(f"s3://{self.bucket}/{full}", self.client.delete_object, Bucket=self.bucket, Key=full)

    def _call(self, what: str, fn, *args, **kwargs):
        """Run one boto3 call, translating its failure into a `StorageError` that says what to do."""
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every botocore/transfer failure is translated below
            raise translate_error(exc, what, bucket=self.bucket, endpoint=self.endpoint) from None
        retries = result.get("ResponseMetadata", {}).get("RetryAttempts", 0) if isinstance(result, dict) else 0
        if retries:
            stage_logger().warning(f"S3: {what} answered after {retries} retr{'y' if retries == 1 else 'ies'} "
                                   "(transient errors or throttling)")
        return result


def translate_error(exc: Exception, what: str, *, bucket: str, endpoint: str) -> StorageError:
    """Map a boto3/botocore exception to our error tree."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return AccessDeniedError(f"no AWS credentials for {what}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                                 "AWS_PROFILE, or run where an instance role is available")
    if isinstance(exc, UNREACHABLE):
        return EndpointUnreachableError(f"cannot reach the S3 endpoint {endpoint} for {what} "
                                        f"({type(exc).__name__}); check THEMESIFT_S3_ENDPOINT_URL and the network")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in MISSING_BUCKET_CODES or (what == f"bucket {bucket}" and (code == "404" or status == 404)):
            return BucketNotFoundError(f"bucket {bucket!r} does not exist at {endpoint}; create it or fix the "
                                       "bucket URL (THEMESIFT_BUCKET_URL / THEMESIFT_OUTPUT_URL)")
        if code in DENIED_CODES or status == 403:
            return AccessDeniedError(f"access to {what} denied ({code or status}): check the AWS credentials "
                                     "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_PROFILE) and their permissions")
        if code in {"NoSuchKey", "404"}:
            return ObjectNotFoundError(f"{what} does not exist (deleted while the run was listing?)")
        return StorageError(f"S3 error on {what}: {code} {error.get('Message', '')}".strip())
    if isinstance(exc, BotoCoreError):
        return StorageError(f"S3 client error on {what}: {exc}")
    return StorageError(f"S3 call on {what} failed: {type(exc).__name__}: {exc}")
