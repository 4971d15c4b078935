"""kNN stage: the FAISS kNN graph over the run's vectors (`tasks.core.knn_graph`), kept in the scratch folder.

A graph is also kept in the state folder's graph cache, keyed by a digest of the exact vectors it was built
on, ``k`` and the seed: a second configuration over the same corpus (other cluster sizes, resolutions,
summaries; the HTTP API's "as many configurations as you like") reuses it instead of searching again. Any
change to the chunks, their order, the geometry, the context weight or the context field changes the vectors,
hence the key.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.core.clustering import THREAD_REACH, clustering_space, recommended_k, with_document_context
from tasks.core.knn_graph import KnnGraph, build_knn_graph
from tasks.infra.catalog import open_catalog
from tasks.infra.params import GraphParams
from tasks.infra.query import json_path
from tasks.infra.runs import RunRef
from tasks.infra.settings import Settings
from tasks.infra.stage import stage_logger, stage_task, stopwatch
from tasks.steer import steered

#: Graphs kept in the cache (newest used first); each is ~12 bytes x k per chunk (~0.4 GB at 1M chunks, k=32).
GRAPH_CACHE_ENTRIES = 4
#: Bump when `build_knn_graph` changes what it returns for the same input: old entries then never match.
GRAPH_CACHE_VERSION = 1


def knn_size(params: GraphParams, n: int) -> int:
    """Neighbours per chunk for this run: the parameter, else what the clustering recommends (< n)."""
    k = params.knn_k or recommended_k(params.min_cluster_size, params.min_samples, n)
    return max(1, min(k, n - 1)) if n > 1 else 1


class ContextParams(Protocol):
    """What reading chunks in context needs (the knn and cluster stages' params both have it)."""

    context_weight: float
    context_field: str | None
    instruction: str | None


def contextual_vectors(run: RunRef, settings: Settings, params: ContextParams,
                       threads: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The run's vectors with each chunk read with its document neighbours (``context_weight``), or its thread's
    (``context_field``; ``threads`` when the caller read them already, `context_threads`), and, with an
    ``instruction``, along its facet (`tasks.steer`); the graph and the clustering compare these, in the
    clustering space."""
    emb = np.load(run.embeddings_path)
    if params.context_field:
        groups, order = threads or context_threads(run, settings, params.context_field)
        emb = with_document_context(emb, groups, order, params.context_weight, reach=THREAD_REACH)
    else:
        corpus = pq.read_table(run.corpus_path, columns=["doc_id", "char_start"])
        emb = with_document_context(emb, corpus.column("doc_id").to_numpy(), corpus.column("char_start").to_numpy(),
                                    params.context_weight)
    return steered(run, emb, params.instruction)


def context_threads(run: RunRef, settings: Settings, field: str) -> tuple[np.ndarray, np.ndarray]:
    """Per chunk: its thread (its document's ``field`` value; a document without one is a thread of its own) and
    its rank in reading order (object key, record number, position in the record)."""
    corpus = pq.read_table(run.corpus_path, columns=["doc_id", "object_key", "char_start"])
    docs = pa.table({"doc_id": pc.unique(corpus.column("doc_id"))})
    with open_catalog(settings.catalog_path) as catalog:
        found = {doc: (record_no, thread)
                 for doc, record_no, thread in catalog.rows("select_document_threads", {"path": json_path(field)},
                                                            doc_ids_input=docs)}
    doc_ids = corpus.column("doc_id").to_pylist()
    read = [found.get(d, (None, None)) for d in doc_ids]
    threads = np.array([f"d:{d}" if t is None else f"t:{t}" for d, (_, t) in zip(doc_ids, read, strict=True)],
                       dtype=object)
    record_no = np.array([r or 0 for r, _ in read], np.int64)
    _, objects = np.unique(np.asarray(corpus.column("object_key").to_pylist(), dtype=object), return_inverse=True)
    order = np.empty(len(doc_ids), np.int64)
    order[np.lexsort((corpus.column("char_start").to_numpy(), record_no, objects))] = np.arange(len(doc_ids))
    return threads, order


def load_graph(run: RunRef) -> KnnGraph:
    """The graph the knn stage saved for a run."""
    saved = np.load(run.graph_path)
    return KnnGraph(indices=saved["indices"], distances=saved["distances"])


def graph_cache_key(emb: np.ndarray, k: int, seed: int) -> str:
    """A digest naming exactly this graph: the vectors' bytes and shape, ``k``, the seed, FAISS's version."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(f"v{GRAPH_CACHE_VERSION}|faiss {faiss.__version__}|{emb.shape}|{emb.dtype}|k={k}|seed={seed}|"
                  .encode())
    digest.update(np.ascontiguousarray(emb).data)
    return digest.hexdigest()


def cached_graph(cache_dir: Path, key: str) -> KnnGraph | None:
    """The cached graph for ``key`` (its use time refreshed), or None when absent or unreadable."""
    path = cache_dir / f"{key}.npz"
    try:
        with np.load(path) as saved:
            graph = KnnGraph(indices=saved["indices"], distances=saved["distances"])
    except (OSError, KeyError, ValueError):
        return None
    path.touch()
    return graph


def store_graph(cache_dir: Path, key: str, graph: KnnGraph, keep: int = GRAPH_CACHE_ENTRIES) -> None:
    """Write ``graph`` to the cache atomically (temp file, then rename) and drop all but the ``keep`` newest."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{key}.{os.getpid()}.npz"
    np.savez(tmp, indices=graph.indices, distances=graph.distances)
    os.replace(tmp, cache_dir / f"{key}.npz")
    entries = sorted(cache_dir.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[keep:]:
        old.unlink(missing_ok=True)


@stage_task(name="knn")
def knn_task(run: RunRef, settings: Settings, params: GraphParams) -> dict:
    """Build the FAISS kNN graph over the corpus's vectors (in the clustering space), or take it from the graph
    cache when these exact vectors were searched with this ``k`` before; keep it in scratch."""
    log = stage_logger()
    with stopwatch() as timing:
        threads = context_threads(run, settings, params.context_field) if params.context_field else None
        emb = clustering_space(contextual_vectors(run, settings, params, threads), params.geometry)
        k = knn_size(params, len(emb))
        key = graph_cache_key(emb, k, params.seed)
        graph = cached_graph(settings.graph_cache_dir, key)
        reused = graph is not None
        if graph is None:
            graph = build_knn_graph(emb, k, seed=params.seed)
            store_graph(settings.graph_cache_dir, key, graph)
        np.savez(run.graph_path, indices=graph.indices, distances=graph.distances)
    log.info(f"knn: {len(emb):,} chunks, k={k}" + (" (graph reused from the cache)" if reused else ""))
    out = {"k": k, "chunks": len(emb), "reused": reused, "seconds": timing["seconds"]}
    if threads is not None:
        out["threads"] = thread_count(threads[0])
        if out["threads"]:
            log.info(f"knn: records read with their thread (`{params.context_field}`): {out['threads']:,} threads")
        else:
            log.warning(f"knn: no record has a `{params.context_field}` field (context_field): each is read alone")
    return out


def thread_count(threads: np.ndarray) -> int:
    """Threads named by a field value (not documents read alone) in `context_threads`'s output."""
    return len({t for t in threads.tolist() if t.startswith("t:")})
