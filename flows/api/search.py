"""Reading a bucket's search index (written by the index stage, `tasks.index`) for the embedding routes.

An index folder never changes once ``current.json`` points at it, so the vectors (memory-mapped) and passages
are kept per state folder until a newer index replaces them. The query encoder is the deployment's model
through the backend the index was embedded with (the vectors must be comparable); it is loaded on the first
search, in a worker thread, and kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.embed import run_encoder
from tasks.index import CURRENT, search_dir
from tasks.infra.settings import Settings


@dataclass(frozen=True)
class Index:
    """One published search index."""

    meta: dict[str, Any]
    vectors: np.ndarray
    passages: pa.Table


def read_json(path: Path) -> Any:
    """A JSON file, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class SearchIndexes:
    """The search indexes of the API's buckets, and the encoders their queries need."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._indexes: dict[str, Index] = {}
        self._encoders: dict[tuple[str, str], Any] = {}
        self._lock = Lock()

    def meta(self, state_dir: str) -> dict[str, Any] | None:
        """What ``current.json`` says of a state folder's index (None before its first embedding task)."""
        return read_json(search_dir(Path(state_dir)) / CURRENT)

    def files(self, state_dir: str) -> list[dict[str, Any]] | None:
        """Each file's embedding status from the current index."""
        meta = self.meta(state_dir)
        return read_json(search_dir(Path(state_dir)) / meta["run_id"] / "files.json") if meta else None

    def task_outcome(self, state_dir: str, run_id: str) -> dict[str, Any] | None:
        """How an embedding task ended (its counts), if it finished."""
        return read_json(search_dir(Path(state_dir)) / "tasks" / f"{run_id}.json")

    def index(self, state_dir: str) -> Index | None:
        """The current index of a state folder, loaded once per published index."""
        meta = self.meta(state_dir)
        if meta is None:
            return None
        with self._lock:
            cached = self._indexes.get(state_dir)
            if cached is not None and cached.meta["run_id"] == meta["run_id"]:
                return cached
        folder = search_dir(Path(state_dir)) / meta["run_id"]
        try:
            loaded = Index(meta, np.load(folder / "vectors.npy", mmap_mode="r"),
                           pq.read_table(folder / "passages.parquet"))
        except OSError:
            return None  # replaced between reading the pointer and the files: the caller may retry
        with self._lock:
            self._indexes[state_dir] = loaded
        return loaded

    def encoder(self, model: str, backend: str) -> Any:
        """The query encoder for vectors embedded by ``model`` through ``backend`` (loaded once)."""
        key = (model, backend)
        with self._lock:
            if key not in self._encoders:
                self._encoders[key] = run_encoder(self.settings.model_copy(update={"model": model,
                                                                                    "embed_backend": backend}))
            return self._encoders[key]

    def search(self, state_dir: str, query: str, k: int) -> list[dict[str, Any]] | None:
        """The ``k`` passages nearest to ``query`` in Telnyx's result shape; None when the bucket has no index."""
        index = self.index(state_dir)
        if index is None:
            return None
        if index.passages.num_rows == 0:
            return []
        encode = self.encoder(index.meta["model"], index.meta["embed_backend"])
        query_vector = np.asarray(encode([query]), dtype=np.float32)[0]
        sims = np.asarray(index.vectors @ query_vector)
        k = min(k, len(sims))
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top], kind="stable")]
        rows = index.passages.take(pa.array(top, pa.int64())).to_pylist()
        base = index.meta.get("bucket_url", "").rstrip("/")
        return [{"document_chunk": row["text"], "distance": round(float(1 - sims[i]), 6),
                 "metadata": {"source": f"{base}/{row['object_key']}", "checksum": row["content_hash"] or "",
                              "embedding": index.meta["model"], "filename": row["object_key"],
                              "certainty": round(float((1 + sims[i]) / 2), 6),
                              "loader_metadata": {"chunk_id": row["chunk_id"], "char_start": row["char_start"],
                                                  "char_end": row["char_end"]}}}
                for i, row in zip(top, rows, strict=True)]
