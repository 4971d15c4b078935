"""``cluster_embeddings`` end to end on planted corpora: themes, subthemes, determinism, selection methods."""

import numpy as np
import pytest

from tasks.core.clustering import cluster_embeddings, pipeline, recommended_k, resolve_resolution
from tasks.core.knn_graph import build_knn_graph
from tests.unit.core.clustering.clustering_fixtures import (
    D,
    blob,
    check_contract,
    nested,
    normalise,
    planted,
    run_clustering,
)


def test_planted_blobs_recovered():
    x, truth = planted()
    c = run_clustering(x)
    check_contract(c, len(x))
    assert c.theme.max() + 1 == 4
    clustered = c.theme >= 0
    # Purity: each theme is dominated by one planted blob.
    hits = sum(np.bincount(truth[clustered & (c.theme == t)] + 1).max() for t in range(4))
    assert hits / clustered.sum() >= 0.9
    # Each planted blob is mostly found.
    blob_rows = truth >= 0
    assert clustered[blob_rows].mean() >= 0.9
    assert clustered[~blob_rows].mean() <= 0.5  # background noise mostly stays noise


def test_subthemes_inside_a_theme_of_two_tight_sub_blobs():
    rng = np.random.default_rng(1)
    c0, c1 = normalise(rng.standard_normal((2, D)))
    # Two sub-blobs of 20 (each smaller than min_cluster_size=25) around one
    # centre: one theme at the top level, two subthemes inside it.
    offset = normalise(rng.standard_normal((1, D)))[0] * 0.5
    sub_a = blob(rng, normalise((c0 + offset)[None])[0], 20, 0.15)
    sub_b = blob(rng, normalise((c0 - offset)[None])[0], 20, 0.15)
    other = blob(rng, c1, 60, 0.6)
    x = np.concatenate([sub_a, sub_b, other])
    c = run_clustering(x, min_cluster_size=25, min_subcluster_size=5)
    check_contract(c, len(x))
    theme_ab = np.bincount(c.theme[:40][c.theme[:40] >= 0]).argmax()
    assert (c.theme[:40] == theme_ab).mean() >= 0.9
    subs = np.flatnonzero(c.subtheme_theme == theme_ab)
    assert len(subs) == 2
    sa, sb = c.subtheme[:20], c.subtheme[20:40]
    assert np.bincount(sa[sa >= 0]).argmax() != np.bincount(sb[sb >= 0]).argmax()


@pytest.mark.parametrize("cluster_selection", ["modularity", "eom"])
def test_no_subcluster_size_means_no_subthemes_and_the_same_themes(monkeypatch, cluster_selection):
    x, _ = nested()
    kw = {"min_cluster_size": 60, "cluster_selection": cluster_selection}
    with_subthemes = run_clustering(x, min_subcluster_size=10, **kw)
    assert with_subthemes.subtheme_theme.size >= 2, "the comparison needs a corpus with subthemes"

    def no_subtheme_pass(*args, **kwargs):
        raise AssertionError("the subtheme pass ran although no subthemes were asked for")

    monkeypatch.setattr(pipeline, "find_subthemes", no_subtheme_pass)
    without = run_clustering(x, min_subcluster_size=None, **kw)
    check_contract(without, len(x))
    assert (without.subtheme == -1).all() and without.subtheme_theme.shape == (0,)
    np.testing.assert_array_equal(without.theme, with_subthemes.theme)
    d = without.diagnostics
    assert d["min_subcluster_size"] is None and d["n_subthemes"] == 0 and d["fraction_in_subtheme"] == 0.0
    assert d["n_themes"] == with_subthemes.diagnostics["n_themes"]


def test_no_subcluster_size_with_noise_reassignment():
    x, _ = nested()
    plain = run_clustering(x, min_cluster_size=60, min_subcluster_size=None)
    moved = run_clustering(x, min_cluster_size=60, min_subcluster_size=None, reassign_noise=True)
    check_contract(moved, len(x))
    assert (moved.subtheme == -1).all() and moved.subtheme_theme.size == 0
    assert (moved.theme < 0).sum() < (plain.theme < 0).sum()


@pytest.mark.parametrize("reassign_noise", [False, True])
def test_deterministic(reassign_noise):
    x, _ = planted(seed=2)
    a, b = run_clustering(x, reassign_noise=reassign_noise), run_clustering(x, reassign_noise=reassign_noise)
    np.testing.assert_array_equal(a.theme, b.theme)
    np.testing.assert_array_equal(a.subtheme, b.subtheme)
    np.testing.assert_array_equal(a.subtheme_theme, b.subtheme_theme)


def test_identical_assignments_for_same_graph_seed_and_input_through_ivf():
    # Same graph seed, same input -> identical assignments, also on the approximate (IVF) graph path.
    x, _ = planted(seed=4, sizes=(120, 100, 90, 80), n_noise=40)
    runs = [cluster_embeddings(x, build_knn_graph(x, recommended_k(25, None), method="ivf", seed=5))
            for _ in range(2)]
    np.testing.assert_array_equal(runs[0].theme, runs[1].theme)
    np.testing.assert_array_equal(runs[0].subtheme, runs[1].subtheme)
    assert runs[0].diagnostics == runs[1].diagnostics | {"seconds": runs[0].diagnostics["seconds"]}
    assert "seed" not in runs[0].diagnostics


def test_theme_smaller_than_two_subcluster_sizes_has_no_subthemes():
    x, _ = planted(sizes=(30, 30), n_noise=0)
    c = run_clustering(x, min_cluster_size=25, min_subcluster_size=20)  # 30 < 2 * 20
    check_contract(c, len(x))
    assert (c.theme >= 0).any()
    assert (c.subtheme == -1).all() and c.subtheme_theme.size == 0


def test_disconnected_graph_is_handled():
    # Tiny k makes the kNN graph fall apart into islands; it must still work.
    x, _ = planted(seed=3, n_noise=0)
    c = cluster_embeddings(x, build_knn_graph(x, 5), min_cluster_size=25, min_samples=3)
    check_contract(c, len(x))
    assert c.theme.max() + 1 >= 2


def test_resolution_orders_the_number_of_themes():
    rng = np.random.default_rng(5)
    # Eight small blobs in four loose pairs: coarse resolution sees pairs, fine resolution sees blobs.
    pairs = normalise(rng.standard_normal((4, D)))
    blobs = [blob(rng, normalise((p + s * 0.15 * normalise(rng.standard_normal((1, D)))[0])[None])[0], 40, 0.5)
             for p in pairs for s in (1, -1)]
    x = np.concatenate(blobs)
    counts = [int(run_clustering(x, resolution=r).theme.max()) + 1 for r in (0.1, 1.0, 3.0, 10.0)]
    assert counts[0] == 4 and counts[-1] == 8, counts
    assert counts == sorted(counts)


def test_eom_selection_is_still_available_and_differs_only_in_the_choice():
    x, truth = planted()
    eom, mod = run_clustering(x, cluster_selection="eom"), run_clustering(x)
    for c in (eom, mod):
        check_contract(c, len(x))
        assert (c.theme[truth == -1] == -1).mean() >= 0.8
    assert eom.diagnostics["cluster_selection"] == "eom" and "resolution" not in eom.diagnostics
    assert mod.diagnostics["resolution"] == resolve_resolution(None, len(x))
    assert "modularity" in mod.diagnostics["geometry"]
    assert 0 < mod.diagnostics["modularity"] < 1 and "modularity" not in eom.diagnostics
