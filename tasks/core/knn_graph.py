"""k-nearest-neighbour graph of chunk embeddings (the ``knn`` stage's numeric core).

Contract
--------
Input: ``emb``, a float32 array of shape ``(n, d)`` whose rows are L2-normalised
sentence embeddings (all-MiniLM-L6-v2 gives ``d = 384``).

Output: a :class:`KnnGraph` with

* ``indices``  int64 ``(n, k)``: the ``k`` nearest other rows of each row,
  nearest first, the row itself excluded. When ``n - 1 < k`` the missing slots
  hold ``-1``.
* ``distances`` float32 ``(n, k)``: cosine distance ``1 - cos(u, v)`` clipped to
  ``[0, 2]``, non-decreasing along each row; ``+inf`` where ``indices == -1``.

Search methods:

* ``"exact"``: FAISS ``IndexFlatIP`` (brute-force inner product, which equals
  cosine similarity on unit vectors). Deterministic.
* ``"ivf"``: inverted-file routing searched in blocks: k-means into
  ``~2 sqrt(n)`` lists (trained on a seeded sample); the rows of each list are
  searched together, with exact inner products, against the rows of the
  :data:`IVF_NPROBE` lists nearest to their list's centroid (one BLAS product
  and one top-k per list). Cheap to build (one small k-means), unlike HNSW.
  Recall@34 on the synthetic set: 0.949 at 50k, 0.943 at 200k, where the
  per-query FAISS ``IndexIVFFlat`` scan it replaced (12 probes) had 0.948 and
  0.932 and took 2.3x longer at 200k (41 s vs 18 s); the clustering tolerates
  this (it re-ranks and smooths over the graph). Deterministic for the same
  input, seed and thread count.
* ``"auto"``: ``"exact"`` up to :data:`EXACT_MAX_N` rows, ``"ivf"`` above.
  Measured on 2 shared cores, k = 33: exact search costs ``O(n^2 d)`` (73 s at
  50k under load, ≈ 2 h at 1M); IVF 11 s at 50k in the same conditions. HNSW
  construction (M=32, efConstruction=200) cost more than either below ~1M on
  2 cores, so it is not offered.

Pure functions only: no I/O and no orchestration.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

#: Largest ``n`` for which ``method="auto"`` uses exact search (see module docstring).
EXACT_MAX_N = 20_000
#: IVF lists probed per list of queries (recall@34 on the synthetic 50k set: 0.949, as a per-query scan of 12).
IVF_NPROBE = 24
#: IVF lists are searched in groups of about this many query rows (see ``_search_ivf``).
IVF_GROUP_ROWS = 640
#: At most this many lists per group (their candidate sets are merged).
IVF_GROUP_MAX = 4
#: Rows scored per IVF/exact search call, bounding the result buffers.
_SEARCH_BATCH = 65_536

_METHODS = ("auto", "exact", "ivf")
_NORM_TOL = 1e-3  # float32 normalisation error tolerated before we call rows "not unit"


@dataclass(frozen=True)
class KnnGraph:
    """A kNN graph over ``n`` points.

    Attributes:
        indices: int64 ``(n, k)`` neighbours of each row, nearest first, self
            excluded; ``-1`` padding when ``n - 1 < k``.
        distances: float32 ``(n, k)`` cosine distances in ``[0, 2]``; ``+inf``
            where ``indices == -1``.
    """

    indices: np.ndarray
    distances: np.ndarray

    @property
    def n(self) -> int:
        """Number of points (rows)."""
        return int(self.indices.shape[0])

    @property
    def k(self) -> int:
        """Number of neighbour slots per row."""
        return int(self.indices.shape[1])


def build_knn_graph(emb: np.ndarray, k: int, *, method: str = "auto", seed: int = 0) -> KnnGraph:
    """Builds the cosine kNN graph of L2-normalised embeddings.

    Args:
        emb: float32 ``(n, d)`` array, rows L2-normalised, all values finite.
        k: neighbours per row (``>= 1``). Rows get ``-1``/``inf`` padding when
            fewer than ``k`` other points exist.
        method: ``"exact"``, ``"ivf"`` or ``"auto"`` (exact up to
            :data:`EXACT_MAX_N` rows, IVF above).
        seed: seeds IVF's training sample and k-means; unused by exact search.

    Returns:
        The :class:`KnnGraph`.

    Raises:
        ValueError: on a wrong dtype, shape, non-finite or non-normalised
            values, ``k < 1`` or an unknown ``method``.
    """
    _validate(emb, k, method)
    n = emb.shape[0]
    if n <= 1:
        return _padded(np.empty((n, 0), np.int64), np.empty((n, 0), np.float32), k)
    if method == "auto":
        method = "exact" if n <= EXACT_MAX_N else "ivf"
    # Ask for one extra neighbour because the query point finds itself.
    k_search = min(k + 1, n)
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    if method == "exact":
        sims, idx = _search_exact(emb, k_search)
    else:
        sims, idx = _search_ivf(emb, k_search, seed)
    idx, sims = _drop_self(idx, sims)
    dist = np.clip(1.0 - sims, 0.0, 2.0).astype(np.float32)
    return _padded(idx, dist, k)


def _validate(emb: np.ndarray, k: int, method: str) -> None:
    """Raises ValueError with a fix hint when the inputs break the contract."""
    if not isinstance(emb, np.ndarray):
        raise ValueError(f"emb must be a numpy array, got {type(emb).__name__}; "
                         "wrap it with np.asarray(..., dtype=np.float32)")
    if emb.dtype != np.float32:
        raise ValueError(f"emb must be float32, got {emb.dtype}; convert with emb.astype(np.float32)")
    if emb.ndim != 2:
        raise ValueError(f"emb must be 2-D (n, d), got shape {emb.shape}; reshape to one row per chunk")
    if emb.shape[0] > 0 and emb.shape[1] == 0:
        raise ValueError("emb has 0 columns; pass the embedding vectors, not an empty matrix")
    if not np.isfinite(emb).all():
        raise ValueError("emb contains NaN or inf; drop or re-embed those chunks first")
    if emb.shape[0] > 0:
        norms = np.sqrt(np.einsum("nd,nd->n", emb, emb))  # no (n, d) temporary at 1M rows
        if np.abs(norms - 1.0).max() > _NORM_TOL:
            raise ValueError("emb rows must be L2-normalised; encode with normalize_embeddings=True "
                             "or divide by np.linalg.norm(emb, axis=1, keepdims=True)")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}; use tasks.core.clustering.recommended_k(...)")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")


def _search_exact(emb: np.ndarray, k_search: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force inner-product search of every row against all rows."""
    index = faiss.IndexFlatIP(emb.shape[1])
    index.add(emb)
    sims, idx = index.search(emb, k_search)
    return sims, idx


