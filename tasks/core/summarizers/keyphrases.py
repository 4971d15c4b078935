"""The ``"keyphrases"`` summarizer: class-based TF-IDF (c-TF-IDF, as in BERTopic) over unigrams and bigrams.

Themes are scored against all other themes plus noise as its own class; subthemes against their
siblings plus the parent's unassigned rest, so they say what sets them apart inside the theme.
Fills ``keyphrases`` (``(phrase, score)``, best first, scores rounded to 6 decimals) and ``header``: one
short phrase from the cluster's own passages, picked by :mod:`.headers` (common words it does not own
left out, siblings distinct, the candidate closest in meaning when the context has an encoder); the best
keyphrase where no candidate qualifies. Clusters whose texts hold no usable words are left untouched (the
pipeline names them after their text).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

from tasks.core.summarizers.base import ClusterSummary, SummaryContext, register_summarizer
from tasks.core.summarizers.ctfidf import class_term_counts, ctfidf
from tasks.core.summarizers.headers import CommonWords, PhraseVectors, header_key, name_group
from tasks.core.summarizers.text import analyze_phrases

__all__ = ["KeyphraseSummarizer", "ctfidf"]

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


def _score_classes(
    nodes: list[ClusterSummary], x: sp.csr_matrix, classes: np.ndarray, vocab: np.ndarray, k: int, n: int
) -> None:
    """Fill ``nodes`` (classes ``0..len-1`` of ``x``'s rows) scored against each other and
    against class ``len(nodes)`` (the contrast rows: noise or a theme's unassigned rest)."""
    # An empty contrast class would only drag the mean class length (and so the idf) down.
    n_classes = len(nodes) + int((classes == len(nodes)).any())
    counts = class_term_counts(x, classes, n_classes)
    scores = ctfidf(counts)
    for i, node in enumerate(nodes):
        phrases = _top_phrases(scores[i], counts[i], vocab, k)
        node.keyphrases = phrases[:n]
        node.header = phrases[0][0] if phrases else node.header  # until the header picker runs


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
        k = max(ctx.n_keyphrases, 1)
        classes = _theme_classes(tree, x.shape[0])
        _score_classes(tree, x, classes, vocab, k, ctx.n_keyphrases)
        for node in tree:
            _score_children(node, x, vocab, k, ctx.n_keyphrases)
        _name_tree(tree, ctx, CommonWords(x, vocab), np.flatnonzero(classes == len(tree)))


def _name_tree(tree: list[ClusterSummary], ctx: SummaryContext, common: CommonWords, noise: np.ndarray) -> None:
    """Phrase headers: themes told apart from each other and the noise, then each theme's subthemes from each
    other and the theme's unassigned rest (never taking the theme's own header)."""
    vectors = PhraseVectors(ctx.encode)
    mean = ctx.emb.mean(axis=0)
    name_group(tree, noise, texts=ctx.texts, emb=ctx.emb, common=common, vectors=vectors, corpus_mean=mean)
    for node in tree:
        if len(node.children) == 1 and node.unassigned == 0:
            node.children[0].header = node.header  # the only subtheme is the theme
            continue
        rest = node.members[_subtheme_classes(node) == len(node.children)]
        name_group(node.children, rest, texts=ctx.texts, emb=ctx.emb, common=common,
                   vectors=vectors, taken={header_key(node.header)}, corpus_mean=mean)


register_summarizer(KeyphraseSummarizer())
