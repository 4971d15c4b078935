"""The themesift command as a user runs it: one-line errors, exit codes, and a real run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.corpus import write_planted_corpus

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "flows.cli"]
ROOT = Path(__file__).resolve().parents[2]


def themesift(*args: str, tmp: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "THEMESIFT_STATE_DIR": str(tmp / "state"), "THEMESIFT_OUTPUT_URL": f"file://{tmp / 'out'}",
           "PREFECT_HOME": str(tmp / "prefect"), "PREFECT_API_URL": ""}
    env.pop("PREFECT_API_URL")
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)


@pytest.mark.parametrize(("args", "code", "message"), [
    (["run", "--bucket", "/definitely/not/here"], 1, "bucket folder /definitely/not/here does not exist"),
    (["run", "--bucket", "s3://some-bucket/x"], 2, "S3 buckets are not supported"),
    (["run", "-p", "min_cluster_size=1"], 2, "min_cluster_size"),
    (["run", "-p", "colour=red"], 2, "unknown parameter 'colour'"),
    (["run", "-p", "no-equals-sign"], 2, "is not key=value"),
    (["run", "-p", "chunk_overlap=999"], 2, "chunk_overlap (999) must be smaller than chunk_size"),
    (["run", "--corpus", "/no/such/file.jsonl"], 2, "corpus /no/such/file.jsonl does not exist"),
])
def test_errors_are_one_line_and_exit_non_zero(args, code, message, tmp_path):
    result = themesift(*args, tmp=tmp_path)
    assert result.returncode == code
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip().startswith("error:")
    assert message in " ".join(result.stderr.split())


def test_run_prints_the_report_path_and_shows_progress(tmp_path):
    bucket = tmp_path / "bucket"
    write_planted_corpus(bucket, per_theme=16)
    result = themesift("run", "--bucket", str(bucket), "-p", "min_cluster_size=8", "-p", "min_subcluster_size=3",
                       tmp=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    report = Path(result.stdout.strip().splitlines()[-1])
    assert report.name == "report.html" and report.is_file()
    assert "embedding passages" in result.stderr, "the CLI shows a progress bar per long stage"
    assert "embed:" in result.stderr, "Prefect log lines report each stage"