def _search_ivf(emb: np.ndarray, k_search: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Approximate search routed by an inverted file, one BLAS block per group of lists.

    k-means (trained on a seeded sample) cuts the rows into ``~2 sqrt(n)`` lists. The rows of each list
    are searched, exactly, against the rows of the :data:`IVF_NPROBE` lists whose centroids are nearest
    to their list's centroid: one matrix product and one top-k (``faiss.knn``) per block instead of a
    scan per query. That is the same arithmetic as a per-query IVF scan, but it runs in BLAS, which is
    several times faster at 1M rows; probing by list rather than by query costs a little recall at list
    borders, which the larger probe count buys back (recall@34 measured in docs/benchmarks.md).

    Small lists make small blocks, and ``faiss.knn`` on a 112-row block costs ~3x more per pair than on
    a 450-row one, so a list is searched together with its nearest not-yet-searched lists (up to
    :data:`IVF_GROUP_ROWS` query rows) against the union of their probe lists: every row sees at least
    its own list's probes (recall can only rise), and at 50k rows the search takes ~25 % less time.
    The rows are first copied in list order, so a block's queries and candidates are contiguous slices.
    """
    n, d = emb.shape
    nlist = int(np.clip(2 * np.sqrt(n), 16, 8192))
    nlist = min(nlist, max(1, n // 39))  # FAISS wants >= 39 training points per list
    kmeans = faiss.Kmeans(d, nlist, niter=10, seed=int(seed))  # coarse lists only route the search
    n_train = min(n, 40 * nlist)
    sample = np.sort(np.random.default_rng(seed).choice(n, n_train, replace=False))
    kmeans.train(np.ascontiguousarray(emb[sample]))
    centroids = faiss.IndexFlatIP(d)
    centroids.add(kmeans.centroids)
    _, assign = _batched_search(centroids, emb, 1)
    assign = assign[:, 0]
    _, probes = centroids.search(kmeans.centroids, min(IVF_NPROBE, nlist))
    order = np.argsort(assign, kind="stable")
    bounds = np.searchsorted(assign[order], np.arange(nlist + 1))
    emb = emb[order]  # row r of a list block is original row order[r]
    sims = np.full((n, k_search), -np.inf, np.float32)
    idx = np.full((n, k_search), -1, np.int64)
    for group in _list_groups(probes, bounds, IVF_GROUP_ROWS):
        lists = np.unique(probes[group])
        lists = lists[(lists >= 0) & (bounds[lists + 1] > bounds[lists])]
        queries = np.concatenate([np.arange(bounds[g], bounds[g + 1]) for g in group])
        cand = np.concatenate([np.arange(bounds[p], bounds[p + 1]) for p in lists])
        kk = min(k_search, len(cand))
        dist, hit = faiss.knn(emb[queries], emb[cand], kk, metric=faiss.METRIC_INNER_PRODUCT)
        sims[queries, :kk] = dist
        idx[queries, :kk] = cand[hit]
    out_sims = np.empty_like(sims)
    out_idx = np.empty_like(idx)
    out_sims[order] = sims
    out_idx[order] = np.where(idx >= 0, order[np.maximum(idx, 0)], -1)
    return out_sims, out_idx


def _list_groups(probes: np.ndarray, bounds: np.ndarray, target_rows: int) -> list[list[int]]:
    """Non-empty lists in groups of nearby lists, each grown to about ``target_rows`` rows.

    Lists are taken in order; each not-yet-grouped list starts a group and pulls in its nearest
    not-yet-grouped lists (its probe order) until the group holds ``target_rows`` rows or
    :data:`IVF_GROUP_MAX` lists. Deterministic.
    """
    sizes = np.diff(bounds)
    done = sizes == 0
    groups = []
    for lst in range(len(sizes)):
        if done[lst]:
            continue
        group, rows = [lst], int(sizes[lst])
        done[lst] = True
        for p in probes[lst]:
            if rows >= target_rows or len(group) >= IVF_GROUP_MAX:
                break
            if p >= 0 and not done[p]:
                group.append(int(p))
                rows += int(sizes[p])
                done[p] = True
        groups.append(group)
    return groups


def _batched_search(index: faiss.Index, emb: np.ndarray, k_search: int) -> tuple[np.ndarray, np.ndarray]:
    """``index.search`` in row batches so temporary buffers stay small at 1M rows."""
    sims = np.empty((emb.shape[0], k_search), np.float32)
    idx = np.empty((emb.shape[0], k_search), np.int64)
    for start in range(0, emb.shape[0], _SEARCH_BATCH):
        stop = start + _SEARCH_BATCH
        sims[start:stop], idx[start:stop] = index.search(emb[start:stop], k_search)
    return sims, idx


def _drop_self(idx: np.ndarray, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Removes each row's own index from its result list.

    With exact duplicates the query need not come back first (ties), and an
    approximate index may miss it entirely; in that case the last (farthest)
    hit is dropped instead so every row keeps ``k_search - 1`` neighbours.
    """
    rows = np.arange(idx.shape[0])[:, None]
    drop = idx == rows
    no_self = ~drop.any(axis=1)
    drop[no_self, -1] = True
    # Stable argsort moves the kept (False) slots to the front in their original order.
    keep_order = np.argsort(drop, axis=1, kind="stable")[:, :-1]
    idx = np.take_along_axis(idx, keep_order, axis=1).astype(np.int64)
    sims = np.take_along_axis(sims, keep_order, axis=1)
    return _sort_rows(idx, sims)


def _sort_rows(idx: np.ndarray, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orders each row by decreasing similarity (ties by index) and marks misses.

    HNSW can return ``-1`` for slots it could not fill; those go last with
    similarity ``-inf`` so they become ``+inf`` distances.
    """
    sims = np.where(idx < 0, -np.inf, sims).astype(np.float64)
    order = np.lexsort((idx, -sims), axis=-1) if idx.size else np.empty_like(idx)
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(sims, order, axis=1)


def _padded(idx: np.ndarray, dist: np.ndarray, k: int) -> KnnGraph:
    """Pads (or trims) to exactly ``k`` columns with ``-1`` / ``+inf``."""
    n, have = idx.shape
    out_idx = np.full((n, k), -1, dtype=np.int64)
    out_dist = np.full((n, k), np.inf, dtype=np.float32)
    m = min(have, k)
    out_idx[:, :m] = idx[:, :m]
    out_dist[:, :m] = dist[:, :m]
    out_dist[out_idx < 0] = np.inf
    return KnnGraph(indices=out_idx, distances=out_dist)
