"""``cluster_embeddings``: the whole clustering, from validated inputs to a renumbered :class:`Clustering`.

It checks the parameters, handles the degenerate inputs, runs the themes (steps 1-4), the subthemes
(step 5) and the optional noise reassignment (step 4b), then numbers the groups as the contract says.
"""

from __future__ import annotations

import time

import numpy as np

from tasks.core.clustering.contract import (
    SUBTHEME_RESOLUTION,
    Clustering,
    all_identical,
    resolve_min_samples,
    resolve_resolution,
    validate_inputs,
    validate_params,
    validate_prior,
    validate_selection,
)
from tasks.core.clustering.noise import reassign_noise as reassign_noise_chunks
from tasks.core.clustering.quality import theme_cohesion
from tasks.core.clustering.selection import Selection
from tasks.core.clustering.subthemes import find_subthemes
from tasks.core.clustering.themes import find_themes
from tasks.core.knn_graph import KnnGraph


def cluster_embeddings(
    emb: np.ndarray,
    graph: KnnGraph,
    *,
    min_cluster_size: int = 25,
    min_subcluster_size: int | None = 5,
    min_samples: int | None = None,
    reassign_noise: bool = False,
    cluster_selection: str = "modularity",
    resolution: float | None = None,
    subtheme_resolution: float = SUBTHEME_RESOLUTION,
    prior_theme: np.ndarray | None = None,
    stickiness: float = 0.0,
) -> Clustering:
    """Finds themes and subthemes (see the package docstring for the algorithm and the contract).

    Args:
        emb: float32 ``(n, d)`` L2-normalised embeddings.
        graph: kNN graph of ``emb`` from :func:`tasks.core.knn_graph.build_knn_graph`.
        min_cluster_size: smallest theme (``>= 2``).
        min_subcluster_size: smallest subtheme (``>= 2``); ``None`` = no subthemes (the pass is skipped).
        min_samples: HDBSCAN density smoothing; ``None`` = ``min(DEFAULT_MIN_SAMPLES, min_cluster_size)``.
        reassign_noise: after clustering, give each noise chunk that a path in the graph connects to a theme
            the group label propagation favours (step 4b; off by default, share reported).
        cluster_selection: how clusters are picked from the density tree: ``"modularity"`` (the cut of the tree
            with the highest kNN-graph modularity, step 3b) or ``"eom"`` (HDBSCAN's excess of mass).
        resolution: modularity resolution for themes (``> 0``; higher gives more, smaller themes); ``None`` =
            ``THEME_RESOLUTION``, or ``SMALL_CORPUS_RESOLUTION`` in a small corpus (``resolve_resolution``).
        subtheme_resolution: modularity resolution inside each theme (``> 0``; below 1 a theme may stay whole).
        prior_theme: int ``(n,)``, the previous run's theme of each chunk (``-1``: none, or a new chunk).
        stickiness: with ``prior_theme`` and modularity selection, how much a cluster that matches a
            previous theme is preferred (``0`` = not at all; ``0.1`` = within 10 % of modularity).

    Returns:
        The :class:`Clustering`.

    Raises:
        ValueError: on invalid parameters or inputs, with a hint how to fix them.
    """
    validate_params(min_cluster_size, min_subcluster_size, min_samples)
    resolution = resolve_resolution(resolution, emb.shape[0])
    validate_selection(cluster_selection, resolution, subtheme_resolution)
    validate_inputs(emb, graph)
    validate_prior(prior_theme, stickiness, emb.shape[0])
    ms = resolve_min_samples(min_samples, min_cluster_size, emb.shape[0])
    diag: dict = {"n": emb.shape[0], "min_cluster_size": min_cluster_size, "min_subcluster_size": min_subcluster_size,
                  "min_samples": ms, "cluster_selection": cluster_selection, "seconds": {}}
    if cluster_selection == "modularity":
        diag.update(resolution=resolution, subtheme_resolution=subtheme_resolution)
    degenerate = _degenerate(emb, min_cluster_size, diag)
    if degenerate is not None:
        return degenerate
    theme = find_themes(emb, graph, min_cluster_size, ms, diag,
                        selection=_theme_selection(cluster_selection, resolution, prior_theme, stickiness, diag))
    sub = _timed_subthemes(emb, theme, min_subcluster_size, ms, Selection(cluster_selection, subtheme_resolution),
                           diag)
    diag["reassigned_noise_pct"] = 0.0
    if reassign_noise:
        theme, sub = _timed_reassignment(theme, sub, graph, ms, diag)
    result = finish_clustering(theme, sub, diag)
    diag["cohesion"] = theme_cohesion(emb, result.theme)
    return result


