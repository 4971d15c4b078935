"""Faults a real deployment meets, injected for real: an output location on a read-only or full file system
(a tmpfs the test mounts), a damaged ``latest.json``, an output folder inside the bucket. Each must be one
``error:`` line (or a warning) before or instead of lost work, and leave nothing half-written behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from tests.integration.corpus import write_planted_corpus

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def tmpfs(path: Path, size: str, *, read_only: bool = False) -> Iterator[Path]:
    """A small tmpfs at ``path`` (root with CAP_SYS_ADMIN only: else the test is skipped, saying why)."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'}): needs root with "
                    "CAP_SYS_ADMIN")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def run_cli(bucket: Path, output: str, state: Path, api_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "THEMESIFT_BUCKET_URL": f"file://{bucket}", "THEMESIFT_OUTPUT_URL": output,
           "THEMESIFT_STATE_DIR": str(state), "PREFECT_API_URL": api_url}
    return subprocess.run([sys.executable, "-m", "flows.cli", "run", "-p", "min_cluster_size=10",
                           "-p", "min_subcluster_size=4", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)


def one_line_error(result: subprocess.CompletedProcess, code: int, *phrases: str, before_work: bool = True) -> str:
    """The run ended with one ``error:`` line holding ``phrases``: all it printed when it failed before any
    work, else the line after the flow's log."""
    assert result.returncode == code, result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout
    text = result.stderr.strip() if before_work else result.stderr.strip().splitlines()[-1]
    message = " ".join(text.split())
    assert message.startswith("error:") and all(p in message for p in phrases), result.stderr[-3000:]
    return message


@pytest.fixture
def bucket(tmp_path) -> Path:
    root = tmp_path / "bucket"
    write_planted_corpus(root, per_theme=16)
    return root


@pytest.mark.parametrize("where", ["folder", "missing subfolder"])
def test_a_read_only_output_fails_before_any_work(where, prefect_server, bucket, tmp_path):
    with tmpfs(tmp_path / "ro", "1m", read_only=True) as ro:
        output = ro if where == "folder" else ro / "reports" / "nightly"
        result = run_cli(bucket, f"file://{output}", tmp_path / "state", prefect_server)
    one_line_error(result, 1, str(output) if where == "folder" else str(ro / "reports"), "read-only file system")
    assert not (tmp_path / "state" / "embeddings").exists(), "nothing was embedded"
    if (tmp_path / "state" / "catalog.duckdb").exists():
        with duckdb.connect(str(tmp_path / "state" / "catalog.duckdb"), read_only=True) as con:
            assert con.execute("SELECT count(*) FROM runs").fetchone() == (0,), "no run was registered"


def test_a_full_output_fails_the_run_at_once_and_leaves_no_half_run(prefect_server, bucket, tmp_path):
    with tmpfs(tmp_path / "out", "96k") as out:
        result = run_cli(bucket, f"file://{out}", tmp_path / "state", prefect_server)
        one_line_error(result, 1, str(out), "the disk is full", before_work=False)
        assert sorted(p.name for p in out.rglob("*") if p.is_file()) == [], "the partial run folder is removed"
    with duckdb.connect(str(tmp_path / "state" / "catalog.duckdb"), read_only=True) as con:
        assert con.execute("SELECT status FROM runs").fetchall() == [("failed",)], "marked failed at once"
    with tmpfs(tmp_path / "out", "64m") as out:
        again = run_cli(bucket, f"file://{out}", tmp_path / "state", prefect_server)
        assert again.returncode == 0, again.stderr[-3000:]
        assert (out / "latest.json").exists()
        assert "killed run" not in again.stderr, "nothing was left for the next run to tidy"


def test_an_output_inside_the_bucket_is_never_read_back(prefect_server, bucket, tmp_path):
    same = run_cli(bucket, f"file://{bucket}", tmp_path / "state", prefect_server)
    one_line_error(same, 2, "is the bucket itself")
    inside = f"file://{bucket / 'themesift-out'}"
    for _ in range(2):
        result = run_cli(bucket, inside, tmp_path / "state", prefect_server)
        assert result.returncode == 0, result.stderr[-3000:]
    assert "the output location is inside the bucket" in result.stderr
    manifest = json.loads((bucket / "themesift-out" / "runs" / json.loads(
        (bucket / "themesift-out" / "latest.json").read_text())["run_id"] / "manifest.json").read_text())
    assert manifest["counts"]["objects_new"] == 0 and manifest["counts"]["objects_read"] == 0, \
        "the first run's reports were not read as documents"


def test_three_runs_started_at_once_on_one_state_two_refuse_cleanly(bucket, tmp_path):
    """Without PREFECT_API_URL each run would start its own temporary Prefect server on the same database; the
    state's lock is taken before that, so the two that lose refuse at once with one line."""
    env = {**os.environ, "THEMESIFT_BUCKET_URL": f"file://{bucket}", "THEMESIFT_OUTPUT_URL": f"file://{tmp_path}/out",
           "THEMESIFT_STATE_DIR": str(tmp_path / "state"), "PREFECT_HOME": str(tmp_path / "prefect")}
    env.pop("PREFECT_API_URL", None)
    procs = [subprocess.Popen([sys.executable, "-m", "flows.cli", "run", "-p", "min_cluster_size=10"], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=900) for p in procs]  # read while they run: a full pipe would block one
    results = [subprocess.CompletedProcess(p.args, p.returncode, *out) for p, out in zip(procs, outputs, strict=True)]
    assert sorted(r.returncode for r in results) == [0, 1, 1], [r.stderr[-2000:] for r in results]
    for refused in (r for r in results if r.returncode == 1):
        one_line_error(refused, 1, "another themesift run")


def test_damaged_state_is_repaired_or_one_line_with_a_way_out(prefect_server, bucket, tmp_path):
    """A cache part cut short is quarantined and its passages embedded again; a catalog damaged mid-file is one
    error line naming it, `themesift doctor` says so, `--repair` keeps what reads and the next run rebuilds
    the rest; a garbage latest.json is an error, not a fresh start, and doctor mends it."""
    out, state = tmp_path / "out", tmp_path / "state"
    first = run_cli(bucket, f"file://{out}", state, prefect_server)
    assert first.returncode == 0, first.stderr[-3000:]
    latest = lambda: json.loads((out / "latest.json").read_text())["run_id"]  # noqa: E731
    before = json.loads((out / "runs" / latest() / "manifest.json").read_text())["counts"]
    [part] = sorted((state / "embeddings").rglob("part-*.parquet"))
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    cut = run_cli(bucket, f"file://{out}", state, prefect_server)
    assert cut.returncode == 0, cut.stderr[-3000:]
    counts = json.loads((out / "runs" / latest() / "manifest.json").read_text())["counts"]
    assert counts["cache_parts_quarantined"] == 1 and counts["chunks_embedded"] == before["chunks"]
    assert "unreadable cache part" in cut.stderr and (part.parent / "quarantine" / part.name).exists()

    catalog = state / "catalog.duckdb"
    data = bytearray(catalog.read_bytes())
    data[len(data) // 4: 3 * len(data) // 4] = os.urandom(len(data) // 2)
    catalog.write_bytes(bytes(data))
    damaged = run_cli(bucket, f"file://{out}", state, prefect_server)
    one_line_error(damaged, 1, f"catalog {catalog} is damaged", "themesift doctor --repair", before_work=False)
    doctor = [sys.executable, "-m", "flows.cli", "doctor"]
    env = {**os.environ, "THEMESIFT_STATE_DIR": str(state), "THEMESIFT_OUTPUT_URL": f"file://{out}"}
    check = subprocess.run(doctor, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 1 and "damaged" in check.stdout and "catalog" in check.stdout, check.stdout
    mend = subprocess.run([*doctor, "--repair"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert mend.returncode == 0 and "set aside as catalog.duckdb.damaged-" in mend.stdout, mend.stdout
    again = run_cli(bucket, f"file://{out}", state, prefect_server)
    assert again.returncode == 0, again.stderr[-3000:]
    counts = json.loads((out / "runs" / latest() / "manifest.json").read_text())["counts"]
    assert (counts["chunks"], counts["themes"]) == (before["chunks"], before["themes"])
    assert counts["chunks_embedded"] == 0, "the cache is apart from the catalog: nothing is embedded twice"
    healthy = subprocess.run(doctor, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert healthy.returncode == 0, healthy.stdout

    # A garbage latest.json (cut short by another tool, say) stops the next run before any work, never a fresh
    # start; `doctor --repair` points it back at the newest complete run and the lineage goes on from there.
    run_id = latest()
    (out / "latest.json").write_text('{"run_id": ')
    garbage = run_cli(bucket, f"file://{out}", state, prefect_server)
    one_line_error(garbage, 1, "latest.json is damaged", "delete it to start over")
    mend = subprocess.run([*doctor, "--repair"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert mend.returncode == 0 and f"pointed at {run_id}" in " ".join(mend.stdout.split()), mend.stdout
    after = run_cli(bucket, f"file://{out}", state, prefect_server)
    assert after.returncode == 0, after.stderr[-3000:]
    lineage = json.loads((out / "runs" / latest() / "manifest.json").read_text())["lineage"]
    assert lineage["previous_run_id"] == run_id, "the lineage continues from the run the pointer names"
