"""The ``"keyphrases"`` summarizer: class-based TF-IDF (c-TF-IDF, as in BERTopic) over unigrams and bigrams.

Themes are scored against all other themes plus noise as its own class; subthemes against their
siblings plus the parent's unassigned rest, so they say what sets them apart inside the theme.
Fills ``keyphrases`` (``(phrase, score)``, best first, scores rounded to 6 decimals) and
``header`` (top 2-3 phrases joined by ``" · "``). Clusters whose texts hold no usable words are
left untouched (the pipeline names them after their text).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

from tasks.core.summarizers.base import ClusterSummary, SummaryContext, register_summarizer
from tasks.core.summarizers.text import analyze_phrases

__all__ = ["HEADER_SEP", "KeyphraseSummarizer", "ctfidf"]

HEADER_SEP = " · "
# A bigram renames a higher-ranked unigram it contains only if it covers this share of the
# unigram's occurrences in the cluster (see _dedupe_phrases).
_ABSORB_SHARE = 0.1


def _doc_term_matrix(texts: Sequence[str]) -> tuple[sp.csr_matrix, np.ndarray]:
    """One vectorizer fit over all texts: ``(n, V)`` counts and the vocabulary."""
    vec = CountVectorizer(analyzer=analyze_phrases, dtype=np.float32)
    try:
        x = vec.fit_transform([t or "" for t in texts])  # tolerate None from sloppy callers
    except ValueError:  # empty vocabulary: every text is empty or stop words only
        return sp.csr_matrix((len(texts), 0), dtype=np.float32), np.array([], dtype=object)
    return x.tocsr(), vec.get_feature_names_out()


def _class_term_counts(x: sp.csr_matrix, classes: np.ndarray, n_classes: int) -> sp.csr_matrix:
    """Sum the rows of ``x`` per class (``classes[i] = -1`` rows are ignored)."""
    rows = np.flatnonzero((classes >= 0) & (classes < n_classes))
    indicator = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (classes[rows], rows)),
        shape=(n_classes, x.shape[0]),
    )
    counts = (indicator @ x).tocsr()
    counts.sum_duplicates()  # canonical form: sorted, unique column indices per row
    return counts


def ctfidf(counts: sp.spmatrix) -> sp.csr_matrix:
    """Class-based TF-IDF of a ``(classes, terms)`` count matrix, as BERTopic computes it.

    ``tf`` is each class's counts L1-normalised; ``idf = log(1 + A / f_t)`` where ``A`` is the
    mean number of words per class and ``f_t`` the term's count over all classes. A term
    spread over every class gets a low idf, one concentrated in a class a high one.
    """
    counts = sp.csr_matrix(counts, dtype=np.float64)  # small (classes x V) and sparse: no BLAS
    term_freq = np.asarray(counts.sum(axis=0)).ravel()
    avg_words = counts.sum() / max(counts.shape[0], 1)
    idf = np.log1p(avg_words / np.maximum(term_freq, 1e-12))
    row_sums = np.asarray(counts.sum(axis=1)).ravel()
    tf = sp.diags(1.0 / np.maximum(row_sums, 1e-12)) @ counts
    return (tf @ sp.diags(idf)).tocsr()


def _norm_word(word: str) -> str:
    """Crude singular form so "rate"/"rates" and "card"/"cards" count as the same word."""
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _dedupe_phrases(ranked: list[tuple[str, float, float]]) -> list[tuple[str, float]]:
    """Drop near-duplicates from a best-first ``(phrase, score, count)`` list.

    Words are compared in a crude singular form. A unigram inside an already kept bigram is
    dropped, and so is a phrase with the same words as a kept one ("exchange rates" after
    "exchange rate"). A bigram containing kept unigrams takes the place (and score) of the best
    of them, so "card · arrival · card arrival" becomes "card arrival" and the list stays sorted,
    but only if it accounts for a fair share of that unigram's occurrences; a rare variant
    ("amoutn limit" next to "limit") would rename the phrase after a typo, so it is dropped.
    """
    kept: list[tuple[str, float, float, frozenset[str]]] = []
    for phrase, score, count in ranked:
        words = frozenset(_norm_word(w) for w in phrase.split())
        if any(words <= kw for *_, kw in kept):  # same phrase, or a unigram of a kept bigram
            continue
        absorbed = [i for i, (*_, kw) in enumerate(kept) if kw < words]
        if not absorbed:
            kept.append((phrase, score, count, words))
        elif count >= _ABSORB_SHARE * kept[absorbed[0]][2]:
            kept[absorbed[0]] = (phrase, kept[absorbed[0]][1], count, words)
            kept = [k for i, k in enumerate(kept) if i not in absorbed[1:]]
    return [(p, s) for p, s, *_ in kept]


def _top_phrases(scores: sp.csr_matrix, counts: sp.csr_matrix, vocab: np.ndarray, k: int) -> list[tuple[str, float]]:
    """The ``k`` best distinct phrases of one class (1-row matrices; ties by vocabulary order)."""
    data, idx = scores.data, scores.indices
    keep = data > 0
    data, idx = data[keep], idx[keep]
    # Look further than k: deduplication can remove several candidates per kept phrase.
    order = np.lexsort((idx, -data))[: 3 * k + 10]
    idx, data = idx[order], data[order]
    # A dict, not counts[:, idx]: column fancy-indexing a CSR row with unsorted indices
    # returned misaligned values with scipy 1.17.
    count_of = dict(zip(counts.indices.tolist(), counts.data.tolist(), strict=True))
    ranked = [
        (str(vocab[i]), round(float(s), 6), count_of.get(int(i), 0.0)) for i, s in zip(idx, data, strict=True)
    ]
    return _dedupe_phrases(ranked)[:k]


def _header_from_phrases(phrases: list[tuple[str, float]]) -> str:
    """Top 2-3 phrases; the third only if it scores at least half the first."""
    top = phrases[:3]
    if len(top) == 3 and top[2][1] < 0.5 * top[0][1]:
        top = top[:2]
    return HEADER_SEP.join(p for p, _ in top)


def _score_classes(
    nodes: list[ClusterSummary], x: sp.csr_matrix, classes: np.ndarray, vocab: np.ndarray, k: int, n: int
) -> None:
    """Fill ``nodes`` (classes ``0..len-1`` of ``x``'s rows) scored against each other and
    against class ``len(nodes)`` (the contrast rows: noise or a theme's unassigned rest)."""
    # An empty contrast class would only drag the mean class length (and so the idf) down.
    n_classes = len(nodes) + int((classes == len(nodes)).any())
    counts = _class_term_counts(x, classes, n_classes)
    scores = ctfidf(counts)
    for i, node in enumerate(nodes):
        phrases = _top_phrases(scores[i], counts[i], vocab, k)
        node.keyphrases = phrases[:n]
        node.header = _header_from_phrases(phrases)


def _theme_classes(tree: list[ClusterSummary], n_rows: int) -> np.ndarray:
    """Class per row: the theme's position in ``tree``, or ``len(tree)`` for noise."""
    # Noise is a class of its own, so words common in the noise (greetings, boilerplate) get a
    # low idf instead of naming a theme.
    classes = np.full(n_rows, len(tree), dtype=np.int64)
    for i, node in enumerate(tree):
        classes[node.members] = i
    return classes


def _subtheme_classes(node: ClusterSummary) -> np.ndarray:
    """Class per member of theme ``node``: its child's position, or ``len(children)`` if unassigned."""
    classes = np.full(node.size, len(node.children), dtype=np.int64)
    for j, child in enumerate(node.children):
        classes[np.searchsorted(node.members, child.members)] = j  # members are sorted
    return classes


def _score_children(node: ClusterSummary, x: sp.csr_matrix, vocab: np.ndarray, k: int, n: int) -> None:
    """Score a theme's subthemes against their siblings and the theme's unassigned rest."""
    if not node.children:
        return
    if len(node.children) == 1 and node.unassigned == 0:
        # The only subtheme *is* the theme: there is nothing inside to contrast it with.
        node.children[0].keyphrases = list(node.keyphrases)
        node.children[0].header = node.header
        return
    # Work on the theme's rows only, so the cost is proportional to the theme, not the corpus.
    _score_classes(node.children, x[node.members], _subtheme_classes(node), vocab, k, n)


class KeyphraseSummarizer:
    """c-TF-IDF keyphrases and a header for themes and subthemes (see module docstring).

    Stateless, so the registered instance can serve concurrent runs.
    """

    name = "keyphrases"

    def apply(self, tree: list[ClusterSummary], ctx: SummaryContext) -> None:
        """Fill ``keyphrases`` and ``header`` of every cluster in ``tree``."""
        if not tree:
            return
        x, vocab = _doc_term_matrix(ctx.texts)
        if x.shape[1] == 0:
            return  # no usable words anywhere; headers fall back to text
        k = max(ctx.n_keyphrases, 3)  # the header needs up to 3 even when fewer are kept
        _score_classes(tree, x, _theme_classes(tree, x.shape[0]), vocab, k, ctx.n_keyphrases)
        for node in tree:
            _score_children(node, x, vocab, k, ctx.n_keyphrases)


register_summarizer(KeyphraseSummarizer())
