"""Unit tests for tasks.core.summarizers.exemplars: central nodes, extractive summaries, cohesion."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.core.summarizers import first_sentence, iter_clusters, reads_as_prose
from tests.unit.core.summarizers.summarizers_fixtures import DIM, by_label, run, themes_only, unit


def test_nodes_are_most_central_first_with_cosine_centrality(planted):
    for node in iter_clusters(run(planted, top_n_nodes=3)):
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
    emb = unit(np.array([u + 0.6 * w, u, u - 0.6 * w, u + 0.3 * w]))
    texts = ["Edge one.", "The centre of it all.", "Edge two.", "Near the centre."]
    tree = themes_only(texts, emb, [0, 0, 0, 0])
    assert [r for r, _ in tree[0].nodes] == [1, 3, 0, 2]
    assert tree[0].summary == "The centre of it all."


def test_ties_are_broken_by_row_index():
    emb = unit(np.tile(np.arange(1, DIM + 1, dtype=np.float32), (6, 1)))
    tree = themes_only(["same words here"] * 6, emb, [0, -1, 0, 0, -1, 0])
    assert [r for r, _ in tree[0].nodes] == [0, 2, 3, 5]


def test_single_member_cluster():
    texts = ["Lonely shipping question.", "refund please", "refund now"]
    emb = unit(np.eye(3, DIM) + 0.01)
    single = by_label(themes_only(texts, emb, [1, 0, 0]))[1]
    assert single.size == 1 and single.nodes == [(0, pytest.approx(1.0))]
    assert single.cohesion == pytest.approx(1.0)
    assert "shipping" in single.header and single.summary == "Lonely shipping question."


def test_identical_texts_have_full_cohesion_and_row_order():
    texts = ["Password reset please"] * 4 + ["Parcel delivery late"] * 3
    emb = unit(np.repeat(np.eye(2, DIM), [4, 3], axis=0))
    tree = themes_only(texts, emb, [0] * 4 + [1] * 3)
    assert tree[0].cohesion == pytest.approx(1.0) and [r for r, _ in tree[0].nodes] == [0, 1, 2, 3]


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


def test_summary_skips_markdown_headings():
    assert first_sentence("# email.header\n\nHeader encoding and decoding functionality. More.") == \
        "Header encoding and decoding functionality."
    assert first_sentence("## only a heading") == "## only a heading"


def test_a_chunk_that_begins_mid_sentence_is_summarised_from_its_first_whole_sentence():
    text = "head from side to side, a terrible mistake. Then Daisy walked out onto the lawn. She laughed."
    assert first_sentence(text) == "Then Daisy walked out onto the lawn."
    assert first_sentence("“You’re just embarrassed,” she said. Later on.") == "“You’re just embarrassed,” she said."
    assert first_sentence("only a fragment without an end") == "only a fragment without an end"


@pytest.mark.parametrize("sentence, prose", [
    ("id AA03993; Mon, 19 Apr 93 09:30:17 -0700 >X-Received: by uiboise.idbsu.edu > (16.6/16.2)", False),
    ("From 9150618 Thu Apr 29 16:36:43 1993 Date: Thu, 29 Apr 1993 16:36:42 +1000 From: 9150618 (Gavin F) To:", False),
    ('SU?%8 M$RJJO!G=V60^DG]S2N?"PHZ^F5/]L<U $SIB', False),
    ("BURY 38 25 (--) PURDUE RICKS PENS 38 25 (--) GB Flyers 38 25 (--)", False),
    ("Gun control", False),
    ("", False),
    ("In 1993 I paid 20 dollars for it and it broke.", True),
    ("I don't know, she said — it's “well-known”.", True),
    ("我们，今天去商店买东西。", True),
    ("Привет, как дела у тебя сегодня?", True),
])
def test_reads_as_prose_tells_sentences_from_headers_tables_and_binary(sentence, prose):
    assert reads_as_prose(sentence) is prose


def test_the_summary_is_the_most_central_sentence_that_reads_as_prose():
    u, w = np.eye(DIM)[0], np.eye(DIM)[1]
    emb = unit(np.array([u, u + 0.2 * w, u - 0.3 * w, u + 0.5 * w]))
    header = "From 9150618 Thu Apr 29 16:36:43 1993 Date: Thu, 29 Apr 1993 16:36:42 +1000 To: list"
    texts = [header, "BURY 38 25 (--) PURDUE 38 25 (--)", "Gun laws differ from state to state. More.", "Guns."]
    tree = themes_only(texts, emb, [0, 0, 0, 0])
    assert [r for r, _ in tree[0].nodes][:2] == [0, 1], "the header and the table are the most central"
    assert tree[0].summary == "Gun laws differ from state to state."
    only_tables = themes_only(texts[:2], emb[:2], [0, 0])
    assert only_tables[0].summary == first_sentence(header)  # nothing reads as prose: the most central, as before


def test_a_post_is_summarised_by_its_writers_words_not_the_lines_it_quotes():
    from tasks.core.summarizers.exemplars import own_words

    post = ("In article <1993Apr15.123@news.example.edu> someone@example.edu (Some One) writes:\n"
            "> The Yankees are going to win it all this year, no doubt about it.\n"
            "|> And their pitching is the best in the league.\n\n"
            "I doubt it: the Blue Jays have the better rotation, and Morris is back.\nMore later.")
    u, w = np.eye(DIM)[0], np.eye(DIM)[1]
    tree = themes_only([post, "Pitching wins games in a long season.", "Hitting wins them in a short one."],
                       unit(np.array([u, u + 0.5 * w, u - 0.5 * w])), [0, 0, 0])
    assert tree[0].nodes[0][0] == 0, "the post is the most central passage"
    assert tree[0].summary == "I doubt it: the Blue Jays have the better rotation, and Morris is back."
    assert own_words("> only a quoted line here.") == ""
    assert own_words(": > > nested quoting.\n=|> another style.\nMine here.") == "Mine here."
    only_quotes = "In article <1@x.edu> a@x.edu writes:\n> The whole window is someone else's words here."
    tree = themes_only([only_quotes, "Pitching wins games in a long season.", "Hitting wins them in a short one."],
                       unit(np.array([u, u + 0.5 * w, u - 0.5 * w])), [0, 0, 0])
    assert tree[0].summary in ("Pitching wins games in a long season.", "Hitting wins them in a short one.")
    alone = themes_only([only_quotes], unit(np.array([u])), [0])  # nothing of its own anywhere: the passage
    assert alone[0].summary.startswith("In article <1@x.edu> a@x.edu writes:")
    dialogue = "“I’m going to get her away.” The coupé flashed by us.\nHe wrote: nothing."
    assert own_words(dialogue) == dialogue
