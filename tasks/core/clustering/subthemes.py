"""Step 5: subthemes. Each theme large enough to hold two goes through steps 1-4 again on its own members'
exact kNN graph, with the whole theme allowed as the one cluster and near-paraphrase splits dropped.

Labels returned are int64 ``(n,)`` subtheme ids unique across themes (``-1``: in none), not yet renumbered.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from tasks.core.clustering.contract import BIG_THEME_SHARE, SMOOTH_STEPS, SUBTHEME_MAX_SIMILARITY, recommended_k
from tasks.core.clustering.geometry import kernel_scale, rerank, smooth, transition_matrix
from tasks.core.clustering.noise import absorb_border_points, raw_outliers
from tasks.core.clustering.selection import Selection, select_by_modularity
from tasks.core.clustering.themes import find_themes
from tasks.core.clustering.tree import single_linkage_tree
from tasks.core.knn_graph import build_knn_graph

#: Rows per batch of the batched subtheme pass (a larger theme is a batch of its own).
_SUBTHEME_BATCH_ROWS = 65_536


def find_subthemes(emb: np.ndarray, theme: np.ndarray, mss: int, ms: int, selection: Selection) -> np.ndarray:
    """Step 5 of the package docstring; subtheme labels unique across themes (-1 none)."""
    if selection.method == "modularity":
        return _subthemes_batched(emb, theme, mss, ms, selection.resolution)
    sub = np.full(theme.shape[0], -1, np.int64)
    next_id = 0
    for members in _members_by_label(theme):
        if len(members) < 2 * mss:
            continue  # two subthemes of min size cannot fit
        local = _split_theme(emb[members], mss, min(ms, mss), selection, whole_ok=not _big(members, theme),
                             corpus_n=theme.shape[0])
        if local.max() < 1:
            continue  # one cluster (or none): the theme has no subthemes
        keep = local >= 0
        sub[members[keep]] = local[keep] + next_id
        next_id += int(local.max()) + 1
    return sub


def _big(members: np.ndarray, theme: np.ndarray) -> bool:
    """Whether a theme holds more than :data:`BIG_THEME_SHARE` of the corpus (and must be explored)."""
    return len(members) > BIG_THEME_SHARE * theme.shape[0]


def _split_theme(x: np.ndarray, mss: int, ms: int, selection: Selection, *, whole_ok: bool = True,
                 corpus_n: int | None = None) -> np.ndarray:
    """The themes path (smoothing + graph HDBSCAN) inside one theme, allowing "one cluster".

    Raw-geometry HDBSCAN finds no structure inside a theme for the same reason it finds none across
    the corpus, so subthemes reuse the smoothed geometry. A split is kept only when its parts differ:
    if, on average, each part's centroid is closer than :data:`SUBTHEME_MAX_SIMILARITY` to its nearest
    sibling's, the parts are paraphrases of one another (measured: ~0.88 inside Banking77 intents,
    ~0.69 between real subtopics of stdlib docs), and the theme gets no subthemes.
    """
    graph = build_knn_graph(x, min(recommended_k(mss, ms, x.shape[0], corpus_n=corpus_n), x.shape[0] - 1))
    local = find_themes(x, graph, mss, min(ms, x.shape[0] - 1), {"seconds": {}}, allow_single=whole_ok,
                        selection=selection, corpus_n=corpus_n)
    if local.max() >= 1 and _sibling_similarity(x, local) > SUBTHEME_MAX_SIMILARITY:
        return np.full(x.shape[0], -1, np.int64)
    return local


def _subthemes_batched(emb: np.ndarray, theme: np.ndarray, mss: int, ms: int, resolution: float) -> np.ndarray:
    """:func:`_split_theme` for every theme at once, with the same result (modularity selection).

    Each theme gets its own exact kNN graph, kernel scale and outlier fence as before, but the
    smoothing, re-ranking, spanning tree, modularity cut and border points run once over all themes
    side by side (rows grouped by theme, edges never leaving a theme, each theme scored against its
    own null model). Per-theme calls cost ~6 ms each in numpy/scipy overhead: 2 s of a 50k-chunk run.
    """
    sub = np.full(theme.shape[0], -1, np.int64)
    themes = [m for m in _members_by_label(theme) if len(m) >= 2 * mss]  # two subthemes must fit
    next_id = 0
    for batch in _batches(themes):
        big = np.array([_big(m, theme) for m in batch])
        next_id = _split_themes(emb, batch, mss, min(ms, mss), resolution, sub, next_id, big, theme.shape[0])
    return sub


def _batches(themes: list[np.ndarray]) -> Iterator[list[np.ndarray]]:
    """Consecutive runs of themes of about :data:`_SUBTHEME_BATCH_ROWS` rows in all, to bound the memory at
    1M chunks (a larger theme is a batch of its own)."""
    start = 0
    while start < len(themes):
        stop, rows = start + 1, len(themes[start])
        while stop < len(themes) and rows + len(themes[stop]) <= _SUBTHEME_BATCH_ROWS:
            rows += len(themes[stop])
            stop += 1
        yield themes[start:stop]
        start = stop


def _split_themes(emb: np.ndarray, themes: list[np.ndarray], mss: int, ms: int, resolution: float,
                  sub: np.ndarray, next_id: int, big: np.ndarray, corpus_n: int) -> int:
    """One batch of :func:`_subthemes_batched`: writes subtheme ids from ``next_id`` into ``sub``, returns the
    next free id. ``big`` marks the themes that may not stay whole; ``corpus_n`` is the corpus's size."""
    idx, dist, scale, blocks = _block_graph(emb, themes, mss, ms, corpus_n)
    x = emb[np.concatenate(themes)]
    labels = _label_blocks(x, idx, dist, scale, blocks, mss, ms, resolution, big)
    return _number_parts(labels, x, themes, blocks, sub, next_id)


