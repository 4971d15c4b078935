"""The ingest, chunk and embed stages fanned out on a real Dask cluster (``distributed.LocalCluster``, 2 worker
processes of one thread) through Prefect's DaskTaskRunner, driven by the CLI against a real Prefect server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.integration.corpus import write_planted_corpus

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dask_cluster(prefect_server):
    """Two single-threaded worker processes that can reach the Prefect server (they inherit its URL)."""
    from distributed import LocalCluster

    old = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = prefect_server
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        yield cluster
    finally:
        cluster.close()
        if old is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = old


PARAMS = ["-p", "min_cluster_size=10", "-p", "min_subcluster_size=4"]


def cli_env(bucket: Path, root: Path, api_url: str, **env: str) -> dict[str, str]:
    return {**os.environ, "THEMESIFT_BUCKET_URL": f"file://{bucket}", "THEMESIFT_OUTPUT_URL": f"file://{root}/out",
            "THEMESIFT_STATE_DIR": str(root / "state"), "THEMESIFT_EMBED_COMMIT_SIZE": "8",
            "PREFECT_API_URL": api_url, **env}


def published(root: Path) -> list[tuple]:
    run_id = json.loads((root / "out" / "latest.json").read_text())["run_id"]
    rows = pq.read_table(root / "out" / "runs" / run_id / "assignments.parquet").to_pylist()
    return [(r["chunk_id"], r["theme_id"], r["subtheme_id"]) for r in rows]


def run_cli(bucket: Path, root: Path, api_url: str, **env: str) -> tuple[subprocess.CompletedProcess, list]:
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run", *PARAMS], cwd=ROOT,
                          env=cli_env(bucket, root, api_url, **env), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, published(root)


def test_a_run_on_dask_equals_a_single_process_run_even_when_a_worker_dies(dask_cluster, prefect_server, tmp_path):
    """The same bucket read and embedded in one process and on the cluster (ingest, chunk and embed partitions on
    the workers), where one worker is SIGKILLed once the first embed partitions are committed: Dask gives its
    partition to the other worker, the run completes, every passage is embedded exactly once (no committed part
    is redone), and the assignments equal the single-process run's."""
    import signal
    import time

    from distributed import Client

    bucket = tmp_path / "bucket"
    write_planted_corpus(bucket, per_theme=16)
    _, alone = run_cli(bucket, tmp_path / "alone", prefect_server)

    def encoders_loaded() -> int:
        module = sys.modules.get("tasks.embed_partitions")
        return len(module._ENCODERS) if module else 0

    def buckets_opened() -> int:
        module = sys.modules.get("tasks.ingest_partitions")
        return len(module._STORAGES) if module else 0

    def tokenizers_loaded() -> int:
        module = sys.modules.get("tasks.chunk_partitions")
        return len(module._FINDERS) if module else 0

    with Client(dask_cluster) as client:
        pids = sorted(client.run(os.getpid).values())
    root = tmp_path / "dask"
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "run", *PARAMS], cwd=ROOT,
                            env=cli_env(bucket, root, prefect_server,
                                        THEMESIFT_DASK_ADDRESS=dask_cluster.scheduler_address),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while len(list((root / "state").rglob("part-*.parquet"))) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before the kill point"
        time.sleep(0.05)
    with Client(dask_cluster) as client:
        assert sum(client.run(encoders_loaded).values()) >= 1, "the embed partitions run on the workers"
        assert sum(client.run(buckets_opened).values()) >= 1, "the ingest partitions run on the workers"
        assert sum(client.run(tokenizers_loaded).values()) >= 1, "the chunk partitions run on the workers"
    os.kill(pids[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    assert "objects to read in 1 partitions on the Dask task runner" in err
    assert "documents in 1 partitions on the Dask task runner" in err
    assert "partitions on the Dask task runner (" in err
    assert published(root) == alone
    parts = sorted((root / "state").rglob("part-*.parquet"))
    hashes = [h for p in parts for h in pq.read_table(p, columns=["text_hash"]).column("text_hash").to_pylist()]
    manifest = json.loads(next((root / "out" / "runs").glob("*/manifest.json")).read_text())
    assert len(hashes) == len(set(hashes)) == manifest["counts"]["chunks_embedded"] == manifest["counts"]["chunks"]
