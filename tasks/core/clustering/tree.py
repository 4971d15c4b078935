"""Step 3: HDBSCAN on the graph: the mutual-reachability spanning tree of the kNN graph as a single-linkage
hierarchy (islands of the graph joined first), and HDBSCAN's excess-of-mass selection on its condensed tree.

Only ``hdbscan``'s compiled tree routines are used (no numba JIT). The hierarchy is a scipy-style linkage
matrix of ``n - 1`` rows; labels coming out of a selection are int64 ``(n,)``, ``-1`` = noise.
"""

from __future__ import annotations

import faiss
import numpy as np
import scipy.sparse as sp
from hdbscan._hdbscan_linkage import label as _single_linkage_from_mst
from hdbscan._hdbscan_tree import compute_stability, condense_tree, get_clusters
from scipy.sparse import csgraph

from tasks.core.clustering.contract import DIST_FLOOR, ROW_BATCH

#: Height at which the batched subtheme pass joins its themes' trees (above any cosine distance, 2).
_BLOCK_JOIN = 4.0
#: Components joined through a dense distance matrix of their representatives (12k -> ~1.2 GB float64).
_MAX_DENSE_COMPONENTS = 12_000
#: Nearest other representatives each one is linked to while there are too many islands for a dense matrix.
_SPARSE_LINKS = 16


