"""Step 3b: which clusters of the condensed tree become themes: the cut with the highest kNN-graph
modularity, optionally steered towards the previous run's themes (stickiness).

Tree clusters carry HDBSCAN's labels: ``n`` is the root and a child's label is always above its parent's,
so per-cluster arrays are indexed by label (``0..n-1`` unused) and bottom-up passes walk the labels down.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from hdbscan._hdbscan_tree import condense_tree

from tasks.core.clustering.contract import ROW_BATCH, THEME_RESOLUTION
from tasks.core.clustering.geometry import per_edge_scale
from tasks.core.clustering.tree import select_eom


@dataclass(frozen=True)
class Selection:
    """How clusters are picked from a condensed tree: ``"modularity"`` at ``resolution``, or ``"eom"``."""

    method: str = "modularity"
    resolution: float = THEME_RESOLUTION
    #: Last run's theme of each chunk (``-1``: none or unknown) and the weight of agreeing with it.
    prior: np.ndarray | None = None
    stickiness: float = 0.0


def select_by_modularity(hierarchy: np.ndarray, min_size: int, idx: np.ndarray, dist: np.ndarray,
                         scale: float | np.ndarray, resolution: float, *, allow_single: bool,
                         prior: np.ndarray | None = None, stickiness: float = 0.0,
                         groups: np.ndarray | None = None,
                         split_groups: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Step 3b: the cut of the condensed tree whose clusters have the highest kNN-graph modularity.

    Returns the labels (int64, -1 noise) and the modularity of the chosen clusters at ``resolution``
    (stickiness bonus excluded; noise counts as in no cluster), a figure the self-report carries.

    HDBSCAN's tree is kept (its clusters, their ``min_size`` and its noise); only the choice among
    nested clusters changes. Excess of mass favours the densest, often small, clusters, so one
    intent comes out as several paraphrase groups and a diffuse newsgroup as scraps plus noise.
    Modularity asks instead how many more of the kNN graph's edges (weight ``exp(-d / scale)``, the
    smoothing kernel) stay inside a cluster than chance would put there:
    ``Q(C) = L_C / m - resolution * (D_C / 2m)^2`` (``L_C``: weight of the edges inside ``C``,
    ``D_C``: the summed degrees of its members, ``m``: all edge weight). ``Q`` adds up over
    disjoint clusters, so the best cut is found bottom-up like excess of mass: a cluster is
    kept when its ``Q`` is at least the best its children can reach. A chunk that leaves the tree
    above every kept cluster is noise, as in HDBSCAN.

    Night over night, a parent and its children often score within a few per cent of each other, so
    10 % new documents can tip the cut (a theme "splits" or "merges" although nothing happened to it).
    With ``prior`` (last run's theme per chunk) each cluster's score gains ``stickiness * |Q| * J``,
    ``J`` being its best Jaccard overlap with a previous theme: within that margin the cut that
    matches last night wins; beyond it the data wins.

    With ``groups`` (a group per chunk, edges never crossing groups: the themes of the batched
    subtheme pass) each group is scored against its own null model (``m`` = the group's edge weight),
    as if it were clustered alone, and no cluster spanning two groups can be picked. ``split_groups`` (bool
    per group) marks groups that may not be kept whole: their best cut into two or more parts is taken
    (a group whose tree has no such cut comes back as noise, for the caller to treat as "no subthemes").

    Cost: one pass over the graph's edges (each edge is charged to the lowest tree cluster holding
    both ends) plus a walk over the tree's clusters: linear in ``n k``.
    """
    n = hierarchy.shape[0] + 1
    tree = condense_tree(hierarchy, min_size)
    if tree.shape[0] == 0:
        return np.full(n, -1, np.int64), 0.0
    up, leaf = _tree_links(tree, n)
    inner, degree, total = _edge_weights(idx, dist, scale, leaf, up, groups)
    if total.min() <= 0:
        return select_eom(hierarchy, min_size, allow_single=allow_single), 0.0
    q = _modularity(inner, degree, total, leaf, up, groups, resolution)
    plain_q = q.copy()
    forbidden = np.zeros(q.shape[0], bool)
    if groups is not None and split_groups is not None and split_groups.any():
        forbidden[_group_roots(leaf, up, groups, split_groups)] = True
    if prior is not None and stickiness > 0:
        q += stickiness * np.abs(q) * _prior_agreement(leaf, up, prior)
    picked = _best_cut(q, up, n, allow_single, forbidden)[leaf]
    labels = np.full(n, -1, np.int64)
    ok = picked >= 0
    kept, labels[ok] = np.unique(picked[ok], return_inverse=True)
    return labels, float(plain_q[kept].sum())


