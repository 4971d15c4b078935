"""t-SNE on the pipeline's kNN graph: the map's layout up to :data:`TSNE_MAX_ROWS` chunks (`tasks.core.graph_layout`).

Why t-SNE there: it keeps a chunk's graph neighbours next to it on the map better than UMAP's descent does
(docs/benchmarks.md, "The map on the kNN graph": share of each chunk's 15 graph neighbours among its 15 nearest
map neighbours, Banking77 0.53 -> 0.63, 20 Newsgroups 0.29 -> 0.43), and with openTSNE's FFT-accelerated
gradients it is faster at these sizes (100k chunks: 15 s against 68 s; 200k: 25 s and 1.1 GB). Bigger corpora
keep UMAP's descent, whose time and memory were measured within the 1M-chunk budget; t-SNE was not measured
there.

How:

1. **Affinities from the graph we have** (no second neighbour search): each chunk's neighbours get Gaussian
   weights on their cosine distance (squared Euclidean between unit vectors, up to a factor), with each row's
   bandwidth found by bisection so the row's perplexity is a third of its neighbour count (t-SNE's own rule,
   the other way round: perplexity 30 reads 90 neighbours); the matrix is symmetrised and sums to 1. Padding
   (-1 / inf) is skipped.
2. **Descent** (openTSNE, two threads; FFT gradients, Barnes-Hut under :data:`_FFT_MIN_ROWS` chunks): started
   from the theme-disc layout (`tasks.core.layout`), scaled to the small spread openTSNE expects; early
   exaggeration 12 for the first third of the iterations (at most 250), then :data:`_EXAGGERATION` (1.5).
   :func:`tsne_iterations` bounds the work. Deterministic for a seed (checked by a test).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = [
    "TSNE_ITER_BUDGET", "TSNE_MAX_ROWS", "bisect_rows", "neighbour_probabilities", "tsne_affinities", "tsne_iterations",
    "tsne_layout",
]

#: Up to this many chunks the map is t-SNE; above, UMAP's descent (see the module docstring).
TSNE_MAX_ROWS = 200_000
#: Iterations spend about this many row-iterations: 500 up to 50k chunks, 250 at 100k, 150 from ~167k.
TSNE_ITER_BUDGET = 25_000_000
TSNE_MIN_ITERS, TSNE_MAX_ITERS = 150, 500
_EARLY_EXAGGERATION = 12.0
_EARLY_ITERS = 250
#: After the early phase, a mild exaggeration: themes stand apart more and the descent settles twice as fast,
#: for the same kept neighbours (Banking77 0.626 -> 0.625, 20 Newsgroups 0.424 -> 0.426; 2 costs 0.01 of them,
#: 4 is UMAP-like and keeps 0.31 on 20 Newsgroups). Exaggeration for big data follows Kobak and Berens (2019).
_EXAGGERATION = 1.5
_START_SPREAD = 1e-4  # openTSNE's recommended standard deviation of a starting layout
_FFT_MIN_ROWS = 10_000  # below, Barnes-Hut gradients: the FFT grid has a fixed cost that dominates small maps


def tsne_iterations(n: int) -> int:
    """Iterations of descent for ``n`` chunks (see :data:`TSNE_ITER_BUDGET`)."""
    return int(np.clip(TSNE_ITER_BUDGET // max(n, 1), TSNE_MIN_ITERS, TSNE_MAX_ITERS))


def tsne_affinities(indices: np.ndarray, distances: np.ndarray) -> sp.csr_matrix:
    """t-SNE's joint probabilities over the graph's edges: (n, n) symmetric, non-negative, summing to 1."""
    idx = np.asarray(indices).astype(np.int64)
    n, k = idx.shape
    p, valid = neighbour_probabilities(idx, distances)
    rows = np.repeat(np.arange(n), k)
    keep = valid.ravel()
    one_way = sp.csr_matrix((p.ravel()[keep], (rows[keep], idx.ravel()[keep])), shape=(n, n))
    one_way.sum_duplicates()
    joint = (one_way + one_way.T).tocsr()
    total = float(joint.sum())
    return joint / total if total > 0 else joint


def neighbour_probabilities(indices: np.ndarray, distances: np.ndarray, rounds: int = 64
                            ) -> tuple[np.ndarray, np.ndarray]:
    """Each row's distribution over its neighbours, ``(n, k)``, with perplexity a third of ``k`` (at least 1.5),
    and the mask of real neighbours (padding, and a row's own index, get 0)."""
    idx = np.asarray(indices).astype(np.int64)
    n, k = idx.shape
    dist = np.asarray(distances).astype(np.float64)
    valid = (idx >= 0) & np.isfinite(dist) & (idx != np.arange(n)[:, None])
    nearest = np.min(np.where(valid, dist, np.inf), axis=1, keepdims=True)
    excess = np.where(valid, np.maximum(dist - np.where(np.isfinite(nearest), nearest, 0.0), 0.0), np.inf)
    target = np.log(max(k / 3.0, 1.5))
    # entropy falls as beta grows
    beta = bisect_rows(lambda b: -_entropy(_row_distribution(excess, b)), -target, n, rounds)
    return _row_distribution(excess, beta), valid


def _row_distribution(excess: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Each row's Gaussian weights ``exp(-excess * beta)``, normalised to sum to 1 (0 where none are finite)."""
    p = np.exp(-excess * beta[:, None])
    return p / np.maximum(p.sum(axis=1, keepdims=True), 1e-300)


def _entropy(p: np.ndarray) -> np.ndarray:
    """Each row's entropy (nats)."""
    return -(p * np.log(np.maximum(p, 1e-300))).sum(axis=1)


def bisect_rows(increasing, target: float, n: int, rounds: int = 64) -> np.ndarray:
    """Per row, the positive ``x`` with ``increasing(x)[row] = target``: bisection on all ``n`` rows together,
    doubling ``x`` from 1 until it is bracketed. ``increasing`` maps an ``(n,)`` array of ``x`` to ``(n,)``
    values, each rising with its ``x``. Used here for t-SNE's bandwidths and by `tasks.core.graph_layout` for
    UMAP's."""
    lo, hi, mid = np.zeros(n), np.full(n, np.inf), np.ones(n)
    for _ in range(rounds):
        too_big = increasing(mid) > target
        hi = np.where(too_big, mid, hi)
        lo = np.where(too_big, lo, mid)
        mid = np.where(np.isinf(hi), mid * 2, (lo + hi) / 2)
    return mid


def tsne_layout(start: np.ndarray, indices: np.ndarray, distances: np.ndarray, *, seed: int) -> np.ndarray:
    """t-SNE positions ``(n, 2)`` (float64, unnormalised) from ``start`` (the disc layout) on the graph."""
    # openTSNE takes ~0.8 s to import: only the project stage, when it lays a map out, pays it.
    from openTSNE import TSNEEmbedding
    from openTSNE.affinity import PrecomputedAffinities

    n = len(start)
    init = np.asarray(start, np.float64)
    init = init - init.mean(axis=0)
    init *= _START_SPREAD / max(float(init[:, 0].std()), 1e-12)
    embedding = TSNEEmbedding(init, PrecomputedAffinities(tsne_affinities(indices, distances)), n_jobs=2,
                              negative_gradient_method="fft" if n >= _FFT_MIN_ROWS else "bh", random_state=seed,
                              verbose=False)
    total = tsne_iterations(n)
    early = min(_EARLY_ITERS, total // 3)
    embedding = embedding.optimize(n_iter=early, exaggeration=_EARLY_EXAGGERATION, momentum=0.5)
    embedding = embedding.optimize(n_iter=total - early, exaggeration=_EXAGGERATION, momentum=0.8)
    return np.asarray(embedding, np.float64)
