"""Baselines the benchmarks set beside themesift's clustering (never imported by the product).

``raw_graph_hdbscan`` is HDBSCAN over the same FAISS kNN graph and spanning tree as the themes path, but on
the raw embeddings: it shows what the smoothed geometry, the modularity selection and the border points add.
"""

from __future__ import annotations

import numpy as np

from tasks.core.clustering import recommended_k
from tasks.core.clustering.contract import resolve_min_samples
from tasks.core.clustering.pipeline import renumber_by_size
from tasks.core.clustering.tree import select_eom, single_linkage_tree
from tasks.core.knn_graph import build_knn_graph


def raw_graph_hdbscan(emb: np.ndarray, *, min_cluster_size: int = 25, min_samples: int | None = None) -> np.ndarray:
    """HDBSCAN over the kNN graph of the *raw* embeddings (no smoothing).

    Same graph and tree as the themes path, minus steps 1, 2 and 4 of ``tasks.core.clustering``, with
    HDBSCAN's own excess-of-mass selection.

    Args:
        emb: float32 ``(n, d)`` L2-normalised embeddings.
        min_cluster_size: smallest cluster (``>= 2``).
        min_samples: HDBSCAN ``min_samples``; ``None`` = the clustering's default.

    Returns:
        int64 ``(n,)`` labels numbered by decreasing size, ``-1`` = noise.
    """
    n = emb.shape[0]
    ms = min(resolve_min_samples(min_samples, min_cluster_size), max(n - 1, 1))
    if n < max(min_cluster_size, 2):
        return np.full(n, -1, np.int64)
    graph = build_knn_graph(emb, min(recommended_k(min_cluster_size, min_samples, n), n - 1))
    core = graph.distances[:, ms - 1].astype(np.float64)
    hierarchy, _ = single_linkage_tree(emb, graph.indices, graph.distances, core)
    return renumber_by_size(select_eom(hierarchy, min_cluster_size, allow_single=False))