def _tree_links(tree: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``up``: each tree cluster's parent (``-1`` for the root and unused labels); ``leaf``: the cluster each
    chunk leaves the tree from."""
    parent = tree["parent"].astype(np.int64)
    child = tree["child"].astype(np.int64)
    top = int(max(parent.max(), child.max()))
    is_cluster = child >= n
    up = np.full(top + 1, -1, np.int64)
    up[child[is_cluster]] = parent[is_cluster]
    leaf = np.empty(n, np.int64)
    leaf[child[~is_cluster]] = parent[~is_cluster]
    return up, leaf


def _graph_edges(idx: np.ndarray, dist: np.ndarray,
                 scale: float | np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The kNN graph's stored edges as ``(rows, cols, weight exp(-d / scale))``, a batch of rows at a time."""
    n, k = idx.shape
    step = max(1, ROW_BATCH * 8 // max(k, 1))
    for a in range(0, n, step):
        nb = idx[a:a + step]
        ok = nb >= 0
        rows = np.repeat(np.arange(a, a + nb.shape[0]), k)[ok.ravel()]
        yield rows, nb[ok], np.exp(-dist[a:a + step][ok].astype(np.float64) / per_edge_scale(scale, rows))


def _edge_weights(idx: np.ndarray, dist: np.ndarray, scale: float | np.ndarray, leaf: np.ndarray,
                  up: np.ndarray, groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per tree cluster, the edge weight charged to it (lowest cluster holding both ends) and the degree of
    the chunks leaving the tree there; and the total edge weight (per group with ``groups``)."""
    top = up.shape[0] - 1
    inner = np.zeros(top + 1)
    degree = np.zeros(top + 1)
    total = np.zeros(1 if groups is None else int(groups.max()) + 1)
    for rows, cols, w in _graph_edges(idx, dist, scale):
        total += w.sum() if groups is None else np.bincount(groups[rows], weights=w, minlength=total.shape[0])
        inner += np.bincount(_lowest_common_cluster(leaf[rows], leaf[cols], up), weights=w, minlength=top + 1)
        degree += np.bincount(leaf[rows], weights=w, minlength=top + 1)
        degree += np.bincount(leaf[cols], weights=w, minlength=top + 1)
    return inner, degree, total


def _modularity(inner: np.ndarray, degree: np.ndarray, total: np.ndarray, leaf: np.ndarray, up: np.ndarray,
                groups: np.ndarray | None, resolution: float) -> np.ndarray:
    """``Q`` of every tree cluster over its whole subtree (``-inf`` for a cluster spanning groups).

    Sums ``inner`` and ``degree`` over subtrees in place.
    """
    n = leaf.shape[0]
    _sum_subtrees(inner[n:], up, n)
    _sum_subtrees(degree[n:], up, n)
    m, mixed = (total[0], None) if groups is None else _cluster_group_totals(leaf, up, groups, total)
    q = inner / m - resolution * (degree / (2.0 * m)) ** 2
    if mixed is not None:
        q[mixed] = -np.inf
    return q


def _best_cut(q: np.ndarray, up: np.ndarray, n: int, allow_single: bool, forbidden: np.ndarray) -> np.ndarray:
    """Per tree cluster, the kept cluster it lies in (itself or an ancestor; ``-1``: above every kept one).

    A cluster is kept when its ``q`` is at least the best total its children's subtrees can reach; the root
    only with ``allow_single``; a ``forbidden`` cluster never (its children compete instead).
    """
    top = up.shape[0] - 1
    has_children = np.zeros(top + 1, bool)
    has_children[up[n + 1:]] = True
    best_below = _best_below(q, up, has_children, n, forbidden)
    chosen = np.full(top + 1, -1, np.int64)
    for c in range(n, top + 1):
        if c > n and chosen[up[c]] >= 0:
            chosen[c] = chosen[up[c]]
        elif (allow_single or c > n) and not forbidden[c] and (not has_children[c] or q[c] >= best_below[c]):
            chosen[c] = c
    return chosen


def _best_below(q: np.ndarray, up: np.ndarray, has_children: np.ndarray, n: int,
                forbidden: np.ndarray) -> np.ndarray:
    """Per tree cluster, the best total ``q`` of a cut strictly below it (bottom-up, children first); a
    forbidden cluster offers only the cut below it (nothing, i.e. noise, when it has no children)."""
    top = up.shape[0] - 1
    best_below = np.zeros(top + 1)
    for c in range(top, n - 1, -1):
        if forbidden[c]:
            best = best_below[c]
        else:
            best = max(q[c], best_below[c]) if has_children[c] else q[c]
        if c > n:
            best_below[up[c]] += best
    return best_below


def _cluster_group_totals(leaf: np.ndarray, up: np.ndarray, groups: np.ndarray,
                          total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per tree cluster: its group's edge weight, and whether it spans more than one group."""
    n, top = leaf.shape[0], up.shape[0] - 1
    low = np.full(top + 1 - n, groups.max() + 1)
    high = np.full(top + 1 - n, -1)
    np.minimum.at(low, leaf - n, groups)
    np.maximum.at(high, leaf - n, groups)
    for c in range(top, n, -1):  # children carry higher labels than their parents
        p = up[c] - n
        low[p] = min(low[p], low[c - n])
        high[p] = max(high[p], high[c - n])
    m = np.ones(top + 1)
    mixed = np.zeros(top + 1, bool)
    mixed[n:] = low != high
    m[n:] = np.where(mixed[n:], 1.0, total[np.minimum(low, total.shape[0] - 1)])
    return m, mixed


def _group_roots(leaf: np.ndarray, up: np.ndarray, groups: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The tree clusters that hold exactly one whole group of those ``wanted`` marks (bool per group)."""
    n, top = leaf.shape[0], up.shape[0] - 1
    size = np.bincount(leaf - n, minlength=top + 1 - n).astype(np.int64)
    _sum_subtrees(size, up, n)
    group_size = np.bincount(groups, minlength=wanted.shape[0])
    first = np.full(top + 1 - n, -1, np.int64)  # the group of some member of each cluster's subtree
    first[leaf - n] = groups
    for c in range(top, n, -1):
        first[up[c] - n] = np.where(first[up[c] - n] < 0, first[c - n], first[up[c] - n])
    _, mixed = _cluster_group_totals(leaf, up, groups, np.ones(int(groups.max()) + 1))
    whole = ~mixed[n:] & (first >= 0) & (size == group_size[np.maximum(first, 0)]) & wanted[np.maximum(first, 0)]
    return n + np.flatnonzero(whole)


def _sum_subtrees(values: np.ndarray, up: np.ndarray, n: int) -> None:
    """In place: ``values[c - n]``, a figure of tree cluster ``c``, becomes the total over ``c``'s subtree.

    Cluster labels run from ``n`` (the root) upward and a child's label is above its parent's, so going
    down the labels adds every child into its parent after the child has its own total.
    """
    for c in range(up.shape[0] - 1, n, -1):
        values[up[c] - n] += values[c - n]


def _prior_agreement(leaf: np.ndarray, up: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Per condensed-tree cluster: its best Jaccard overlap with a group of ``prior`` (0 where none).

    A cluster's members are the chunks that leave the tree inside its subtree; a prior group's are
    the chunks ``prior`` puts in it (``-1`` = in none).
    """
    n, top = leaf.shape[0], up.shape[0] - 1
    out = np.zeros(top + 1)
    known = prior >= 0
    if not known.any():
        return out
    groups = int(prior.max()) + 1
    nodes = top + 1 - n
    size = np.bincount(leaf - n, minlength=nodes).astype(np.float64)
    inter = np.bincount((leaf[known] - n) * groups + prior[known], minlength=nodes * groups)
    inter = inter.reshape(nodes, groups).astype(np.float64)
    _sum_subtrees(size, up, n)
    _sum_subtrees(inter, up, n)
    group_size = np.bincount(prior[known], minlength=groups).astype(np.float64)
    union = size[:, None] + group_size[None, :] - inter
    out[n:] = np.max(np.divide(inter, union, out=np.zeros_like(inter), where=union > 0), axis=1)
    return out


def _lowest_common_cluster(a: np.ndarray, b: np.ndarray, up: np.ndarray) -> np.ndarray:
    """The lowest condensed-tree cluster above both clusters ``a[i]`` and ``b[i]``, for every ``i``.

    A parent's label is below its children's, so while the two differ the larger one cannot be the
    common ancestor and moves up to its parent.
    """
    a, b = a.copy(), b.copy()
    while True:
        diff = np.flatnonzero(a != b)
        if diff.size == 0:
            return a
        hi = np.maximum(a[diff], b[diff])
        b[diff] = np.minimum(a[diff], b[diff])
        a[diff] = up[hi]
