"""The ``"exemplars"`` summarizer: central members, an extractive summary and cohesion.

Centrality is the cosine of a member to the cluster's normalised centroid (``emb`` rows are unit,
float32). Fills ``nodes`` (the ``top_n_nodes`` most central ``(row, centrality)``, ties by row
index), ``summary`` (first sentence of the most central non-empty member, at most 200 chars) and
``cohesion`` (mean centrality). Values are rounded to 6 decimals.
"""

from __future__ import annotations

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
    "rows_by_centrality",
]

SUMMARY_MAX_CHARS = 200


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
            node.summary = first_nonempty(ctx.texts, node.members[order], first_sentence)


register_summarizer(ExemplarSummarizer())
