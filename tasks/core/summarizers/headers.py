"""Headers a person would write: one short phrase taken from the cluster's own passages ("Card arrival",
"Mrs. Wilson", "Exchange rate"), never a list of tokens.

How a header is chosen, for a group of siblings (the themes, or the subthemes of one theme):

1. **Candidates**: the n-grams of one to :data:`MAX_WORDS` adjacent words (stop words may sit inside, never at
   either end: "change of address") in each sibling's most telling passages (at most
   :data:`SAMPLE_CHARS` characters of them), ranked by c-TF-IDF against the other siblings and the group's
   contrast rows (noise, or the theme's unassigned rest); the :data:`SHORTLIST` best that occur in two passages
   or more (one when nothing does) are the shortlist.
2. **Common words**: a phrase holding one of the corpus's :data:`COMMON_WORDS` most frequent content words is
   out unless the cluster uses that word at least :data:`COMMON_RATE_RATIO` times as often as the corpus does: in
   a novel "said" and the protagonist are in every chapter, in one bank's tickets "card" is everywhere.
3. **Siblings**: a phrase a larger sibling (or, for a subtheme, its theme) already took is out, and so is one
   that holds all its words or is held in it ("Wilson" under "Mrs. Wilson").
4. **Meaning**: of what is left, the phrase whose embedding (the run's model) is closest to the cluster's
   centroid wins (KeyBERT's idea, on c-TF-IDF's shortlist); without an encoder, the best-ranked one. Both sides
   are centred first: the centroid on the corpus's mean vector, each phrase on the mean of the group's
   candidates. Every text the model embeds shares a common direction, and a lone generic word ("Suddenly",
   "Impression") sits close to it, so uncentred it is "close" to any centroid of a homogeneous corpus; centred,
   what sets the phrase apart is compared with what sets the cluster apart. The passages of step 1 are chosen
   the same way: those that lean furthest toward what sets the cluster apart. Measured (docs/benchmarks.md):
   The Great Gatsby's headers "Impression", "Suddenly", "Romantic", "Loved" become "Middle West", "Jordan",
   "Woman", "Light"; Banking77's header-to-intent cosine 0.656 -> 0.650.

The phrase is written as the passages write it most often ("Mrs. Wilson", "ATM"), first letter capitalised.
A cluster whose shortlist is empty keeps the header it had.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

from tasks.core.summarizers.base import ClusterSummary
from tasks.core.summarizers.ctfidf import class_term_counts, ctfidf
from tasks.core.summarizers.text import PARTICLES, STOP_WORDS, TITLES, TOKEN_RE
from tasks.infra.errors import ModelError

__all__ = [
    "COMMON_RATE_RATIO", "COMMON_WORDS", "MAX_WORDS", "CommonWords", "PhraseVectors", "header_key", "name_group",
    "phrase_grams",
]

#: Longest header, in words.
MAX_WORDS = 4
#: How many of the corpus's most frequent content words count as common (see the module docstring).
COMMON_WORDS = 30
#: A common word may be in a cluster's header if the cluster uses it at least this many times as often as the corpus.
COMMON_RATE_RATIO = 3.0
#: Candidates per cluster that go on to the meaning test.
SHORTLIST = 60
#: Characters of central passages per cluster that candidates are drawn from (bounds the cost on long texts).
SAMPLE_CHARS = 40_000
_SAMPLE_MAX_ROWS = 512
_CONTAINED_SHARE = 0.8

Encode = Callable[[list[str]], np.ndarray]


def phrase_grams(text: str) -> list[str]:
    """The lower-cased n-grams of 1..MAX_WORDS adjacent tokens that neither start nor end with a stop word and
    do not run across punctuation ("cash back? the atm"), a contraction ("hasn't arrived") or a number; a
    hyphen ("top-up") and the full stop of a title ("Mrs. Wilson") do not break a phrase. A particle may end
    one ("top up", "log out"), and none ends just before a particle: "apple pay to top" cuts "top up" in two."""
    out = []
    for run in _phrase_runs(text.lower()):
        ends = [(t not in STOP_WORDS or (k > 0 and t in PARTICLES))
                and (k + 1 == len(run) or run[k + 1] not in PARTICLES) for k, t in enumerate(run)]
        for i, first in enumerate(run):
            if first in STOP_WORDS:
                continue
            out.extend(" ".join(run[i : j + 1]) for j in range(i, min(i + MAX_WORDS, len(run))) if ends[j])
    return out


def _phrase_runs(text: str) -> list[list[str]]:
    """The text's tokens, cut into runs wherever the gap between two tokens breaks a phrase."""
    runs: list[list[str]] = [[]]
    end = 0
    for m in TOKEN_RE.finditer(text):
        gap = text[end : m.start()]
        joined = "\n\n" not in gap and (not gap.strip(" \t\r\n-")
                                         or (gap.strip() == "." and bool(runs[-1]) and runs[-1][-1] in TITLES))
        if runs[-1] and not joined:
            runs.append([])
        runs[-1].append(m.group(0))
        end = m.end()
    return [r for r in runs if r]


