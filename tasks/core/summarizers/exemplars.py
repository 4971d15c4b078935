"""The ``"exemplars"`` summarizer: central members, an extractive summary and cohesion.

Centrality is the cosine of a member to the cluster's normalised centroid (``emb`` rows are unit,
float32). Fills ``nodes`` (the ``top_n_nodes`` most central ``(row, centrality)``, ties by row
index), ``summary`` (first sentence, in its writer's own words (`own_words`: quoted lines dropped), of the most
central member whose such sentence reads as prose, among the :data:`SUMMARY_CANDIDATES` most central; else of
the most central non-empty member; at most 200 chars) and ``cohesion`` (mean centrality). Values are rounded to
6 decimals.

Why "reads as prose": in a broad theme the chunks nearest the centroid are often the corpus's boilerplate
(full-length 20 Newsgroups clustered by post: a mail header for the gun-control theme, uuencoded binary for
the posted-files theme, a score table for hockey), which no reader would take for a summary.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np

from tasks.core.summarizers.base import ClusterSummary, SummaryContext, register_summarizer
from tasks.core.summarizers.text import (
    collapse_whitespace,
    first_nonempty,
    split_sentences,
    strip_markdown_headings,
    truncate_at_word,
)
from tasks.core.summarizers.tree import iter_clusters

__all__ = [
    "SUMMARY_MAX_CHARS",
    "ExemplarSummarizer",
    "centrality",
    "first_sentence",
    "rank_by_centrality",
    "reads_as_prose",
    "rows_by_centrality",
]

SUMMARY_MAX_CHARS = 200
#: How far down the centrality order the summary looks for a first sentence that reads as prose.
SUMMARY_CANDIDATES = 20
#: A sentence reads as prose when at least this share of its words are words (letters, with punctuation around
#: them or an apostrophe or hyphen inside) ...
PROSE_MIN_WORD_SHARE = 0.7
#: ... at most this share of its characters are digits ...
PROSE_MAX_DIGIT_SHARE = 0.2
#: ... and it has at least this many words (a bare name or label is not a summary).
PROSE_MIN_WORDS = 4
_QUOTED = re.compile(r"\s*(?:[>|:=]\s*)?[>|]")  # "> ", "|> ", "=|> ", ": > "
_ATTRIBUTION = re.compile(r"\b(?:writes|wrote)\s*:\s*$")
#: A token is a word when this share of it (punctuation around it dropped) is letters.
WORD_MIN_LETTER_SHARE = 0.9


def centrality(emb: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Cosine of each member to the normalised centroid: float32 ``(len(members),)``, rows of ``emb`` unit."""
    vecs = emb[members]
    centroid = vecs.mean(axis=0)
    norm = float(np.linalg.norm(centroid))
    if norm < 1e-12:  # members cancel out: no direction is more central than another
        return np.zeros(len(members), dtype=np.float32)
    return vecs @ (centroid / np.float32(norm))


def rank_by_centrality(members: np.ndarray, cent: np.ndarray) -> np.ndarray:
    """Positions into ``members``, most central first; near-ties by row index.

    Rounding before sorting makes the order independent of last-bit BLAS differences
    (identical texts embed to identical vectors but may not get bit-identical dot products).
    """
    return np.lexsort((members, -np.round(cent.astype(np.float64), 6)))


def rows_by_centrality(emb: np.ndarray, members: np.ndarray) -> np.ndarray:
    """``members`` reordered most central first (see :func:`rank_by_centrality`)."""
    return members[rank_by_centrality(members, centrality(emb, members))]


