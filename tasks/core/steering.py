"""Themes grouped by what an instruction asks for ("sentiment: positive or negative", "type of issue (refund,
delivery, etc.)"), offline and with the packaged model, which is not an instruction model: prefixing the
instruction to every text changes no facet's NMI by more than 0.05 (product reviews).

How the vectors are steered (``bench/instruction.py`` measures it against the alternatives):

1. **Reading the instruction**: its facet ("sentiment", "type of issue") and its example values, the words after
   a colon or inside parentheses, split at commas, "or", "and" and "/" ("etc." dropped); ``instruction_examples``
   add more.
2. **Candidate phrases**: the corpus's own 1-4-word n-grams (the header candidates,
   :func:`~tasks.core.summarizers.headers.phrase_grams`) found in at least :data:`MIN_CHUNKS` chunks of a seeded
   sample of at most :data:`SAMPLE_CHUNKS`, the :data:`VOCABULARY` most widespread; a phrase holding one of the
   instruction's own content words is left out (it names the question, not an answer: "sentiment", "positive").
3. **The facet's span**: the phrases and the query (the unit mean of the instruction's and its examples'
   embeddings) are centred on the phrases' mean; the :data:`SPAN_PHRASES` phrases closest to the query are the
   facet's vocabulary ("disappointed", "happy with", "works great"), and the top :data:`FACET_DIMS` right
   singular vectors of their embeddings are the facet's directions.
4. **Steering**: every chunk vector is projected on those directions and renormalised. The graph, the
   clustering and the summaries (central passages, headers) then compare chunks only along the facet. The
   embedding cache keeps the plain vectors; steered ones are derived per run and never stored in it.
5. **Unless the corpus already varies along the facet**: the facet's share of the corpus's variance, over the
   share its :data:`FACET_DIMS` principal directions hold, is the facet's *alignment*. From
   :data:`ALIGNED` up the instruction names what the themes already follow (Banking77 and "type of issue":
   0.34; product reviews and "product mentioned": 0.45, "product feature discussed": 0.59), and projecting would
   only throw the rest away (finest NMI 0.790 -> 0.578, product NMI 0.346 -> 0.177): the plain vectors are
   kept and the run says so. A facet the corpus does not vary along (sentiment: 0.27 in product reviews, 0.20
   in Banking77) steers.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tasks.core.embedding.engines import Encoder, normalise_rows
from tasks.core.summarizers.headers import phrase_grams
from tasks.core.summarizers.text import STOP_WORDS, TOKEN_RE

__all__ = ["ALIGNED", "FACET_DIMS", "Facet", "Instruction", "candidate_phrases", "facet_alignment", "facet_basis",
           "parse_instruction", "steer"]

#: Chunks read for candidate phrases (a seeded sample above this).
SAMPLE_CHUNKS = 20_000
#: A candidate occurs in at least this many sampled chunks.
MIN_CHUNKS = 3
#: Most widespread candidates kept (the model embeds each once; product reviews have ~2,000).
VOCABULARY = 20_000
#: Phrases closest to the query that span the facet (product reviews, probed at theme resolution 2: 256 rather
#: than 64 raises polarity NMI 0.158 -> 0.179 and purity 0.721 -> 0.781; 512 gives 0.038) ...
SPAN_PHRASES = 256
#: ... but at most this share of the candidates (256 of product reviews' ~2,000 is an eighth), so that a small
#: corpus's facet is not spanned by all of its phrases.
SPAN_SHARE = 1 / 8
#: Directions of the facet (same probe; 8: polarity NMI 0.180 / purity 0.760; 16: 0.179 / 0.781; 32: 0.148 / 0.737).
FACET_DIMS = 16
#: Alignment from which the corpus already follows the facet (step 5): halfway between the product reviews'
#: sentiment (0.27, steered: polarity NMI 0.034 -> 0.188) and Banking77's "type of issue" (0.34, kept plain).
#: A thin margin on two corpora (sentiment over Banking77 0.20; a planted test corpus: sentiment 0.21, the
#: things it is about 0.46), recorded in every run's manifest so that it can be checked on others.
ALIGNED = 0.3
#: Rows of the corpus the alignment is measured on (a seeded sample above this).
ALIGNMENT_ROWS = 20_000
#: Longest instruction, in characters, and most examples.
MAX_INSTRUCTION_CHARS = 300
MAX_EXAMPLES = 20

_SPLIT = re.compile(r"\s*(?:,|/|;|\bor\b|\band\b)\s*", re.IGNORECASE)
_ETC = re.compile(r"\betc\.?|\.\.\.|…", re.IGNORECASE)


@dataclass(frozen=True)
class Instruction:
    """An instruction as read: the whole text, its facet and its example values."""

    text: str
    facet: str
    examples: tuple[str, ...]

    def content_words(self) -> frozenset[str]:
        """The instruction's own content words (lower case), facet and examples."""
        words = TOKEN_RE.findall(" ".join((self.facet, *self.examples)).lower())
        return frozenset(w for w in words if w not in STOP_WORDS)


