"""kNN stage: the FAISS kNN graph over the run's vectors (`tasks.core.knn_graph`), kept in the scratch folder."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from tasks.core.clustering import clustering_space, recommended_k, with_document_context
from tasks.core.knn_graph import KnnGraph, build_knn_graph
from tasks.infra.params import GraphParams
from tasks.infra.runs import RunRef
from tasks.infra.stage import stage_logger, stage_task, stopwatch


def knn_size(params: GraphParams, n: int) -> int:
    """Neighbours per chunk for this run: the parameter, else what the clustering recommends (< n)."""
    k = params.knn_k or recommended_k(params.min_cluster_size, params.min_samples, n)
    return max(1, min(k, n - 1)) if n > 1 else 1


def contextual_vectors(run: RunRef, context_weight: float) -> np.ndarray:
    """The run's vectors with each chunk read with its document neighbours (``context_weight``); the graph and
    the clustering compare these, in the clustering space."""
    corpus = pq.read_table(run.corpus_path, columns=["doc_id", "char_start"])
    return with_document_context(np.load(run.embeddings_path), corpus.column("doc_id").to_numpy(),
                                 corpus.column("char_start").to_numpy(), context_weight)


def load_graph(run: RunRef) -> KnnGraph:
    """The graph the knn stage saved for a run."""
    saved = np.load(run.graph_path)
    return KnnGraph(indices=saved["indices"], distances=saved["distances"])


@stage_task(name="knn")
def knn_task(run: RunRef, params: GraphParams) -> dict:
    """Build the FAISS kNN graph over the corpus's vectors (in the clustering space) and keep it in scratch."""
    log = stage_logger()
    with stopwatch() as timing:
        emb = clustering_space(contextual_vectors(run, params.context_weight), params.geometry)
        k = knn_size(params, len(emb))
        graph = build_knn_graph(emb, k, seed=params.seed)
        np.savez(run.graph_path, indices=graph.indices, distances=graph.distances)
    log.info(f"knn: {len(emb):,} chunks, k={k}")
    return {"k": k, "chunks": len(emb), "seconds": timing["seconds"]}
