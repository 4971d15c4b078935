"""The output location's layout: ``runs/<run_id>/`` folders, the ``latest.json`` pointer, retention.

A run folder is complete when its ``manifest.json`` exists: the finish stage writes it after every other
file of the folder. ``latest.json`` is replaced (one atomic object write) only after that, so a reader who
follows it never sees half a run. Killed runs are tidied at the next start (`recover_unfinished_runs`).
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.infra.catalog import Catalog, open_catalog
from tasks.infra.errors import ObjectNotFoundError, StorageError
from tasks.infra.runs import scratch_dir
from tasks.infra.settings import Settings
from tasks.infra.storage import Storage

LATEST_KEY = "latest.json"
MANIFEST_NAME = "manifest.json"


def run_prefix(run_id: str) -> str:
    """Key prefix of a run's folder in the output store."""
    return f"runs/{run_id}/"


def json_bytes(doc: Any) -> bytes:
    """Pretty, UTF-8 JSON bytes."""
    return json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8")


def npy_bytes(array: np.ndarray) -> bytes:
    """An array as ``.npy`` file bytes (for `Storage.put`)."""
    sink = io.BytesIO()
    np.save(sink, array, allow_pickle=False)
    return sink.getvalue()


def parquet_bytes(table: pa.Table) -> bytes:
    """A table as Parquet file bytes (for `Storage.put`)."""
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def read_latest(storage: Storage) -> dict | None:
    """The ``latest.json`` pointer, or None before the first published run.

    Raises:
        StorageError: the pointer cannot be read, or is not a pointer: reading a damaged one as "no run yet"
            would restart every theme id and cut the lineage, so the run stops and says how to mend it.
    """
    try:
        raw = storage.get(LATEST_KEY)
    except ObjectNotFoundError:
        return None
    try:
        pointer = json.loads(raw)
        if not (isinstance(pointer, dict) and isinstance(pointer.get("run_id"), str) and pointer["run_id"]):
            raise ValueError("it names no run_id")
    except ValueError as exc:
        raise StorageError(
            f"{storage.url.rstrip('/')}/{LATEST_KEY} is damaged ({str(exc)[:80]}), so the previous run is unknown: "
            "`themesift doctor --repair` points it at the newest complete run; or delete it to start over (theme "
            "ids restart)") from None
    return pointer


def latest_run_id(storage: Storage) -> str | None:
    """The id of the run ``latest.json`` points at (None before the first published run)."""
    return (read_latest(storage) or {}).get("run_id")


def read_run_json(storage: Storage, run_id: str, name: str) -> dict | None:
    """A JSON file of a published run (``manifest.json``, ``themes.json``); None when it is gone or unreadable."""
    try:
        return json.loads(storage.get(run_prefix(run_id) + name))
    except Exception:  # noqa: BLE001 - a pruned or unreadable previous run only means "nothing to compare"
        return None


def promote_run(storage: Storage, run_id: str, finished_at: str) -> None:
    """Point ``latest.json`` at a complete run (one atomic object write)."""
    prefix = run_prefix(run_id)
    pointer = {"run_id": run_id, "prefix": prefix, "manifest": prefix + MANIFEST_NAME,
               "report": prefix + "report.html", "finished_at": finished_at}
    storage.put(LATEST_KEY, json_bytes(pointer))


def delete_run_folder(storage: Storage, run_id: str) -> None:
    """Delete a run's output folder, manifest first: an interrupted delete never leaves a folder that looks complete."""
    keys = sorted((o.key for o in storage.list(run_prefix(run_id))), key=lambda k: not k.endswith("/" + MANIFEST_NAME))
    for key in keys:
        storage.delete(key)


def recover_unfinished_runs(catalog: Catalog, output: Storage, state_dir: Path, latest: str | None) -> list[str]:
    """Tidy up after runs that were killed; call while holding the run lock.

    A run still marked ``running`` is dead. If ``latest.json`` already points at it, it was published
    completely (killed while closing its catalog row) and becomes ``complete``. Otherwise it becomes
    ``interrupted``, and its scratch folder and any output files it had started to publish are removed,
    so no half-written run folder lingers next to the complete ones.

    Args:
        catalog: The open catalog.
        output: The output store.
        state_dir: The state folder holding the runs' scratch folders.
        latest: The run ``latest.json`` points at (`latest_run_id`), None before the first.

    Returns:
        The ids of the runs marked interrupted.
    """
    interrupted = []
    for (run_id,) in catalog.rows("select_unfinished_runs"):
        if discard_run(catalog, output, state_dir, run_id, latest, "interrupted"):
            interrupted.append(run_id)
    return interrupted


def discard_run(catalog: Catalog, output: Storage, state_dir: Path, run_id: str, latest: str | None,
                status: str) -> bool:
    """Close a run that did not finish: ``complete`` if ``latest.json`` points at it (it was published and
    only its catalog row was left behind), else ``status`` (``interrupted``, ``failed``) with its output
    folder, scratch folder and catalog rows removed. Returns whether it was discarded."""
    if run_id == latest:
        catalog.run("update_run_status", {"run_id": run_id, "status": "complete"})
        return False
    delete_run_folder(output, run_id)
    shutil.rmtree(scratch_dir(state_dir, run_id), ignore_errors=True)
    with catalog.transaction():
        for statement in ("delete_run_assignments", "delete_run_phrases", "delete_run_clusters",
                          "delete_run_lineage"):
            catalog.run(statement, {"run_id": run_id})
        catalog.run("update_run_status", {"run_id": run_id, "status": status})
    return True


def prune_runs(settings: Settings, output: Storage, keep: int, latest: str | None) -> list[str]:
    """Retention: delete the run folders of complete runs older than the newest ``keep``; return their ids.

    The run ``latest.json`` points at is never deleted, whatever its age. Only runs this catalog knows
    as complete are touched (another deployment's folders in the same output are left alone). Each
    folder loses its manifest first, so an interrupted prune leaves an incomplete folder, never one
    that looks complete with files missing. The catalog keeps the run's row (status ``pruned``), its
    clusters (fresh ids never reuse theirs) and its lineage; its assignments go. ``latest`` is the run
    ``latest.json`` points at, which the caller knows (it just promoted it, or it was resolved at start).
    """
    with open_catalog(settings.catalog_path) as catalog:
        complete = [r for (r,) in catalog.rows("select_complete_runs")]
        victims = [r for r in complete[keep:] if r != latest]
        for run_id in victims:
            delete_run_folder(output, run_id)
            shutil.rmtree(scratch_dir(settings.state_dir, run_id), ignore_errors=True)
            with catalog.transaction():
                catalog.run("delete_run_assignments", {"run_id": run_id})
                catalog.run("delete_run_phrases", {"run_id": run_id})
                catalog.run("update_run_status", {"run_id": run_id, "status": "pruned"})
    return victims
