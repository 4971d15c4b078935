"""Phrases: near-duplicates of one theme are one phrase with a count; different themes, chains and mere
neighbours are not."""

from __future__ import annotations

import numpy as np

from tasks.core.knn_graph import build_knn_graph
from tasks.core.phrases import exact_groups, group_phrases, phrase_ids


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def graph(emb: np.ndarray, k: int = 5):
    return build_knn_graph(emb, k=k, seed=0)


def test_equal_normalised_text_is_one_group_per_theme_numbered_by_first_row():
    theme = np.array([0, 0, 1, 0, 1, -1, -1])
    keys = np.array([7, 8, 7, 7, 7, 9, 9], np.uint64)
    assert exact_groups(theme, keys).tolist() == [0, 1, 2, 0, 2, 3, 3]


def test_near_duplicates_join_and_distinct_passages_stay_apart():
    rng = np.random.default_rng(1)
    base = unit(rng.normal(size=(40, 32)))  # 40 distinct passages
    variants = unit(base[:5] + 0.02 * rng.normal(size=(5, 32)))  # a near copy of each of the first five
    emb = np.vstack([base, variants])
    theme = np.zeros(45, np.int64)
    keys = np.arange(45, dtype=np.uint64)  # every text differs once normalised
    g = graph(emb)
    found = group_phrases(emb, theme, keys, g.indices, g.distances, threshold=0.95)
    for i in range(5):
        assert found.label[i] == found.label[40 + i]
    assert len(set(found.label[5:40].tolist())) == 35 and found.leader.size == 40
    assert sorted(found.size.tolist(), reverse=True)[:6] == [2, 2, 2, 2, 2, 1]
    assert found.size.sum() == 45 and (found.variants == found.size).all()
    assert (found.label[found.leader] == np.arange(found.leader.size)).all()  # a leader is in its own phrase


def test_a_near_duplicate_in_another_theme_is_another_phrase():
    rng = np.random.default_rng(2)
    base = unit(rng.normal(size=(20, 16)))
    emb = np.vstack([base, unit(base[:1] + 0.01)])
    theme = np.array([0] * 20 + [1])
    g = graph(emb)
    found = group_phrases(emb, theme, np.arange(21, dtype=np.uint64), g.indices, g.distances, 0.95)
    assert found.label[0] != found.label[20]


def test_a_chain_of_near_duplicates_does_not_join_its_two_ends():
    # five passages 15° apart on a circle: neighbours are near-duplicates (cos 0.966), the ends are not
    # (cos 60° = 0.5). A phrase is a star around its leader, so every member is within the threshold of it.
    angles = np.deg2rad(15 * np.arange(5))
    chain = np.stack([np.cos(angles), np.sin(angles), np.zeros(5)], axis=1)
    emb = unit(np.vstack([chain, [[0, 0, 1.0], [0, 0, -1.0]]]))
    g = graph(emb, k=4)
    found = group_phrases(emb, np.zeros(7, np.int64), np.arange(7, dtype=np.uint64), g.indices, g.distances, 0.95)
    assert found.label[0] != found.label[4]
    for row, phrase in enumerate(found.label.tolist()):
        assert float(emb[row] @ emb[found.leader[phrase]]) >= 0.95 - 1e-6
    assert found.size[found.label[0]] >= 2  # and the chain is grouped, not left as singletons


def test_exact_copies_and_case_variants_count_as_one_phrase_whatever_their_vectors():
    rng = np.random.default_rng(3)
    emb = unit(rng.normal(size=(6, 8)))  # far apart vectors: only the keys say they are the same text
    keys = np.array([5, 5, 5, 6, 7, 5], np.uint64)
    g = graph(emb, k=3)
    found = group_phrases(emb, np.zeros(6, np.int64), keys, g.indices, g.distances, 0.99)
    assert found.size[found.label[0]] == 4 and found.variants[found.label[0]] == 1
    assert found.label[0] == found.label[1] == found.label[2] == found.label[5]


def test_phrase_ids_follow_the_leading_text_and_never_repeat():
    assert phrase_ids(np.array([255, 16, 255], np.uint64)) == ["p_00000000000000ff", "p_0000000000000010",
                                                               "p_00000000000000ff-2"]
    assert phrase_ids(np.array([2**64 - 1], np.uint64)) == ["p_ffffffffffffffff"]


def test_an_empty_run_has_no_phrases():
    found = group_phrases(np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, np.uint64),
                          np.zeros((0, 3), np.int64), np.zeros((0, 3), np.float32))
    assert found.leader.size == 0 and found.label.size == 0


def test_themes_json_gets_each_clusters_phrase_count_and_most_repeated_phrases():
    import pyarrow as pa

    from tasks.core.themes_json import attach_phrases

    themes = {"clusters": [{"cluster_id": "t0", "subclusters": [{"cluster_id": "t0.0", "subclusters": []}]},
                           {"cluster_id": "t1", "subclusters": []}]}
    phrases = pa.table({"phrase_id": ["p_a", "p_b", "p_c", "p_d", "p_e"],
                        "theme_id": ["t0", "t0", "t0", "t1", None], "subtheme_id": ["t0.0", None, "t0.0", None, None],
                        "text": ["refund?", "card", "pin", "<b>x</b>", "noise"], "items_count": [3, 7, 1, 2, 9]})
    attach_phrases(themes, phrases, top=5)
    t0, t1 = themes["clusters"]
    assert t0["phrases_count"] == 3 and [p["phrase_id"] for p in t0["top_phrases"]] == ["p_b", "p_a"]
    assert t0["subclusters"][0]["phrases_count"] == 2
    assert [p["text"] for p in t0["subclusters"][0]["top_phrases"]] == ["refund?"]
    assert t1["top_phrases"] == [{"phrase_id": "p_d", "text": "<b>x</b>", "items_count": 2}]


def test_a_phrase_shows_its_most_common_spelling():
    from tasks.core.phrases import most_common_rows

    label = np.array([0, 0, 0, 1, 0, 1, 0])
    codes = np.array([5, 6, 6, 7, 6, 8, 5])  # phrase 0: text 6 three times, text 5 twice; phrase 1: a tie
    assert most_common_rows(label, codes, 2).tolist() == [1, 3]
    assert most_common_rows(np.zeros(0, np.int64), np.zeros(0, np.int64), 0).tolist() == []
