"""Summarize stage: names, keyphrases, exemplars and cohesion for every theme and subtheme.

Contract
--------
Input (all row-aligned with the chunk arrays, ``n`` rows):

* ``texts`` - ``n`` chunk texts (may be empty or whitespace).
* ``emb`` - ``(n, d)`` float32 embeddings, L2-normalised (rows are re-normalised defensively).
* ``theme`` - ``(n,)`` integer theme label per chunk, ``-1`` = noise.
* ``subtheme`` - ``(n,)`` integer *global* subtheme id ``0..S-1`` per chunk, ``-1`` = none.
* ``subtheme_theme`` - ``(S,)`` parent theme label of each subtheme.

Output: a list of :class:`ClusterSummary`, one per theme, largest first, each with its
subthemes in ``children`` (largest first). Ids are assigned by size rank, 0-based: the largest
theme is ``"t0"``, the largest subtheme of ``t0`` is ``"t0.0"``, the next ``"t0.1"``. Equal sizes
are ordered by the clustering-stage label (kept in ``label``), so ids are deterministic.
Subtheme ids with no members are skipped. Noise is not a cluster and is not returned.

What fills the fields is a list of *summarizers* (plug-ins, see :class:`Summarizer`) applied in
order; the built-in ones are:

* ``"keyphrases"`` - class-based TF-IDF (c-TF-IDF, as in BERTopic) over unigrams and bigrams.
  Themes are scored against all other themes plus noise as its own class; subthemes against
  their siblings plus the parent's unassigned rest, so they say what sets them apart inside the
  theme. Fills ``keyphrases`` and ``header`` (top 2-3 phrases joined by ``" · "``).
* ``"exemplars"`` - centrality = cosine to the cluster's normalised centroid. Fills ``nodes``
  (``top_n_nodes`` most central, ties by row index), ``summary`` (first sentence of the most
  central non-empty member, at most 200 chars) and ``cohesion`` (mean centrality).

Whatever summarizers ran, ``header`` is never empty on return: a cluster without keyphrases is
named after the first words of its most central text.

Everything here is pure (no Prefect, no I/O) and deterministic for the same inputs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

__all__ = [
    "ClusterSummary",
    "SummaryContext",
    "Summarizer",
    "KeyphraseSummarizer",
    "ExemplarSummarizer",
    "DEFAULT_SUMMARIZERS",
    "available_summarizers",
    "build_cluster_tree",
    "ctfidf",
    "first_sentence",
    "get_summarizer",
    "iter_clusters",
    "register_summarizer",
    "summarize_clusters",
]

DEFAULT_SUMMARIZERS: tuple[str, ...] = ("keyphrases", "exemplars")
SUMMARY_MAX_CHARS = 200
HEADER_SEP = " · "

# sklearn's list misses contraction fragments ("didn't" -> "didn"), apostrophe-less spellings
# people type in tickets, and the filler verbs of requests ("I want to know how to use..."). They
# carry no topic but would otherwise turn up in the phrases of every cluster that asks for
# something ("want refund", "long does").
_EXTRA_STOP_WORDS = frozenset(
    "aren couldn didn doesn don hadn hasn haven isn mightn mustn needn shan shouldn wasn weren won "
    "wouldn ain ll ve re im ive id youre dont didnt doesnt isnt cant wont wasnt arent havent hasnt "
    "shouldnt wouldnt couldnt thats whats theres hi hello thanks thank pls please ok okay yes "
    "does did doing just really want wants wanted need needs needed know like make use using "
    "able way help got".split()
)
# Particles are stop words on their own but complete a phrasal verb ("top up", "log out",
# "sign up"), so they may end a bigram (never start one or stand alone).
_PARTICLES = frozenset({"up", "out", "off", "down"})
# A bigram renames a higher-ranked unigram it contains only if it covers this share of the
# unigram's occurrences in the cluster (see _dedupe_phrases).
_ABSORB_SHARE = 0.1
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) | _EXTRA_STOP_WORDS

# "Mostly letters": two or more letters, optionally followed by up to two digits ("mp3",
# "covid19"). Numbers, ids, hashes with leading digits and snake_case identifiers never match.
_TOKEN_RE = re.compile(r"(?u)\b[^\W\d_]{2,}\d{0,2}\b")
# A sentence ends at . ! ? (optionally closed by a quote/bracket) followed by whitespace and
# something that can start a sentence; requiring that start keeps "e.g. the" in one piece.
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")
_WS_RE = re.compile(r"\s+")


@dataclass
class ClusterSummary:
    """One theme or subtheme and everything the summarizers found out about it.

    Attributes:
        cluster_id: ``"t<N>"`` for themes, ``"t<N>.<M>"`` for subthemes; N and M are 0-based
            size ranks (largest first).
        level: ``"theme"`` or ``"subtheme"``.
        members: Sorted int64 row indices into the chunk arrays.
        size: Number of members.
        parent_id: ``cluster_id`` of the parent theme for subthemes, else ``None``.
        header: Short human name (never empty after :func:`summarize_clusters`).
        summary: One extractive sentence from the most central member, at most 200 chars.
        keyphrases: ``(phrase, c-TF-IDF score)``, best first.
        nodes: ``(row index, centrality)`` of the most central members, most central first.
        cohesion: Mean cosine of members to the normalised centroid.
        unassigned: Themes only: members in no subtheme (all of them if it has no subthemes).
        children: Subthemes (themes only), largest first.
        label: The clustering-stage label (theme label or global subtheme id), for joins.
    """

    cluster_id: str
    level: str
    members: np.ndarray
    size: int
    parent_id: str | None
    header: str = ""
    summary: str = ""
    keyphrases: list[tuple[str, float]] = field(default_factory=list)
    nodes: list[tuple[int, float]] = field(default_factory=list)
    cohesion: float = 0.0
    unassigned: int = 0
    children: list["ClusterSummary"] = field(default_factory=list)
    label: int = -1


@dataclass(frozen=True)
class SummaryContext:
    """Everything a summarizer may read. Inputs are already validated and normalised."""

    texts: Sequence[str]
    emb: np.ndarray  # (n, d) float32, rows L2-normalised
    theme: np.ndarray  # (n,) int64
    subtheme: np.ndarray  # (n,) int64
    subtheme_theme: np.ndarray  # (S,) int64
    top_n_nodes: int = 5
    n_keyphrases: int = 8
    seed: int = 0  # for summarizers that sample; the built-in ones are exact and ignore it


@runtime_checkable
class Summarizer(Protocol):
    """A summary plug-in: fills some fields of every cluster in the tree, in place.

    It receives the whole tree at once because some summaries (c-TF-IDF) score a cluster
    against the others. It must be deterministic for a given context (use ``ctx.seed``).
    """

    name: str

    def apply(self, tree: list[ClusterSummary], ctx: SummaryContext) -> None:
        """Fill fields of the clusters in ``tree`` (themes and their children) in place."""
        ...


# ----------------------------------------------------------------------------- registry

_REGISTRY: dict[str, Summarizer] = {}


def register_summarizer(summarizer: Summarizer, *, replace: bool = False) -> Summarizer:
    """Make a summarizer selectable by its ``name`` in the ``summarizers`` run parameter.

    Args:
        summarizer: An object with a ``name`` and an ``apply(tree, ctx)`` method.
        replace: Allow overriding an existing registration (tests, experiments).

    Returns:
        The summarizer itself.

    Raises:
        ValueError: If the name is taken and ``replace`` is false.
    """
    if not isinstance(summarizer, Summarizer):
        raise TypeError(f"{summarizer!r} has no 'name' and 'apply(tree, ctx)'")
    if summarizer.name in _REGISTRY and not replace:
        raise ValueError(f"a summarizer named {summarizer.name!r} is already registered")
    _REGISTRY[summarizer.name] = summarizer
    return summarizer


def available_summarizers() -> list[str]:
    """Names accepted by the ``summarizers`` parameter, sorted."""
    return sorted(_REGISTRY)


def get_summarizer(name: str) -> Summarizer:
    """Look a summarizer up by name.

    Raises:
        ValueError: For an unknown name; the message lists the known ones.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(available_summarizers())
        raise ValueError(f"unknown summarizer {name!r}; known summarizers: {known}") from None


