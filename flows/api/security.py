"""Who may call the API and which buckets a request may name.

Keys are bearer tokens (``Authorization: Bearer <key>``, Telnyx's scheme); the deployment keeps only their
SHA-256 digests (``THEMESIFT_API_KEY_HASHES``), compared in constant time. Buckets come from an allow-list
(``THEMESIFT_API_BUCKETS``): a request names a bucket, never a path on the server.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable

KEY_PREFIX = "tsk_"
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")
#: A bucket name as S3 spells one (lower case, digits, dots and hyphens): never a path.
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class BucketNotAllowed(ValueError):
    """The request named a bucket the deployment does not serve."""


def new_api_key() -> str:
    """A fresh random key (32 bytes of entropy)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """The digest a deployment stores for ``key``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def check_key_hashes(hashes: Iterable[str]) -> list[str]:
    """The configured digests, lower-cased; refuses anything that is not a SHA-256 hex digest.

    Raises:
        ValueError: naming the bad entry's position (never its value).
    """
    checked = []
    for i, digest in enumerate(hashes):
        digest = digest.strip().lower()
        if not _HEX_DIGEST.fullmatch(digest):
            raise ValueError(f"THEMESIFT_API_KEY_HASHES[{i}] is not a SHA-256 hex digest (64 hex characters); "
                             "make one with `themesift api-key`")
        checked.append(digest)
    return checked


def key_matches(authorization: str | None, hashes: Iterable[str]) -> bool:
    """True when the ``Authorization`` header carries a bearer key whose digest is configured."""
    if not authorization:
        return False
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return False
    digest = hash_api_key(key.strip())
    found = False
    for allowed in hashes:  # no early exit: the time taken does not depend on which digest matched
        found |= hmac.compare_digest(digest, allowed)
    return found


def resolve_bucket(bucket: str, allowed: Iterable[str]) -> str:
    """The bucket URL a request's ``bucket`` names, if the allow-list serves it.

    An allow-list entry is a bare S3 bucket name (``tickets`` allows ``tickets`` and ``s3://tickets``) or a
    URL ending in ``/`` (``file:///data/`` allows the name ``gatsby`` as ``file:///data/gatsby`` and any
    URL under it). Names and URLs with ``..`` segments, backslashes or control characters are refused.

    Raises:
        BucketNotAllowed: the bucket is not served here (the message does not list what is).
    """
    value = bucket
    if not value or any(ord(c) < 32 or c.isspace() for c in value) or "\\" in value or ".." in value.split("/"):
        raise BucketNotAllowed(f"bucket {bucket!r} is not a bucket name or URL")
    for entry in allowed:
        entry = entry.strip()
        if entry.endswith("/"):
            if BUCKET_NAME.fullmatch(value):
                return entry + value
            if value.startswith(entry) and len(value) > len(entry):
                return value.rstrip("/")
        elif value in (entry, f"s3://{entry}", f"s3://{entry}/"):
            return f"s3://{entry}"
    raise BucketNotAllowed(f"bucket {bucket!r} is not served by this deployment (THEMESIFT_API_BUCKETS)")


def bucket_slug(bucket_url: str) -> str:
    """A folder name for a bucket's own state and outputs: readable, unique by a digest of the full URL."""
    tail = re.sub(r"[^a-z0-9]+", "-", bucket_url.lower().split("://", 1)[-1]).strip("-")[-40:].strip("-")
    return f"{tail or 'bucket'}-{hashlib.sha256(bucket_url.encode('utf-8')).hexdigest()[:10]}"
