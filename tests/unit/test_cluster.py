"""Unit tests for tasks.cluster (synthetic data only: planted blobs on the sphere)."""

import json

import numpy as np
import pytest

from tasks.cluster import Clustering, cluster_embeddings, recommended_k, theme_cohesion, theme_stability
from tasks.knn import build_knn_graph

D = 384


def _normalise(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _blob(rng: np.random.Generator, centre: np.ndarray, n: int, spread: float) -> np.ndarray:
    # spread is the per-point noise norm relative to the unit centre.
    noise = rng.standard_normal((n, D)) * (spread / np.sqrt(D))
    return _normalise(centre[None, :] + noise)


def _planted(seed: int = 0, sizes=(80, 70, 60, 50), n_noise: int = 30):
    """Well separated blobs plus uniform background noise (label -1)."""
    rng = np.random.default_rng(seed)
    # Blobs share a common direction (a corpus's topics are closer to each
    # other than to random junk), so background points are the far outliers.
    common = rng.standard_normal(D)
    centres = _normalise(common[None, :] + 0.8 * rng.standard_normal((len(sizes), D)))
    parts = [_blob(rng, c, s, 0.6) for c, s in zip(centres, sizes)]
    parts.append(_normalise(rng.standard_normal((n_noise, D))))
    truth = np.concatenate([np.full(s, i) for i, s in enumerate(sizes)] + [np.full(n_noise, -1)])
    return np.concatenate(parts), truth


def _run(x: np.ndarray, **kw) -> Clustering:
    mcs = kw.get("min_cluster_size", 25)
    graph = build_knn_graph(x, recommended_k(mcs, kw.get("min_samples")))
    return cluster_embeddings(x, graph, **kw)


def _check_contract(c: Clustering, n: int) -> None:
    assert c.theme.dtype == np.int32 and c.theme.shape == (n,)
    assert c.subtheme.dtype == np.int32 and c.subtheme.shape == (n,)
    assert c.subtheme_theme.dtype == np.int32
    assert c.subtheme_theme.shape == (int(c.subtheme.max()) + 1 if n and c.subtheme.max() >= 0 else 0,)
    assert ((c.subtheme < 0) | (c.theme >= 0)).all()  # no subtheme outside a theme
    if (c.theme >= 0).any():
        sizes = np.bincount(c.theme[c.theme >= 0])
        assert (np.diff(sizes) <= 0).all()  # numbered by decreasing size
    for s, t in enumerate(c.subtheme_theme):
        assert (c.theme[c.subtheme == s] == t).all()
    assert list(c.subtheme_theme) == sorted(c.subtheme_theme)  # grouped by theme


def test_planted_blobs_recovered():
    x, truth = _planted()
    c = _run(x)
    _check_contract(c, len(x))
    assert c.theme.max() + 1 == 4
    clustered = c.theme >= 0
    # Purity: each theme is dominated by one planted blob.
    hits = sum(np.bincount(truth[clustered & (c.theme == t)] + 1).max() for t in range(4))
    assert hits / clustered.sum() >= 0.9
    # Each planted blob is mostly found.
    blob = truth >= 0
    assert clustered[blob].mean() >= 0.9
    assert clustered[~blob].mean() <= 0.5  # background noise mostly stays noise


def test_subthemes_inside_a_theme_of_two_tight_sub_blobs():
    rng = np.random.default_rng(1)
    c0, c1 = _normalise(rng.standard_normal((2, D)))
    # Two sub-blobs of 20 (each smaller than min_cluster_size=25) around one
    # centre: one theme at the top level, two subthemes inside it.
    offset = _normalise(rng.standard_normal((1, D)))[0] * 0.5
    sub_a = _blob(rng, _normalise((c0 + offset)[None])[0], 20, 0.15)
    sub_b = _blob(rng, _normalise((c0 - offset)[None])[0], 20, 0.15)
    other = _blob(rng, c1, 60, 0.6)
    x = np.concatenate([sub_a, sub_b, other])
    c = _run(x, min_cluster_size=25, min_subcluster_size=5)
    _check_contract(c, len(x))
    theme_ab = np.bincount(c.theme[:40][c.theme[:40] >= 0]).argmax()
    assert (c.theme[:40] == theme_ab).mean() >= 0.9
    subs = np.flatnonzero(c.subtheme_theme == theme_ab)
    assert len(subs) == 2
    sa, sb = c.subtheme[:20], c.subtheme[20:40]
    assert np.bincount(sa[sa >= 0]).argmax() != np.bincount(sb[sb >= 0]).argmax()


@pytest.mark.parametrize("reassign_noise", [False, True])
def test_deterministic_for_fixed_seed(reassign_noise):
    x, _ = _planted(seed=2)
    a, b = _run(x, seed=7, reassign_noise=reassign_noise), _run(x, seed=7, reassign_noise=reassign_noise)
    np.testing.assert_array_equal(a.theme, b.theme)
    np.testing.assert_array_equal(a.subtheme, b.subtheme)
    np.testing.assert_array_equal(a.subtheme_theme, b.subtheme_theme)


def test_empty_input():
    x = np.empty((0, D), np.float32)
    c = cluster_embeddings(x, build_knn_graph(x, 30))
    _check_contract(c, 0)


def test_single_point():
    x = _normalise(np.ones((1, D)))
    c = cluster_embeddings(x, build_knn_graph(x, 30))
    _check_contract(c, 1)
    assert c.theme.tolist() == [-1] and c.subtheme.tolist() == [-1]


def test_fewer_points_than_min_cluster_size_is_all_noise():
    x, _ = _planted(sizes=(10,), n_noise=5)
    c = _run(x, min_cluster_size=25)
    _check_contract(c, len(x))
    assert (c.theme == -1).all() and (c.subtheme == -1).all() and c.subtheme_theme.size == 0


def test_all_identical_embeddings_form_one_theme():
    x = _normalise(np.ones((40, D)))
    c = _run(x)
    _check_contract(c, 40)
    assert (c.theme == 0).all() and (c.subtheme == -1).all()


def test_theme_smaller_than_two_subcluster_sizes_has_no_subthemes():
    x, _ = _planted(sizes=(30, 30), n_noise=0)
    c = _run(x, min_cluster_size=25, min_subcluster_size=20)  # 30 < 2 * 20
    _check_contract(c, len(x))
    assert (c.theme >= 0).any()
    assert (c.subtheme == -1).all() and c.subtheme_theme.size == 0


def test_disconnected_graph_is_handled():
    # Tiny k makes the kNN graph fall apart into islands; it must still work.
    x, truth = _planted(seed=3, n_noise=0)
    c = cluster_embeddings(x, build_knn_graph(x, 5), min_cluster_size=25, min_samples=3)
    _check_contract(c, len(x))
    assert c.theme.max() + 1 >= 2


def test_recommended_k():
    assert recommended_k(25, None) >= 30
    assert recommended_k(25, 20) >= 3 * 21
    with pytest.raises(ValueError, match="min_cluster_size"):
        recommended_k(1, None)


def test_recommended_k_is_capped_for_large_corpora_but_never_below_min_samples():
    from tasks.cluster import LARGE_CORPUS_K, LARGE_CORPUS_N

    small, large = recommended_k(25, 20, LARGE_CORPUS_N), recommended_k(25, 20, LARGE_CORPUS_N + 1)
    assert small == recommended_k(25, 20) >= 3 * 21
    assert large == LARGE_CORPUS_K < small
    assert recommended_k(100, 50, 10 * LARGE_CORPUS_N) == 51, "the core distance needs min_samples neighbours"


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"min_cluster_size": 1}, "min_cluster_size"),
        ({"min_subcluster_size": 0}, "min_subcluster_size"),
        ({"min_samples": 0}, "min_samples"),
        ({"seed": 1.5}, "seed"),
        ({"cluster_selection": "leaf"}, "cluster_selection"),
        ({"resolution": 0}, "resolution"),
        ({"subtheme_resolution": float("nan")}, "subtheme_resolution"),
    ],
)
def test_parameter_validation(kw, match):
    x, _ = _planted(sizes=(30,), n_noise=0)
    with pytest.raises(ValueError, match=match):
        cluster_embeddings(x, build_knn_graph(x, 30), **kw)


