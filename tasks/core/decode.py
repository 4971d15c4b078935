"""Decoding: one object's bytes into text records, or recorded skips with a reason code.

Formats are chosen by extension: ``.txt .md .rst .log`` (and unknown extensions that are clean text) as one
document; ``.html/.htm`` as the page's main content or its visible text (`tasks.core.webpage`); ``.json`` as
one record or a list of records; ``.jsonl/.ndjson`` one record per line; ``.csv/.tsv`` one record per row;
``.pdf`` (or bytes that start ``%PDF-``) as one document with its pages (`tasks.core.pdf`); ``.docx``, ``.rtf``
and ``.eml`` as one document each (`tasks.core.office`). Nothing here raises on bad input: every problem
becomes a `Skip` (reason codes: ``binary``, ``bad_utf8``, ``empty``, ``malformed_json``,
``missing_text_field``, ``unsupported_type``, ``repetitive`` (a flood: `flood`), ``encoded_binary`` (nothing but
encoded data: `without_encoded`), and those of `tasks.core.pdf` and `tasks.core.office`). A bad line in a JSONL
file skips that line only. Blocks of encoded binary inside a text (a uuencoded file, a base64 attachment, a PGP
signature) are left out of it.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import zlib
from dataclasses import dataclass, field, replace
from typing import Any

from tasks.core.office import docx_text, eml_text, rtf_text
from tasks.core.pdf import join_pages, pdf_pages
from tasks.core.webpage import HtmlMode, page_text

HTML_EXTENSIONS = {".html", ".htm", ".xhtml"}
# Formats people drop into buckets that we cannot read as text: say so instead of guessing.
UNSUPPORTED_EXTENSIONS = {
    ".doc", ".xls", ".xlsx", ".ppt", ".pptx", ".odt", ".zip", ".gz", ".tgz", ".bz2", ".xz",
    ".7z", ".tar", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tiff", ".mp3", ".mp4", ".wav", ".mov",
    ".exe", ".dll", ".so", ".bin", ".parquet", ".avro", ".orc", ".pickle", ".pkl", ".npy", ".db", ".sqlite",
}
SNIFF_BYTES = 8192
#: Floods (`flood`): texts this long that zlib squeezes below the ratio or that use fewer distinct words.
FLOOD_MIN_CHARS = 32_768
FLOOD_RATIO = 0.05
FLOOD_MIN_WORDS = 200
FLOOD_SAMPLE_CHARS = 1 << 20
#: A line of encoded binary: uuencode (``M`` then 40-60 characters of its alphabet; trailing blanks are often
#: trimmed) or base64 (32 or more of its characters with a letter or digit among the first nine, so that a rule
#: of ``+++`` is not one), after any quoting (``>``, ``|``).
ENCODED_LINE = re.compile(r"^[>| \t]*(?:M[\x20-\x60]{40,60}|[+/]{0,8}[A-Za-z0-9][A-Za-z0-9+/]{31,}={0,2})[ \t\r]*$",
                          re.MULTILINE)
#: Consecutive encoded lines that make a block to leave out (a line or two may be an identifier or a hash).
ENCODED_MIN_LINES = 3
#: The lines that open and close a block go with it: uuencode's ``begin 644 name`` before it; after it up to
#: three of its short last line (mostly symbols), the lone backquote and ``end``, or base64's short last line
#: (with a digit, ``+``, ``/`` or ``=``, so that a word like "Thanks" is not one).
_BLOCK_HEAD = re.compile(r"[>| \t]*begin [0-7]{3,4} \S.*")
_UU_TAIL = re.compile(r"[>| \t]*(?:end|`|[\x21-\x60][\x20-\x60]{0,60})[ \t\r]*")
_B64_TAIL = re.compile(r"[>| \t]*[A-Za-z0-9+/]{0,75}[0-9+/=][A-Za-z0-9+/=]*[ \t\r]*")
_TAIL_LINES = 3
#: A text with fewer words than this left once its encoded blocks are out is an ``encoded_binary`` skip.
ENCODED_MIN_WORDS_LEFT = 5
_WORD_RE = re.compile(r"[^\W\d_]{2,}")
#: Formats read by their own parser into one document (`tasks.core.office`).
DOCUMENT_READERS = {".docx": docx_text, ".rtf": rtf_text, ".eml": eml_text}
#: Readers added after objects of their extension were read as text: such objects are read again (`fingerprint`).
READER_VERSIONS = {".rtf": "rtf1"}


@dataclass(frozen=True)
class DecodeOptions:
    """Per-run decoding knobs (from `RunParams`)."""

    text_field: str = "text"
    id_field: str = "id"
    csv_text_column: str = "text"
    html_mode: HtmlMode = "main"

    def fingerprint(self, key: str = "") -> str:
        """A string that changes whenever decoding ``key`` would produce different documents: an object decoded
        under another fingerprint is read again. A reader's own knobs and version count only for its files, so
        switching ``html_mode`` re-reads the web pages and nothing else."""
        base = f"v2|{self.text_field}|{self.id_field}|{self.csv_text_column}"  # v2: encoded blocks left out
        ext = extension_of(key)
        if ext in HTML_EXTENSIONS:
            return f"{base}|html-{self.html_mode}"
        return f"{base}|{READER_VERSIONS[ext]}" if ext in READER_VERSIONS else base


@dataclass(frozen=True)
class Record:
    """One document decoded from an object."""

    text: str
    record_no: int | None = None
    record_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Skip:
    """Something that could not be used; ``record_no`` is None when the whole object is skipped."""

    reason: str
    detail: str
    record_no: int | None = None


@dataclass(frozen=True)
class Decoded:
    """The outcome of decoding one object: usable records plus skipped parts."""

    records: list[Record]
    skips: list[Skip]
    encoded_lines: int = 0  # lines of encoded binary left out of the records (`without_encoded`)


def extension_of(key: str) -> str:
    """Lower-case extension of the last path segment (``""`` when there is none)."""
    name = key.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name.lstrip(".") else ""


def decode_object(key: str, data: bytes, options: DecodeOptions = DecodeOptions()) -> Decoded:
    """Decode one object's bytes into records; never raises on bad content. A record whose text is a flood
    (`flood`) is a ``repetitive`` skip.

    Args:
        key: the object key (its extension picks the format).
        data: the object's bytes.
        options: field and column names.

    Returns:
        `Decoded` with the usable records and the skips (a whole-object skip leaves ``records`` empty).
    """
    decoded = _decode(key, data, options)
    records, skips, encoded_lines = [], list(decoded.skips), 0
    for record in decoded.records:
        if why := flood(record.text):
            skips.append(Skip("repetitive", why, record.record_no))
            continue
        text, removed = usable_text(record.text)
        encoded_lines += removed
        if text is None:
            skips.append(Skip("encoded_binary", f"{removed:,} lines of encoded binary (uuencode or base64) and no "
                              "text around them to cluster", record.record_no))
            continue
        records.append(replace(record, text=text) if removed else record)
    return Decoded(records, skips, encoded_lines)


def usable_text(text: str) -> tuple[str | None, int]:
    """``text`` without its encoded blocks (`without_encoded`), or None when fewer than
    :data:`ENCODED_MIN_WORDS_LEFT` words are left around them; and the lines left out."""
    left, removed = without_encoded(text)
    if removed and len(_WORD_RE.findall(left)) < ENCODED_MIN_WORDS_LEFT:
        return None, removed
    return left, removed


def without_encoded(text: str) -> tuple[str, int]:
    """``text`` without its blocks of encoded binary (:data:`ENCODED_MIN_LINES` or more consecutive
    :data:`ENCODED_LINE` lines), and how many lines were left out.

    A posted file says nothing a reader could name, and it is long: on full-length 20 Newsgroups, 33 of 18,812
    posts carry uuencoded files or PGP blocks worth 5,387 of the corpus's 52,470 chunks, which clustered as
    themes of their own headed by fragments of the encoding. Left out, chunk-level themes score document NMI
    0.482 -> 0.508-0.523 there (docs/benchmarks.md, "Clustering by document"). The words of the post around a block
    stay; its ``begin``/``end`` lines go with it (`_with_head_and_tail`).
    """
    spans = [m.span() for m in ENCODED_LINE.finditer(text)]
    if len(spans) < ENCODED_MIN_LINES:
        return text, 0
    blocks, run = [], [spans[0]]
    for span in spans[1:]:
        if span[0] == run[-1][1] + 1:  # the very next line
            run.append(span)
        else:
            blocks.append(run)
            run = [span]
    blocks.append(run)
    blocks = [b for b in blocks if len(b) >= ENCODED_MIN_LINES]
    if not blocks:
        return text, 0
    parts, at, removed = [], 0, 0
    for block in blocks:
        start, end = _with_head_and_tail(text, block[0][0], block[-1][1], at)
        start = max(start, at)  # the previous block's closing lines may have reached into this one
        if end < start:
            continue
        parts.append(text[at:start])
        at = end + 1  # the block's last newline goes with it
        removed += text.count("\n", start, end) + 1
    parts.append(text[at:])
    return "".join(parts), removed


def _with_head_and_tail(text: str, start: int, end: int, floor: int) -> tuple[int, int]:
    """A block's span (from the start of its first line to the end of its last) widened over a ``begin``
    line just before it (not before ``floor``) and the closing lines just after it (`_UU_TAIL`, `_B64_TAIL`)."""
    before = text.rfind("\n", floor, max(start - 1, floor))
    head_start = floor if before < 0 else before + 1
    if start > floor and _BLOCK_HEAD.fullmatch(text, head_start, start - 1):
        start = head_start
    for _ in range(_TAIL_LINES):
        if end + 1 >= len(text):
            break
        nxt = text.find("\n", end + 1)
        nxt = len(text) if nxt < 0 else nxt
        line = text[end + 1 : nxt]
        if not (_B64_TAIL.fullmatch(line) or (_UU_TAIL.fullmatch(line) and _mostly_symbols_or_code(line))):
            break
        end = nxt
    return start, end


def _mostly_symbols_or_code(line: str) -> bool:
    """``end``, a backquote, or a short line of which at least 30 % is neither a letter nor a blank."""
    core = line.strip(" \t\r>|")
    if core in ("end", "`"):
        return True
    return bool(core) and sum(not (ch.isalpha() or ch.isspace()) for ch in core) >= 0.3 * len(core)


def flood(text: str) -> str | None:
    """Why ``text`` is a flood rather than content (None when it is content).

    A long text (at least :data:`FLOOD_MIN_CHARS`) that zlib squeezes below :data:`FLOOD_RATIO` of its size, or
    that uses fewer than :data:`FLOOD_MIN_WORDS` distinct words, is one thing said over and over: cut into
    chunks, it would become one dense theme that drowns every real document. Measured at zlib level 1 on the
    first MiB: English prose 0.41-0.46 (The Great Gatsby, long 20 Newsgroups posts), a dpkg log 0.11, one word
    or two sentences repeated 0.005-0.007.
    """
    if len(text) < FLOOD_MIN_CHARS:
        return None
    head = text[:FLOOD_SAMPLE_CHARS]
    ratio = len(zlib.compress(head.encode("utf-8", "replace"), 1)) / max(len(head.encode("utf-8", "replace")), 1)
    words = len(set(head.split()))
    if ratio < FLOOD_RATIO or words < FLOOD_MIN_WORDS:
        return (f"{len(text):,} characters that repeat themselves (zlib keeps {100 * ratio:.1f} %, {words:,} "
                "distinct words): a flood would drown the other documents' themes; fix or remove the file")
    return None


def _decode(key: str, data: bytes, options: DecodeOptions) -> Decoded:
    ext = extension_of(key)
    if ext in UNSUPPORTED_EXTENSIONS:
        return _skip("unsupported_type", f"{ext} files are not text; convert them to .txt/.jsonl first")
    if ext == ".pdf" or data.startswith(b"%PDF-"):
        return _decode_pdf(data)
    if ext in DOCUMENT_READERS:
        text, extra = DOCUMENT_READERS[ext](data)
        return _skip(*extra) if text is None else _single(text, extra)
    text, problem = bytes_to_text(data)
    if problem is not None:
        return Decoded([], [problem])
    if ext in {".jsonl", ".ndjson"}:
        return _decode_jsonl(text, options)
    if ext == ".json":
        return _decode_json(text, options)
    if ext in {".csv", ".tsv"}:
        return _decode_csv(text, options, delimiter="\t" if ext == ".tsv" else ",")
    if ext in HTML_EXTENSIONS:
        return _single(*page_text(text, options.html_mode))
    return _single(text, {})


def _decode_pdf(data: bytes) -> Decoded:
    """One document: the pages' text with ``pages`` and ``page_starts`` as metadata (`tasks.core.pdf`)."""
    pages, problems = pdf_pages(data)
    skips = [Skip(reason, detail, page) for reason, detail, page in problems]
    if not pages:
        return Decoded([], skips)
    text, starts = join_pages(pages)
    return Decoded([Record(text=text, metadata={"pages": len(pages), "page_starts": starts})], skips)


