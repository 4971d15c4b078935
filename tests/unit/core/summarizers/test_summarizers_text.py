"""Unit tests for tasks.core.summarizers.text: the phrase analyzer and the text clean-up helpers."""

from __future__ import annotations

import numpy as np

from tasks.core.summarizers.headers import phrase_grams
from tasks.core.summarizers.text import (
    analyze_phrases,
    collapse_whitespace,
    first_nonempty,
    leading_words,
    split_sentences,
    strip_markdown_headings,
    truncate_at_word,
)


def test_analyzer_pairs_only_neighbours_and_lets_particles_end_a_bigram():
    grams = analyze_phrases("Waiting for my card arrival, then sign up.")
    assert "waiting card" not in grams  # never adjacent: "for my" sits between them
    assert {"waiting", "card", "arrival", "card arrival", "sign up"} <= set(grams)
    assert "up" not in grams  # a particle never stands alone


def test_analyzer_skips_numbers_ids_and_stop_words():
    grams = analyze_phrases("Order 12345 abc_def mp3 didnt arrive, thanks")
    assert "mp3" in grams and "arrive" in grams
    assert not {"12345", "abc_def", "abc", "didnt", "thanks"} & set(grams)


def test_nouns_in_sklearns_stop_list_stay_words_that_name_things():
    # sklearn's English list holds "top", "amount", "fire" and "system"; a theme about top-ups, gunfire or
    # a file system must be able to say so. Its function words stay out.
    grams = set(analyze_phrases("My top up failed: the wrong amount. Fire in the file system."))
    assert {"top up", "amount", "wrong amount", "fire", "file system"} <= grams
    assert not {"my", "the", "in"} & grams
    # a participle that works as a preposition ends no phrase ("Directory containing" was a demo header)
    assert "directory containing" not in analyze_phrases("the directory containing the module")
    assert "directory containing" not in phrase_grams("the directory containing the module")


def test_no_phrase_cuts_a_phrasal_verb_in_two():
    grams = set(analyze_phrases("Set the auto top up limit."))
    assert "top up" in grams and "auto top" not in grams
    names = set(phrase_grams("Can I use Apple Pay to top up? Then log out."))
    assert {"apple pay", "pay to top up", "top up", "log out"} <= names
    assert not {"apple pay to top", "pay to top", "log"} & names


def test_sentences_of_a_novel_split_at_their_ends_only():
    # Curly quotes close and open sentences; the full stop of "Mr." ends none; a closing quote stays.
    assert split_sentences("“I beg your pardon, but Mr. Gatsby would like to see you.” He went.") == [
        "“I beg your pardon, but Mr. Gatsby would like to see you.”", "He went."]
    assert split_sentences("Going fifty, sixty.” “Come here and have your name.") == [
        "Going fifty, sixty.”", "“Come here and have your name."]
    assert split_sentences('He said "no." Then Dr. Eckleburg watched. e.g. the eyes.') == [
        'He said "no."', "Then Dr. Eckleburg watched. e.g. the eyes."]
    assert split_sentences("Then as Doctor T. J. Eckleburg kept his vigil. It rained.") == [
        "Then as Doctor T. J. Eckleburg kept his vigil.", "It rained."]


def test_text_clean_up_helpers():
    assert collapse_whitespace("  a \n\t b  ") == "a b" and collapse_whitespace(None) == ""
    assert strip_markdown_headings("# Title\nBody.") == "\nBody."
    assert strip_markdown_headings("## only a heading") == "## only a heading"
    assert truncate_at_word("short", 10) == "short"
    assert truncate_at_word("alpha beta gamma", 12) == "alpha beta…"
    assert leading_words("one two  three four five six seven") == "one two three four five six"


def test_first_nonempty_follows_the_given_row_order():
    texts = ["", "b", "c"]
    assert first_nonempty(texts, np.array([0, 2, 1]), str.upper) == "C"
    assert first_nonempty(texts, np.array([0]), str.upper) == ""
