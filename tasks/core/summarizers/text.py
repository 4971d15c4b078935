"""Text helpers the summarizer plug-ins share: the phrase analyzer and its stop words, whitespace and
Markdown clean-up, sentence splitting and cutting at a word boundary.

All functions take and return ``str`` (``None`` is tolerated as empty where noted) and are pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

__all__ = [
    "PARTICLES",
    "STOP_WORDS",
    "TITLES",
    "TOKEN_RE",
    "analyze_phrases",
    "collapse_whitespace",
    "first_nonempty",
    "leading_words",
    "split_sentences",
    "strip_markdown_headings",
    "truncate_at_word",
]

# sklearn's list misses contraction fragments ("didn't" -> "didn"), apostrophe-less spellings
# people type in tickets, and the filler verbs of requests ("I want to know how to use..."). They
# carry no topic but would otherwise turn up in the phrases of every cluster that asks for
# something ("want refund", "long does").
_EXTRA_STOP_WORDS = frozenset(
    "aren couldn didn doesn don hadn hasn haven isn mightn mustn needn shan shouldn wasn weren won "
    "wouldn ain ll ve re im ive id youre dont didnt doesnt isnt cant wont wasnt arent havent hasnt "
    "shouldnt wouldnt couldnt thats whats theres hi hello thanks thank pls please ok okay yes "
    "does did doing just really want wants wanted need needs needed know like make use using "
    "able way help got "
    # participles that work as prepositions: a phrase never ends on one ("Directory containing")
    "containing including regarding concerning according excluding involving".split()
)
# sklearn's list (the Glasgow list; sklearn's docs say it has "several known issues") also holds nouns
# and adjectives that name things: "top" (so "top up" could never be a phrase), "amount", "bill",
# "fire", "system", "interest". A theme about top-ups, gunfire or a file system must be able to say so.
# Measured (docs/benchmarks.md), with the phrasal-verb rule below and the participles above: Banking77's
# header-to-intent cosine 0.650 -> 0.677; 20 Newsgroups changes 2 headers of 98 (0.267 -> 0.270), The Great
# Gatsby 2 of 18.
_CONTENT_WORDS = frozenset(
    "amount bill bottom call detail empty fire front full interest mill side system thick thin "
    "top".split()
)
STOP_WORDS = (frozenset(ENGLISH_STOP_WORDS) - _CONTENT_WORDS) | _EXTRA_STOP_WORDS
# Particles are stop words on their own but complete a phrasal verb ("top up", "log out",
# "sign up"), so they may end a bigram (never start one or stand alone), and no bigram ends just
# before one ("auto top" would cut "top up" in two).
PARTICLES = frozenset({"up", "out", "off", "down"})

# "Mostly letters": two or more letters, optionally followed by up to two digits ("mp3",
# "covid19"). Numbers, ids, hashes with leading digits and snake_case identifiers never match.
TOKEN_RE = re.compile(r"(?u)\b[^\W\d_]{2,}\d{0,2}\b")
# A sentence ends at . ! ? (optionally closed by a quote/bracket) followed by whitespace and
# something that can start a sentence; requiring that start keeps "e.g. the" in one piece.
# A closing quote or bracket stays with its sentence, and curly quotes count ("“Come here.” “Going fifty.”" is
# two sentences).
_SENTENCE_END_RE = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]”’»]))\s+(?=[\"'(\[“‘«]?[A-Z0-9])")
#: Abbreviated titles: the full stop after one ends no sentence ("but Mr. Gatsby").
TITLES = frozenset({"mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "gen", "col", "capt", "rev", "mt", "messrs"})
_ENDS_IN_TITLE_RE = re.compile(r"(?:^|[\s(\[\"'“‘])(\w+)\.$")
_WS_RE = re.compile(r"\s+")
_HEADING_RE = re.compile(r"^[ \t]{0,3}#{1,6}[ \t].*$", re.MULTILINE)


def analyze_phrases(text: str) -> list[str]:
    """Unigrams and bigrams of *adjacent* non-stop-word tokens (lower-cased).

    Dropping stop words before pairing (sklearn's default) glues words that were never next to
    each other ("waiting for my card" -> "waiting card"); pairing only true neighbours keeps
    bigrams readable as names ("card arrival", "exchange rate").
    """
    toks = TOKEN_RE.findall(text.lower())
    keep = [t not in STOP_WORDS for t in toks]
    grams = [t for t, k in zip(toks, keep, strict=True) if k]
    after = toks[2:] + ["", ""]
    grams += [
        f"{a} {b}"
        for a, b, c, ka, kb in zip(toks, toks[1:], after, keep, keep[1:], strict=False)  # neighbour pairs
        if ka and (kb or b in PARTICLES) and c not in PARTICLES  # "auto top" would cut "top up" in two
    ]
    return grams


def collapse_whitespace(text: str | None) -> str:
    """``text`` with every whitespace run turned into one space and the ends stripped."""
    return _WS_RE.sub(" ", text or "").strip()


def strip_markdown_headings(text: str | None) -> str:
    """Drop Markdown heading lines (a heading is a title, not a sentence), unless nothing else is left."""
    prose = _HEADING_RE.sub("", text or "")
    return prose if prose.strip() else (text or "")


def split_sentences(text: str) -> list[str]:
    """Split already whitespace-collapsed ``text`` into sentences (always at least one, maybe ``""``); a full
    stop after a title (:data:`TITLES`: "Mr.", "Mrs.", "Dr.") or an initial ("T. J. Eckleburg") ends none."""
    out: list[str] = []
    for part in _SENTENCE_END_RE.split(text):
        if out and _ends_in_title(out[-1]):
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return out


def _ends_in_title(sentence: str) -> bool:
    """True when ``sentence`` ends in a title or an initial ("Doctor T. J."), whose full stop ends nothing."""
    m = _ENDS_IN_TITLE_RE.search(sentence)
    return bool(m) and (m.group(1).lower() in TITLES or (len(m.group(1)) == 1 and m.group(1).isupper()))


def truncate_at_word(text: str, limit: int) -> str:
    """Cut at the last word boundary so that the result, with "…", is at most ``limit`` chars."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:  # a boundary not absurdly early; else hard-cut one long token
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def leading_words(text: str | None, max_words: int = 6, limit: int = 60) -> str:
    """The first ``max_words`` words of ``text``, at most ``limit`` chars (a name of last resort)."""
    words = collapse_whitespace(text).split(" ")
    return truncate_at_word(" ".join(words[:max_words]).strip(), limit)


def first_nonempty(texts: Sequence[str], rows: np.ndarray, fn: Callable[[str], str]) -> str:
    """``fn(texts[r])`` for the first row ``r`` (in the given order) whose result is non-empty, else ``""``."""
    for r in rows:
        out = fn(texts[r])
        if out:
            return out
    return ""
