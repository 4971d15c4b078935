"""The API's pure pieces: bearer keys, the bucket allow-list, per-bucket folders, statuses, the fetch shape."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from prefect.client.schemas.objects import StateType

from flows.api.jobs import absolute_url, bucket_locations, job_status, parse_task_id
from flows.api.results import shape_clusters
from flows.api.schemas import ClusterRequest
from flows.api.security import (
    BucketNotAllowed,
    bucket_slug,
    check_key_hashes,
    hash_api_key,
    key_matches,
    new_api_key,
    resolve_bucket,
)
from tasks.infra.errors import ConfigError
from tasks.infra.runs import check_run_id, new_run_id


def test_a_key_matches_only_its_own_digest_and_only_as_a_bearer_token():
    key, other = new_api_key(), new_api_key()
    hashes = [hash_api_key(key)]
    assert key != other and key.startswith("tsk_") and len(key) > 40
    assert key_matches(f"Bearer {key}", hashes)
    assert key_matches(f"bearer  {key} ", hashes)
    for header in (None, "", key, f"Basic {key}", "Bearer", f"Bearer {other}", f"Bearer {hash_api_key(key)}"):
        assert not key_matches(header, hashes), header
    assert not key_matches(f"Bearer {key}", [])


def test_configured_digests_must_be_sha256_hex_and_the_error_never_shows_them():
    good = hash_api_key("k")
    assert check_key_hashes([good.upper(), f" {good} "]) == [good, good]
    with pytest.raises(ValueError, match=r"\[1\]") as err:
        check_key_hashes([good, "secret-key-pasted-by-mistake"])
    assert "secret-key-pasted-by-mistake" not in str(err.value)


@pytest.mark.parametrize(("bucket", "allowed", "url"), [
    ("tickets", ["tickets"], "s3://tickets"),
    ("s3://tickets", ["tickets"], "s3://tickets"),
    ("s3://tickets/", ["tickets"], "s3://tickets"),
    ("gatsby", ["file:///data/"], "file:///data/gatsby"),
    ("file:///data/novels/gatsby", ["file:///data/"], "file:///data/novels/gatsby"),
    ("s3://corp/tickets/2026", ["s3://corp/tickets/"], "s3://corp/tickets/2026"),
])
def test_allowed_buckets_resolve_to_their_url(bucket, allowed, url):
    assert resolve_bucket(bucket, allowed) == url


@pytest.mark.parametrize(("bucket", "allowed"), [
    ("other", ["tickets"]),
    ("s3://tickets-evil", ["tickets"]),
    ("file:///etc/passwd", ["file:///data/"]),
    ("file:///data/../etc", ["file:///data/"]),
    ("../etc", ["file:///data/"]),
    ("Gatsby", ["file:///data/"]),  # not an S3-style name, and not a URL under the prefix
    ("gat\\sby", ["file:///data/"]),
    ("gatsby\n", ["file:///data/"]),
    ("file:///data/", ["file:///data/"]),  # the whole prefix is not a bucket
    ("tickets", []),
])
def test_anything_else_is_refused_without_naming_what_is_allowed(bucket, allowed):
    with pytest.raises(BucketNotAllowed) as err:
        resolve_bucket(bucket, allowed)
    said = str(err.value).replace(repr(bucket), "")
    assert all(entry not in said for entry in allowed)


def test_each_bucket_gets_its_own_folders_and_relative_locations_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = SimpleNamespace(state_dir=tmp_path / "state", output_url="file://out")
    state_a, out_a = bucket_locations(settings, "s3://a")
    state_b, out_b = bucket_locations(settings, "s3://b")
    assert state_a != state_b and out_a != out_b
    assert out_a.startswith(f"file://{tmp_path}/out/api/a-")
    assert bucket_slug("s3://a") == bucket_slug("s3://a") != bucket_slug("s3://A")
    assert "/" not in bucket_slug("file:///x/../../y") and ".." not in bucket_slug("file:///x/../../y")
    assert absolute_url("s3://bucket/prefix/") == "s3://bucket/prefix"
    assert absolute_url("out") == f"file://{tmp_path}/out"


def test_statuses_are_telnyx_s_five():
    assert job_status(None) == "pending"
    assert {job_status(t) for t in StateType} == {"pending", "starting", "running", "completed", "failed"}
    assert job_status(StateType.PENDING) == "starting" and job_status(StateType.CRASHED) == "failed"
    assert parse_task_id("not a uuid") is None and parse_task_id("0" * 5000) is None


def test_run_ids_from_outside_must_have_the_shape_of_ours():
    assert check_run_id(new_run_id())
    for bad in ("../x", "20261130T190816Z-63d4/..", "", "20261130T190816Z-63D4"):
        with pytest.raises(ConfigError):
            check_run_id(bad)


def test_a_request_is_the_run_parameters_plus_a_bucket_with_the_api_s_defaults():
    request = ClusterRequest(bucket="tickets")
    params = request.run_params()
    assert (params.min_cluster_size, params.min_subcluster_size) == (25, 5)  # Telnyx's defaults
    assert params.promote is False and params.top_n_nodes == 20
    with pytest.raises(ValueError):
        ClusterRequest(bucket="tickets", resolution=float("inf"))
    with pytest.raises(ValueError):
        ClusterRequest(bucket="tickets", summarizers=["nope"])


def test_a_fetch_shows_the_most_central_passages_and_subclusters_only_when_asked():
    node = lambda c: {"filename": "f", "text": "t", "centrality": c}  # noqa: E731
    themes = {"clusters": [
        {"cluster_id": "t1", "total_number_of_nodes": 5, "nodes": [node(0.5), node(0.9)], "subclusters": []},
        {"cluster_id": "t0", "total_number_of_nodes": 9, "nodes": [node(0.7), node(0.8), node(0.6)],
         "subclusters": [{"cluster_id": "t0.0", "total_number_of_nodes": 4, "nodes": [node(0.1), node(0.3)]}]},
    ]}
    shaped = shape_clusters(themes, 2, True)
    assert [c["cluster_id"] for c in shaped] == ["t0", "t1"]
    assert [n["centrality"] for n in shaped[0]["nodes"]] == [0.8, 0.7]
    assert [n["centrality"] for n in shaped[0]["subclusters"][0]["nodes"]] == [0.3, 0.1]
    assert all(c["subclusters"] == [] and c["nodes"] == [] for c in shape_clusters(themes, 0, False))
    assert len(themes["clusters"][1]["nodes"]) == 3  # the cached document is not changed by shaping


def test_embedding_statuses_follow_telnyx_and_skips_make_a_partial_success():
    from flows.api.embeddings import embedding_status
    from flows.api.jobs import Job

    job = lambda status: Job("t", status, "b", None, None)  # noqa: E731
    assert [embedding_status(job(s), None) for s in ("pending", "starting", "running", "failed")] == [
        "queued", "queued", "processing", "failure"]
    assert embedding_status(job("completed"), {"files_failed": 0, "files_with_skipped_records": 0}) == "success"
    assert embedding_status(job("completed"), {"files_failed": 1}) == "partial_success"
    assert embedding_status(job("completed"), {"files_with_skipped_records": 2}) == "partial_success"


def test_an_embedding_request_chunks_like_a_clustering_unless_it_asks_for_telnyx_s_characters():
    from flows.api.schemas import EmbeddingRequest

    plain = EmbeddingRequest(bucket_name="b").run_params()
    assert (plain.chunk_unit, plain.chunk_size) == ("tokens", 240)
    sized = EmbeddingRequest(bucket_name="b", document_chunk_size=1024).run_params()
    assert (sized.chunk_unit, sized.chunk_size, sized.chunk_overlap) == ("chars", 1024, 512)
    both = EmbeddingRequest(bucket_name="b", document_chunk_size=600, document_chunk_overlap_size=100).run_params()
    assert (both.chunk_size, both.chunk_overlap) == (600, 100)
    for size, overlap in ((100, 100), (None, 2000)):
        with pytest.raises(ValueError, match="smaller"):  # refused by the request model: a 422, never a 500
            EmbeddingRequest(bucket_name="b", document_chunk_size=size, document_chunk_overlap_size=overlap)


def test_finished_responses_are_kept_newest_first_and_forgotten_with_their_task():
    from flows.api.results import ResponseCache

    cache = ResponseCache(entries=2)
    cache.put(("a", 0, False), b"1")
    cache.put(("a", 5, True), b"2")
    assert cache.get(("a", 0, False)) == b"1"  # now the most recently used
    cache.put(("b", 0, False), b"3")
    assert cache.get(("a", 5, True)) is None and cache.get(("a", 0, False)) == b"1"
    cache.drop("a")
    assert cache.get(("a", 0, False)) is None and cache.get(("b", 0, False)) == b"3"