def _block_graph(emb: np.ndarray, themes: list[np.ndarray], mss: int, ms: int,
                 corpus_n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each theme's own exact kNN graph, stacked: rows grouped by theme (``blocks`` their boundaries), edges
    never leaving a theme, padding ``-1`` / ``inf``; and each row's kernel scale (its theme's)."""
    sizes = np.array([len(m) for m in themes])
    blocks = np.r_[0, np.cumsum(sizes)]
    ks = np.minimum([recommended_k(mss, ms, int(m), corpus_n=corpus_n) for m in sizes], sizes - 1)
    idx = np.full((int(blocks[-1]), int(ks.max())), -1, np.int64)
    dist = np.full(idx.shape, np.inf, np.float32)
    scale = np.empty(idx.shape[0])
    for t, members in enumerate(themes):
        a, z, k = blocks[t], blocks[t + 1], int(ks[t])
        graph = build_knn_graph(emb[members], k)
        idx[a:z, :k] = np.where(graph.indices >= 0, graph.indices + a, -1)
        dist[a:z, :k] = graph.distances
        scale[a:z] = kernel_scale(graph.distances, ms)
    return idx, dist, scale, blocks


def _label_blocks(x: np.ndarray, idx: np.ndarray, dist: np.ndarray, scale: np.ndarray, blocks: np.ndarray,
                  mss: int, ms: int, resolution: float, big: np.ndarray) -> np.ndarray:
    """Steps 1-4 over the stacked graph, each theme a subtree of its own and scored on its own."""
    xs = smooth(x, transition_matrix(idx, dist, scale), SMOOTH_STEPS)
    sidx, sdist = rerank(xs, idx)
    core = sdist[:, ms - 1].astype(np.float64)
    hierarchy, _ = single_linkage_tree(xs, sidx, sdist, core, blocks)
    group = np.repeat(np.arange(len(blocks) - 1), np.diff(blocks))
    labels, _ = select_by_modularity(hierarchy, mss, idx, dist, scale, resolution, allow_single=True,
                                     groups=group, split_groups=big)
    outlier = np.concatenate([raw_outliers(dist[a:z, ms - 1]) for a, z in zip(blocks[:-1], blocks[1:], strict=True)])
    labels[outlier] = -1
    return absorb_border_points(labels, sidx, sdist, core, outlier)


def _number_parts(labels: np.ndarray, x: np.ndarray, themes: list[np.ndarray], blocks: np.ndarray,
                  sub: np.ndarray, next_id: int) -> int:
    """Writes each theme's parts into ``sub`` as ids from ``next_id`` on, unless it has fewer than two or
    they paraphrase each other; returns the next free id."""
    for t, members in enumerate(themes):
        local = labels[blocks[t]:blocks[t + 1]]
        parts = np.unique(local[local >= 0])
        if len(parts) < 2 or _sibling_similarity(x[blocks[t]:blocks[t + 1]], local) > SUBTHEME_MAX_SIMILARITY:
            continue
        keep = local >= 0
        sub[members[keep]] = np.searchsorted(parts, local[keep]) + next_id
        next_id += len(parts)
    return next_id


def _sibling_similarity(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean, over parts, of the cosine between a part's centroid and its nearest sibling's."""
    present = np.unique(labels[labels >= 0])  # the outlier fence may empty a part
    if len(present) < 2:
        return 1.0
    cents = np.stack([x[labels == lab].mean(axis=0) for lab in present])
    cents /= np.maximum(np.linalg.norm(cents, axis=1, keepdims=True), 1e-12)
    sims = cents @ cents.T
    np.fill_diagonal(sims, -1.0)
    return float(sims.max(axis=1).mean())


def _members_by_label(labels: np.ndarray) -> list[np.ndarray]:
    """Row indices of each label ``0..max`` (ascending rows), in one stable sort instead of a scan per label."""
    if labels.size == 0 or labels.max() < 0:
        return []
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(int(labels.max()) + 2))
    return [order[bounds[i]:bounds[i + 1]] for i in range(int(labels.max()) + 1)]