def test_input_validation():
    x, _ = _planted(sizes=(30,), n_noise=0)
    g = build_knn_graph(x, 30)
    with pytest.raises(ValueError, match="float32"):
        cluster_embeddings(x.astype(np.float64), g)
    with pytest.raises(ValueError, match="same embeddings"):
        cluster_embeddings(x[:10], g)
    with pytest.raises(ValueError, match="min_samples"):
        cluster_embeddings(x, build_knn_graph(x, 3), min_samples=10)


def test_identical_assignments_for_same_seed_and_input_through_ivf():
    # Same seed, same input -> identical assignments, also on the approximate (IVF) graph path.
    x, _ = _planted(seed=4, sizes=(120, 100, 90, 80), n_noise=40)
    runs = [cluster_embeddings(x, build_knn_graph(x, recommended_k(25, None), method="ivf", seed=5), seed=5)
            for _ in range(2)]
    np.testing.assert_array_equal(runs[0].theme, runs[1].theme)
    np.testing.assert_array_equal(runs[0].subtheme, runs[1].subtheme)
    assert runs[0].diagnostics == runs[1].diagnostics | {"seconds": runs[0].diagnostics["seconds"]}


def test_quality_self_report_in_diagnostics():
    x, _ = _planted()
    c = _run(x)
    d = c.diagnostics
    assert d["n_themes"] == c.theme.max() + 1 and d["n_subthemes"] == c.subtheme_theme.size
    assert d["noise_pct"] == round(100 * float((c.theme < 0).mean()), 2)
    assert 0.0 < d["cohesion"] <= 1.0
    assert d["reassigned_noise_pct"] == 0.0
    json.dumps(d)  # JSON-able, it goes into the manifest


