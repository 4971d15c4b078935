"""Kill -9 a run inside each stage; the rerun finishes, re-does only uncommitted work, and matches a clean run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.integration.conftest import Workspace
from tests.integration.corpus import write_planted_corpus

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PARAMS = ["-p", "min_cluster_size=10", "-p", "min_subcluster_size=4"]


def start_cli(ws: Workspace, api_url: str) -> tuple[subprocess.Popen, list[str]]:
    """Start `themesift run` on the workspace; its stderr lines are collected as they come."""
    env = {**os.environ, "THEMESIFT_BUCKET_URL": f"file://{ws.bucket}", "THEMESIFT_OUTPUT_URL": f"file://{ws.out}",
           "THEMESIFT_STATE_DIR": str(ws.state), "THEMESIFT_EMBED_COMMIT_SIZE": "16",
           "THEMESIFT_INGEST_COMMIT_SIZE": "1", "PREFECT_API_URL": api_url}
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "run", *PARAMS], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True).start()
    return proc, lines


def run_cli(ws: Workspace, api_url: str) -> dict:
    """A run to completion; returns its manifest."""
    proc, lines = start_cli(ws, api_url)
    assert proc.wait(timeout=600) == 0, "".join(lines)[-3000:]
    latest = json.loads((ws.out / "latest.json").read_text())
    return ws.manifest(latest["run_id"])


def finished(task: str) -> Callable[[Workspace, list[str]], bool]:
    return lambda ws, lines: any(f"Task run '{task}-" in ln and "Finished in state Completed" in ln for ln in lines)


def cache_parts(ws: Workspace) -> list[Path]:
    return sorted((ws.state / "embeddings").rglob("part-*.parquet"))


KILL_POINTS: dict[str, tuple[Callable[[Workspace, list[str]], bool], float]] = {
    # (trigger, extra delay): kill shortly after ingest starts, once some embedding batches are committed,
    # once the kNN graph exists (the cluster stage is running), and as soon as publish starts.
    "ingest": (finished("start-run"), 0.4),
    "embed": (lambda ws, lines: len(cache_parts(ws)) >= 3, 0.0),
    "cluster": (lambda ws, lines: any((ws.state / "runs").glob("*/knn.npz")), 0.0),
    "publish": (finished("summarize"), 0.0),
    # Between report and manifest: the run folder holds themes.json and more, and must not look complete.
    "report": (finished("publish"), 0.0),
}


def kill_during(ws: Workspace, api_url: str, stage: str) -> None:
    trigger, delay = KILL_POINTS[stage]
    proc, lines = start_cli(ws, api_url)
    deadline = time.monotonic() + 600
    while not trigger(ws, lines):
        assert proc.poll() is None, f"the run ended before the {stage} kill point:\n" + "".join(lines)[-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.005)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (ws.out / "latest.json").exists(), f"killed during {stage}, yet a run was published"
    if stage == "report":
        [folder] = (ws.out / "runs").iterdir()
        assert (folder / "themes.json").exists() and not (folder / "manifest.json").exists(), \
            "a folder without its report must not carry the manifest that marks it complete"


def outputs(ws: Workspace, run_id: str) -> tuple[list, dict]:
    rows = pq.read_table(ws.out / "runs" / run_id / "assignments.parquet").to_pylist()
    themes = ws.themes(run_id)
    themes.pop("run_id")
    return [(r["chunk_id"], r["theme_id"], r["subtheme_id"]) for r in rows], themes


def make_ws(root: Path) -> Workspace:
    ws = Workspace(root)
    write_planted_corpus(ws.bucket, per_theme=80)
    return ws


@pytest.fixture(scope="module")
def clean_run(prefect_server, tmp_path_factory) -> tuple[list, dict, int]:
    """The uninterrupted reference: outputs and the number of distinct passages."""
    ws = make_ws(tmp_path_factory.mktemp("clean"))
    manifest = run_cli(ws, prefect_server)
    assert manifest["counts"]["chunks_embedded"] > 3 * 16
    return (*outputs(ws, manifest["run_id"]), manifest["counts"]["chunks_embedded"])


@pytest.mark.parametrize("stage", list(KILL_POINTS))
def test_killed_run_resumes_and_matches_a_clean_run(stage, prefect_server, clean_run, tmp_path):
    ws = make_ws(tmp_path)
    kill_during(ws, prefect_server, stage)
    con = duckdb.connect(str(ws.state / "catalog.duckdb"))
    ingested = con.execute("SELECT count(*) FROM objects").fetchone()[0]
    killed_run = con.execute("SELECT run_id FROM runs WHERE status = 'running'").fetchone()[0]
    con.close()
    listed = sum(1 for p in ws.bucket.rglob("*") if p.is_file())
    if stage == "ingest":
        assert 0 < ingested < listed, "killed mid-ingest: some objects committed, some not"
    cached = sum(pq.read_metadata(p).num_rows for p in cache_parts(ws))

    manifest = run_cli(ws, prefect_server)

    counts = manifest["counts"]
    assert counts["chunks_cached"] == cached and counts["chunks_embedded"] == clean_run[2] - cached, \
        "committed embeddings are reused, nothing is embedded twice"
    if stage == "ingest":
        assert counts["objects_read"] == listed - ingested, "only objects not yet committed are read again"
    assignments, themes = outputs(ws, manifest["run_id"])
    assert assignments == clean_run[0]
    assert themes == clean_run[1]
    assert [p.name for p in (ws.out / "runs").iterdir()] == [manifest["run_id"]], "the killed run left nothing behind"
    con = duckdb.connect(str(ws.state / "catalog.duckdb"), read_only=True)
    assert con.execute("SELECT status FROM runs WHERE run_id = ?", [killed_run]).fetchone() == ("interrupted",)
    con.close()


def test_a_second_run_on_the_same_state_refuses_clearly(prefect_server, tmp_path):
    ws = make_ws(tmp_path)
    first, first_lines = start_cli(ws, prefect_server)
    deadline = time.monotonic() + 600
    while not finished("start-run")(ws, first_lines):
        assert first.poll() is None and time.monotonic() < deadline, "".join(first_lines)[-3000:]
        time.sleep(0.01)
    second, second_lines = start_cli(ws, prefect_server)
    assert second.wait(timeout=600) == 1
    message = " ".join("".join(second_lines).split())
    assert "error: another themesift run" in message and "Traceback" not in message
    assert first.wait(timeout=600) == 0, "".join(first_lines)[-3000:]
