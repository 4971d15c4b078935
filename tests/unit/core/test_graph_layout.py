"""The map laid out on the kNN graph: neighbours stay neighbours, across themes, repeatably."""

from __future__ import annotations

import numpy as np
import pytest

import tasks.core.graph_layout as graph_layout_module
from tasks.core.graph_layout import MIN_GRAPH_ROWS, fuzzy_graph, graph_layout, layout_epochs
from tasks.core.graph_tsne import TSNE_MAX_ROWS, neighbour_probabilities, tsne_affinities, tsne_iterations
from tasks.core.knn_graph import build_knn_graph
from tasks.core.layout import project_embeddings

K = 10


def ring(n: int = 400, dim: int = 32, seed: int = 0) -> np.ndarray:
    """Unit vectors along a closed curve that winds through many dimensions (so no flat projection unfolds it):
    each point's true neighbours are the points next to it on the ring."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 2 * np.pi, n))
    basis = np.linalg.qr(rng.standard_normal((dim, 12)))[0].T
    x = sum(np.cos(f * t)[:, None] * basis[2 * f - 2] + np.sin(f * t)[:, None] * basis[2 * f - 1] for f in range(1, 7))
    x += 0.01 * rng.standard_normal(x.shape)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def preservation(coords: np.ndarray, indices: np.ndarray, k: int = K) -> float:
    """Share of each point's k graph neighbours among its k nearest map neighbours."""
    d = ((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    near = np.argsort(d, axis=1)[:, :k]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(indices[:, :k], near, strict=True)]))