def test_noise_reassignment_is_off_by_default_and_reported():
    x, truth = _planted()
    plain, moved = _run(x), _run(x, reassign_noise=True)
    _check_contract(moved, len(x))
    assert (plain.theme < 0).sum() > 0
    assert (moved.theme < 0).sum() < (plain.theme < 0).sum()
    # Reassignment only fills noise: clustered chunks keep their theme (ids may be renumbered by size).
    kept = plain.theme >= 0
    pairs = set(zip(plain.theme[kept].tolist(), moved.theme[kept].tolist()))
    assert len(pairs) == plain.theme.max() + 1
    gained = int((moved.theme >= 0).sum() - (plain.theme >= 0).sum())
    assert moved.diagnostics["reassigned_noise_pct"] == round(100 * gained / len(x), 2)


def test_noise_reassignment_propagates_along_noise_chains_and_fills_subthemes():
    from tasks.cluster import _reassign_noise
    from tasks.knn import KnnGraph

    # 0-2: theme 0, subtheme 0; 3-4: theme 1 (no subthemes); 5-6-7: a noise chain hanging off row 0
    # (6 and 7 have only noise neighbours, so one neighbourhood vote cannot place them);
    # 8-9: noise with no path to any theme; 10: noise next to theme 1.
    nbrs = [[1, 2], [0, 2], [0, 1], [4, 10], [3, 10], [0, 6], [5, 7], [6, 5], [9, 8], [8, 9], [3, 4]]
    graph = KnnGraph(np.array(nbrs, np.int64), np.full((len(nbrs), 2), 0.1, np.float32))
    theme = np.array([0, 0, 0, 1, 1] + [-1] * 6, np.int64)
    sub = np.array([0, 0, 0] + [-1] * 8, np.int64)
    new_theme, new_sub, moved = _reassign_noise(theme, sub, graph, 1)
    assert new_theme.tolist() == [0, 0, 0, 1, 1, 0, 0, 0, -1, -1, 1]
    assert new_sub.tolist() == [0, 0, 0, -1, -1, 0, 0, 0, -1, -1, -1]
    assert moved == 4
    assert theme[5] == -1 and sub[5] == -1  # inputs untouched


def test_theme_stability_is_high_on_clear_blobs_and_seeded():
    x, _ = _planted(seed=5, sizes=(120, 100, 90, 80), n_noise=20)
    c = _run(x)
    a = theme_stability(x, c.theme, seed=3)
    assert a == theme_stability(x, c.theme, seed=3)
    assert a["stability_ari"] >= 0.8 and a["stability_sample"] == round(0.9 * len(x))
    tiny = theme_stability(x[:30], c.theme[:30])
    assert tiny["stability_ari"] is None


def test_theme_cohesion_degenerate_cases():
    x = _normalise(np.ones((5, D)))
    assert theme_cohesion(x, np.full(5, -1)) is None
    assert theme_cohesion(x, np.zeros(5, np.int64)) == 1.0


# ----------------------------------------------------------------------------- modularity selection


def _modularity(labels: np.ndarray, idx: np.ndarray, dist: np.ndarray, scale: float, resolution: float) -> float:
    """Textbook modularity of ``labels`` (noise excluded) on the graph W = A + A^T, A[i, j] = exp(-d_ij / scale)."""
    n = len(labels)
    A = np.zeros((n, n))
    for i in range(n):
        for j, d in zip(idx[i], dist[i]):
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
    for p, c in zip(tree["parent"], tree["child"]):
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
    parent_of = {int(c): int(p) for p, c in zip(tree["parent"], tree["child"])}
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


