"""The map: 2-D positions laid out on the kNN graph the pipeline already built, so that neighbours on the map
are neighbours in meaning, across themes as well as inside them.

Contract: ``graph_layout(emb, theme, indices, distances, seed=...) -> float32 (n, 2)``, every value in [-1, 1],
deterministic for a seed, row order = the corpus order.

How: umap-learn's two steps, fed our graph instead of its own search (no second kNN search):

1. the first :data:`MAP_NEIGHBOURS` neighbours of every chunk become a fuzzy graph (UMAP's membership
   strengths: each chunk's nearest neighbour counts fully, farther ones less, the graph symmetrised);
2. stochastic gradient descent pulls graph neighbours together and pushes random pairs apart in 2-D, starting
   from the theme-disc layout (`tasks.core.layout`: themes already where PCA of their centroids puts them, so the
   global arrangement is cheap and stable) instead of UMAP's spectral start (about 7 minutes at 100k here).

Epochs shrink as the corpus grows so the work stays near :data:`EDGE_EPOCH_BUDGET` edge updates: 500 epochs up to
40k chunks, 200 at 100k, :data:`MIN_EPOCHS` from 670k (the start is already a sensible map, so a few epochs
sharpen neighbourhoods). With a seed umap-learn runs its descent on one thread, which is what makes it
repeatable. Corpora under :data:`MIN_GRAPH_ROWS` chunks, or a graph with too few columns, keep the disc layout.
"""

from __future__ import annotations

import numpy as np

from tasks.core.layout import normalise_coords, project_embeddings

__all__ = ["EDGE_EPOCH_BUDGET", "MAP_NEIGHBOURS", "MIN_EPOCHS", "MIN_GRAPH_ROWS", "graph_layout", "layout_epochs"]

#: Graph neighbours per chunk that the layout keeps together (UMAP's ``n_neighbors``; the kNN preservation
#: figures in docs/benchmarks.md use the same 15).
MAP_NEIGHBOURS = 15
#: Edge updates the descent may spend (chunks x neighbours x epochs, roughly): sets the epochs for big corpora.
EDGE_EPOCH_BUDGET = 300_000_000
#: Fewest and most epochs.
MIN_EPOCHS, MAX_EPOCHS = 30, 500
#: Below this many chunks the graph says little; the disc layout is used.
MIN_GRAPH_ROWS = 32
_MIN_DIST = 0.1  # UMAP's default: how tightly close neighbours may pack
_NEGATIVE_SAMPLES = 5
_INIT_SCALE = 10.0
_BULK_QUANTILE = 0.99
_OUTLIER_BAND = 0.15  # UMAP's descent expects starting coordinates of about this size


def layout_epochs(n: int, neighbours: int = MAP_NEIGHBOURS) -> int:
    """Epochs of descent for ``n`` chunks (see the module docstring)."""
    return int(np.clip(EDGE_EPOCH_BUDGET // max(n * neighbours, 1), MIN_EPOCHS, MAX_EPOCHS))


def _clean_graph(indices: np.ndarray, distances: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``k`` neighbours with each row's own index prepended at distance 0, as umap-learn expects;
    padding (-1 / inf) stays -1 with a finite distance, which umap-learn skips."""
    n = len(indices)
    idx = np.asarray(indices)[:, : k - 1].astype(np.int64)
    dist = np.asarray(distances)[:, : k - 1].astype(np.float32)
    pad = (idx < 0) | ~np.isfinite(dist)
    finite = dist[~pad]
    dist = np.where(pad, float(finite.max()) if finite.size else 1.0, dist)
    idx = np.where(pad, -1, idx)
    return (np.concatenate([np.arange(n, dtype=np.int64)[:, None], idx], axis=1),
            np.concatenate([np.zeros((n, 1), np.float32), np.maximum(dist, 0.0)], axis=1))


def graph_layout(emb: np.ndarray, theme: np.ndarray, indices: np.ndarray, distances: np.ndarray, *,
                 seed: int = 0) -> np.ndarray:
    """Lay every chunk out on the kNN graph (see the module docstring).

    Args:
        emb: float32 (n, d) unit vectors, one row per chunk.
        theme: int (n,) theme label per row; -1 is noise.
        indices, distances: the pipeline's kNN graph, (n, k) each, nearest first, self excluded, -1 / inf padding.
        seed: Same input and seed, same map.

    Returns:
        float32 (n, 2) positions in [-1, 1].

    Raises:
        ValueError: Shapes do not match or labels are not integers.
    """
    start = project_embeddings(emb, theme, seed=seed)  # validates emb and theme
    n = len(start)
    indices, distances = np.asarray(indices), np.asarray(distances)
    if indices.shape != distances.shape or indices.ndim != 2 or len(indices) != n:
        raise ValueError(f"graph indices {indices.shape} and distances {distances.shape} must both be (n={n}, k)")
    k = min(MAP_NEIGHBOURS, indices.shape[1] + 1)
    if n < MIN_GRAPH_ROWS or k < 3:
        return start
    # umap-learn pulls numba in (seconds to import, JIT on first use): loaded only when a map is laid out.
    from umap.umap_ import find_ab_params, fuzzy_simplicial_set, simplicial_set_embedding

    knn_indices, knn_dists = _clean_graph(indices, distances, k)
    graph, _, _ = fuzzy_simplicial_set(np.zeros((n, 1), np.float32), k, np.random.RandomState(seed), "euclidean",
                                       knn_indices=knn_indices, knn_dists=knn_dists)
    a, b = find_ab_params(1.0, _MIN_DIST)
    coords, _ = simplicial_set_embedding(
        data=np.zeros((n, 1), np.float32), graph=graph, n_components=2, initial_alpha=1.0, a=a, b=b, gamma=1.0,
        negative_sample_rate=_NEGATIVE_SAMPLES, n_epochs=layout_epochs(n, k),
        init=start.astype(np.float64) * _INIT_SCALE, random_state=np.random.RandomState(seed),
        metric="euclidean", metric_kwds={}, densmap=False, densmap_kwds={}, output_dens=False)
    return normalise_coords(_pull_in_outliers(np.asarray(coords, np.float64)))


def _pull_in_outliers(coords: np.ndarray) -> np.ndarray:
    """Bring far-flung points (UMAP puts each small disconnected piece of the graph far away) to just outside
    the bulk, so that a handful of them cannot shrink the whole map into a corner of the frame: beyond the
    :data:`_BULK_QUANTILE` radius from the median, distances are compressed into a band :data:`_OUTLIER_BAND`
    of that radius wide, order kept."""
    centre = np.median(coords, axis=0)
    offset = coords - centre
    radius = np.linalg.norm(offset, axis=1)
    bulk = float(np.quantile(radius, _BULK_QUANTILE)) if len(radius) else 0.0
    far = radius > bulk
    if bulk <= 0 or not far.any():
        return coords
    excess = (radius[far] - bulk) / bulk
    new_radius = bulk * (1.0 + _OUTLIER_BAND * (1.0 - np.exp(-excess)))
    offset[far] *= (new_radius / radius[far])[:, None]
    return centre + offset

