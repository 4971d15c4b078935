"""Unit tests for tasks.summarize: synthetic themes with planted topic words and embeddings."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

from tasks import summarize as S
from tasks.summarize import ClusterSummary, build_cluster_tree, first_sentence, summarize_clusters

DIM = 16

# Theme label -> subtheme texts. Theme 0 has two subthemes and an unassigned rest; the
# words "refund" and "declined" are what sets its subthemes apart, "payment" is shared.
REFUNDS = [
    "I want a refund for my order, the payment went through twice.",
    "When will my refund arrive? The payment was last week.",
    "Refund still not received after the return of my payment.",
    "Please process my refund request for the payment.",
    "How long does a refund take after a payment dispute?",
]
DECLINED = [
    "My payment was declined at checkout with my card.",
    "Card payment declined again at the shop.",
    "Why is my payment declined every time?",
    "The payment got declined although I have money.",
]
PAYMENT_REST = ["A general question about my payment and billing."]
LOGIN = [
    "I forgot my password and cannot login.",
    "The reset password link is not working, login impossible.",
    "Login fails after the password change.",
    "Cannot login to my account, password rejected.",
    "Password expired and login blocked.",
]
SHIPPING = [
    "My delivery is late, shipping takes forever.",
    "Where is the shipping tracking number for my delivery?",
    "Change the delivery address before shipping.",
    "Shipping delayed and the delivery has not arrived.",
]
NOISE = ["Hello there, thanks a lot.", "Just checking in about things.", "Thanks, bye."]


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture()
def planted() -> dict:
    """Three planted themes (+ subthemes in theme 0) and noise, with clustered embeddings.

    Labels are deliberately not in size order (shipping is label 0 but the smallest theme)
    so the tests see that ids follow size, not labels.
    """
    rng = np.random.default_rng(0)
    groups = [  # (texts, theme label, global subtheme id)
        (REFUNDS, 2, 1), (DECLINED, 2, 0), (PAYMENT_REST, 2, -1),
        (LOGIN, 1, -1), (SHIPPING, 0, -1), (NOISE, -1, -1),
    ]
    centers = {lab: rng.standard_normal(DIM) for lab in (0, 1, 2)}
    texts, theme, sub, emb = [], [], [], []
    for k, (group, t, s) in enumerate(groups):
        offset = rng.standard_normal(DIM) * 0.3  # subthemes sit apart inside their theme
        for text in group:
            base = centers[t] + offset if t >= 0 else rng.standard_normal(DIM) * 3
            texts.append(text)
            theme.append(t)
            sub.append(s)
            emb.append(base + rng.standard_normal(DIM) * 0.1)
    return {
        "texts": texts,
        "emb": _unit(np.array(emb)),
        "theme": np.array(theme, dtype=np.int32),
        "subtheme": np.array(sub, dtype=np.int32),
        "subtheme_theme": np.array([2, 2], dtype=np.int32),
    }


def _run(data: dict, **kw) -> list[ClusterSummary]:
    return summarize_clusters(
        data["texts"], data["emb"], data["theme"], data["subtheme"], data["subtheme_theme"], **kw
    )


def _by_label(tree: list[ClusterSummary]) -> dict[int, ClusterSummary]:
    return {node.label: node for node in tree}


# ----------------------------------------------------------------------------- tree and ids


def test_tree_ids_follow_size_and_nest_subthemes(planted):
    tree = _run(planted)
    assert [n.cluster_id for n in tree] == ["t0", "t1", "t2"]
    assert [n.label for n in tree] == [2, 1, 0]  # 10, 5, 4 members
    assert [n.size for n in tree] == [10, 5, 4]
    payments = tree[0]
    assert [c.cluster_id for c in payments.children] == ["t0.0", "t0.1"]
    assert [c.label for c in payments.children] == [1, 0]  # refunds (5) before declined (4)
    assert all(c.parent_id == "t0" and c.level == "subtheme" for c in payments.children)
    assert payments.unassigned == 1
    assert tree[1].children == [] and tree[1].unassigned == 5  # no subthemes: all unassigned
    for node in S.iter_clusters(tree):
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


# ----------------------------------------------------------------------------- keyphrases


def test_headers_name_the_planted_topics(planted):
    themes = _by_label(_run(planted))
    assert {"refund", "payment"} & set(themes[2].header.split())
    assert {"password", "login"} & set(themes[1].header.split())
    assert {"delivery", "shipping"} & set(themes[0].header.split())
    for node in themes.values():
        assert 1 <= len(node.header.split(" · ")) <= 3
        assert node.header.split(" · ")[0] == node.keyphrases[0][0]


def test_noise_words_do_not_name_themes(planted):
    for node in S.iter_clusters(_run(planted)):
        words = {w for p, _ in node.keyphrases for w in p.split()}
        assert not {"thanks", "hello", "checking"} & words


def test_subtheme_keyphrases_say_what_sets_them_apart(planted):
    payments = _by_label(_run(planted))[2]
    refunds, declined = payments.children
    assert "refund" in refunds.header and "declined" not in refunds.header
    assert "declined" in declined.header and "refund" not in declined.header
    assert refunds.keyphrases != payments.keyphrases
    assert refunds.header != payments.header and declined.header != payments.header


def test_keyphrases_are_sorted_deduplicated_and_capped(planted):
    for node in S.iter_clusters(_run(planted, n_keyphrases=5)):
        phrases = [p for p, _ in node.keyphrases]
        scores = [s for _, s in node.keyphrases]
        assert 0 < len(phrases) <= 5
        assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)
        bigram_words = {w for p in phrases if " " in p for w in p.split()}
        assert not [p for p in phrases if " " not in p and p in bigram_words]


def test_dedupe_merges_unigrams_into_bigrams_and_drops_rare_variants():
    ranked = [("card", 0.5, 100.0), ("arrival", 0.4, 50.0), ("card arrival", 0.3, 40.0),
              ("cards", 0.2, 10.0), ("limit", 0.1, 90.0), ("amoutn limit", 0.09, 1.0)]
    assert S._dedupe_phrases(ranked) == [("card arrival", 0.5), ("limit", 0.1)]


def test_ctfidf_matches_the_bertopic_formula():
    counts = np.array([[3.0, 1.0, 0.0], [0.0, 1.0, 4.0]])
    avg_words = counts.sum() / 2
    expected = counts / counts.sum(axis=1, keepdims=True) * np.log1p(avg_words / counts.sum(axis=0))
    np.testing.assert_allclose(S.ctfidf(sp.csr_matrix(counts)).toarray(), expected)


def test_n_keyphrases_larger_than_vocabulary_and_zero():
    texts = ["alpha beta", "alpha beta", "gamma"]
    emb = _unit(np.eye(3, DIM) + 0.01)
    theme = np.array([0, 0, 1], dtype=np.int32)
    none = np.full(3, -1, dtype=np.int32)
    empty = np.zeros(0, dtype=np.int32)
    tree = summarize_clusters(texts, emb, theme, none, empty, n_keyphrases=100)
    assert [p for p, _ in tree[0].keyphrases] == ["alpha beta"]  # unigrams absorbed
    assert [p for p, _ in tree[1].keyphrases] == ["gamma"]
    tree = summarize_clusters(texts, emb, theme, none, empty, n_keyphrases=0)
    assert tree[0].keyphrases == [] and tree[0].header == "alpha beta"


# ----------------------------------------------------------------------------- exemplars


def test_nodes_are_most_central_first_with_cosine_centrality(planted):
    for node in S.iter_clusters(_run(planted, top_n_nodes=3)):
        vecs = planted["emb"][node.members]
        centroid = vecs.mean(axis=0)
        cos = vecs @ (centroid / np.linalg.norm(centroid))
        rows = [r for r, _ in node.nodes]
        assert len(node.nodes) == min(3, node.size)
        assert rows == node.members[np.argsort(-cos, kind="stable")][: len(rows)].tolist()
        top_cos = np.sort(cos)[::-1][: len(rows)]
        np.testing.assert_allclose([c for _, c in node.nodes], top_cos, atol=1e-5)
        assert node.cohesion == pytest.approx(float(cos.mean()), abs=1e-5)
        assert node.summary == first_sentence(planted["texts"][rows[0]])


def test_planted_center_is_the_top_node():
    u, w = np.eye(DIM)[0], np.eye(DIM)[1]
    emb = _unit(np.array([u + 0.6 * w, u, u - 0.6 * w, u + 0.3 * w]))
    texts = ["Edge one.", "The centre of it all.", "Edge two.", "Near the centre."]
    theme = np.zeros(4, dtype=np.int32)
    tree = summarize_clusters(texts, emb, theme, np.full(4, -1, np.int32), np.zeros(0, np.int32))
    assert [r for r, _ in tree[0].nodes] == [1, 3, 0, 2]
    assert tree[0].summary == "The centre of it all."


def test_ties_are_broken_by_row_index():
    emb = _unit(np.tile(np.arange(1, DIM + 1, dtype=np.float32), (6, 1)))
    texts = ["same words here"] * 6
    theme = np.array([0, -1, 0, 0, -1, 0], dtype=np.int32)
    tree = summarize_clusters(texts, emb, theme, np.full(6, -1, np.int32), np.zeros(0, np.int32))
    assert [r for r, _ in tree[0].nodes] == [0, 2, 3, 5]


def test_first_sentence_collapses_whitespace_and_trims_at_a_word_boundary():
    text = "  The card\n\n is   lost somewhere.  Second sentence here."
    assert first_sentence(text) == "The card is lost somewhere."
    short_first = "Hi. My card never arrived at home. Other."
    assert first_sentence(short_first) == "Hi. My card never arrived at home."
    assert first_sentence("Use e.g. the app to order. Then wait.") == "Use e.g. the app to order."
    long = "word " * 100
    out = first_sentence(long)
    assert len(out) <= 200 and out.endswith("…")
    assert set(out[:-1].split(" ")) == {"word"}  # cut between words, not inside one
    assert len(first_sentence("x" * 500)) == 200
    assert first_sentence("   \n ") == ""


# ----------------------------------------------------------------------------- degenerate input


def test_no_themes_returns_empty_list():
    none = np.full(3, -1, dtype=np.int32)
    emb = _unit(np.ones((3, DIM)))
    assert summarize_clusters(["a b", "c", ""], emb, none, none, np.zeros(0, np.int32)) == []
    empty = np.zeros(0, dtype=np.int32)
    assert summarize_clusters([], np.zeros((0, DIM), np.float32), empty, empty, empty) == []


def test_single_member_cluster():
    texts = ["Lonely shipping question.", "refund please", "refund now"]
    emb = _unit(np.eye(3, DIM) + 0.01)
    theme = np.array([1, 0, 0], dtype=np.int32)
    tree = summarize_clusters(texts, emb, theme, np.full(3, -1, np.int32), np.zeros(0, np.int32))
    single = _by_label(tree)[1]
    assert single.size == 1 and single.nodes == [(0, pytest.approx(1.0))]
    assert single.cohesion == pytest.approx(1.0)
    assert "shipping" in single.header and single.summary == "Lonely shipping question."


def test_empty_and_stop_word_texts_still_get_a_header():
    texts = ["", "   \n", "what is this and that", "to be or not to be", "\t"]
    emb = _unit(np.eye(5, DIM) + 0.01)
    theme = np.array([0, 0, 1, 1, 2], dtype=np.int32)
    tree = summarize_clusters(texts, emb, theme, np.full(5, -1, np.int32), np.zeros(0, np.int32))
    themes = _by_label(tree)
    assert themes[0].header == "untitled theme " + themes[0].cluster_id
    assert themes[0].summary == "" and themes[0].keyphrases == []
    assert themes[1].header in {"what is this and that", "to be or not to be"}
    assert themes[1].summary == themes[1].header
    assert all(node.header for node in tree)


def test_identical_texts():
    texts = ["Password reset please"] * 4 + ["Parcel delivery late"] * 3
    emb = _unit(np.repeat(np.eye(2, DIM), [4, 3], axis=0))
    theme = np.array([0] * 4 + [1] * 3, dtype=np.int32)
    tree = summarize_clusters(texts, emb, theme, np.full(7, -1, np.int32), np.zeros(0, np.int32))
    assert "password" in tree[0].header and "delivery" in tree[1].header
    assert tree[0].cohesion == pytest.approx(1.0) and [r for r, _ in tree[0].nodes] == [0, 1, 2, 3]


def test_only_subtheme_of_a_theme_inherits_the_theme_phrases(planted):
    planted["subtheme"][planted["theme"] == 1] = 2  # login: one subtheme covering all of it
    planted["subtheme_theme"] = np.array([2, 2, 1], dtype=np.int32)
    login = _by_label(_run(planted))[1]
    assert login.unassigned == 0
    only = login.children[0]
    assert only.header == login.header and only.keyphrases == login.keyphrases


# ----------------------------------------------------------------------------- plug-ins


def test_unknown_summarizer_names_the_known_ones(planted):
    with pytest.raises(ValueError, match="unknown summarizer 'llm'.*exemplars, keyphrases"):
        _run(planted, summarizers=["keyphrases", "llm"])
    with pytest.raises(ValueError, match="list of names"):
        _run(planted, summarizers="keyphrases")


def test_summarizers_are_applied_in_order_and_can_be_chosen(planted):
    class Shout:
        name = "shout"

        def apply(self, tree, ctx):
            for node in S.iter_clusters(tree):
                node.header = node.header.upper()

    S.register_summarizer(Shout(), replace=True)
    try:
        tree = _run(planted, summarizers=["keyphrases", "shout"])
        assert tree[0].header and tree[0].header == tree[0].header.upper()
        assert tree[0].nodes == [] and tree[0].summary == ""  # exemplars not requested
        assert "shout" in S.available_summarizers()
    finally:
        S._REGISTRY.pop("shout", None)
    only_exemplars = _run(planted, summarizers=["exemplars"])[0]
    assert only_exemplars.keyphrases == [] and only_exemplars.nodes
    assert only_exemplars.header  # falls back to the most central text
    with pytest.raises(ValueError, match="already registered"):
        S.register_summarizer(S.KeyphraseSummarizer())


def test_deterministic(planted):
    def dump(tree):
        return [
            {k: (v.tolist() if isinstance(v, np.ndarray) else v)
             for k, v in dataclasses.asdict(node).items() if k != "children"}
            for node in S.iter_clusters(tree)
        ]

    assert dump(_run(planted, seed=0)) == dump(_run(planted, seed=0)) == dump(_run(planted, seed=7))


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(texts=d["texts"][:-1]), "texts has"),
        (lambda d: d.update(emb=d["emb"][:-1]), "emb must have shape"),
        (lambda d: d.update(emb=d["emb"][:, 0]), "emb must have shape"),
        (lambda d: d.update(subtheme=d["subtheme"][:-1]), "subtheme has"),
        (lambda d: d.update(theme=d["theme"].astype(float)), "must hold integers"),
        (lambda d: d.update(theme=d["theme"][:, None]), "must be 1-D"),
        (lambda d: d.update(subtheme_theme=d["subtheme_theme"][:1]), "subtheme ids must be in"),
        (lambda d: d.update(subtheme_theme=np.array([2, 1], np.int32)), "belongs to theme"),
        (lambda d: d["emb"].__setitem__((0, 0), np.nan), "NaN"),
    ],
)
def test_invalid_input_raises_clear_errors(planted, change, message):
    change(planted)
    with pytest.raises(ValueError, match=message):
        _run(planted)


def test_negative_counts_are_rejected(planted):
    with pytest.raises(ValueError, match="must be >= 0"):
        _run(planted, top_n_nodes=-1)


def test_unnormalised_float64_embeddings_are_accepted(planted):
    expected = _run(planted)
    planted["emb"] = planted["emb"].astype(np.float64) * 3.0
    got = _run(planted)
    for g, e in zip(S.iter_clusters(got), S.iter_clusters(expected), strict=True):
        assert [r for r, _ in g.nodes] == [r for r, _ in e.nodes]
        np.testing.assert_allclose([c for _, c in g.nodes], [c for _, c in e.nodes], atol=1e-5)


def test_summary_skips_markdown_headings():
    from tasks.summarize import first_sentence

    assert first_sentence("# email.header\n\nHeader encoding and decoding functionality. More.") == \
        "Header encoding and decoding functionality."
    assert first_sentence("## only a heading") == "## only a heading"