@dataclass(frozen=True)
class Facet:
    """The directions an instruction steers along, and what they were made from."""

    basis: np.ndarray  # float32 (dims, d), orthonormal rows
    phrases: tuple[str, ...]  # the facet's vocabulary, closest to the query first
    vocabulary: int  # candidate phrases considered
    alignment: float = 0.0  # step 5; the vectors are steered below ALIGNED

    @property
    def steers(self) -> bool:
        """Whether the chunk vectors are projected on the facet (step 5)."""
        return self.alignment < ALIGNED


def parse_instruction(text: str, examples: Sequence[str] | None = None) -> Instruction:
    """The facet and example values of ``text`` (see the module docstring), with ``examples`` appended."""
    text = " ".join(text.split())
    facet, listed = text, ""
    paren = re.search(r"\(([^()]*)\)", text)
    if paren:
        facet, listed = (text[: paren.start()] + text[paren.end():]).strip(" :"), paren.group(1)
    elif ":" in text:
        facet, listed = (part.strip() for part in text.split(":", 1))
    values = [v.strip(" .") for v in _SPLIT.split(_ETC.sub("", listed)) if v.strip(" .")]
    values += [" ".join(e.split()) for e in examples or () if e.strip()]
    return Instruction(text=text, facet=facet or text, examples=tuple(dict.fromkeys(values)))


def candidate_phrases(texts: Sequence[str], seed: int = 0) -> list[str]:
    """The corpus's candidate phrases (step 2), most widespread first (ties alphabetical: the same list in every
    process, whatever its hash seed)."""
    rows = np.arange(len(texts))
    if len(rows) > SAMPLE_CHUNKS:
        rows = np.sort(np.random.default_rng(seed).choice(len(rows), SAMPLE_CHUNKS, replace=False))
    chunks_with: Counter[str] = Counter()
    for r in rows:
        chunks_with.update(set(phrase_grams(texts[r] or "")))
    common = sorted((p for p, c in chunks_with.items() if c >= MIN_CHUNKS), key=lambda p: (-chunks_with[p], p))
    return common[:VOCABULARY]


def facet_basis(instruction: Instruction, phrases: Sequence[str], encode: Encoder,
                emb: np.ndarray | None = None, seed: int = 0) -> Facet:
    """The facet's directions (steps 3-4 of the module docstring) from the corpus's candidate ``phrases``, and
    with the corpus's vectors ``emb`` its alignment (step 5; 0 without them).

    Raises:
        ValueError: when the corpus has no candidate phrase that does not repeat the instruction.
    """
    own = instruction.content_words()
    usable = [p for p in phrases if not own.intersection(p.split())
              and not any(w.rstrip("s") in p for w in own if len(w) > 3)]
    if not usable:
        raise ValueError("the instruction cannot steer this corpus: no phrase occurs in "
                         f"{MIN_CHUNKS} or more chunks besides the instruction's own words")
    vectors = np.asarray(encode(usable), np.float32)
    query = normalise_rows(np.asarray(encode([instruction.text, *instruction.examples])).mean(axis=0, keepdims=True))
    mean = vectors.mean(axis=0, keepdims=True)
    closeness = normalise_rows(vectors - mean) @ normalise_rows(query - mean)[0]
    span = min(SPAN_PHRASES, max(FACET_DIMS, int(len(usable) * SPAN_SHARE)))
    top = np.argsort(-closeness, kind="stable")[:span]
    _, _, vt = np.linalg.svd(vectors[top].astype(np.float64), full_matrices=False)
    basis = vt[: min(FACET_DIMS, len(top))].astype(np.float32)
    alignment = 0.0 if emb is None else facet_alignment(emb, basis, seed)
    return Facet(basis=basis, phrases=tuple(usable[i] for i in top), vocabulary=len(usable),
                 alignment=round(alignment, 4))


def facet_alignment(emb: np.ndarray, basis: np.ndarray, seed: int = 0) -> float:
    """The share of the corpus's centred variance along ``basis``, over the share its as many principal
    directions hold (1: the facet is the corpus's main variation; near 0: the corpus does not vary along it)."""
    rows = np.arange(len(emb))
    if len(rows) > ALIGNMENT_ROWS:
        rows = np.random.default_rng(seed).choice(len(rows), ALIGNMENT_ROWS, replace=False)
    x = np.asarray(emb[rows], np.float64)
    x -= x.mean(axis=0)
    singular = np.linalg.svd(x, compute_uv=False)
    top = float((singular[: len(basis)] ** 2).sum())
    return float(((x @ np.asarray(basis, np.float64).T) ** 2).sum()) / top if top > 0 else 0.0


def steer(emb: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Unit float32 ``(n, dims)`` rows: each vector's coordinates along the facet's directions."""
    return normalise_rows(np.asarray(emb, np.float32) @ np.asarray(basis, np.float32).T)