def bytes_to_text(data: bytes) -> tuple[str, Skip | None]:
    """UTF-8 (or BOM-marked UTF-16) bytes to text with normalised newlines, or the reason it is not text."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return normalise_newlines(data.decode("utf-16")), None
        except UnicodeDecodeError as exc:
            return "", Skip("bad_utf8", f"invalid UTF-16 at byte {exc.start}")
    if b"\x00" in data[:SNIFF_BYTES]:
        return "", Skip("binary", "NUL bytes in the first 8 KiB: this is a binary file, not text")
    try:
        return normalise_newlines(data.decode("utf-8-sig")), None
    except UnicodeDecodeError as exc:
        if _looks_binary(data[:SNIFF_BYTES]):
            return "", Skip("binary", "mostly non-text bytes: this is a binary file, not text")
        snippet = data[max(0, exc.start - 20) : exc.start + 4]
        return "", Skip("bad_utf8", f"invalid UTF-8 at byte {exc.start} (near {snippet!r}); re-save the file as UTF-8")


def normalise_newlines(text: str) -> str:
    """CRLF and CR to LF, so character offsets mean the same on every platform."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _looks_binary(sample: bytes) -> bool:
    # Text in a legacy encoding has a few high bytes; binary formats have many control bytes.
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    return len(sample) > 0 and controls / len(sample) > 0.05