def _resolve_summarizers(names: Sequence[str]) -> list[Summarizer]:
    # A bare string would be iterated letter by letter and fail with a confusing "unknown 'k'".
    if isinstance(names, str):
        raise ValueError(f"summarizers must be a list of names, not the string {names!r}")
    return [get_summarizer(name) for name in names]


# ----------------------------------------------------------------------------- validation


def _as_labels(arr: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {a.shape}")
    if a.size and a.dtype.kind not in "iu":
        raise ValueError(f"{what} must hold integers, got dtype {a.dtype}")
    return a.astype(np.int64, copy=False)


def _validate_labels(
    theme: np.ndarray, subtheme: np.ndarray, subtheme_theme: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check the three label arrays agree with each other; return them as int64."""
    theme = _as_labels(theme, "theme")
    subtheme = _as_labels(subtheme, "subtheme")
    subtheme_theme = _as_labels(subtheme_theme, "subtheme_theme")
    if len(subtheme) != len(theme):
        raise ValueError(f"subtheme has {len(subtheme)} rows but theme has {len(theme)}")
    if theme.size and theme.min() < -1:
        raise ValueError("theme labels must be >= -1 (-1 = noise)")
    n_sub = len(subtheme_theme)
    if subtheme.size and (subtheme.min() < -1 or subtheme.max() >= n_sub):
        raise ValueError(
            f"subtheme ids must be in -1..{n_sub - 1} (subtheme_theme has {n_sub} entries), "
            f"got {subtheme.min()}..{subtheme.max()}"
        )
    in_sub = subtheme >= 0
    # A chunk's subtheme must belong to the chunk's own theme; anything else is a clustering bug
    # that would silently produce subthemes whose members sit outside their parent.
    bad = np.flatnonzero(in_sub)
    bad = bad[subtheme_theme[subtheme[bad]] != theme[bad]]
    if bad.size:
        row = int(bad[0])
        raise ValueError(
            f"row {row}: subtheme {subtheme[row]} belongs to theme "
            f"{subtheme_theme[subtheme[row]]} but the row is in theme {theme[row]}"
        )
    return theme, subtheme, subtheme_theme


def _validate_embeddings(emb: np.ndarray, n: int) -> np.ndarray:
    """Return float32 embeddings with unit rows (zero rows stay zero)."""
    e = np.asarray(emb)
    if e.ndim != 2 or e.shape[0] != n:
        raise ValueError(f"emb must have shape ({n}, d) to match the labels, got {e.shape}")
    e = e.astype(np.float32, copy=False)
    if not np.isfinite(e).all():
        raise ValueError("emb contains NaN or infinite values")
    norms = np.linalg.norm(e, axis=1, keepdims=True)
    # Cheap insurance: cosine needs unit rows, and an upstream change (another model, a cache
    # from an old run) should not quietly turn centrality into a dot product.
    if np.allclose(norms, 1.0, atol=1e-3):
        return e
    return (e / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)


# ----------------------------------------------------------------------------- tree


def iter_clusters(tree: Sequence[ClusterSummary]) -> Iterator[ClusterSummary]:
    """Yield every theme followed by its subthemes (depth-first, in tree order)."""
    for theme in tree:
        yield theme
        yield from theme.children


def _groups_by_size(labels: np.ndarray, ids: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """``(label, sorted member rows)`` for each label in ``ids``, largest first, ties by label."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    groups = []
    for lab in ids:
        lo, hi = np.searchsorted(sorted_labels, [lab, lab + 1])
        if hi > lo:
            groups.append((int(lab), np.sort(order[lo:hi]).astype(np.int64)))
    groups.sort(key=lambda g: (-len(g[1]), g[0]))
    return groups


def build_cluster_tree(
    theme: np.ndarray, subtheme: np.ndarray, subtheme_theme: np.ndarray
) -> list[ClusterSummary]:
    """Group rows into themes and subthemes and assign their ids.

    Args:
        theme: ``(n,)`` theme label per chunk, ``-1`` = noise.
        subtheme: ``(n,)`` global subtheme id per chunk, ``-1`` = none.
        subtheme_theme: ``(S,)`` parent theme label per subtheme id.

    Returns:
        Themes sorted by size (desc, ties by label), each with its non-empty subthemes in
        ``children`` sorted the same way. Only ids, members, sizes and ``unassigned`` are set.

    Raises:
        ValueError: If the arrays have wrong shapes, lengths or disagree with each other.
    """
    theme, subtheme, subtheme_theme = _validate_labels(theme, subtheme, subtheme_theme)
    theme_ids = np.unique(theme[theme >= 0])
    kids_of: dict[int, list[tuple[int, np.ndarray]]] = {}
    for lab, m in _groups_by_size(subtheme, np.arange(len(subtheme_theme))):
        kids_of.setdefault(int(subtheme_theme[lab]), []).append((lab, m))  # stays size-sorted
    tree = []
    for rank, (label, members) in enumerate(_groups_by_size(theme, theme_ids)):
        node = ClusterSummary(f"t{rank}", "theme", members, len(members), None, label=label)
        kids = kids_of.get(label, [])
        node.children = [
            ClusterSummary(f"t{rank}.{r}", "subtheme", m, len(m), node.cluster_id, label=lab)
            for r, (lab, m) in enumerate(kids)
        ]
        node.unassigned = node.size - sum(k.size for k in node.children)
        tree.append(node)
    return tree


# ----------------------------------------------------------------------------- keyphrases


def _analyzer(text: str) -> list[str]:
    """Unigrams and bigrams of *adjacent* non-stop-word tokens.

    Dropping stop words before pairing (sklearn's default) glues words that were never next to
    each other ("waiting for my card" -> "waiting card"); pairing only true neighbours keeps
    bigrams readable as names ("card arrival", "exchange rate").
    """
    toks = _TOKEN_RE.findall(text.lower())
    keep = [t not in STOP_WORDS for t in toks]
    grams = [t for t, k in zip(toks, keep) if k]
    grams += [
        f"{a} {b}"
        for a, b, ka, kb in zip(toks, toks[1:], keep, keep[1:])
        if ka and (kb or b in _PARTICLES)
    ]
    return grams


def _doc_term_matrix(texts: Sequence[str]) -> tuple[sp.csr_matrix, np.ndarray]:
    """One vectorizer fit over all texts: ``(n, V)`` counts and the vocabulary."""
    vec = CountVectorizer(analyzer=_analyzer, dtype=np.float32)
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


def _top_phrases(
    scores: sp.csr_matrix, counts: sp.csr_matrix, vocab: np.ndarray, k: int
) -> list[tuple[str, float]]:
    """The ``k`` best distinct phrases of one class (1-row matrices; ties by vocabulary order)."""
    data, idx = scores.data, scores.indices
    keep = data > 0
    data, idx = data[keep], idx[keep]
    # Look further than k: deduplication can remove several candidates per kept phrase.
    order = np.lexsort((idx, -data))[: 3 * k + 10]
    idx, data = idx[order], data[order]
    # A dict, not counts[:, idx]: column fancy-indexing a CSR row with unsorted indices
    # returned misaligned values with scipy 1.17.
    count_of = dict(zip(counts.indices.tolist(), counts.data.tolist()))
    ranked = [
        (str(vocab[i]), round(float(s), 6), count_of.get(int(i), 0.0)) for i, s in zip(idx, data)
    ]
    return _dedupe_phrases(ranked)[:k]


def _header_from_phrases(phrases: list[tuple[str, float]]) -> str:
    """Top 2-3 phrases; the third only if it scores at least half the first."""
    top = phrases[:3]
    if len(top) == 3 and top[2][1] < 0.5 * top[0][1]:
        top = top[:2]
    return HEADER_SEP.join(p for p, _ in top)


def _score_classes(
    nodes: list[ClusterSummary], x: sp.csr_matrix, classes: np.ndarray, vocab: np.ndarray,
    k: int, n: int,
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


def _score_children(
    node: ClusterSummary, x: sp.csr_matrix, vocab: np.ndarray, k: int, n: int
) -> None:
    """Score a theme's subthemes against their siblings and the theme's unassigned rest."""
    if not node.children:
        return
    if len(node.children) == 1 and node.unassigned == 0:
        # The only subtheme *is* the theme: there is nothing inside to contrast it with.
        node.children[0].keyphrases = list(node.keyphrases)
        node.children[0].header = node.header
        return
    # Work on the theme's rows only, so the cost is proportional to the theme, not the corpus.
    classes = np.full(node.size, len(node.children), dtype=np.int64)  # the unassigned rest
    for j, child in enumerate(node.children):
        classes[np.searchsorted(node.members, child.members)] = j  # members are sorted
    _score_classes(node.children, x[node.members], classes, vocab, k, n)


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
        # Themes: one class per theme plus noise, so words common in the noise (greetings,
        # boilerplate) get a low idf instead of naming a theme.
        classes = np.full(x.shape[0], len(tree), dtype=np.int64)
        for i, node in enumerate(tree):
            classes[node.members] = i
        _score_classes(tree, x, classes, vocab, k, ctx.n_keyphrases)
        for node in tree:
            _score_children(node, x, vocab, k, ctx.n_keyphrases)


# ----------------------------------------------------------------------------- exemplars


def _centrality(emb: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Cosine of each member to the normalised centroid (float32, rows of ``emb`` unit)."""
    vecs = emb[members]
    centroid = vecs.mean(axis=0)
    norm = float(np.linalg.norm(centroid))
    if norm < 1e-12:  # members cancel out: no direction is more central than another
        return np.zeros(len(members), dtype=np.float32)
    return vecs @ (centroid / np.float32(norm))


def _rank_by_centrality(members: np.ndarray, cent: np.ndarray) -> np.ndarray:
    """Positions into ``members``, most central first; near-ties by row index.

    Rounding before sorting makes the order independent of last-bit BLAS differences
    (identical texts embed to identical vectors but may not get bit-identical dot products).
    """
    return np.lexsort((members, -np.round(cent.astype(np.float64), 6)))


_HEADING_RE = re.compile(r"^[ \t]{0,3}#{1,6}[ \t].*$", re.MULTILINE)


def _without_headings(text: str) -> str:
    """Drop Markdown heading lines (a heading is a title, not a sentence), unless nothing else is left."""
    prose = _HEADING_RE.sub("", text or "")
    return prose if prose.strip() else text


def _clean(text: str) -> str:
    return _WS_RE.sub(" ", text or "").strip()


def _truncate(text: str, limit: int) -> str:
    """Cut at the last word boundary so that the result, with "…", is at most ``limit`` chars."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:  # a boundary not absurdly early; else hard-cut one long token
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def first_sentence(text: str, limit: int = SUMMARY_MAX_CHARS, min_chars: int = 20) -> str:
    """First sentence of ``text`` with whitespace collapsed, at most ``limit`` chars.

    Sentences shorter than ``min_chars`` ("Hi.", "1.") are joined with the next one so the
    summary says something.
    """
    parts = _SENTENCE_END_RE.split(_clean(_without_headings(text)))
    out = parts[0]
    for nxt in parts[1:]:
        if len(out) >= min_chars:
            break
        out = f"{out} {nxt}"
    return _truncate(out, limit)


class ExemplarSummarizer:
    """Central members, an extractive summary and cohesion (see module docstring)."""

    name = "exemplars"

    def apply(self, tree: list[ClusterSummary], ctx: SummaryContext) -> None:
        """Fill ``nodes``, ``summary`` and ``cohesion`` of every cluster in ``tree``."""
        for node in iter_clusters(tree):
            cent = _centrality(ctx.emb, node.members)
            order = _rank_by_centrality(node.members, cent)
            node.nodes = [
                (int(node.members[i]), round(float(cent[i]), 6)) for i in order[: ctx.top_n_nodes]
            ]
            node.cohesion = round(float(cent.astype(np.float64).mean()), 6)
            node.summary = _first_nonempty(ctx.texts, node.members[order], first_sentence)


def _first_nonempty(texts: Sequence[str], rows: np.ndarray, fn) -> str:
    """``fn(text)`` for the first row (in the given order) whose result is non-empty."""
    for r in rows:
        out = fn(texts[r])
        if out:
            return out
    return ""


def _leading_words(text: str, max_words: int = 6, limit: int = 60) -> str:
    words = _clean(text).split(" ")
    return _truncate(" ".join(words[:max_words]).strip(), limit)


def _ensure_headers(tree: list[ClusterSummary], ctx: SummaryContext) -> None:
    """Give every header-less cluster the first words of its most central non-empty text."""
    for node in iter_clusters(tree):
        if node.header:
            continue
        cent = _centrality(ctx.emb, node.members)
        rows = node.members[_rank_by_centrality(node.members, cent)]
        node.header = _first_nonempty(ctx.texts, rows, _leading_words) or (
            f"untitled {node.level} {node.cluster_id}"
        )


register_summarizer(KeyphraseSummarizer())
register_summarizer(ExemplarSummarizer())


# ----------------------------------------------------------------------------- entry point


def summarize_clusters(
    texts: Sequence[str],
    emb: np.ndarray,
    theme: np.ndarray,
    subtheme: np.ndarray,
    subtheme_theme: np.ndarray,
    *,
    top_n_nodes: int = 5,
    n_keyphrases: int = 8,
    summarizers: Sequence[str] = DEFAULT_SUMMARIZERS,
    seed: int = 0,
) -> list[ClusterSummary]:
    """Build the theme/subtheme tree and run the chosen summarizers over it.

    Args:
        texts: Chunk texts, row-aligned with ``emb`` and the labels.
        emb: ``(n, d)`` embeddings (float32, L2-normalised).
        theme: ``(n,)`` theme label per chunk, ``-1`` = noise.
        subtheme: ``(n,)`` global subtheme id per chunk, ``-1`` = none.
        subtheme_theme: ``(S,)`` parent theme label per subtheme id.
        top_n_nodes: How many central chunks to keep per cluster (>= 0).
        n_keyphrases: How many keyphrases to keep per cluster (>= 0).
        summarizers: Registered summarizer names, applied in this order.
        seed: Passed to summarizers that sample; the built-in ones are exact.

    Returns:
        Themes, largest first, with subthemes in ``children``; ``[]`` when there are no themes.

    Raises:
        ValueError: Mismatched shapes or labels, negative counts, or an unknown summarizer
            (the message lists the known ones).
    """
    plugins = _resolve_summarizers(summarizers)  # fail fast, before any work
    if top_n_nodes < 0 or n_keyphrases < 0:
        raise ValueError(
            f"top_n_nodes and n_keyphrases must be >= 0, got {top_n_nodes} and {n_keyphrases}"
        )
    theme, subtheme, subtheme_theme = _validate_labels(theme, subtheme, subtheme_theme)
    if len(texts) != len(theme):
        raise ValueError(f"texts has {len(texts)} entries but theme has {len(theme)}")
    ctx = SummaryContext(
        texts=texts,
        emb=_validate_embeddings(emb, len(theme)),
        theme=theme,
        subtheme=subtheme,
        subtheme_theme=subtheme_theme,
        top_n_nodes=top_n_nodes,
        n_keyphrases=n_keyphrases,
        seed=seed,
    )
    tree = build_cluster_tree(theme, subtheme, subtheme_theme)
    for plugin in plugins:
        plugin.apply(tree, ctx)
    _ensure_headers(tree, ctx)
    return tree


import json as _json  # noqa: E402 - wrappers sit below the plain functions they wrap

import pyarrow as _pa  # noqa: E402
import pyarrow.parquet as _pq  # noqa: E402

from tasks.catalog import open_catalog  # noqa: E402
from tasks.embed import EMBEDDINGS_FILE  # noqa: E402
from tasks.runs import RunRef  # noqa: E402
from tasks.settings import RunParams, Settings  # noqa: E402
from tasks.stage import stage_logger, stage_task, stopwatch  # noqa: E402

SUMMARIES_FILE = "summaries.json"
CENTRALITY_FILE = "centrality.npy"


def theme_centrality(emb: np.ndarray, theme: np.ndarray) -> np.ndarray:
    """float32 (n,): each chunk's cosine to its theme's normalised centroid (0 for noise)."""
    out = np.zeros(len(theme), dtype=np.float32)
    for t in np.unique(theme[theme >= 0]):
        rows = np.flatnonzero(theme == t)
        centroid = emb[rows].mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
        out[rows] = emb[rows] @ centroid
    return out


def summary_record(summary: ClusterSummary, doc_ids: np.ndarray) -> dict:
    """A JSON-able summary with its label index and document count (members stay in the arrays)."""
    return {
        "cluster_id": summary.cluster_id, "level": summary.level, "label": int(summary.label),
        "size": summary.size, "header": summary.header, "summary": summary.summary,
        "keyphrases": [[p, float(s)] for p, s in summary.keyphrases],
        "nodes": [[int(r), float(c)] for r, c in summary.nodes], "cohesion": float(summary.cohesion),
        "unassigned": int(summary.unassigned), "documents": int(len(np.unique(doc_ids[summary.members]))),
        "children": [],
    }


def load_corpus_texts(settings: Settings, run: RunRef) -> tuple[list[str], np.ndarray]:
    """Every corpus passage in row order, and each row's document id."""
    corpus = _pq.read_table(run.corpus_path, columns=["row_no", "chunk_id", "doc_id"])
    with open_catalog(settings.catalog_path) as catalog:
        rows = catalog.rows("select_chunk_texts", chunk_ids_input=corpus.select(["row_no", "chunk_id"]))
    return [text for _, text in rows], np.asarray(corpus.column("doc_id").to_pylist(), dtype=object)


@stage_task(name="summarize")
def summarize_task(run: RunRef, settings: Settings, params: RunParams) -> dict:
    """Header, keyphrases, summary, central passages and cohesion for every theme and subtheme."""
    log = stage_logger()
    with stopwatch() as timing:
        emb = np.load(run.path(EMBEDDINGS_FILE))
        clustering = np.load(run.path("clustering.npz"))
        theme, subtheme = clustering["theme"], clustering["subtheme"]
        texts, doc_ids = load_corpus_texts(settings, run)
        summaries = summarize_clusters(texts, emb, theme, subtheme, clustering["subtheme_theme"],
                                       top_n_nodes=params.top_n_nodes, summarizers=params.summarizers,
                                       seed=params.seed)
        records = []
        for s in summaries:
            record = summary_record(s, doc_ids)
            record["children"] = [summary_record(c, doc_ids) for c in s.children]
            records.append(record)
        run.path(SUMMARIES_FILE).write_text(_json.dumps(records, ensure_ascii=False), encoding="utf-8")
        np.save(run.path(CENTRALITY_FILE), theme_centrality(emb, theme))
    mean_cohesion = round(float(np.mean([r["cohesion"] for r in records])), 4) if records else 0.0
    log.info(f"summarize: {len(records)} themes summarised; mean cohesion {mean_cohesion}")
    return {"themes": len(records), "mean_cohesion": mean_cohesion, "seconds": timing["seconds"]}
