"""Step 0 (the clustering space) and what it is for: themes in homogeneous corpora, never a 100 %-noise run,
and big themes explored."""

from __future__ import annotations

import numpy as np
import pytest
from clustering_fixtures import D, blob, check_contract, normalise, run_clustering

from tasks.core.clustering import (
    HOMOGENEOUS_MEAN_COSINE,
    clustering_space,
    mean_pairwise_cosine,
    resolve_geometry,
    selection,
)


def test_centered_space_removes_the_common_direction_and_keeps_unit_rows():
    rng = np.random.default_rng(0)
    common = normalise(rng.standard_normal((1, D)))[0]
    emb = normalise(3 * common + rng.standard_normal((200, D)) / np.sqrt(D))
    x = clustering_space(emb)
    assert x.dtype == np.float32 and x.shape == emb.shape
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert np.linalg.norm(emb.mean(axis=0)) > 0.9 and np.linalg.norm(x.mean(axis=0)) < 0.1
    assert clustering_space(emb, "raw") is emb


def test_auto_centres_only_a_corpus_with_a_strong_common_direction():
    rng = np.random.default_rng(1)
    diverse = normalise(rng.standard_normal((300, D)))  # unrelated texts: mean pairwise cosine ~0
    assert abs(mean_pairwise_cosine(diverse)) < 0.02
    assert resolve_geometry(diverse) == "raw" and clustering_space(diverse) is diverse
    common = normalise(rng.standard_normal((1, D)))[0]
    homogeneous = normalise(common + rng.standard_normal((300, D)) / np.sqrt(D))
    assert mean_pairwise_cosine(homogeneous) > HOMOGENEOUS_MEAN_COSINE
    assert resolve_geometry(homogeneous) == "centered" and resolve_geometry(homogeneous, "raw") == "raw"
    pairs = homogeneous @ homogeneous.T
    exact = (pairs.sum() - np.trace(pairs)) / (300 * 299)
    assert mean_pairwise_cosine(homogeneous) == pytest.approx(exact, abs=1e-5)


def test_degenerate_inputs_keep_their_direction():
    one = normalise(np.ones((1, D)))
    assert clustering_space(one) is one
    same = np.repeat(one, 3, axis=0)  # every row on the mean: nothing left to centre
    np.testing.assert_array_equal(clustering_space(same), same)
    with pytest.raises(ValueError, match="geometry"):
        clustering_space(same, "whitened")


def test_a_homogeneous_corpus_shows_its_topics_once_the_common_direction_is_gone():
    rng = np.random.default_rng(3)
    common = normalise(rng.standard_normal((1, D)))[0]
    # Four topics that differ by a little on top of one strong shared direction (a novel's style).
    topics = [normalise((6 * common + normalise(rng.standard_normal((1, D)))[0])[None])[0] for _ in range(4)]
    x = np.concatenate([blob(rng, t, 60, 0.25) for t in topics])
    truth = np.repeat(np.arange(4), 60)
    c = run_clustering(clustering_space(x), min_cluster_size=25, min_subcluster_size=5)
    check_contract(c, len(x))
    found = {int(np.bincount(c.theme[truth == t][c.theme[truth == t] >= 0]).argmax()) for t in range(4)}
    assert len(found) == 4, "each planted topic is its own theme"


def test_one_blob_is_one_theme_not_all_noise():
    rng = np.random.default_rng(5)
    x = blob(rng, normalise(rng.standard_normal((1, D)))[0], 120, 0.6)
    c = run_clustering(x, min_cluster_size=25, min_subcluster_size=5)
    check_contract(c, len(x))
    assert c.theme.max() == 0 and (c.theme == 0).mean() > 0.8
    assert c.diagnostics["whole_corpus_theme"] is True


def test_a_group_marked_for_splitting_gives_its_best_cut_below_the_whole():
    # A hand-made condensed tree over 6 chunks: root 6 holds group 0 (cluster 7: chunks 0-3, split into
    # 9 = {0, 1} and 10 = {2, 3}) and group 1 (cluster 8: chunks 4-5).
    up = np.array([-1] * 6 + [-1, 6, 6, 7, 7])
    leaf = np.array([9, 9, 10, 10, 8, 8])
    groups = np.array([0, 0, 0, 0, 1, 1])
    q = np.array([0.0] * 6 + [-np.inf, 0.5, 0.3, 0.1, 0.1])  # modularity keeps cluster 7 whole
    wanted = np.array([True, False])
    roots = selection._group_roots(leaf, up, groups, wanted)
    assert roots.tolist() == [7]
    forbidden = np.zeros(q.shape[0], bool)
    assert selection._best_cut(q, up, 6, True, forbidden)[leaf].tolist() == [7, 7, 7, 7, 8, 8]
    forbidden[roots] = True
    assert selection._best_cut(q, up, 6, True, forbidden)[leaf].tolist() == [9, 9, 10, 10, 8, 8]


def test_a_marked_group_without_a_cut_is_left_unsplit():
    up = np.array([-1] * 4 + [-1, 4, 4])
    leaf = np.array([5, 5, 6, 6])
    groups = np.array([0, 0, 1, 1])
    q = np.array([0.0] * 4 + [-np.inf, 0.4, 0.4])
    forbidden = np.zeros(q.shape[0], bool)
    forbidden[selection._group_roots(leaf, up, groups, np.array([True, False]))] = True
    assert selection._best_cut(q, up, 4, True, forbidden)[leaf].tolist() == [-1, -1, 6, 6]


def _theme_of_two_halves(n_others: int) -> np.ndarray:
    """Rows 0-119: one theme made of two halves (offset 0.3); then ``n_others`` distinct themes of 80."""
    rng = np.random.default_rng(7)
    centre = normalise(rng.standard_normal((1, D)))[0]
    offset = normalise(rng.standard_normal((1, D)))[0] * 0.3
    halves = [blob(rng, normalise((centre + s * offset)[None])[0], 60, 0.3) for s in (1, -1)]
    others = [blob(rng, normalise(rng.standard_normal((1, D)))[0], 80, 0.3) for _ in range(n_others)]
    return np.concatenate(halves + others)


def test_a_theme_over_a_fifth_of_the_corpus_gets_its_subthemes():
    n_others = 4
    x = _theme_of_two_halves(n_others)  # the two halves: 120 of 440 chunks (27 %)
    c = run_clustering(x, min_cluster_size=70, min_subcluster_size=10, subtheme_resolution=0.05)
    check_contract(c, len(x))
    theme = np.bincount(c.theme[:120][c.theme[:120] >= 0]).argmax()
    assert (c.theme[:120] == theme).mean() > 0.9 and int(c.theme.max()) == n_others
    subs = np.flatnonzero(c.subtheme_theme == theme)
    assert len(subs) == 2
    a, b = c.subtheme[:60], c.subtheme[60:120]
    assert np.bincount(a[a >= 0]).argmax() != np.bincount(b[b >= 0]).argmax(), "the split follows the halves"