@pytest.mark.parametrize("resolution, allow_single", [(0.5, True), (1.0, False), (3.0, False), (3.0, True)])
def test_modularity_selection_returns_the_best_cut_of_the_tree(resolution, allow_single):
    from hdbscan._hdbscan_tree import condense_tree

    from tasks.cluster import _select_by_modularity, _single_linkage_tree

    rng = np.random.default_rng(3)
    # Nested structure: two groups, each of two sub-blobs, plus a loose one and a little noise.
    c = _normalise(rng.standard_normal((3, D)))
    off = _normalise(rng.standard_normal((2, D))) * 0.45
    parts = [_blob(rng, _normalise((c[0] + off[0])[None])[0], 30, 0.25),
             _blob(rng, _normalise((c[0] - off[0])[None])[0], 25, 0.25),
             _blob(rng, _normalise((c[1] + off[1])[None])[0], 30, 0.3),
             _blob(rng, _normalise((c[1] - off[1])[None])[0], 20, 0.3),
             _blob(rng, c[2], 30, 0.8), _normalise(rng.standard_normal((8, D)))]
    x = np.concatenate(parts)
    n = len(x)
    g = build_knn_graph(x, 12)
    hierarchy, _ = _single_linkage_tree(x, g.indices, g.distances, g.distances[:, 4].astype(np.float64))
    tree = condense_tree(hierarchy, 10)
    cuts = _all_cuts(tree, n, allow_single)
    assert len(cuts) >= 4, "the test needs a tree with real choices"
    scale = 0.3
    best = max(_modularity(_labels_for_cut(tree, n, cut), g.indices, g.distances, scale, resolution) for cut in cuts)
    got, reported = _select_by_modularity(hierarchy, 10, g.indices, g.distances, scale, resolution,
                                          allow_single=allow_single)
    assert _modularity(got, g.indices, g.distances, scale, resolution) == pytest.approx(best, abs=1e-9)
    assert reported == pytest.approx(best, rel=1e-6), "the self-report's modularity is the chosen cut's"
    assert any((np.unique(_labels_for_cut(tree, n, cut), return_inverse=True)[1] ==
                np.unique(got, return_inverse=True)[1]).all() for cut in cuts), "the labels must be a cut of the tree"


def test_resolution_orders_the_number_of_themes():
    rng = np.random.default_rng(5)
    # Eight small blobs in four loose pairs: coarse resolution sees pairs, fine resolution sees blobs.
    pairs = _normalise(rng.standard_normal((4, D)))
    blobs = [_blob(rng, _normalise((p + s * 0.15 * _normalise(rng.standard_normal((1, D)))[0])[None])[0], 40, 0.5)
             for p in pairs for s in (1, -1)]
    x = np.concatenate(blobs)
    counts = [int(_run(x, resolution=r).theme.max()) + 1 for r in (0.1, 1.0, 3.0, 10.0)]
    assert counts[0] == 4 and counts[-1] == 8, counts
    assert counts == sorted(counts)


def test_eom_selection_is_still_available_and_differs_only_in_the_choice():
    x, truth = _planted()
    eom, mod = _run(x, cluster_selection="eom"), _run(x)
    for c in (eom, mod):
        _check_contract(c, len(x))
        assert (c.theme[truth == -1] == -1).mean() >= 0.8
    assert eom.diagnostics["cluster_selection"] == "eom" and "resolution" not in eom.diagnostics
    assert mod.diagnostics["resolution"] == 1.5 and "modularity" in mod.diagnostics["geometry"]
    assert 0 < mod.diagnostics["modularity"] < 1 and "modularity" not in eom.diagnostics


def test_run_parameter_defaults_match_the_clustering_defaults():
    from tasks.cluster import SUBTHEME_RESOLUTION, THEME_RESOLUTION
    from tasks.settings import RunParams

    p = RunParams()
    assert (p.cluster_selection, p.resolution, p.subtheme_resolution) == ("modularity", THEME_RESOLUTION,
                                                                          SUBTHEME_RESOLUTION)


# ----------------------------------------------------------------------------- stickiness (last night's themes)


