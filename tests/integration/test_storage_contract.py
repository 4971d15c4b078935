"""One storage contract, checked on the local-folder store and on a real S3 server (moto, 127.0.0.1)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tasks.infra.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    EndpointUnreachableError,
    ObjectNotFoundError,
    UnsafeKeyError,
)
from tasks.infra.storage import open_storage
from tests.integration.conftest import free_port, s3_client

pytestmark = pytest.mark.integration


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    """An empty store of each kind."""
    if request.param == "local":
        return open_storage(f"file://{tmp_path / 'bucket'}", create=True)
    bucket = request.getfixturevalue("s3_bucket")
    return open_storage(bucket + "/some/root")


def test_put_get_list_delete(store):
    store.put("b/two.txt", b"2")
    store.put("a.txt", b"1")
    store.put("b/c/three.md", "trois é".encode())
    assert [o.key for o in store.list()] == ["a.txt", "b/c/three.md", "b/two.txt"]
    assert [o.key for o in store.list("b/")] == ["b/c/three.md", "b/two.txt"]
    assert store.get("b/c/three.md") == "trois é".encode()
    assert [o.size for o in store.list("a")] == [1]
    store.delete("a.txt")
    store.delete("never-existed.txt")
    assert [o.key for o in store.list()] == ["b/c/three.md", "b/two.txt"]
    store.delete("b/c/three.md")
    store.put("b/c2/four.txt", b"4")
    assert [o.key for o in store.list("b/c")] == ["b/c2/four.txt"]


def test_overwrite_changes_the_etag(store):
    store.put("x.txt", b"first")
    before = next(iter(store.list("x"))).etag
    store.put("x.txt", b"second version")
    after = next(iter(store.list("x")))
    assert store.get("x.txt") == b"second version"
    assert after.etag != before and after.size == len(b"second version")


@pytest.mark.parametrize("key", ["../escape.txt", "a/../../b", "/abs.txt", "back\\slash", "nul\x00"])
def test_keys_that_could_escape_are_refused(store, key):
    with pytest.raises(UnsafeKeyError):
        store.put(key, b"x")
    with pytest.raises(UnsafeKeyError):
        store.get(key)


def test_missing_object_is_a_storage_error(store):
    with pytest.raises(ObjectNotFoundError):
        store.get("nope.txt")


def test_s3_listing_paginates_past_one_page(s3_bucket):
    store = open_storage(s3_bucket)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: store.put(f"docs/{i:05d}.txt", b"x"), range(1003)))
    keys = [o.key for o in store.list("docs/")]
    assert len(keys) == 1003 and keys == sorted(keys)


def test_s3_missing_bucket(s3_endpoint, monkeypatch):
    monkeypatch.setenv("THEMESIFT_S3_ENDPOINT_URL", s3_endpoint)
    with pytest.raises(BucketNotFoundError, match="'no-such-bucket' does not exist"):
        open_storage("s3://no-such-bucket/x")


def test_s3_dead_endpoint(monkeypatch):
    monkeypatch.setenv("THEMESIFT_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(EndpointUnreachableError, match="cannot reach the S3 endpoint"):
        open_storage("s3://anything")


def test_s3_wrong_and_unknown_credentials(s3_auth_endpoint, monkeypatch):
    auth = s3_auth_endpoint
    monkeypatch.setenv("THEMESIFT_S3_ENDPOINT_URL", auth["endpoint"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", auth["key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", auth["secret"])
    open_storage(f"s3://{auth['bucket']}").put("ok.txt", b"signed right")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    with pytest.raises(AccessDeniedError, match="denied"):
        open_storage(f"s3://{auth['bucket']}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000")
    with pytest.raises(AccessDeniedError, match="denied"):
        open_storage(f"s3://{auth['bucket']}")
    client = s3_client(auth["endpoint"], aws_access_key_id=auth["key_id"], aws_secret_access_key=auth["secret"])
    assert client.get_object(Bucket=auth["bucket"], Key="ok.txt")["Body"].read() == b"signed right"