def _skip(reason: str, detail: str) -> Decoded:
    return Decoded([], [Skip(reason, detail)])


def _single(text: str, metadata: dict[str, Any]) -> Decoded:
    if not text.strip():
        return _skip("empty", "no text (empty or whitespace only)")
    return Decoded([Record(text=text, metadata=metadata)], [])


def _record_from_value(value: Any, number: int, options: DecodeOptions) -> Record | Skip:
    """A JSON value (object or string) to a record; ``number`` is its line or list index."""
    if isinstance(value, str):
        text, meta, rid = value, {}, None
    elif isinstance(value, dict):
        text = value.get(options.text_field)
        if not isinstance(text, str):
            found = ", ".join(sorted(map(str, value))[:8]) or "none"
            return Skip("missing_text_field", f"no string field {options.text_field!r} (fields: {found})", number)
        meta = {k: v for k, v in value.items() if k != options.text_field}
        rid = value.get(options.id_field)
        rid = None if rid is None else str(rid)
    else:
        return Skip("missing_text_field", f"a JSON {type(value).__name__}, not an object or string", number)
    if not text.strip():
        return Skip("empty", "empty text", number)
    return Record(text=text, record_no=number, record_id=rid, metadata=meta)


def _collect(items: list[Record | Skip]) -> Decoded:
    records = [i for i in items if isinstance(i, Record)]
    skips = [i for i in items if isinstance(i, Skip)]
    if not records and not skips:
        skips = [Skip("empty", "no records")]
    return Decoded(records, skips)


