"""The map: 2-D positions laid out on the kNN graph the pipeline already built, so that neighbours on the map
are neighbours in meaning, across themes as well as inside them.

Contract: ``graph_layout(emb, theme, indices, distances, seed=...) -> float32 (n, 2)``, every value in [-1, 1],
deterministic for a seed, row order = the corpus order.

Up to :data:`~tasks.core.graph_tsne.TSNE_MAX_ROWS` chunks (200k) the layout is t-SNE on this graph
(`tasks.core.graph_tsne`, openTSNE): it keeps each chunk's graph neighbours next to it better than UMAP's descent
(docs/benchmarks.md) and is faster at those sizes. Above, it is umap-learn's two steps, whose time and memory
were measured within the 1M-chunk budget (t-SNE was not measured there), fed our graph instead of its own search
(no second kNN search):

1. the first :data:`MAP_NEIGHBOURS` neighbours of every chunk become a fuzzy graph (UMAP's membership
   strengths: each chunk's nearest neighbour counts fully, farther ones less, the graph symmetrised; computed
   in numpy by :func:`fuzzy_graph`, which spares a fresh process ~12 s of JIT);
2. stochastic gradient descent pulls graph neighbours together and pushes random pairs apart in 2-D, starting
   from the theme-disc layout (`tasks.core.layout`: themes already where PCA of their centroids puts them, so the
   global arrangement is cheap and stable) instead of UMAP's spectral start (about 7 minutes at 100k here).

Epochs shrink as the corpus grows so the work stays near :data:`EDGE_EPOCH_BUDGET` edge updates: 500 epochs up to
40k chunks, 200 at 100k, 20 at 1M, :data:`MIN_EPOCHS` from 2M (the start is already a sensible map, so a few
epochs sharpen neighbourhoods; at 1M the descent costs ~10 s an epoch on 2 cores, and 30 epochs took the 1M
run over its 15-minute budget). With a seed umap-learn runs its descent on one thread, which is what makes it
repeatable. Corpora under :data:`MIN_GRAPH_ROWS` chunks, or a graph with too few columns, keep the disc layout.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tasks.core.graph_tsne import TSNE_MAX_ROWS, bisect_rows, tsne_layout
from tasks.core.layout import normalise_coords, project_embeddings

__all__ = [
    "EDGE_EPOCH_BUDGET", "MAP_NEIGHBOURS", "MIN_EPOCHS", "MIN_GRAPH_ROWS", "fuzzy_graph", "graph_layout",
    "layout_epochs",
]

#: Graph neighbours per chunk that the layout keeps together (UMAP's ``n_neighbors``; the kNN preservation
#: figures in docs/benchmarks.md use the same 15).
MAP_NEIGHBOURS = 15
#: Edge updates the descent may spend (chunks x neighbours x epochs, roughly): sets the epochs for big corpora.
EDGE_EPOCH_BUDGET = 300_000_000
#: Fewest and most epochs.
MIN_EPOCHS, MAX_EPOCHS = 10, 500
#: Below this many chunks the graph says little; the disc layout is used.
MIN_GRAPH_ROWS = 32
_MIN_DIST = 0.1  # UMAP's default: how tightly close neighbours may pack
_NEGATIVE_SAMPLES = 5
_INIT_SCALE = 10.0  # UMAP's descent expects starting coordinates of about this size
_MIN_SCALE = 1e-3  # umap-learn's floor on a row's bandwidth, as a share of its mean neighbour distance
_BULK_QUANTILE = 0.99  # see _pull_in_outliers
_OUTLIER_BAND = 0.15


def layout_epochs(n: int, neighbours: int = MAP_NEIGHBOURS) -> int:
    """Epochs of descent for ``n`` chunks (see the module docstring)."""
    return int(np.clip(EDGE_EPOCH_BUDGET // max(n * neighbours, 1), MIN_EPOCHS, MAX_EPOCHS))


def fuzzy_graph(indices: np.ndarray, distances: np.ndarray, k: int = MAP_NEIGHBOURS) -> sp.csr_matrix:
    """UMAP's fuzzy graph over each row's first ``k - 1`` neighbours: (n, n) symmetric weights in (0, 1].

    A row's nearest neighbour gets weight 1, farther ones ``exp(-(d - rho) / sigma)`` with ``rho`` the nearest
    distance and ``sigma`` chosen (binary search, all rows at once) so the weights sum to ``log2(k)``; the two
    directions are joined as a fuzzy union ``a + b - a * b``. The same numbers umap-learn computes, in numpy:
    its compiled version costs ~12 s of numba JIT in every fresh process. Padding (-1 / inf) is skipped.
    """
    n = len(indices)
    idx = np.asarray(indices)[:, : k - 1].astype(np.int64)
    dist = np.asarray(distances)[:, : k - 1].astype(np.float64)
    valid = (idx >= 0) & np.isfinite(dist)
    dist = np.where(valid, np.maximum(dist, 0.0), np.inf)
    positive = np.where(valid & (dist > 0), dist, np.inf)
    rho = np.min(positive, axis=1)
    rho = np.where(np.isfinite(rho), rho, 0.0)
    excess = np.where(valid, np.maximum(dist - rho[:, None], 0.0), np.inf)
    sigma = _bandwidths(excess, np.log2(k))
    mean_dist = np.where(valid, dist, 0.0).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
    floor = _MIN_SCALE * np.where(rho > 0, mean_dist, float(mean_dist.mean()) if n else 1.0)
    sigma = np.maximum(sigma, floor)
    weight = np.where(valid, np.exp(-excess / np.maximum(sigma, 1e-12)[:, None]), 0.0)
    rows = np.repeat(np.arange(n), idx.shape[1])
    keep = valid.ravel() & (idx.ravel() != rows)
    one_way = sp.csr_matrix((weight.ravel()[keep], (rows[keep], idx.ravel()[keep])), shape=(n, n))
    one_way.sum_duplicates()
    both = one_way.multiply(one_way.T)
    return (one_way + one_way.T - both).tocsr()


def _bandwidths(excess: np.ndarray, target: float, rounds: int = 64) -> np.ndarray:
    """Per row, the ``sigma`` with ``sum(exp(-excess / sigma)) = target`` (bisection on all rows together)."""
    return bisect_rows(lambda sigma: np.exp(-excess / sigma[:, None]).sum(axis=1), target, len(excess), rounds)


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
    if n <= TSNE_MAX_ROWS:
        coords = tsne_layout(start, indices, distances, seed=seed)
        return normalise_coords(_pull_in_outliers(coords))
    # umap-learn pulls numba in (seconds to import, JIT on first use): loaded only when a map is laid out.
    from umap.umap_ import find_ab_params, simplicial_set_embedding

    graph = fuzzy_graph(indices, distances, k).tocoo()
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

