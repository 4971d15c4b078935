"""Unit tests for tasks.core.summarizers.keyphrases: c-TF-IDF phrases and headers."""

from __future__ import annotations

import zlib

import numpy as np
import scipy.sparse as sp

from tasks.core.summarizers import ctfidf, iter_clusters, summarize_clusters
from tasks.core.summarizers.keyphrases import _dedupe_phrases
from tests.unit.core.summarizers.summarizers_fixtures import DIM, by_label, run, themes_only, unit


def test_headers_name_the_planted_topics(planted):
    themes = by_label(run(planted))
    assert {"refund", "payment"} & set(themes[2].header.lower().split())
    assert {"password", "login"} & set(themes[1].header.lower().split())
    assert {"delivery", "shipping"} & set(themes[0].header.lower().split())
    for node in themes.values():
        assert 1 <= len(node.header.split()) <= 4 and "·" not in node.header, "one short phrase"
        own_text = " ".join(planted["texts"][r] for r in node.members).lower()
        assert node.header[0].isupper() and node.header.lower() in own_text, "a phrase from its own passages"


def test_noise_words_do_not_name_themes(planted):
    for node in iter_clusters(run(planted)):
        words = {w for p, _ in node.keyphrases for w in p.split()}
        assert not {"thanks", "hello", "checking"} & words


def test_subtheme_keyphrases_say_what_sets_them_apart(planted):
    payments = by_label(run(planted))[2]
    refunds, declined = payments.children
    assert "refund" in refunds.header.lower() and "declined" not in refunds.header.lower()
    assert "declined" in declined.header.lower() and "refund" not in declined.header.lower()
    assert refunds.keyphrases != payments.keyphrases
    assert refunds.header != payments.header and declined.header != payments.header


def test_keyphrases_are_sorted_deduplicated_and_capped(planted):
    for node in iter_clusters(run(planted, n_keyphrases=5)):
        phrases = [p for p, _ in node.keyphrases]
        scores = [s for _, s in node.keyphrases]
        assert 0 < len(phrases) <= 5
        assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)
        bigram_words = {w for p in phrases if " " in p for w in p.split()}
        assert not [p for p in phrases if " " not in p and p in bigram_words]


def test_dedupe_merges_unigrams_into_bigrams_and_drops_rare_variants():
    ranked = [("card", 0.5, 100.0), ("arrival", 0.4, 50.0), ("card arrival", 0.3, 40.0),
              ("cards", 0.2, 10.0), ("limit", 0.1, 90.0), ("amoutn limit", 0.09, 1.0)]
    assert _dedupe_phrases(ranked) == [("card arrival", 0.5), ("limit", 0.1)]


def test_ctfidf_matches_the_bertopic_formula():
    counts = np.array([[3.0, 1.0, 0.0], [0.0, 1.0, 4.0]])
    avg_words = counts.sum() / 2
    expected = counts / counts.sum(axis=1, keepdims=True) * np.log1p(avg_words / counts.sum(axis=0))
    np.testing.assert_allclose(ctfidf(sp.csr_matrix(counts)).toarray(), expected)


def test_n_keyphrases_larger_than_vocabulary_and_zero():
    texts = ["alpha beta", "alpha beta", "gamma"]
    emb = unit(np.eye(3, DIM) + 0.01)
    theme = [0, 0, 1]
    tree = themes_only(texts, emb, theme, n_keyphrases=100)
    assert [p for p, _ in tree[0].keyphrases] == ["alpha beta"]  # unigrams absorbed
    assert [p for p, _ in tree[1].keyphrases] == ["gamma"]
    tree = themes_only(texts, emb, theme, n_keyphrases=0)
    assert tree[0].keyphrases == [] and tree[0].header == "Alpha beta"


def test_only_subtheme_of_a_theme_inherits_the_theme_phrases(planted):
    planted["subtheme"][planted["theme"] == 1] = 2  # login: one subtheme covering all of it
    planted["subtheme_theme"] = np.array([2, 2, 1], dtype=np.int32)
    login = by_label(run(planted))[1]
    assert login.unassigned == 0
    only = login.children[0]
    assert only.header == login.header and only.keyphrases == login.keyphrases


def test_identical_texts_name_their_theme():
    texts = ["Password reset please"] * 4 + ["Parcel delivery late"] * 3
    emb = unit(np.repeat(np.eye(2, DIM), [4, 3], axis=0))
    tree = themes_only(texts, emb, [0] * 4 + [1] * 3)
    assert "password" in tree[0].header.lower() and "delivery" in tree[1].header.lower()


def test_words_every_theme_uses_never_head_a_theme():
    topics = {0: "garage ashes valley wilson", 1: "party lawn orchestra champagne",
              2: "letter memory louisville soldier"}
    texts, labels = [], []
    for label, words in topics.items():
        for i in range(8):
            # "said" and "gatsby" are in every passage and far more frequent than any topic word.
            texts.append(f"Gatsby said, and said again, {words.split()[i % 4]} {words.split()[(i + 1) % 4]}; "
                         "Gatsby said it twice.")
            labels.append(label)
    emb = unit(np.repeat(np.eye(3, DIM), 8, axis=0))
    for node in themes_only(texts, emb, labels):
        words = set(node.header.lower().split())
        assert not {"said", "gatsby"} & words, node.header
        assert words & set(topics[node.label].split()), node.header