def _nested_tree_case():
    """A small nested corpus, its kNN graph and hierarchy, and every cut of its condensed tree."""
    from hdbscan._hdbscan_tree import condense_tree

    from tasks.cluster import _single_linkage_tree

    rng = np.random.default_rng(3)
    c = _normalise(rng.standard_normal((3, D)))
    off = _normalise(rng.standard_normal((2, D))) * 0.45
    x = np.concatenate([_blob(rng, _normalise((c[0] + off[0])[None])[0], 30, 0.25),
                        _blob(rng, _normalise((c[0] - off[0])[None])[0], 25, 0.25),
                        _blob(rng, _normalise((c[1] + off[1])[None])[0], 30, 0.3),
                        _blob(rng, _normalise((c[1] - off[1])[None])[0], 20, 0.3),
                        _blob(rng, c[2], 30, 0.8), _normalise(rng.standard_normal((8, D)))])
    g = build_knn_graph(x, 12)
    hierarchy, _ = _single_linkage_tree(x, g.indices, g.distances, g.distances[:, 4].astype(np.float64))
    tree = condense_tree(hierarchy, 10)
    return x, g, hierarchy, tree, _all_cuts(tree, len(x), False)


def test_prior_agreement_is_the_best_jaccard_of_each_tree_cluster():
    from tasks.cluster import _prior_agreement

    x, _, _, tree, _ = _nested_tree_case()
    n = len(x)
    prior = np.random.default_rng(0).integers(-1, 3, n)
    parent_of = {int(c): int(p) for p, c in zip(tree["parent"], tree["child"])}
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
    from sklearn.metrics import adjusted_rand_score

    from tasks.cluster import _select_by_modularity

    x, g, hierarchy, tree, cuts = _nested_tree_case()
    n, scale = len(x), 0.3

    def select(prior=None, stickiness=0.0):
        return _select_by_modularity(hierarchy, 10, g.indices, g.distances, scale, 1.5, allow_single=False,
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


def test_stickiness_validation():
    x, _ = _planted(sizes=(30,), n_noise=0)
    g = build_knn_graph(x, 30)
    with pytest.raises(ValueError, match="stickiness"):
        cluster_embeddings(x, g, stickiness=-0.1)
    with pytest.raises(ValueError, match="prior_theme"):
        cluster_embeddings(x, g, prior_theme=np.zeros(len(x) - 1, np.int64), stickiness=0.1)
    with pytest.raises(ValueError, match="prior_theme"):
        cluster_embeddings(x, g, prior_theme=np.full(len(x), -2), stickiness=0.1)


def _nested(seed: int = 0):
    """Themes made of 1-4 sub-blobs, plus noise; returns the vectors and each row's theme (-1 noise)."""
    rng = np.random.default_rng(seed)
    common = rng.standard_normal(D)
    parts, theme = [], []
    for t in range(8):
        centre = _normalise((common + 1.5 * rng.standard_normal(D))[None, :])[0]
        for _ in range(1 + t % 4):
            sub = _normalise((centre + 0.5 * rng.standard_normal(D))[None, :])[0]
            parts.append(_blob(rng, sub, int(rng.integers(15, 60)), 0.5))
            theme.append(np.full(len(parts[-1]), t))
    parts.append(_normalise(rng.standard_normal((40, D))))
    theme.append(np.full(40, -1))
    return np.concatenate(parts), np.concatenate(theme)


@pytest.mark.parametrize("batch_rows", [65_536, 120])
def test_batched_subtheme_pass_equals_one_theme_at_a_time(monkeypatch, batch_rows):
    """All themes split side by side (in batches of any size) give exactly the per-theme result."""
    from tasks import cluster as C

    monkeypatch.setattr(C, "_SUBTHEME_BATCH_ROWS", batch_rows)
    x, theme = _nested()
    batched = C._subthemes(x, theme, 5, 10, C._Selection("modularity", 0.6))
    one_by_one = np.full(len(x), -1, np.int64)
    next_id = 0
    for members in C._members_by_label(theme):
        if len(members) < 10:
            continue
        local = C._split_theme(x[members], 5, 5, C._Selection("modularity", 0.6))
        if local.max() >= 1:
            one_by_one[members[local >= 0]] = local[local >= 0] + next_id
            next_id += int(local.max()) + 1
    assert len(np.unique(theme[one_by_one >= 0])) >= 3  # several themes have subthemes
    got, want = C._finish(theme, batched, {"seconds": {}}), C._finish(theme, one_by_one, {"seconds": {}})
    np.testing.assert_array_equal(got.subtheme, want.subtheme)
    np.testing.assert_array_equal(got.subtheme_theme, want.subtheme_theme)


def test_importing_the_clustering_does_not_import_prefect():
    """Benchmarks and notebooks call the pure functions; the Prefect wrapper is built on first use."""
    import subprocess
    import sys

    code = "import sys, tasks.cluster, tasks.knn; assert 'prefect' not in sys.modules, 'prefect imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path(__file__).parents[2]))
