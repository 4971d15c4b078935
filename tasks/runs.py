"""Runs: ids, the per-run scratch folder, the one-run-at-a-time lock, and the run's catalog row."""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tasks.catalog import Catalog
from tasks.errors import CatalogError
from tasks.settings import RunParams, Settings
from tasks.storage import Storage


@dataclass(frozen=True)
class RunRef:
    """What every stage needs to find a run's state: its id and scratch folder."""

    run_id: str
    scratch: str
    started_at: str

    @property
    def corpus_path(self) -> Path:
        """The run's frozen chunk list (row order shared by every later stage)."""
        return Path(self.scratch) / "corpus.parquet"

    def path(self, name: str) -> Path:
        """A file in the run's scratch folder."""
        return Path(self.scratch) / name


def new_run_id(now: datetime | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ-xxxx``: sorts by time, unique across concurrent starts."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def utc_now() -> str:
    """Current UTC time, ISO 8601 with a Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def start_run(catalog: Catalog, settings: Settings, params: RunParams, run_id: str | None = None) -> RunRef:
    """Register a run in the catalog and create its scratch folder."""
    run_id = run_id or new_run_id()
    scratch = (settings.state_dir / "runs" / run_id).resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    started = utc_now()
    catalog.run("insert_run", {"run_id": run_id, "started_at": started.rstrip("Z"),
                               "params": params.model_dump_json(), "settings": json.dumps(settings.describe())})
    return RunRef(run_id, str(scratch), started)


def recover_unfinished_runs(catalog: Catalog, output: Storage, state_dir: Path) -> list[str]:
    """Tidy up after runs that were killed; call while holding the run lock.

    A run still marked ``running`` is dead. If ``latest.json`` already points at it, it was published
    completely (killed while closing its catalog row) and becomes ``complete``. Otherwise it becomes
    ``interrupted``, and its scratch folder and any output files it had started to publish are removed,
    so no half-written run folder lingers next to the complete ones.

    Returns:
        The ids of the runs marked interrupted.
    """
    from tasks.publish import read_latest, run_prefix

    latest = (read_latest(output) or {}).get("run_id")
    interrupted = []
    for (run_id,) in catalog.rows("select_unfinished_runs"):
        if run_id == latest:
            catalog.run("update_run_status", {"run_id": run_id, "status": "complete"})
            continue
        for obj in list(output.list(run_prefix(run_id))):
            output.delete(obj.key)
        shutil.rmtree(state_dir / "runs" / run_id, ignore_errors=True)
        with catalog.transaction():
            for statement in ("delete_run_assignments", "delete_run_clusters", "delete_run_lineage"):
                catalog.run(statement, {"run_id": run_id})
            catalog.run("update_run_status", {"run_id": run_id, "status": "interrupted"})
        interrupted.append(run_id)
    return interrupted


def prune_runs(settings: Settings, output: Storage, keep: int) -> list[str]:
    """Retention: delete the run folders of complete runs older than the newest ``keep``; return their ids.

    The run ``latest.json`` points at is never deleted, whatever its age. Only runs this catalog knows
    as complete are touched (another deployment's folders in the same output are left alone). Each
    folder loses its manifest first, so an interrupted prune leaves an incomplete folder, never one
    that looks complete with files missing. The catalog keeps the run's row (status ``pruned``), its
    clusters (fresh ids never reuse theirs) and its lineage; its assignments go.
    """
    from tasks.catalog import open_catalog
    from tasks.publish import read_latest, run_prefix

    latest = (read_latest(output) or {}).get("run_id")
    with open_catalog(settings.catalog_path) as catalog:
        complete = [r for (r,) in catalog.rows("select_complete_runs")]
        victims = [r for r in complete[keep:] if r != latest]
        for run_id in victims:
            keys = sorted((o.key for o in output.list(run_prefix(run_id))), key=lambda k: not k.endswith("/manifest.json"))
            for key in keys:
                output.delete(key)
            shutil.rmtree(settings.state_dir / "runs" / run_id, ignore_errors=True)
            with catalog.transaction():
                catalog.run("delete_run_assignments", {"run_id": run_id})
                catalog.run("update_run_status", {"run_id": run_id, "status": "pruned"})
    return victims


def drop_scratch_arrays(run: RunRef, names: tuple[str, ...]) -> None:
    """Delete a published run's large intermediates (vectors, graph); the small records stay for debugging."""
    for name in names:
        run.path(name).unlink(missing_ok=True)


@contextmanager
def run_lock(state_dir: Path) -> Iterator[None]:
    """Hold the state folder's lock for a whole run; a second run refuses with a clear message."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "run.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise CatalogError(
                f"another themesift run ({holder}) is using {state_dir}; wait for it to finish or point "
                "THEMESIFT_STATE_DIR elsewhere"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


from tasks.stage import stage_task  # noqa: E402 - wrappers sit below the plain functions they wrap


@stage_task(name="start-run")
def start_run_task(settings: Settings, params: RunParams, run_id: str | None = None) -> RunRef:
    """Tidy up after killed runs, then register this run and create its scratch folder."""
    from tasks.catalog import open_catalog
    from tasks.stage import stage_logger
    from tasks.storage import open_storage

    output = open_storage(settings.output_url, create=True, settings=settings)
    with open_catalog(settings.catalog_path) as catalog:
        interrupted = recover_unfinished_runs(catalog, output, settings.state_dir)
        if interrupted:
            stage_logger().warning(f"start-run: {len(interrupted)} killed run(s) marked interrupted and their "
                                   f"partial outputs removed: {', '.join(interrupted)}")
        return start_run(catalog, settings, params, run_id)