def test_a_theme_about_top_ups_is_named_by_them():
    # "top" was a stop word (sklearn's list), so "top up" could never be a phrase and the theme was named by
    # whatever word was left ("topped").
    texts = ["my top up failed", "top up failed again", "why did my top up fail", "top up failed twice"]
    texts += ["parcel delivery late", "late parcel delivery", "parcel delivery is late", "delivery late parcel"]
    emb = unit(np.repeat(np.eye(2, DIM), [4, 4], axis=0))
    tree = themes_only(texts, emb, [0] * 4 + [1] * 4)
    assert "top up" in tree[0].header.lower(), tree[0].header
    assert "top up" in [p for p, _ in tree[0].keyphrases]


def test_sibling_themes_never_share_a_header():
    # Two themes whose best phrase is the same: the smaller one takes its next best.
    texts = ["refund request bank"] * 6 + ["refund request shop"] * 4 + ["parcel delivery late"] * 5
    emb = unit(np.repeat(np.eye(3, DIM), [6, 4, 5], axis=0))
    tree = themes_only(texts, emb, [0] * 6 + [1] * 4 + [2] * 5)
    headers = [node.header.lower() for node in tree]
    assert len(set(headers)) == len(headers), headers


def test_the_header_is_the_candidate_closest_in_meaning_when_a_model_is_given():
    texts = ["parcel delivery late again", "late parcel delivery", "delivery of my parcel is late"] * 2
    texts += ["reset my password please", "password reset link broken", "cannot reset password"] * 2
    theme = [0] * 6 + [1] * 6
    emb = unit(np.repeat(np.eye(2, DIM), 6, axis=0))
    asked: list[str] = []

    def encode(phrases: list[str]) -> np.ndarray:
        # A toy model: "late" means theme 0's direction, everything else is orthogonal to both themes.
        asked.extend(phrases)
        return unit(np.stack([np.eye(DIM)[0] if p == "late" else np.eye(DIM)[2 + i % (DIM - 2)]
                              for i, p in enumerate(phrases)]))

    tree = by_label(themes_only(texts, emb, theme, encode=encode))
    assert tree[0].header == "Late" and "late" in asked
    # Word statistics alone rank another phrase first: the model, not the ranking, chose "Late".
    assert by_label(themes_only(texts, emb, theme))[0].header != "Late"


def test_a_model_that_fails_leaves_headers_to_word_statistics():
    from tasks.infra.errors import ModelError

    texts = ["parcel delivery late"] * 3 + ["password reset"] * 3
    emb = unit(np.repeat(np.eye(2, DIM), 3, axis=0))

    def broken(phrases: list[str]) -> np.ndarray:
        raise ModelError("no model here")

    with_model = themes_only(texts, emb, [0] * 3 + [1] * 3, encode=broken)
    assert [n.header for n in with_model] == [n.header for n in themes_only(texts, emb, [0] * 3 + [1] * 3)]


def test_a_subtheme_never_takes_its_theme_header_or_a_part_of_it():
    texts = (["Mrs. Wilson at the garage with Wilson"] * 4 + ["Mrs. Wilson in the city apartment party"] * 4
             + ["Mrs. Wilson and Wilson by the valley of ashes"] * 4)
    emb = unit(np.repeat(np.eye(3, DIM), 4, axis=0) + 0.3 * np.eye(1, DIM))
    theme = np.zeros(12, np.int32)
    sub = np.repeat(np.arange(3), 4).astype(np.int32)
    tree = summarize_clusters(texts, emb, theme, sub, np.zeros(3, np.int32))
    parent = set(tree[0].header.lower().replace(".", "").split())
    for child in tree[0].children:
        words = set(child.header.lower().replace(".", "").split())
        assert not (words <= parent or words >= parent), (tree[0].header, child.header)


def test_headers_that_differ_only_in_case_punctuation_or_ending_are_the_same_header():
    from tasks.core.summarizers.headers import header_key

    same = [("Mrs. Wilson", "mrs wilson"), ("Encodings", "Encoded"), ("Motorcycles", "motorcycle"),
            ("Transfers", "transfer")]
    for a, b in same:
        assert header_key(a) == header_key(b), (a, b)
    assert header_key("Class") != header_key("Clas") and header_key("Atheism") != header_key("Atheist")


def test_a_generic_word_near_the_corpus_direction_does_not_win_the_meaning_test():
    # Every chunk shares one strong direction (e0), as a novel's chunks do; the themes differ only along e1 / e2.
    # The toy model puts "suddenly" near e0 (a generic word near what all text shares) and "parcel delivery"
    # along theme 0's own direction e1; every phrase shares a phrase direction e3. Uncentred, "suddenly" would
    # be closest to theme 0's centroid; compared on what sets each apart, "parcel delivery" is.
    texts = ["suddenly the parcel delivery was late", "suddenly my parcel delivery failed",
             "parcel delivery came suddenly"] * 2
    texts += ["password reset link broken", "cannot reset my password", "password reset email missing"] * 2
    theme = [0] * 6 + [1] * 6
    e = np.eye(DIM)
    emb = unit(np.stack([5 * e[0] + e[1]] * 6 + [5 * e[0] + e[2]] * 6))

    def encode(phrases: list[str]) -> np.ndarray:
        rows = []
        for p in phrases:
            own = {"suddenly": 2 * e[0], "parcel delivery": e[1]}.get(p)
            if own is None:
                own = np.random.default_rng(zlib.crc32(p.encode())).normal(size=DIM) * (np.arange(DIM) >= 4)
            rows.append(3 * e[3] + own)
        return unit(np.stack(rows))

    centroid = unit(emb[:6].mean(axis=0, keepdims=True))[0]
    plain = unit(encode(["suddenly", "parcel delivery"])) @ centroid
    assert plain[0] > plain[1], "the toy model makes the generic word closer before centring"
    assert by_label(themes_only(texts, emb, theme, encode=encode))[0].header == "Parcel delivery"
