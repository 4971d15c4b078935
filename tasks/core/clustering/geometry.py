"""Steps 1-2: the graph-smoothed geometry the density tree runs on.

:func:`transition_matrix` is the row-stochastic kernel of the symmetrised kNN graph, :func:`smooth` diffuses
the embeddings over it (float32 throughout, bit-identical with any thread count) and :func:`rerank` re-orders
each chunk's graph neighbours by their distance in the smoothed space (no second search).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

from tasks.core.clustering.contract import DIST_FLOOR, KERNEL_SCALE
from tasks.infra.machine import default_threads

#: Rows per sparse product in the first round of :func:`smooth` (16k x 384 floats: 25 MB).
_SMOOTH_ROWS = 16_384
#: Columns per sparse product in later rounds, shared by the worker threads: each holds two
#: ``(n, _SMOOTH_COLUMNS // workers)`` temporaries (1 GB in all at 1M rows, whatever the thread count).
_SMOOTH_COLUMNS = 128
#: Below this many rows the smoothing runs on one thread (threads cost more than they save).
_SMOOTH_THREADED_MIN_N = 20_000


def kernel_scale(dist: np.ndarray, ms: int) -> float:
    """The smoothing kernel's width: :data:`KERNEL_SCALE` times the median ``ms``-th neighbour distance."""
    return max(float(np.median(dist[:, ms - 1])), DIST_FLOOR) * KERNEL_SCALE


def per_edge_scale(scale: float | np.ndarray, rows: np.ndarray) -> float | np.ndarray:
    """The kernel scale for edges leaving ``rows``: one global value, or each row's own."""
    return scale[rows] if np.ndim(scale) else scale


def transition_matrix(idx: np.ndarray, dist: np.ndarray, scale: float | np.ndarray) -> sp.csr_matrix:
    """Row-stochastic float32 ``P`` of the symmetrised kNN graph plus self-loops.

    Edge weight ``exp(-d / scale)`` with one global ``scale`` (the median core
    distance): a chunk in a dense region is pulled by its many close
    neighbours, while an isolated chunk, whose neighbours are all far, keeps
    most of its weight on its own self-loop and is *not* dragged into the
    nearest theme (a per-point kernel such as UMAP's would pull it there).
    The symmetrisation lets a hub's neighbours pull it too. ``scale`` may be one value per row (the
    batched subtheme pass: each theme has its own, and edges never leave a theme).
    """
    n, k = idx.shape
    rows = np.repeat(np.arange(n), k)
    cols = idx.ravel()
    ok = cols >= 0
    w = np.exp(-dist.ravel()[ok].astype(np.float64) / per_edge_scale(scale, rows[ok])).astype(np.float32)
    A = sp.csr_matrix((w, (rows[ok], cols[ok])), shape=(n, n))
    A = A.maximum(A.T) + sp.identity(n, dtype=np.float32, format="csr")
    deg = np.asarray(A.sum(axis=1), dtype=np.float32).ravel()
    return (sp.diags(1.0 / deg) @ A).tocsr().astype(np.float32)


def smooth(emb: np.ndarray, P: sp.csr_matrix, steps: int) -> np.ndarray:
    """``steps`` rounds of ``X <- normalise(P @ X)`` (float32 throughout), in one ``(n, d)`` buffer.

    The first round reads ``emb`` and fills the buffer a block of rows at a time. Later rounds read and
    write the same buffer: column ``c`` of ``P @ X`` reads only column ``c`` of ``X``, so they go a block of
    columns at a time. Either way the smoothing costs one copy of the embeddings, not two (1.5 GB less
    at 1M x 384), and each output element sums the same terms in the same order as ``P @ X``: the result
    is the same to the bit, with any number of threads. scipy's sparse product releases the GIL, so the
    blocks run on one thread per core (1.7x on 2 cores at 200k rows).
    """
    n, d = emb.shape
    x = np.empty((n, d), dtype=np.float32)
    workers = min(8, default_threads()) if n >= _SMOOTH_THREADED_MIN_N else 1
    width = max(16, _SMOOTH_COLUMNS // workers)

    def rows(a: int) -> None:
        x[a:a + _SMOOTH_ROWS] = P[a:a + _SMOOTH_ROWS] @ emb

    def columns(a: int) -> None:
        x[:, a:a + width] = P @ np.ascontiguousarray(x[:, a:a + width])

    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    run = pool.map if pool else map
    try:
        for step in range(steps):
            if step == 0:
                list(run(rows, range(0, n, _SMOOTH_ROWS)))
            else:
                list(run(columns, range(0, d, width)))
            _normalise_rows(x)
    finally:
        if pool:
            pool.shutdown()
    return x


def _normalise_rows(x: np.ndarray) -> None:
    """In place: every row of ``x`` to unit length (zero rows stay zero)."""
    # einsum row norms: np.linalg.norm would make an (n, d) temporary (1.5 GB at 1M x 384).
    x /= np.maximum(np.sqrt(np.einsum("nd,nd->n", x, x)), 1e-12)[:, None]


def rerank(xs: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-orders each row's neighbours by cosine distance in the smoothed space.

    Returns int64 indices and float32 distances, both ``idx.shape``, nearest first; padding (``-1``)
    gets distance ``inf`` and goes last.
    """
    safe = np.where(idx >= 0, idx, 0)
    d = np.empty(idx.shape, np.float32)
    step = max(1, 2**24 // max(1, idx.shape[1] * xs.shape[1]))  # ~64 MB of gathered rows at a time
    for a in range(0, idx.shape[0], step):
        d[a:a + step] = 1.0 - np.einsum("nd,nkd->nk", xs[a:a + step], xs[safe[a:a + step]])
    d = np.where(idx >= 0, np.clip(d, 0.0, 2.0), np.inf).astype(np.float32)
    order = np.argsort(d, axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(d, order, axis=1)