class CommonWords:
    """The corpus's :data:`COMMON_WORDS` most frequent content words and each row's count of them.

    Built from the keyphrase summarizer's document-term matrix (all rows; unigram columns are the words).
    """

    def __init__(self, x: sp.csr_matrix, vocab: np.ndarray) -> None:
        single = np.flatnonzero([" " not in str(v) for v in vocab])
        totals = np.asarray(x[:, single].sum(axis=0)).ravel()
        top = single[np.argsort(-totals, kind="stable")[:COMMON_WORDS]]
        self.words = [str(vocab[i]) for i in top]
        self._row_counts = x[:, top].tocsr()  # (n, COMMON_WORDS)
        self._row_words = np.asarray(x[:, single].sum(axis=1)).ravel()  # content words per row
        corpus_words = max(float(self._row_words.sum()), 1.0)
        self._corpus_rate = np.asarray(self._row_counts.sum(axis=0)).ravel() / corpus_words

    def banned(self, rows: np.ndarray) -> frozenset[str]:
        """The common words that the cluster made of ``rows`` does not use often enough to be named after."""
        own_words = max(float(self._row_words[rows].sum()), 1.0)
        own_rate = np.asarray(self._row_counts[rows].sum(axis=0)).ravel() / own_words
        keep = own_rate >= COMMON_RATE_RATIO * self._corpus_rate
        return frozenset(w for w, ok in zip(self.words, keep, strict=True) if not ok)


def _central_sample(emb: np.ndarray, texts: Sequence[str], rows: np.ndarray, centroid: np.ndarray) -> np.ndarray:
    """The cluster's rows that lean furthest along its unit ``centroid`` (`_unit_centroid`), up to
    :data:`SAMPLE_CHARS` characters."""
    order = rows[np.argsort(-(emb[rows] @ centroid), kind="stable")][:_SAMPLE_MAX_ROWS]
    chars = np.cumsum([len(texts[r] or "") for r in order])
    return order[: max(1, int(np.searchsorted(chars, SAMPLE_CHARS)))]


