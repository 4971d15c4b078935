"""Unit tests for tasks.core.knn_graph (synthetic data only)."""

import numpy as np
import pytest

import tasks.core.knn_graph as knn_graph
from tasks.core.knn_graph import IVF_GROUP_MAX, KnnGraph, _list_groups, build_knn_graph


def _unit_rows(n: int, d: int = 384, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_exact_matches_brute_force():
    x = _unit_rows(200)
    g = build_knn_graph(x, 7, method="exact")
    d = 1.0 - x @ x.T
    np.fill_diagonal(d, np.inf)
    expected = np.sort(d, axis=1)[:, :7]
    assert g.indices.dtype == np.int64 and g.distances.dtype == np.float32
    assert g.indices.shape == (200, 7)
    np.testing.assert_allclose(g.distances, expected, atol=1e-5)
    assert not (g.indices == np.arange(200)[:, None]).any()
    assert (np.diff(g.distances, axis=1) >= 0).all()


def test_auto_is_exact_for_small_inputs():
    x = _unit_rows(50)
    np.testing.assert_array_equal(build_knn_graph(x, 4).indices, build_knn_graph(x, 4, method="exact").indices)


def test_empty_and_single_point():
    g0 = build_knn_graph(np.empty((0, 384), np.float32), 5)
    assert g0.indices.shape == (0, 5) and g0.distances.shape == (0, 5)
    g1 = build_knn_graph(_unit_rows(1), 3)
    assert isinstance(g1, KnnGraph)
    assert (g1.indices == -1).all() and np.isinf(g1.distances).all()


def test_padding_when_fewer_points_than_k():
    g = build_knn_graph(_unit_rows(4), 6)
    assert (g.indices[:, :3] >= 0).all() and (g.indices[:, 3:] == -1).all()
    assert np.isfinite(g.distances[:, :3]).all() and np.isinf(g.distances[:, 3:]).all()


def test_duplicates_exclude_self_and_have_zero_distance():
    x = np.repeat(_unit_rows(3), 4, axis=0)  # 3 distinct vectors, 4 copies each
    g = build_knn_graph(x, 3)
    assert not (g.indices == np.arange(12)[:, None]).any()
    np.testing.assert_allclose(g.distances, 0.0, atol=1e-6)


@pytest.mark.parametrize(
    "emb, k, method, match",
    [
        (np.ones((3, 4), np.float64), 2, "exact", "float32"),
        (np.ones(4, np.float32), 2, "exact", "2-D"),
        (np.full((3, 4), np.nan, np.float32), 2, "exact", "NaN"),
        (np.ones((3, 4), np.float32), 2, "exact", "L2-normalised"),
        (np.eye(3, dtype=np.float32), 0, "exact", "k must be"),
        (np.eye(3, dtype=np.float32), 2, "annoy", "method"),
    ],
)
def test_validation_messages(emb, k, method, match):
    with pytest.raises(ValueError, match=match):
        build_knn_graph(emb, k, method=method)


def test_ivf_close_to_exact_and_deterministic():
    x = _unit_rows(3000, d=32, seed=1)
    exact = build_knn_graph(x, 10, method="exact")
    a = build_knn_graph(x, 10, method="ivf", seed=2)
    b = build_knn_graph(x, 10, method="ivf", seed=2)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.distances, b.distances)
    recall = np.mean([len(set(p) & set(q)) / 10 for p, q in zip(exact.indices, a.indices, strict=True)])
    assert recall >= 0.5  # random 32-d points are the hard case; real embeddings reach ~0.95
    assert not (a.indices == np.arange(3000)[:, None]).any()
    assert (np.diff(a.distances, axis=1) >= 0).all()


def test_auto_uses_ivf_above_the_exact_limit(monkeypatch):
    monkeypatch.setattr(knn_graph, "EXACT_MAX_N", 100)
    x = _unit_rows(400, d=16)
    np.testing.assert_array_equal(build_knn_graph(x, 5).indices, build_knn_graph(x, 5, method="ivf").indices)


def test_ivf_list_groups_cover_each_nonempty_list_once():
    rng = np.random.default_rng(0)
    sizes = rng.integers(0, 300, 50)
    sizes[[3, 17]] = 0
    bounds = np.r_[0, np.cumsum(sizes)]
    probes = np.stack([np.r_[i, rng.permutation(np.delete(np.arange(50), i))[:9]] for i in range(50)])
    groups = _list_groups(probes, bounds, 640)
    flat = [g for grp in groups for g in grp]
    assert sorted(flat) == [i for i in range(50) if sizes[i] > 0]
    assert all(len(grp) <= IVF_GROUP_MAX for grp in groups)
    assert all(sizes[grp[:-1]].sum() < 640 for grp in groups)  # a group stops growing once it is big enough