def _degenerate(emb: np.ndarray, min_cluster_size: int, diag: dict) -> Clustering | None:
    """The result for inputs with nothing to cluster (too few rows, all identical), else ``None``."""
    n = emb.shape[0]
    if n < max(min_cluster_size, 2):
        diag["geometry"] = "none: fewer points than min_cluster_size, all noise"
        return finish_clustering(np.full(n, -1, np.int64), np.full(n, -1, np.int64), diag)
    if all_identical(emb):
        # One perfectly dense blob: HDBSCAN's default refuses a lone root
        # cluster, but a corpus of one repeated chunk is one theme.
        diag["geometry"] = "none: all embeddings identical, one theme"
        return finish_clustering(np.zeros(n, np.int64), np.full(n, -1, np.int64), diag)
    return None


def _theme_selection(method: str, resolution: float, prior: np.ndarray | None, stickiness: float,
                     diag: dict) -> Selection:
    """The theme-level selection; the previous run's themes steer it only with modularity and stickiness > 0."""
    if prior is None or stickiness <= 0 or method != "modularity":
        return Selection(method, resolution)
    diag.update(stickiness=stickiness, prior_known_pct=round(100 * float((prior >= 0).mean()), 2))
    return Selection(method, resolution, np.asarray(prior, np.int64), stickiness)


def _timed_subthemes(emb: np.ndarray, theme: np.ndarray, mss: int | None, ms: int, selection: Selection,
                     diag: dict) -> np.ndarray:
    """Step 5 and its seconds; all ``-1`` without running it when ``mss`` is ``None`` (no subthemes asked for)."""
    if mss is None:
        return np.full(theme.shape[0], -1, np.int64)
    t0 = time.perf_counter()
    sub = find_subthemes(emb, theme, mss, ms, selection)
    diag["seconds"]["subthemes"] = round(time.perf_counter() - t0, 3)
    return sub


def _timed_reassignment(theme: np.ndarray, sub: np.ndarray, graph: KnnGraph, ms: int,
                        diag: dict) -> tuple[np.ndarray, np.ndarray]:
    """Step 4b, its seconds and the share of chunks it moved."""
    n = theme.shape[0]
    t0 = time.perf_counter()
    theme, sub, moved = reassign_noise_chunks(theme, sub, graph, min(ms, n - 1))
    diag["seconds"]["reassign_noise"] = round(time.perf_counter() - t0, 3)
    diag["reassigned_noise_pct"] = round(100 * moved / n, 2)
    return theme, sub


def finish_clustering(theme: np.ndarray, sub: np.ndarray, diag: dict) -> Clustering:
    """Renumbers themes by size and subthemes by theme then size; packs the result with its counts (in ``diag``)."""
    theme = renumber_by_size(theme)
    new_sub, parents = _renumber_subthemes(theme, sub)
    _count_groups(diag, theme, new_sub, parents)
    return Clustering(theme=theme.astype(np.int32), subtheme=new_sub.astype(np.int32),
                      subtheme_theme=parents, diagnostics=diag)


def renumber_by_size(labels: np.ndarray) -> np.ndarray:
    """Maps labels to 0..T-1 by decreasing size (ties: lower first row first); int64, -1 stays -1."""
    out = np.full(labels.shape[0], -1, np.int64)
    kept = labels >= 0
    if not kept.any():
        return out
    ids, first, size = np.unique(labels[kept], return_index=True, return_counts=True)
    first = np.flatnonzero(kept)[first]
    order = np.lexsort((first, -size))
    remap = np.full(int(ids.max()) + 1, -1, np.int64)
    remap[ids[order]] = np.arange(len(ids))
    out[kept] = remap[labels[kept]]
    return out


def _renumber_subthemes(theme: np.ndarray, sub: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Subthemes numbered by parent theme, then larger first, then first row; and int32 parent of each."""
    if not (sub.size and sub.max() >= 0):
        return np.full(sub.shape[0], -1, np.int64), np.zeros(0, np.int32)
    ids, first, size = np.unique(sub[sub >= 0], return_index=True, return_counts=True)
    first = np.flatnonzero(sub >= 0)[first]
    parent = theme[first]
    order = np.lexsort((first, -size, parent))
    remap = np.full(int(ids.max()) + 1, -1, np.int64)
    remap[ids[order]] = np.arange(len(ids))
    return np.where(sub >= 0, remap[np.maximum(sub, 0)], -1), parent[order].astype(np.int32)


def _count_groups(diag: dict, theme: np.ndarray, sub: np.ndarray, parents: np.ndarray) -> None:
    """Adds the group counts and clustered shares of the final labels to ``diag``."""
    n = theme.shape[0]
    diag["n_themes"] = int(theme.max()) + 1 if n and theme.max() >= 0 else 0
    diag["n_subthemes"] = len(parents)
    diag["fraction_in_theme"] = round(float((theme >= 0).mean()), 4) if n else 0.0
    diag["fraction_in_subtheme"] = round(float((sub >= 0).mean()), 4) if n else 0.0
    diag["noise_pct"] = round(100 * float((theme < 0).mean()), 2) if n else 0.0
    diag["themes_with_subthemes"] = len(np.unique(parents))
