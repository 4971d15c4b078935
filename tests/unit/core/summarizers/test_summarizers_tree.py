"""Unit tests for tasks.core.summarizers.tree: label validation, cluster ids and nesting."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.core.summarizers import build_cluster_tree, iter_clusters
from tasks.core.summarizers.tree import validate_labels
from tests.unit.core.summarizers.summarizers_fixtures import run


def test_tree_ids_follow_size_and_nest_subthemes(planted):
    tree = run(planted)
    assert [n.cluster_id for n in tree] == ["t0", "t1", "t2"]
    assert [n.label for n in tree] == [2, 1, 0]  # 10, 5, 4 members
    assert [n.size for n in tree] == [10, 5, 4]
    payments = tree[0]
    assert [c.cluster_id for c in payments.children] == ["t0.0", "t0.1"]
    assert [c.label for c in payments.children] == [1, 0]  # refunds (5) before declined (4)
    assert all(c.parent_id == "t0" and c.level == "subtheme" for c in payments.children)
    assert payments.unassigned == 1
    assert tree[1].children == [] and tree[1].unassigned == 5  # no subthemes: all unassigned
    for node in iter_clusters(tree):
        assert node.members.dtype == np.int64
        assert np.all(np.diff(node.members) > 0)
        assert node.size == len(node.members)


def test_build_cluster_tree_skips_empty_subthemes_and_breaks_size_ties_by_label():
    theme = np.array([1, 1, 0, 0, -1], dtype=np.int32)
    sub = np.array([0, 0, -1, -1, -1], dtype=np.int32)
    tree = build_cluster_tree(theme, sub, np.array([1, 0], dtype=np.int32))  # subtheme 1 unused
    assert [(n.cluster_id, n.label) for n in tree] == [("t0", 0), ("t1", 1)]
    assert tree[0].children == []
    assert [c.label for c in tree[1].children] == [0] and tree[1].unassigned == 0


def test_iter_clusters_is_depth_first(planted):
    tree = run(planted)
    assert [n.cluster_id for n in iter_clusters(tree)] == ["t0", "t0.0", "t0.1", "t1", "t2"]


def test_empty_labels_give_an_empty_tree():
    empty = np.zeros(0, dtype=np.int32)
    assert build_cluster_tree(empty, empty, empty) == []
    noise = np.full(3, -1, dtype=np.int32)
    assert build_cluster_tree(noise, noise, empty) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(subtheme=d["subtheme"][:-1]), "subtheme has"),
        (lambda d: d.update(theme=d["theme"].astype(float)), "must hold integers"),
        (lambda d: d.update(theme=d["theme"][:, None]), "must be 1-D"),
        (lambda d: d["theme"].__setitem__(0, -2), "theme labels must be >= -1"),
        (lambda d: d.update(subtheme_theme=d["subtheme_theme"][:1]), "subtheme ids must be in"),
        (lambda d: d.update(subtheme_theme=np.array([2, 1], np.int32)), "belongs to theme"),
    ],
)
def test_invalid_labels_raise_clear_errors(planted, change, message):
    change(planted)
    with pytest.raises(ValueError, match=message):
        validate_labels(planted["theme"], planted["subtheme"], planted["subtheme_theme"])
    with pytest.raises(ValueError, match=message):
        run(planted)
