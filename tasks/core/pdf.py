"""PDF text, page by page (pypdf), with where each page starts, or a recorded skip with its own reason.

One PDF is one document: its pages' text joined by a blank line, and ``page_starts`` (the character offset of each
page in that text) in its metadata with ``pages``, so every chunk can say which page(s) it comes from
(`page_span`). pypdf is pure Python (no native code to crash on a hostile file), reads the text layer in reading
order, and is maintained; a PDF's size is already capped by ``max_object_mb`` before it gets here, and
:data:`MAX_PAGES` caps the pages read.

Reasons: ``pdf_encrypted`` (a password is needed; an owner-password-only PDF, readable with the empty password,
is read), ``pdf_no_text`` (no text layer: scanned images), ``pdf_malformed`` (pypdf could not parse it),
``pdf_too_many_pages`` (over :data:`MAX_PAGES`). A page that fails alone is skipped alone (``pdf_page_error``,
its number as the record number) and the rest of the PDF is kept.
"""

from __future__ import annotations

import bisect
import io
import json
import logging
from collections.abc import Sequence
from typing import Any

#: Pages read from one PDF at most (a PDF bomb's page tree is refused, not walked).
MAX_PAGES = 5000
PAGE_SEPARATOR = "\n\n"


def pdf_pages(data: bytes) -> tuple[list[str], list[tuple[str, str, int | None]]]:
    """The text of each page, and problems as ``(reason, detail, page number or None)``; a whole-file problem
    leaves the page list empty."""
    # pypdf costs ~0.3 s to import: only buckets with PDFs pay it.
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # pypdf warns about every oddity it recovers from
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            return [], [("pdf_encrypted", "the PDF needs a password to open", None)]
        count = len(reader.pages)
    except Exception as exc:  # noqa: BLE001 - any parser failure on untrusted bytes is a recorded skip
        reason = "pdf_encrypted" if "encrypt" in str(exc).lower() else "pdf_malformed"
        return [], [(reason, f"pypdf could not read it: {type(exc).__name__}: {str(exc)[:200]}", None)]
    if count > MAX_PAGES:
        return [], [("pdf_too_many_pages", f"{count:,} pages is over the {MAX_PAGES:,}-page cap", None)]
    pages, problems = [], []
    for number in range(count):
        try:
            pages.append(reader.pages[number].extract_text() or "")
        except Exception as exc:  # noqa: BLE001 - one bad page is skipped alone
            pages.append("")
            problems.append(("pdf_page_error", f"page {number + 1}: {type(exc).__name__}: {str(exc)[:200]}",
                             number + 1))
    if not any(p.strip() for p in pages):
        return [], [("pdf_no_text", f"{count} page(s) without a text layer (scanned images?); OCR them first", None)]
    return pages, problems


def join_pages(pages: list[str]) -> tuple[str, list[int]]:
    """The document text and each page's starting offset in it."""
    starts, parts, offset = [], [], 0
    for page in pages:
        text = page.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
        starts.append(offset)
        parts.append(text)
        offset += len(text) + len(PAGE_SEPARATOR)
    return PAGE_SEPARATOR.join(parts), starts


def page_span(metadata: dict[str, Any] | None, char_start: int, char_end: int) -> tuple[int, int] | None:
    """First and last page (from 1) a chunk's characters fall on, or None for a document without pages."""
    starts = (metadata or {}).get("page_starts")
    if not isinstance(starts, list) or not starts:
        return None
    first = bisect.bisect_right(starts, char_start)
    last = bisect.bisect_right(starts, max(char_start, char_end - 1))
    return max(first, 1), max(last, 1)


def item_pages(metadata: Sequence[str | None], char_start: Sequence[int],
               char_end: Sequence[int]) -> tuple[list[int | None], list[int | None], list[str | None]]:
    """Per chunk: its first and last page and its document's metadata without ``page_starts`` (a long list that
    every chunk of a document would repeat), for ``items.parquet``. Chunks of documents without pages get None."""
    first: list[int | None] = [None] * len(metadata)
    last: list[int | None] = [None] * len(metadata)
    kept = list(metadata)
    parsed: dict[str, tuple[dict[str, Any], str]] = {}  # a document's chunks share one metadata string
    for row, raw in enumerate(metadata):
        if not raw or '"page_starts"' not in raw:
            continue
        if raw not in parsed:
            meta = json.loads(raw)
            parsed[raw] = meta, json.dumps({k: v for k, v in meta.items() if k != "page_starts"})
        meta, kept[row] = parsed[raw]
        span = page_span(meta, char_start[row], char_end[row])
        if span is not None:
            first[row], last[row] = span
    return first, last, kept