@pytest.fixture(scope="module")
def ring_case():
    x = ring()
    theme = (np.arange(len(x)) * 2 // len(x)).astype(np.int64)  # two themes, each half of the ring
    graph = build_knn_graph(x, 20)
    return x, theme, np.asarray(graph.indices), np.asarray(graph.distances)


@pytest.fixture(params=["t-sne", "umap"])
def engine(request, monkeypatch):
    """Both layouts the map uses: t-SNE (up to TSNE_MAX_ROWS chunks) and UMAP's descent (above)."""
    if request.param == "umap":
        monkeypatch.setattr(graph_layout_module, "TSNE_MAX_ROWS", 100)
    return request.param


def test_graph_neighbours_stay_neighbours_better_than_the_disc_layout(ring_case, engine):
    x, theme, idx, dist = ring_case
    coords = graph_layout(x, theme, idx, dist, seed=1)
    assert coords.shape == (len(x), 2) and coords.dtype == np.float32
    assert np.abs(coords).max() <= 1.0 and np.isclose(np.abs(coords).max(), 1.0)
    on_graph = preservation(coords, idx)
    assert on_graph >= 0.6, on_graph
    assert on_graph > preservation(project_embeddings(x, theme, seed=1), idx) + 0.1


def test_where_the_two_themes_meet_their_chunks_are_neighbours_on_the_map(ring_case, engine):
    x, theme, idx, dist = ring_case
    coords = graph_layout(x, theme, idx, dist, seed=1)
    # The ring's two seams join the themes; a chunk there is next to the other theme's chunks on the map,
    # which the disc layout (one disc per theme) cannot show.
    seam = [len(x) // 2 - 1, len(x) // 2]
    gap = float(np.linalg.norm(coords[seam[0]] - coords[seam[1]]))
    typical = float(np.median(np.linalg.norm(coords[1:] - coords[:-1], axis=1)))
    assert gap < 10 * typical, (gap, typical)


def test_same_seed_same_map_other_seed_other_map(ring_case, engine):
    x, theme, idx, dist = ring_case
    a = graph_layout(x, theme, idx, dist, seed=3)
    assert np.array_equal(a, graph_layout(x, theme, idx, dist, seed=3))
    assert not np.array_equal(a, graph_layout(x, theme, idx, dist, seed=4))


def test_padding_in_the_graph_is_skipped(ring_case, engine):
    x, theme, idx, dist = ring_case
    idx, dist = idx.copy(), dist.copy()
    idx[::7, 5:] = -1
    dist[::7, 5:] = np.inf
    coords = graph_layout(x, theme, idx, dist, seed=1)
    assert np.isfinite(coords).all() and preservation(coords, idx.clip(0)) > 0.5


def test_a_few_far_pieces_do_not_shrink_the_map(ring_case, engine):
    x, theme, idx, dist = ring_case
    # Five chunks only linked among themselves: UMAP throws such a piece far away.
    idx, dist = idx.copy(), dist.copy()
    island = np.arange(5)
    for i in island:
        idx[i] = np.resize(np.delete(island, np.flatnonzero(island == i)), idx.shape[1])
    idx[np.isin(idx, island) & ~np.isin(np.arange(len(x)), island)[:, None]] = 10
    coords = graph_layout(x, theme, idx, dist, seed=1)
    bulk = coords[5:]
    assert (bulk.max(axis=0) - bulk.min(axis=0)).max() > 1.5, "the rest still fills most of the frame"


def test_small_corpora_keep_the_disc_layout():
    x = ring(MIN_GRAPH_ROWS - 1)
    theme = np.zeros(len(x), np.int64)
    graph = build_knn_graph(x, 5)
    assert np.array_equal(graph_layout(x, theme, graph.indices, graph.distances, seed=0),
                          project_embeddings(x, theme, seed=0))


def test_bad_graph_shapes_are_refused():
    x = ring(50)
    with pytest.raises(ValueError, match="graph indices"):
        graph_layout(x, np.zeros(50, np.int64), np.zeros((49, 5), np.int64), np.zeros((49, 5), np.float32))
    with pytest.raises(ValueError, match="graph indices"):
        graph_layout(x, np.zeros(50, np.int64), np.zeros((50, 5), np.int64), np.zeros((50, 4), np.float32))


def test_epochs_shrink_with_the_corpus_within_bounds():
    assert layout_epochs(1_000) == 500 and layout_epochs(100_000) == 200 and layout_epochs(1_000_000) == 20
    assert layout_epochs(10_000_000) == 10


def test_the_fuzzy_graph_is_the_one_umap_learn_computes(ring_case):
    from umap.umap_ import fuzzy_simplicial_set

    x, _, idx, dist = ring_case
    k = 12
    ours = fuzzy_graph(idx, dist, k)
    n = len(x)
    theirs, _, _ = fuzzy_simplicial_set(x, k, np.random.RandomState(0), "euclidean",
                                        knn_indices=np.c_[np.arange(n), idx[:, : k - 1]],
                                        knn_dists=np.c_[np.zeros(n), dist[:, : k - 1]])
    assert abs(ours - theirs.tocsr()).max() < 1e-4  # float64 here, float32 there
    assert ((ours > 1e-4) != (theirs.tocsr() > 1e-4)).nnz == 0, "the same edges"
    assert abs(ours - ours.T).max() == 0 and ours.max() <= 1.0


def test_big_corpora_take_umaps_descent_and_small_ones_t_sne(ring_case, monkeypatch):
    x, theme, idx, dist = ring_case

    def no_tsne(*args, **kwargs):
        raise AssertionError("t-SNE was used above TSNE_MAX_ROWS")

    monkeypatch.setattr(graph_layout_module, "tsne_layout", no_tsne)
    monkeypatch.setattr(graph_layout_module, "TSNE_MAX_ROWS", len(x) - 1)
    assert np.isfinite(graph_layout(x, theme, idx, dist, seed=1)).all()
    monkeypatch.setattr(graph_layout_module, "TSNE_MAX_ROWS", len(x))
    with pytest.raises(AssertionError, match="t-SNE was used"):
        graph_layout(x, theme, idx, dist, seed=1)


def test_t_sne_affinities_are_a_symmetric_distribution_at_a_third_of_the_neighbours(ring_case):
    _, _, idx, dist = ring_case
    idx, dist = idx.copy(), dist.copy()
    idx[3, 10:] = -1  # padding is skipped
    dist[3, 10:] = np.inf
    p = tsne_affinities(idx, dist)
    assert abs(p - p.T).max() < 1e-15 and np.isclose(p.sum(), 1.0) and p.min() >= 0
    assert p[3, idx[3, 5]] > 0 and p.getrow(3).nnz >= 10
    # each row's distribution has perplexity k / 3 (t-SNE reads 3 x perplexity neighbours; this is the converse)
    cond, valid = neighbour_probabilities(idx, dist)
    assert not cond[3, 10:].any() and np.allclose(cond.sum(axis=1), 1.0)
    perplexity = np.exp(-(cond * np.log(np.where(cond > 0, cond, 1.0))).sum(axis=1))
    assert np.allclose(perplexity[valid.sum(axis=1) == idx.shape[1]], idx.shape[1] / 3, rtol=1e-3)
    assert cond[0, 0] >= cond[0, -1], "nearer neighbours weigh more"


def test_t_sne_iterations_shrink_with_the_corpus_within_bounds():
    assert tsne_iterations(1_000) == 500 and tsne_iterations(100_000) == 250
    assert tsne_iterations(TSNE_MAX_ROWS) == 150