def _decode_jsonl(text: str, options: DecodeOptions) -> Decoded:
    items: list[Record | Skip] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            items.append(Skip("malformed_json", f"line {number}: {exc.msg} (column {exc.colno})", number))
            continue
        items.append(_record_from_value(value, number, options))
    return _collect(items)


def _decode_json(text: str, options: DecodeOptions) -> Decoded:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return _skip("malformed_json", f"{exc.msg} at line {exc.lineno} column {exc.colno}")
    values = value if isinstance(value, list) else [value]
    return _collect([_record_from_value(v, i, options) for i, v in enumerate(values)])


def _decode_csv(text: str, options: DecodeOptions, *, delimiter: str) -> Decoded:
    csv.field_size_limit(1 << 30)  # default 128 KiB would reject long ticket bodies
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    column = options.csv_text_column
    if reader.fieldnames is None:
        return _skip("empty", "no header row")
    if column not in reader.fieldnames:
        cols = ", ".join(reader.fieldnames[:12])
        return _skip("missing_text_field", f"no column {column!r} (columns: {cols}); set csv_text_column")
    items: list[Record | Skip] = []
    try:
        for number, row in enumerate(reader, start=1):
            items.append(_record_from_value({k: v for k, v in row.items() if k is not None}, number,
                                            DecodeOptions(column, options.id_field, column)))
    except csv.Error as exc:
        items.append(Skip("malformed_csv", f"row {reader.line_num}: {exc}", reader.line_num))
    return _collect(items)
