"""The knn stage's graph cache: a second configuration over the same vectors reuses the graph, nothing else does."""

from __future__ import annotations

import os

import numpy as np

from tasks.core.knn_graph import build_knn_graph
from tasks.knn import cached_graph, graph_cache_key, store_graph


def unit_rows(n: int, d: int = 8, seed: int = 0) -> np.ndarray:
    emb = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return emb / np.linalg.norm(emb, axis=1, keepdims=True)


def test_the_key_names_exactly_the_vectors_k_and_seed():
    emb = unit_rows(50)
    key = graph_cache_key(emb, 5, 0)
    assert key == graph_cache_key(emb.copy(), 5, 0)
    nudged = emb.copy()
    nudged[17, 3] = np.nextafter(nudged[17, 3], np.float32(2))
    reordered = emb[::-1].copy()
    others = {graph_cache_key(nudged, 5, 0), graph_cache_key(reordered, 5, 0), graph_cache_key(emb, 6, 0),
              graph_cache_key(emb, 5, 1), graph_cache_key(emb[:49], 5, 0)}
    assert key not in others and len(others) == 5


def test_a_stored_graph_comes_back_identical_and_only_the_newest_are_kept(tmp_path):
    emb = unit_rows(60)
    graph = build_knn_graph(emb, 5)
    key = graph_cache_key(emb, 5, 0)
    assert cached_graph(tmp_path, key) is None
    store_graph(tmp_path, key, graph, keep=2)
    again = cached_graph(tmp_path, key)
    assert np.array_equal(again.indices, graph.indices) and np.array_equal(again.distances, graph.distances)
    os.utime(tmp_path / f"{key}.npz", (1, 1))  # used long ago (explicit times: no clock-resolution ties)
    for seed in (1, 2):
        other = unit_rows(60, seed=seed)
        other_key = graph_cache_key(other, 5, 0)
        store_graph(tmp_path, other_key, build_knn_graph(other, 5), keep=2)
        os.utime(tmp_path / f"{other_key}.npz", (1 + seed, 1 + seed))
    assert len(list(tmp_path.glob("*.npz"))) == 2 and cached_graph(tmp_path, key) is None
    assert not list(tmp_path.glob(".*"))  # no temp file left behind


def test_a_damaged_entry_is_a_miss_not_an_error(tmp_path):
    (tmp_path / "abc.npz").write_bytes(b"not an npz")
    assert cached_graph(tmp_path, "abc") is None
