"""Steps 1-4 over one kNN graph: smoothed geometry, density tree, cluster selection, raw outliers and
border points. The corpus's themes come from here, and so do the clusters inside one theme (subthemes) and
those of a resampled corpus (stability).
"""

from __future__ import annotations

import time

import numpy as np

from tasks.core.clustering.contract import SMOOTH_STEPS, recommended_k
from tasks.core.clustering.geometry import kernel_scale, rerank, smooth, transition_matrix
from tasks.core.clustering.noise import absorb_border_points, raw_outliers
from tasks.core.clustering.selection import Selection, select_by_modularity
from tasks.core.clustering.tree import select_eom, single_linkage_tree
from tasks.core.knn_graph import KnnGraph


def find_themes(emb: np.ndarray, graph: KnnGraph, mcs: int, ms: int, diag: dict, *, selection: Selection,
                allow_single: bool = False, corpus_n: int | None = None) -> np.ndarray:
    """Steps 1-4 of the package docstring; returns raw int64 theme labels (-1 noise, not yet renumbered).

    Records the geometry, graph and per-step facts into ``diag`` (which must hold a ``"seconds"`` dict).
    ``corpus_n`` is the whole corpus's size when ``emb`` is one theme of it.
    """
    n = emb.shape[0]
    k = _usable_k(graph, mcs, ms, n, corpus_n)
    ms_eff = min(ms, n - 1)  # with n <= min_samples the core is the farthest point
    idx_raw, dist_raw = graph.indices[:, :k], graph.distances[:, :k]
    clock = _Clock(diag)
    scale = kernel_scale(dist_raw, ms_eff)
    xs = _smoothed(emb, idx_raw, dist_raw, scale)
    clock.lap("smooth")
    idx, dist = rerank(xs, idx_raw)
    core = dist[:, ms_eff - 1].astype(np.float64)
    hierarchy, n_comp = single_linkage_tree(xs, idx, dist, core)
    clock.lap("tree")
    labels = _select(hierarchy, mcs, idx_raw, dist_raw, scale, selection, allow_single, diag)
    if labels.max(initial=-1) < 0 and not allow_single:
        # The tree holds a cluster of mcs or more (its root), but no cut into two beats it: that cluster is
        # the one theme (its subthemes show its parts), never a run that is 100 % noise.
        labels = _select(hierarchy, mcs, idx_raw, dist_raw, scale, selection, True, diag)
        diag["whole_corpus_theme"] = True
    clock.lap("select")
    outlier = raw_outliers(dist_raw[:, ms_eff - 1])
    labels[outlier] = -1
    n_clustered = int((labels >= 0).sum())
    labels = absorb_border_points(labels, idx, dist, core, outlier)
    clock.lap("border_points")
    diag.update(geometry=_describe(selection), k=k, graph_components=n_comp, raw_outliers=int(outlier.sum()),
                absorbed_border_points=int((labels >= 0).sum()) - n_clustered)
    return labels


def _usable_k(graph: KnnGraph, mcs: int, ms: int, n: int, corpus_n: int | None = None) -> int:
    """The graph width to use: the recommended one, or less when the graph is narrower but still covers
    ``min_samples``; otherwise a :class:`ValueError` that says how to rebuild it."""
    k = min(graph.k, recommended_k(mcs, ms, n, corpus_n=corpus_n))
    ms_eff = min(ms, n - 1)
    if k < ms_eff:
        raise ValueError(f"graph has k={graph.k} but min_samples={ms} needs k >= {ms_eff}; "
                         f"rebuild it with k=recommended_k({mcs}, {ms})")
    return k


def _smoothed(emb: np.ndarray, idx: np.ndarray, dist: np.ndarray, scale: float) -> np.ndarray:
    """Step 1: the embeddings after :data:`SMOOTH_STEPS` diffusion steps over the kNN graph."""
    # The transition matrix (~0.8 GB at 1M rows) is dropped on return: the tree after this is the memory peak.
    return smooth(emb, transition_matrix(idx, dist, scale), SMOOTH_STEPS)


def _select(hierarchy: np.ndarray, mcs: int, idx_raw: np.ndarray, dist_raw: np.ndarray, scale: float,
            selection: Selection, allow_single: bool, diag: dict) -> np.ndarray:
    """Step 3b (modularity over the raw graph, its figure into ``diag``) or HDBSCAN's excess of mass."""
    if selection.method != "modularity":
        return select_eom(hierarchy, mcs, allow_single=allow_single)
    labels, modularity = select_by_modularity(hierarchy, mcs, idx_raw, dist_raw, scale, selection.resolution,
                                              allow_single=allow_single, prior=selection.prior,
                                              stickiness=selection.stickiness)
    diag["modularity"] = round(modularity, 4)
    return labels


def _describe(selection: Selection) -> str:
    """The geometry line of the self-report."""
    method = "modularity" if selection.method == "modularity" else "excess-of-mass"
    return f"diffusion-smoothed kNN graph ({SMOOTH_STEPS} steps) + HDBSCAN on the graph, {method} selection"


class _Clock:
    """Records seconds per step into ``diag['seconds']``."""

    def __init__(self, diag: dict) -> None:
        self._diag, self._t = diag, time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self._diag["seconds"][name] = round(now - self._t, 3)
        self._t = now