def single_linkage_tree(x: np.ndarray, idx: np.ndarray, dist: np.ndarray, core: np.ndarray,
                        blocks: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Mutual-reachability MST of the kNN graph as a scipy-style linkage matrix.

    Returns the linkage matrix and the number of connected components the kNN graph had.

    With ``blocks`` (row boundaries of groups whose edges stay inside them: the themes of the batched
    subtheme pass) each group's islands are joined within the group, and the groups are then chained
    at :data:`_BLOCK_JOIN` (above any cosine distance), so each group is a subtree of its own.
    """
    G = _mutual_reachability(idx, dist, core)
    if blocks is None:
        G, n_comp = connect_components(G, x, core)
    else:
        G, n_comp = _connect_blocks(G, x, core, blocks)
    T = csgraph.minimum_spanning_tree(G, overwrite=True).tocoo()
    del G
    return _linkage(T), n_comp


def _mutual_reachability(idx: np.ndarray, dist: np.ndarray, core: np.ndarray) -> sp.csr_matrix:
    """The kNN edges weighted ``max(d, core_i, core_j, floor)``, one direction per stored edge."""
    n, k = idx.shape
    # The memory peak of a run (1M rows: every temporary here is ~33M entries), so int32 ids, temporaries
    # dropped as soon as they are used, and the spanning tree allowed to overwrite the graph it reads.
    ids = np.int32 if n < 2**31 else np.int64
    rows = np.repeat(np.arange(n, dtype=ids), k)
    cols = idx.ravel().astype(ids)
    ok = cols >= 0
    rows, cols = rows[ok], cols[ok]
    mr = dist.ravel()[ok].astype(np.float64)
    np.maximum(mr, core[rows], out=mr)
    np.maximum(mr, core[cols], out=mr)
    np.maximum(mr, DIST_FLOOR, out=mr)
    # Not symmetrised: the spanning tree and the component search read an entry in either direction as
    # an undirected edge, and both directions of a pair carry the same weight (a symmetric copy would
    # be the run's largest temporary: 1.2 GB at 1M rows).
    return sp.csr_matrix((mr, (rows, cols)), shape=(n, n))


def _linkage(T: sp.coo_matrix) -> np.ndarray:
    """Single linkage from the spanning tree's edges, sorted by weight, ties by endpoints (reproducible)."""
    edges = np.column_stack([T.row, T.col, T.data]).astype(np.float64)
    edges = edges[np.lexsort((edges[:, 1], edges[:, 0], edges[:, 2]))]
    return _single_linkage_from_mst(edges)


def connect_components(G: sp.csr_matrix, x: np.ndarray, core: np.ndarray) -> tuple[sp.csr_matrix, int]:
    """Joins the graph's connected components so one spanning tree exists.

    A kNN graph of text falls apart into islands (near-duplicate groups, odd
    languages). Each component is represented by its member closest to the
    component's mean direction; an MST over those representatives (true
    mutual-reachability distances) adds ``c - 1`` bridging edges, so islands
    merge at a realistic height instead of an arbitrary one.

    Returns the joined graph and the number of components before joining.
    """
    n_comp, comp = csgraph.connected_components(G, directed=False)
    n_comp_first = n_comp
    if n_comp == 1:
        return G, 1
    while n_comp > _MAX_DENSE_COMPONENTS:
        G = _link_nearest_representatives(G, x, core, comp, n_comp)
        n_comp, comp = csgraph.connected_components(G, directed=False)
    if n_comp == 1:
        return G, n_comp_first
    return _bridge_components(G, x, core, comp, n_comp), n_comp_first


def _link_nearest_representatives(G: sp.csr_matrix, x: np.ndarray, core: np.ndarray, comp: np.ndarray,
                                  n_comp: int) -> sp.csr_matrix:
    """Too many islands for a dense matrix: links each representative to its nearest others first."""
    n = G.shape[0]
    reps = _component_representatives(x, comp, n_comp)
    R = np.ascontiguousarray(x[reps])
    index = faiss.IndexFlatIP(R.shape[1])
    index.add(R)
    sims, nb = index.search(R, _SPARSE_LINKS)
    d = np.maximum(np.clip(1.0 - sims, 0.0, 2.0).astype(np.float64),
                   np.maximum(core[reps][:, None], core[reps][nb]))
    B = sp.csr_matrix((np.maximum(d.ravel(), DIST_FLOOR), (np.repeat(reps, _SPARSE_LINKS), reps[nb.ravel()])),
                      shape=(n, n))
    return (G + B.maximum(B.T)).tocsr()


def _bridge_components(G: sp.csr_matrix, x: np.ndarray, core: np.ndarray, comp: np.ndarray,
                       n_comp: int) -> sp.csr_matrix:
    """``G`` plus the ``n_comp - 1`` edges of the MST over the components' representatives (both directions)."""
    n = G.shape[0]
    reps = _component_representatives(x, comp, n_comp)
    R = x[reps]
    d = np.clip(1.0 - R @ R.T, 0.0, 2.0).astype(np.float64)
    d = np.maximum(d, np.maximum(core[reps][:, None], core[reps][None, :]))
    d = np.maximum(d, DIST_FLOOR)
    np.fill_diagonal(d, 0.0)
    T = csgraph.minimum_spanning_tree(d).tocoo()
    bridges = sp.csr_matrix((T.data, (reps[T.row], reps[T.col])), shape=(n, n))
    return (G + bridges + bridges.T).tocsr()


def _connect_blocks(G: sp.csr_matrix, x: np.ndarray, core: np.ndarray,
                    blocks: np.ndarray) -> tuple[sp.csr_matrix, int]:
    """:func:`connect_components` inside each block of rows, then one chain of links between blocks."""
    n_comp, comp = csgraph.connected_components(G, directed=False)
    n_blocks = len(blocks) - 1
    # Row blocks hold disjoint components, so a block with one component changes label once, at its start.
    changes = np.add.reduceat(np.r_[True, comp[1:] != comp[:-1]].astype(np.int64), blocks[:-1])
    links = []
    for b in np.flatnonzero(changes > 1):  # a block with islands: join them as a block of its own would be
        a, z = blocks[b], blocks[b + 1]
        inner = G[a:z, a:z].tocsr()
        bridges = (connect_components(inner, x[a:z], core[a:z])[0] - inner).tocoo()
        links.append(sp.csr_matrix((bridges.data, (bridges.row + a, bridges.col + a)), shape=G.shape))
    links.append(sp.csr_matrix((np.full(n_blocks - 1, _BLOCK_JOIN), (blocks[:-2], blocks[1:-1])), shape=G.shape))
    return (G + sum(links[1:], links[0])).tocsr(), n_comp


def _component_representatives(x: np.ndarray, comp: np.ndarray, n_comp: int) -> np.ndarray:
    """Index of the member nearest each component's mean direction."""
    centre = np.zeros((n_comp, x.shape[1]), np.float32)
    np.add.at(centre, comp, x)
    centre /= np.maximum(np.linalg.norm(centre, axis=1, keepdims=True), 1e-12)
    sim = np.concatenate([np.einsum("nd,nd->n", x[a:a + ROW_BATCH], centre[comp[a:a + ROW_BATCH]])
                          for a in range(0, len(comp), ROW_BATCH)])
    order = np.lexsort((np.arange(len(comp)), -sim, comp))  # by component, best first
    first = np.searchsorted(comp[order], np.arange(n_comp))
    return order[first]


def select_eom(hierarchy: np.ndarray, min_size: int, *, allow_single: bool) -> np.ndarray:
    """HDBSCAN's excess-of-mass cluster selection on the condensed tree (int64 labels, -1 = noise)."""
    tree = condense_tree(hierarchy, min_size)
    if tree.shape[0] == 0:
        return np.full(hierarchy.shape[0] + 1, -1, np.int64)
    stability = compute_stability(tree)
    labels, _, _ = get_clusters(tree, stability, "eom", allow_single, False, 0.0)
    return np.asarray(labels, dtype=np.int64)
