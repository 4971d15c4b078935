"""The whole flow with the bucket and the outputs on a real S3 server (moto on 127.0.0.1)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from tasks.infra.params import RunParams
from tests.integration.conftest import s3_client
from tests.integration.corpus import BAD_INPUTS, PLANTED, planted_document

pytestmark = pytest.mark.integration


def test_flow_reads_and_publishes_on_s3(prefect_harness, workspace, s3_bucket, s3_endpoint):
    import random

    from flows.recluster import recluster

    bucket = s3_bucket.removeprefix("s3://")
    client = s3_client(s3_endpoint)
    rng = random.Random(3)
    for theme in PLANTED:
        for i in range(14):
            client.put_object(Bucket=bucket, Key=f"in/{theme}/{i:02d}.txt", Body=planted_document(theme, rng).encode())
    for key, (data, _reason) in BAD_INPUTS.items():
        client.put_object(Bucket=bucket, Key=f"in/{key}", Body=data)
    client.put_object(Bucket=bucket, Key="in/../../etc/passwd.txt", Body=b"root:x:0:0")
    client.put_object(Bucket=bucket, Key="in/big/huge.txt", Body=b"word " * 300_000)
    client.put_object(Bucket=bucket, Key="elsewhere/ignored.txt", Body=b"outside the prefix")

    result = recluster(params=RunParams(prefix="in/", min_cluster_size=8, min_subcluster_size=4, max_object_mb=1.0),
                       bucket_url=s3_bucket, output_url=f"{s3_bucket}/out")

    latest = json.loads(client.get_object(Bucket=bucket, Key="out/latest.json")["Body"].read())
    assert latest["run_id"] == result["run_id"]
    manifest = json.loads(client.get_object(Bucket=bucket, Key=f"out/{latest['manifest']}")["Body"].read())
    counts = manifest["counts"]
    assert counts["objects_listed"] == 4 * 14 + len(BAD_INPUTS) + 2
    assert counts["objects_skipped"] == len(BAD_INPUTS) + 2
    assert counts["documents"] == 4 * 14
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=f"out/runs/{result['run_id']}/")["Contents"]}
    assert {k.rsplit("/", 1)[-1] for k in keys} >= {"themes.json", "assignments.parquet", "manifest.json",
                                                    "report.html"}
    report = client.get_object(Bucket=bucket, Key=f"out/{latest['report']}")["Body"].read().decode()
    assert "unsafe_key" in report and "too_large" in report
    local = workspace.root / "a.parquet"
    local.write_bytes(
        client.get_object(Bucket=bucket, Key=f"out/runs/{result['run_id']}/assignments.parquet")["Body"].read())
    rows = pq.read_table(local).to_pylist()
    assert all(r["object_key"].startswith("in/") and "/../" not in r["object_key"] for r in rows)
    # The four planted topics come apart, as themes or as subthemes of one theme (two support topics may share
    # a theme: which cut wins on 56 chunks depends on the CPU's embedding backend).
    finest = {}
    for r in (r for r in rows if r["theme_id"] is not None):
        finest.setdefault(r["subtheme_id"] or r["theme_id"], set()).add(r["object_key"].split("/")[1])
    assert all(len(topics) == 1 for topics in finest.values()), finest
    assert {t for topics in finest.values() for t in topics} == set(PLANTED)


def test_s3_faults_are_retried_and_the_run_matches_a_clean_one(prefect_harness, workspace, s3_bucket, s3_endpoint,
                                                              monkeypatch):
    """Through a proxy that answers 503 SlowDown, drops connections and cuts bodies short on ~30 % of requests,
    the run completes and publishes what a run over the clean endpoint publishes."""
    import random

    from flows.recluster import recluster
    from tests.integration.fault_proxy_fixtures import FaultyProxy

    bucket = s3_bucket.removeprefix("s3://")
    client = s3_client(s3_endpoint)
    rng = random.Random(4)
    for theme in PLANTED:
        for i in range(10):
            client.put_object(Bucket=bucket, Key=f"in/{theme}/{i:02d}.txt", Body=planted_document(theme, rng).encode())
    params = RunParams(prefix="in/", min_cluster_size=6, min_subcluster_size=3)
    clean = recluster(params=params, bucket_url=s3_bucket, output_url=f"{s3_bucket}/clean")
    monkeypatch.setenv("THEMESIFT_STATE_DIR", str(workspace.root / "state-faulty"))  # read everything again
    with FaultyProxy(s3_endpoint, share=0.3) as proxy:
        monkeypatch.setenv("THEMESIFT_S3_ENDPOINT_URL", proxy.url)
        faulty = recluster(params=params, bucket_url=s3_bucket, output_url=f"{s3_bucket}/faulty")
    assert min(proxy.faults[k] for k in ("503", "drop", "cut")) >= 2, (proxy.faults, proxy.requests)

    def published(prefix: str, run_id: str) -> list[tuple]:
        local = workspace.root / f"{prefix}.parquet"
        local.write_bytes(client.get_object(Bucket=bucket, Key=f"{prefix}/runs/{run_id}/assignments.parquet")
                          ["Body"].read())
        return [(r["chunk_id"], r["theme_id"], r["subtheme_id"]) for r in pq.read_table(local).to_pylist()]

    assert published("faulty", faulty["run_id"]) == published("clean", clean["run_id"])
    latest = json.loads(client.get_object(Bucket=bucket, Key="faulty/latest.json")["Body"].read())
    assert latest["run_id"] == faulty["run_id"]
