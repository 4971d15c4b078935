"""Unit tests for tasks.core.summarizers.pipeline: input validation, degenerate input, header fallback."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tasks.core.summarizers import iter_clusters, summarize_clusters
from tests.unit.core.summarizers.summarizers_fixtures import DIM, by_label, run, themes_only, unit


def test_no_themes_returns_empty_list():
    none = np.full(3, -1, dtype=np.int32)
    emb = unit(np.ones((3, DIM)))
    assert summarize_clusters(["a b", "c", ""], emb, none, none, np.zeros(0, np.int32)) == []
    empty = np.zeros(0, dtype=np.int32)
    assert summarize_clusters([], np.zeros((0, DIM), np.float32), empty, empty, empty) == []


def test_empty_and_stop_word_texts_still_get_a_header():
    texts = ["", "   \n", "what is this and that", "to be or not to be", "\t"]
    emb = unit(np.eye(5, DIM) + 0.01)
    tree = themes_only(texts, emb, [0, 0, 1, 1, 2])
    themes = by_label(tree)
    assert themes[0].header == "untitled theme " + themes[0].cluster_id
    assert themes[0].summary == "" and themes[0].keyphrases == []
    assert themes[1].header in {"what is this and that", "to be or not to be"}
    assert themes[1].summary == themes[1].header
    assert all(node.header for node in tree)


def test_no_summarizers_still_names_every_cluster(planted):
    tree = run(planted, summarizers=[])
    assert all(node.header for node in iter_clusters(tree))
    assert all(node.keyphrases == [] and node.nodes == [] for node in iter_clusters(tree))


def test_deterministic(planted):
    def dump(tree):
        return [
            {k: (v.tolist() if isinstance(v, np.ndarray) else v)
             for k, v in dataclasses.asdict(node).items() if k != "children"}
            for node in iter_clusters(tree)
        ]

    assert dump(run(planted)) == dump(run(planted))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(texts=d["texts"][:-1]), "texts has"),
        (lambda d: d.update(emb=d["emb"][:-1]), "emb must have shape"),
        (lambda d: d.update(emb=d["emb"][:, 0]), "emb must have shape"),
        (lambda d: d["emb"].__setitem__((0, 0), np.nan), "NaN"),
    ],
)
def test_invalid_input_raises_clear_errors(planted, change, message):
    change(planted)
    with pytest.raises(ValueError, match=message):
        run(planted)


def test_negative_counts_are_rejected(planted):
    with pytest.raises(ValueError, match="must be >= 0"):
        run(planted, top_n_nodes=-1)
    with pytest.raises(ValueError, match="must be >= 0"):
        run(planted, n_keyphrases=-1)


def test_unnormalised_float64_embeddings_are_accepted(planted):
    expected = run(planted)
    planted["emb"] = planted["emb"].astype(np.float64) * 3.0
    got = run(planted)
    for g, e in zip(iter_clusters(got), iter_clusters(expected), strict=True):
        assert [r for r, _ in g.nodes] == [r for r, _ in e.nodes]
        np.testing.assert_allclose([c for _, c in g.nodes], [c for _, c in e.nodes], atol=1e-5)