def _unit_centroid(emb: np.ndarray, rows: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """The unit direction from ``origin`` (the corpus's mean vector) to the mean of ``rows``: what sets the
    cluster apart (step 4). A cluster whose mean is the corpus's (one theme that is the whole corpus) has no
    such direction and keeps its plain one."""
    mean = emb[rows].mean(axis=0)
    centroid = mean - origin
    norm = float(np.linalg.norm(centroid))
    if norm < 1e-4 * max(float(np.linalg.norm(mean)), 1e-12):
        centroid, norm = mean, float(np.linalg.norm(mean))
    return centroid / max(norm, 1e-12)


def _spread_sample(texts: Sequence[str], rows: np.ndarray) -> np.ndarray:
    """Evenly spaced contrast rows (noise, a theme's rest), up to :data:`SAMPLE_CHARS` characters."""
    mean_chars = max(1.0, float(np.mean([len(texts[r] or "") for r in rows[:200]])))
    take = int(min(len(rows), _SAMPLE_MAX_ROWS, max(1, SAMPLE_CHARS // mean_chars)))
    return rows[np.linspace(0, len(rows) - 1, take).astype(np.int64)] if take else rows[:0]


def _shortlists(texts: list[str], classes: np.ndarray, n_nodes: int) -> list[list[str]]:
    """Per node class ``0..n_nodes-1``: its best candidates by c-TF-IDF against every other class."""
    vec = CountVectorizer(analyzer=phrase_grams, dtype=np.float32)
    try:
        x = vec.fit_transform(texts).tocsr()
    except ValueError:  # no usable words in any sampled passage
        return [[] for _ in range(n_nodes)]
    vocab = vec.get_feature_names_out()
    n_classes = int(classes.max()) + 1
    scores = ctfidf(class_term_counts(x, classes, n_classes))
    passages = class_term_counts((x > 0).astype(np.float32), classes, n_classes)  # in how many passages
    out = []
    for c in range(n_nodes):
        row = scores[c].toarray().ravel()
        seen = passages[c].toarray().ravel()
        ok = (row > 0) & (seen >= min(2.0, float(seen.max(initial=0.0))))
        idx = np.flatnonzero(ok)
        idx = idx[np.lexsort((idx, -row[idx]))][: 2 * SHORTLIST]
        out.append(_drop_contained([str(vocab[i]) for i in idx], seen[idx])[:SHORTLIST])
    return out


def _drop_contained(phrases: list[str], seen: np.ndarray) -> list[str]:
    """Drop a phrase that a longer candidate holds nearly every time it occurs ("wilson" when the passages
    say "mrs wilson" :data:`_CONTAINED_SHARE` of the time): the longer one names the same thing better."""
    padded = [f" {p} " for p in phrases]
    keep = []
    for i, p in enumerate(padded):
        held = any(j != i and len(q) > len(p) and p in q and seen[j] >= _CONTAINED_SHARE * seen[i]
                   for j, q in enumerate(padded))
        if not held:
            keep.append(phrases[i])
    return keep


def _surface(phrase: str, texts: list[str]) -> str:
    """The phrase as the passages write it most often ("mrs wilson" -> "Mrs. Wilson"), first letter upper."""
    pattern = re.compile(r"\b" + r"\.?\s{0,2}-?".join(map(re.escape, phrase.split())) + r"\b", re.IGNORECASE)
    forms = Counter(m.group(0) for t in texts for m in pattern.finditer(t))
    best = forms.most_common(1)[0][0] if forms else phrase
    best = re.sub(r"\s+", " ", best)
    return best[:1].upper() + best[1:]


class PhraseVectors:
    """Phrase embeddings, computed once per phrase across groups; without a model (none given, or it failed to
    load) there are none and headers fall back to the c-TF-IDF ranking."""

    def __init__(self, encode: Encode | None) -> None:
        self.encode = encode
        self._cache: dict[str, np.ndarray] = {}

    def vectors(self, phrases: Sequence[str]) -> np.ndarray | None:
        """``(len(phrases), d)`` embeddings, each phrase embedded once per run; None without a model."""
        todo = [p for p in dict.fromkeys(phrases) if p not in self._cache]
        if todo and self.encode is not None:
            try:
                self._cache.update(zip(todo, np.asarray(self.encode(todo), np.float32), strict=True))
            except ModelError:  # the caller logged why; word statistics from here on
                self.encode = None
        if self.encode is None:
            return None
        return np.stack([self._cache[p] for p in phrases]) if phrases else np.zeros((0, 0), np.float32)

    def similarity(self, phrases: list[str], centroid: np.ndarray, origin: np.ndarray | None = None
                   ) -> np.ndarray | None:
        """Cosine of each phrase, less ``origin`` (the candidates' mean), to ``centroid`` (a unit vector), or
        None without a model."""
        vectors = self.vectors(phrases)
        if vectors is None:
            return None
        if origin is not None:
            vectors = vectors - origin
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), np.float32(1e-12))
        return vectors @ centroid


def header_key(header: str) -> str:
    """How headers compare: their words, lower case, crudely stemmed ("Mrs. Wilson" and "mrs wilson" are the
    same header, and so are "Encoding", "Encodings" and "Encoded")."""
    words = TOKEN_RE.findall(header.lower())
    return " ".join(_stem(w) for w in words) or header.strip().lower()


def _stem(word: str) -> str:
    """The word without a plural or verb ending ("encodings", "encoded", "encode" -> "encod"; "motorcycles",
    "motorcycle" -> "motorcycl")."""
    if len(word) > 4 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _clashes(key: str, taken: set[str]) -> bool:
    """True when the header key repeats a taken one, or holds all its words or is held in it ("Wilson" under
    "Mrs. Wilson", "Exchange rate was wrong" beside "Wrong exchange rate"): a sibling or subtheme must say
    something the other header does not."""
    words = set(key.split())
    return any(words <= set(t.split()) or words >= set(t.split()) for t in taken)


def _pick(shortlist: list[str], banned: frozenset[str], taken: set[str], centroid: np.ndarray,
          vectors: PhraseVectors, origin: np.ndarray | None = None) -> str | None:
    """The usable candidate closest to the centroid (or the best-ranked one without a model). Where every
    candidate holds a banned common word (a tiny corpus, where every word is common), the rule is waived
    rather than leave the cluster a list of tokens."""
    free = [p for p in shortlist if not _clashes(header_key(p), taken)]
    usable = [p for p in free if not banned.intersection(p.split())] or free
    if not usable:
        return None
    sims = vectors.similarity(usable, centroid, origin)
    return usable[0] if sims is None else usable[int(np.argmax(sims))]


def name_group(nodes: list[ClusterSummary], contrast: np.ndarray, *, texts: Sequence[str], emb: np.ndarray,
               common: CommonWords, vectors: PhraseVectors, taken: set[str] | None = None,
               corpus_mean: np.ndarray | None = None) -> None:
    """Give each of ``nodes`` (siblings, largest first) a phrase header, in place (see the module docstring).

    Args:
        nodes: Sibling clusters, largest first; a larger one picks first.
        contrast: Rows the siblings are told apart from besides each other (noise, a theme's rest); may be empty.
        texts, emb: The chunk texts and unit vectors.
        common: The corpus's common words.
        vectors: The run's phrase embeddings (one :class:`PhraseVectors` shared by all groups of a run).
        taken: Header keys (`header_key`) the siblings may not use, e.g. their theme's; updated with theirs.
        corpus_mean: The mean of ``emb`` (computed here when not given; a caller naming many groups passes it).
    """
    if not nodes:
        return
    taken = set() if taken is None else taken
    mean = emb.mean(axis=0) if corpus_mean is None else corpus_mean
    centroids = [_unit_centroid(emb, node.members, mean) for node in nodes]
    samples = [_central_sample(emb, texts, node.members, c) for node, c in zip(nodes, centroids, strict=True)]
    if len(contrast):
        samples.append(_spread_sample(texts, contrast))
    classes = np.repeat(np.arange(len(samples)), [len(s) for s in samples])
    sample_texts = [texts[r] or "" for s in samples for r in s]
    shortlists = _shortlists(sample_texts, classes, len(nodes))
    candidates = vectors.vectors(sorted({p for shortlist in shortlists for p in shortlist}))
    origin = candidates.mean(axis=0) if candidates is not None and len(candidates) else None
    for node, shortlist, rows, centroid in zip(nodes, shortlists, samples, centroids, strict=False):
        phrase = _pick(shortlist, common.banned(node.members), taken, centroid, vectors, origin)
        if phrase is not None:
            node.header = _surface(phrase, [texts[r] or "" for r in rows])
        if node.header:
            taken.add(header_key(node.header))

