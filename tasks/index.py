"""Index stage: the bucket's passages and vectors as a search index, and how each file's embedding went.

What the embed-only flow (``flows/embed.py``, the API's ``POST /v2/ai/embeddings``) leaves behind for
readers that must not open the catalog while a run holds it (the HTTP API): under ``<state>/search/``,

- ``<run_id>/vectors.npy``: float32 ``(n, d)`` unit vectors, one row per passage;
- ``<run_id>/passages.parquet``: ``chunk_id``, ``object_key``, ``char_start``, ``char_end``, ``text``,
  ``content_hash`` of the object, in the same row order;
- ``<run_id>/files.json``: one record per object (``filename``, ``status`` ``success``/``failed``,
  ``error_reason``, ``skipped_records``);
- ``current.json``: which ``<run_id>`` is current, with the model, backend and chunking it was made with;
  replaced atomically after the files above are written, then older index folders are removed;
- ``tasks/<run_id>.json``: the task's outcome (counts, files failed), kept for status queries.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.infra.catalog import Catalog, open_catalog
from tasks.infra.params import ChunkParams
from tasks.infra.runs import RunRef, utc_now
from tasks.infra.settings import Settings
from tasks.infra.stage import stage_logger, stage_task, stopwatch
from tasks.infra.storage import atomic_write

CURRENT = "current.json"


def search_dir(state_dir: Path) -> Path:
    """Where a state folder keeps its search index."""
    return state_dir / "search"


def passages_table(catalog: Catalog, corpus: pa.Table, objects: list[tuple]) -> pa.Table:
    """The corpus rows with their text and their object's content hash (``objects``: the rows of
    ``select_object_statuses``), in corpus row order."""
    ids = pa.table({"row_no": corpus.column("row_no"), "chunk_id": corpus.column("chunk_id")})
    texts = [text for _, text in catalog.rows("select_chunk_texts", chunk_ids_input=ids)]
    hashes = {key: digest for key, _, digest, *_ in objects}
    keys = corpus.column("object_key").to_pylist()
    return pa.table({"chunk_id": corpus.column("chunk_id"), "object_key": corpus.column("object_key"),
                     "char_start": corpus.column("char_start"), "char_end": corpus.column("char_end"),
                     "text": pa.array(texts, pa.string()),
                     "content_hash": pa.array([hashes.get(k) for k in keys], pa.string())})


def file_statuses(objects: list[tuple], now: str) -> list[dict[str, Any]]:
    """Telnyx's per-file embedding status from the rows of ``select_object_statuses``: ``failed`` with the reason
    when the object was skipped, else ``success`` (with the records it skipped, if any)."""
    files = []
    for key, status, _, _, skipped_records, reason, detail in objects:
        error = None
        if status == "skipped":
            error = f"{reason}: {detail}" if detail else reason
        elif skipped_records:
            error = f"{skipped_records} record(s) skipped, first: {reason}" + (f" ({detail})" if detail else "")
        files.append({"filename": key, "status": "failed" if status == "skipped" else "success",
                      "error_reason": error, "skipped_records": int(skipped_records), "last_embedded_at": now})
    return files


def write_index(state_dir: Path, run_id: str, vectors: np.ndarray, passages: pa.Table, files: list[dict],
                meta: dict[str, Any]) -> None:
    """Write a complete index folder, then point ``current.json`` at it, then remove older folders."""
    root = search_dir(state_dir)
    folder = root / run_id
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float32))
    pq.write_table(passages, folder / "passages.parquet")
    atomic_write(folder / "files.json", json.dumps(files, ensure_ascii=False).encode("utf-8"))
    atomic_write(root / CURRENT, json.dumps({"run_id": run_id, **meta}, ensure_ascii=False).encode("utf-8"))
    for old in root.iterdir():
        if old.is_dir() and old.name not in (run_id, "tasks"):
            shutil.rmtree(old, ignore_errors=True)


def write_task_outcome(state_dir: Path, run_id: str, outcome: dict[str, Any]) -> None:
    """Record how an embedding task ended (its status is read from here once Prefect says it completed)."""
    atomic_write(search_dir(state_dir) / "tasks" / f"{run_id}.json", json.dumps(outcome).encode("utf-8"))


@stage_task(name="index")
def index_task(run: RunRef, settings: Settings, params: ChunkParams, embedded: dict) -> dict:
    """Publish the run's passages and vectors as the state folder's search index; close the embed-only run."""
    log = stage_logger()
    with stopwatch() as timing:
        corpus = pq.read_table(run.corpus_path)
        vectors = np.load(run.embeddings_path)
        now = utc_now()
        with open_catalog(settings.catalog_path) as catalog:
            objects = catalog.rows("select_object_statuses")
            passages = passages_table(catalog, corpus, objects)
            files = file_statuses(objects, now)
            catalog.run("update_run_status", {"run_id": run.run_id, "status": "embedded"})
        meta = {"model": settings.model, "model_key": embedded["model_key"], "embed_backend": embedded["embed_backend"],
                "chunk_unit": params.chunk_unit, "chunk_size": params.chunk_size,
                "chunk_overlap": params.chunk_overlap, "bucket_url": settings.bucket_url, "finished_at": now,
                "passages": passages.num_rows, "files": len(files)}
        write_index(settings.state_dir, run.run_id, vectors, passages, files, meta)
        failed = sum(f["status"] == "failed" for f in files)
        outcome = {"run_id": run.run_id, "finished_at": now, "files": len(files), "files_failed": failed,
                   "files_with_skipped_records": sum(f["skipped_records"] > 0 for f in files),
                   "passages": passages.num_rows, "chunks_embedded": embedded["chunks_embedded"]}
        write_task_outcome(settings.state_dir, run.run_id, outcome)
        shutil.rmtree(run.scratch, ignore_errors=True)
    log.info(f"index: {passages.num_rows:,} passages from {len(files):,} files searchable ({failed} failed)")
    return {**outcome, "seconds": timing["seconds"]}
