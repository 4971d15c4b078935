"""Cutting one document into overlapping passages, with character offsets (the chunk stage's core).

Sizes are measured in model tokens (word pieces of the embedding model's own tokenizer, so a chunk of
``chunk_size`` tokens is exactly what the model reads; all-MiniLM-L6-v2 reads 256 including two special
tokens) or in characters. A window ends at a sentence or paragraph end in its last 30 % when there is
one, never inside a word, and the next window starts ``chunk_overlap`` units before the end
(later, at a sentence start inside that overlap, when there is one).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

Span = tuple[int, int]
SpanFinder = Callable[[Sequence[str]], list[list[Span]]]
_WORD = re.compile(r"\S+")
_SENTENCE_END = (".", "!", "?", "…", ":", ";")


@dataclass(frozen=True)
class ChunkSpec:
    """How documents are cut: unit, size and overlap (validated by `RunParams`)."""

    unit: str
    size: int
    overlap: int
    tokenizer_name: str = ""

    def fingerprint(self) -> str:
        """Changes whenever the same document would be cut differently."""
        return f"v1|{self.unit}|{self.size}|{self.overlap}|{self.tokenizer_name if self.unit == 'tokens' else ''}"


def word_spans(texts: Sequence[str]) -> list[list[Span]]:
    """Whitespace-separated words of each text, as (start, end) character offsets."""
    return [[m.span() for m in _WORD.finditer(t)] for t in texts]


def token_span_finder(tokenizer_json: Path) -> SpanFinder:
    """Token offsets from a fast tokenizer file (``tokenizer.json``), without special tokens or padding."""
    # tokenizers loads a Rust extension: only token-unit chunking and ONNX backends need it.
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def find(texts: Sequence[str]) -> list[list[Span]]:
        return [[o for o in enc.offsets if o[1] > o[0]]
                for enc in tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    return find


def chunk_document(text: str, spans: Sequence[Span], *, size: int, overlap: int, unit: str) -> list[Span]:
    """Cut one text into (char_start, char_end) windows over its spans (tokens or words).

    Args:
        text: the document text (offsets refer to it).
        spans: token or word offsets, in order.
        size: the most units per chunk (tokens, or characters for ``unit="chars"``).
        overlap: units shared by consecutive chunks (< size).
        unit: ``"tokens"`` (each span counts 1) or ``"chars"`` (a window counts its character length).

    Returns:
        Character windows in order; ``[]`` for a text with no spans. A single word longer than
        ``size`` characters becomes a chunk of its own rather than being split.
    """
    n = len(spans)
    if unit == "tokens":
        measure = lambda i, j: j - i  # noqa: E731 - two one-line metrics read best side by side
    else:
        measure = lambda i, j: spans[j - 1][1] - spans[i][0]  # noqa: E731
    out: list[Span] = []
    i = 0
    while i < n:
        j = _window_end(spans, i, size, measure)
        if j < n:
            j = _nicer_end(text, spans, i, j)
        out.append((spans[i][0], spans[j - 1][1]))
        if j >= n:
            break
        i = _next_start(text, spans, i, j, overlap, measure)
    return out


def _window_end(spans: Sequence[Span], i: int, size: int, measure: Callable[[int, int], int]) -> int:
    j = i + 1
    while j < len(spans) and measure(i, j + 1) <= size:
        j += 1
    return j


def _starts_word(spans: Sequence[Span], k: int) -> bool:
    return k == 0 or spans[k][0] > spans[k - 1][1]


def _nicer_end(text: str, spans: Sequence[Span], i: int, j: int) -> int:
    """Move the end back to a sentence end in the window's last 30 %, else to a word boundary."""
    floor = i + max(1, int((j - i) * 0.7))
    for b in range(j, floor, -1):
        if text[spans[b - 1][1] - 1] in _SENTENCE_END and _starts_word(spans, b):
            return b
    for b in range(j, i, -1):
        if _starts_word(spans, b):
            return b
    return j


def _next_start(text: str, spans: Sequence[Span], i: int, j: int, overlap: int,
                measure: Callable[[int, int], int]) -> int:
    """Back up ``overlap`` units from ``j``; start at a sentence start inside the overlap when there is one."""
    k = j
    while k - 1 > i and measure(k - 1, j) <= overlap:
        k -= 1
    for b in range(max(k, i + 1), j):
        if _starts_word(spans, b) and text[spans[b - 1][1] - 1] in _SENTENCE_END:
            return b  # a passage that starts with a sentence reads (and summarises) better
    while k < j and not _starts_word(spans, k):  # never start inside a word
        k += 1
    return max(k, i + 1)


def chunk_id(doc_id: str, spec_fp: str, ordinal: int, span: Span) -> str:
    """Stable chunk id: same document, settings and window give the same id."""
    raw = f"{doc_id}\x00{spec_fp}\x00{ordinal}\x00{span[0]}:{span[1]}"
    return "c_" + hashlib.blake2b(raw.encode(), digest_size=10).hexdigest()


def text_hash(text: str) -> str:
    """Key of the embedding cache: identical passages share one vector."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()
