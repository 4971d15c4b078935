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
    (["run", "--bucket", "/definitely/not/here"], 2, "bucket folder /definitely/not/here does not exist"),
    (["run", "--bucket", "ftp://some-host/x"], 2, "unsupported storage URL 'ftp://some-host/x'"),
    (["run", "-p", "min_cluster_size=1"], 2, "min_cluster_size"),
    (["run", "-p", "colour=red"], 2, "unknown parameter 'colour'"),
    (["run", "-p", "no-equals-sign"], 2, "is not key=value"),
    (["run", "-p", "chunk_overlap=999"], 2, "chunk_overlap (999) must be smaller than chunk_size"),
    (["run", "--corpus", "/no/such/file.jsonl"], 2, "corpus /no/such/file.jsonl does not exist"),
    (["run", "-p", 'summarizers=["keyphrases","nope"]'], 2, "unknown summarizer 'nope'"),
])
def test_errors_are_one_line_and_exit_non_zero(args, code, message, tmp_path):
    result = themesift(*args, tmp=tmp_path)
    assert result.returncode == code
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip().startswith("error:")
    assert message in " ".join(result.stderr.split())
    assert not (tmp_path / "state" / "runs").exists(), "a refused run must not start any work"


def test_s3_problems_are_one_line_errors(s3_endpoint, tmp_path, monkeypatch):
    from tests.integration.conftest import free_port

    monkeypatch.setenv("THEMESIFT_S3_ENDPOINT_URL", s3_endpoint)
    missing = themesift("run", "--bucket", "s3://no-such-bucket/in/", tmp=tmp_path)
    monkeypatch.setenv("THEMESIFT_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    dead = themesift("run", "--bucket", "s3://any-bucket", tmp=tmp_path)
    for result, message, code in ((missing, "bucket 'no-such-bucket' does not exist", 2),
                                  (dead, "cannot reach the S3 endpoint", 1)):
        assert result.returncode == code and "Traceback" not in result.stderr
        assert result.stderr.strip().startswith("error:") and message in " ".join(result.stderr.split())


def test_wrong_credentials_are_a_one_line_error(s3_auth_endpoint, tmp_path, monkeypatch):
    auth = s3_auth_endpoint
    monkeypatch.setenv("THEMESIFT_S3_ENDPOINT_URL", auth["endpoint"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", auth["key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    result = themesift("run", "--bucket", f"s3://{auth['bucket']}", tmp=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    assert message.startswith("error: access to bucket guarded denied") and "credentials" in message


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