def first_sentence(text: str, limit: int = SUMMARY_MAX_CHARS, min_chars: int = 20) -> str:
    """First sentence of ``text`` with whitespace collapsed, at most ``limit`` chars.

    Markdown heading lines are skipped, and so is the tail of a sentence the chunk came in on ("head from side to
    side. Then she..." starts at "Then", since a chunk of a long document may begin mid-sentence). Sentences
    shorter than ``min_chars`` ("Hi.", "1.") are joined with the next one so the summary says something.
    """
    parts = split_sentences(collapse_whitespace(strip_markdown_headings(text)))
    if len(parts) > 1 and _mid_sentence(parts[0]):
        parts = parts[1:]
    out = parts[0]
    for nxt in parts[1:]:
        if len(out) >= min_chars:
            break
        out = f"{out} {nxt}"
    return truncate_at_word(out, limit)


def reads_as_prose(sentence: str) -> bool:
    """True when ``sentence`` is mostly words, few digits, and at least :data:`PROSE_MIN_WORDS` words long (see the
    module docstring); scripts written without spaces count as one word per run of letters."""
    tokens = sentence.split()
    if not tokens:
        return False
    words = sum(_is_word(t) for t in tokens)
    chars = sum(len(t) for t in tokens)
    digits = sum(ch.isdigit() for ch in sentence)
    long_enough = len(tokens) >= PROSE_MIN_WORDS or (len(tokens) == 1 and len(tokens[0]) >= 8 and words == 1)
    return long_enough and words >= PROSE_MIN_WORD_SHARE * len(tokens) and digits <= PROSE_MAX_DIGIT_SHARE * chars


def _is_word(token: str) -> bool:
    """A token of letters: punctuation and symbols around it, apostrophes and hyphens inside allowed, and in a
    run of a script written without spaces one punctuation mark in ten (``我们，今天``)."""
    start, end = 0, len(token)
    while start < end and unicodedata.category(token[start])[0] in "PS":
        start += 1
    while end > start and unicodedata.category(token[end - 1])[0] in "PS":
        end -= 1
    core = token[start:end].replace("'", "").replace("’", "").replace("-", "")
    letters = sum(unicodedata.category(ch)[0] in "LM" for ch in core)
    return bool(core) and letters >= WORD_MIN_LETTER_SHARE * len(core)


def summary_sentence(texts: Sequence[str], rows: np.ndarray) -> str:
    """The first sentence in its writer's own words (`own_words`) of the first of ``rows`` (most central first)
    among the first :data:`SUMMARY_CANDIDATES` whose such sentence reads as prose; else the first sentence of
    the first row with a non-empty one."""
    for r in rows[:SUMMARY_CANDIDATES]:
        sentence = first_sentence(own_words(texts[r]))
        if reads_as_prose(sentence):
            return sentence
    return first_nonempty(texts, rows, first_sentence)


def own_words(text: str) -> str:
    """``text`` without the lines a writer quotes from someone else (``> ...``, ``| ...``) and the attribution
    lines that introduce them (``... writes:``), as mail and forum posts carry them; ``""`` when nothing else is
    left. A post's summary should say what its writer said."""
    kept = [line for line in text.splitlines() if not (_QUOTED.match(line) or _ATTRIBUTION.search(line))]
    left = "\n".join(kept)
    return left if any(ch.isalpha() for ch in left) else ""


def _mid_sentence(text: str) -> bool:
    """True when the first letter of ``text`` is lower case: the chunk began inside a sentence."""
    first = next((ch for ch in text if ch.isalpha()), "")
    return first.islower()


class ExemplarSummarizer:
    """Central members, an extractive summary and cohesion (see module docstring)."""

    name = "exemplars"

    def apply(self, tree: list[ClusterSummary], ctx: SummaryContext) -> None:
        """Fill ``nodes``, ``summary`` and ``cohesion`` of every cluster in ``tree``."""
        for node in iter_clusters(tree):
            cent = centrality(ctx.emb, node.members)
            order = rank_by_centrality(node.members, cent)
            node.nodes = [(int(node.members[i]), round(float(cent[i]), 6)) for i in order[: ctx.top_n_nodes]]
            node.cohesion = round(float(cent.astype(np.float64).mean()), 6)
            node.summary = summary_sentence(ctx.texts, node.members[order])


register_summarizer(ExemplarSummarizer())
