"""Step 3b: the modularity cut of the condensed tree, and stickiness to the previous run's themes."""

import numpy as np
import pytest
from hdbscan._hdbscan_tree import condense_tree
from sklearn.metrics import adjusted_rand_score

from tasks.core.clustering.selection import _prior_agreement, select_by_modularity
from tasks.core.clustering.tree import single_linkage_tree
from tasks.core.knn_graph import build_knn_graph
from tests.unit.core.clustering.clustering_fixtures import D, blob, normalise


def _modularity(labels: np.ndarray, idx: np.ndarray, dist: np.ndarray, scale: float, resolution: float) -> float:
    """Textbook modularity of ``labels`` (noise excluded) on the graph W = A + A^T, A[i, j] = exp(-d_ij / scale)."""
    n = len(labels)
    A = np.zeros((n, n))
    for i in range(n):
        for j, d in zip(idx[i], dist[i], strict=True):
            if j >= 0:
                A[i, j] += np.exp(-d / scale)
    m = A.sum()
    strength = A.sum(axis=0) + A.sum(axis=1)
    q = 0.0
    for lab in np.unique(labels[labels >= 0]):
        inside = labels == lab
        q += A[np.ix_(inside, inside)].sum() / m - resolution * (strength[inside].sum() / (2 * m)) ** 2
    return q


def _all_cuts(tree: np.ndarray, n: int, allow_single: bool) -> list[list[int]]:
    """Every antichain-covering cut of a condensed tree, by brute force."""
    kids: dict[int, list[int]] = {}
    for p, c in zip(tree["parent"], tree["child"], strict=True):
        if c >= n:
            kids.setdefault(int(p), []).append(int(c))

    def cuts(c: int) -> list[list[int]]:
        out = [[c]]
        if c in kids:
            combos = [[]]
            for child in kids[c]:
                combos = [a + b for a in combos for b in cuts(child)]
            out += combos
        return out

    root = n
    return cuts(root) if allow_single else [cut for cut in cuts(root) if cut != [root]]


def _labels_for_cut(tree: np.ndarray, n: int, cut: list[int]) -> np.ndarray:
    parent_of = {int(c): int(p) for p, c in zip(tree["parent"], tree["child"], strict=True)}
    labels = np.full(n, -1)
    for point in range(n):
        node = parent_of[point]
        while True:
            if node in cut:
                labels[point] = cut.index(node)
                break
            if node == n:
                break
            node = parent_of[node]
    return labels


def _nested_tree_case():
    """A small nested corpus, its kNN graph and hierarchy, its condensed tree and every cut of it.

    Two groups, each of two sub-blobs, plus a loose one and a little noise.
    """
    rng = np.random.default_rng(3)
    c = normalise(rng.standard_normal((3, D)))
    off = normalise(rng.standard_normal((2, D))) * 0.45
    x = np.concatenate([blob(rng, normalise((c[0] + off[0])[None])[0], 30, 0.25),
                        blob(rng, normalise((c[0] - off[0])[None])[0], 25, 0.25),
                        blob(rng, normalise((c[1] + off[1])[None])[0], 30, 0.3),
                        blob(rng, normalise((c[1] - off[1])[None])[0], 20, 0.3),
                        blob(rng, c[2], 30, 0.8), normalise(rng.standard_normal((8, D)))])
    g = build_knn_graph(x, 12)
    hierarchy, _ = single_linkage_tree(x, g.indices, g.distances, g.distances[:, 4].astype(np.float64))
    tree = condense_tree(hierarchy, 10)
    return x, g, hierarchy, tree


@pytest.mark.parametrize("resolution, allow_single", [(0.5, True), (1.0, False), (3.0, False), (3.0, True)])
def test_modularity_selection_returns_the_best_cut_of_the_tree(resolution, allow_single):
    x, g, hierarchy, tree = _nested_tree_case()
    n = len(x)
    cuts = _all_cuts(tree, n, allow_single)
    assert len(cuts) >= 4, "the test needs a tree with real choices"
    scale = 0.3
    best = max(_modularity(_labels_for_cut(tree, n, cut), g.indices, g.distances, scale, resolution) for cut in cuts)
    got, reported = select_by_modularity(hierarchy, 10, g.indices, g.distances, scale, resolution,
                                         allow_single=allow_single)
    assert _modularity(got, g.indices, g.distances, scale, resolution) == pytest.approx(best, abs=1e-9)
    assert reported == pytest.approx(best, rel=1e-6), "the self-report's modularity is the chosen cut's"
    assert any((np.unique(_labels_for_cut(tree, n, cut), return_inverse=True)[1] ==
                np.unique(got, return_inverse=True)[1]).all() for cut in cuts), "the labels must be a cut of the tree"


def test_prior_agreement_is_the_best_jaccard_of_each_tree_cluster():
    x, _, _, tree = _nested_tree_case()
    n = len(x)
    prior = np.random.default_rng(0).integers(-1, 3, n)
    parent_of = {int(c): int(p) for p, c in zip(tree["parent"], tree["child"], strict=True)}
    top = int(max(tree["parent"].max(), tree["child"].max()))
    up = np.full(top + 1, -1, np.int64)
    for c, p in parent_of.items():
        if c >= n:
            up[c] = p
    leaf = np.array([parent_of[i] for i in range(n)])
    got = _prior_agreement(leaf, up, prior)
    for node in range(n, top + 1):
        members = set(np.flatnonzero(_labels_for_cut(tree, n, [node]) == 0))
        best = max(len(members & set(np.flatnonzero(prior == g))) / len(members | set(np.flatnonzero(prior == g)))
                   for g in range(3))
        assert got[node] == pytest.approx(best)


def test_stickiness_keeps_last_nights_cut_within_its_margin_and_only_there():
    x, g, hierarchy, tree = _nested_tree_case()
    n, scale = len(x), 0.3
    cuts = _all_cuts(tree, n, False)

    def select(prior=None, stickiness=0.0):
        return select_by_modularity(hierarchy, 10, g.indices, g.distances, scale, 1.5, allow_single=False,
                                    prior=prior, stickiness=stickiness)[0]

    plain = select()
    # Last night = the same cut: nothing moves.
    assert (select(plain, 0.5) == plain).all()
    # Last night = the runner-up cut: a small stickiness leaves tonight's best cut alone, a large one keeps
    # last night's, and a prior of unknowns (-1: every chunk new) changes nothing.
    ranked = sorted(cuts, key=lambda cut: -_modularity(_labels_for_cut(tree, n, cut), g.indices, g.distances,
                                                         scale, 1.5))
    runner_up = _labels_for_cut(tree, n, ranked[1])
    assert adjusted_rand_score(plain, runner_up) < 1
    assert (select(runner_up, 1e-6) == plain).all()
    assert adjusted_rand_score(select(runner_up, 10.0), runner_up) == pytest.approx(1.0)
    assert (select(np.full(n, -1), 10.0) == plain).all()
