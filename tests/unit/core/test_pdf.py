"""PDFs: text and page numbers round-trip; encrypted, image-only, malformed and over-long PDFs are recorded skips."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tasks.core.pdf as pdf
from tasks.core.decode import decode_object
from tasks.core.pdf import page_span
from tests.unit.core.pdf_fixtures import PAGES, encrypted, make_pdf


def test_text_and_pages_round_trip():
    decoded = decode_object("reports/q3.pdf", make_pdf(PAGES))
    assert decoded.skips == [] and len(decoded.records) == 1
    record = decoded.records[0]
    assert record.metadata["pages"] == 3
    for number, text in enumerate(PAGES, start=1):
        start = record.text.index(text)
        assert start >= record.metadata["page_starts"][number - 1]
        assert page_span(record.metadata, start, start + len(text)) == (number, number)
    across = record.text.index(PAGES[0][-10:]), record.text.index(PAGES[1][:10]) + 10
    assert page_span(record.metadata, *across) == (1, 2)
    assert page_span({}, 0, 10) is None and page_span(None, 0, 10) is None


def test_a_pdf_without_its_extension_is_still_read_as_one():
    assert decode_object("exports/ticket-1234", make_pdf(PAGES[:1])).records[0].metadata["pages"] == 1


@pytest.mark.parametrize(("data", "reason"), [
    (lambda: encrypted(make_pdf(PAGES), "letmein"), "pdf_encrypted"),
    (lambda: make_pdf([None, None]), "pdf_no_text"),
    (lambda: b"%PDF-1.7\n" + b"\x00garbage that is no PDF object at all" * 50, "pdf_malformed"),
    (lambda: make_pdf(PAGES)[: len(make_pdf(PAGES)) // 3], "pdf_malformed"),
])
def test_bad_pdfs_are_recorded_skips_with_their_own_reason(data, reason):
    decoded = decode_object("bad.pdf", data())
    assert decoded.records == [] and [s.reason for s in decoded.skips] == [reason], decoded.skips
    assert decoded.skips[0].record_no is None and decoded.skips[0].detail


def test_a_pdf_locked_only_by_its_owner_is_read():
    decoded = decode_object("owner-only.pdf", encrypted(make_pdf(PAGES), ""))
    assert decoded.skips == [] and PAGES[2] in decoded.records[0].text


def test_a_pdf_over_the_page_cap_is_refused_before_its_pages_are_read(monkeypatch):
    monkeypatch.setattr(pdf, "MAX_PAGES", 2)
    decoded = decode_object("bomb.pdf", make_pdf(PAGES))
    assert decoded.records == [] and decoded.skips[0].reason == "pdf_too_many_pages"


def test_image_pages_among_text_pages_keep_their_numbers():
    decoded = decode_object("mixed.pdf", make_pdf([PAGES[0], None, PAGES[2]]))
    record = decoded.records[0]
    start = record.text.index(PAGES[2])
    assert record.metadata["pages"] == 3 and page_span(record.metadata, start, start + 5) == (3, 3)


LIBTASN1 = Path("/usr/share/doc/libtasn1-doc/libtasn1.pdf")
MIME_SPEC = Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec")


@pytest.mark.skipif(not LIBTASN1.is_file(), reason="Debian's libtasn1-doc (its manual as a PDF) is not installed")
def test_a_real_manual_from_a_debian_package_keeps_its_pages():
    """The libtasn1 manual (texinfo, pdfTeX): every function its index lists is found on the page the index
    names, through the pages and offsets the decoder records."""
    [record] = decode_object("manuals/libtasn1.pdf", LIBTASN1.read_bytes()).records
    starts = record.metadata["page_starts"]
    pages = [record.text[a:b] for a, b in zip(starts, [*starts[1:], len(record.text)], strict=True)]
    assert record.metadata["pages"] == len(pages) > 30
    entries = re.findall(r"^(asn1_\w+) [ .]+ (\d+)$", pages[-1], re.M)
    printed = {}  # the page number printed in each page's running head -> the PDF's page (1-based)
    for number, page in enumerate(pages, start=1):
        head = re.search(r"(\d+)\s*$", page.strip().splitlines()[0])
        if head:
            printed[int(head.group(1))] = number
    assert len(entries) >= 30
    for function, page_no in entries:
        pdf_page = printed[int(page_no)]
        found = re.search(r"\[Function\][^(]*\b" + function + r" \(", record.text)
        assert found and page_span(record.metadata, found.start(), found.end()) == (pdf_page, pdf_page), function


@pytest.mark.skipif(not (MIME_SPEC.with_suffix(".pdf").is_file() and MIME_SPEC.with_suffix(".html").is_dir()),
                    reason="Debian's shared-mime-info documentation is not installed")
def test_a_real_specification_reads_the_same_as_pdf_and_as_web_pages():
    """The shared-mime-info specification ships as a PDF (DocBook, FOP) and as HTML pages: the PDF's text holds
    the words of the web pages' main content."""
    [record] = decode_object("spec.pdf", MIME_SPEC.with_suffix(".pdf").read_bytes()).records
    html = " ".join(decode_object(p.name, p.read_bytes()).records[0].text
                    for p in sorted(MIME_SPEC.with_suffix(".html").glob("*.html")))
    words = lambda text: set(re.findall(r"[a-z]{4,}", text.lower()))  # noqa: E731
    shared = words(html) & words(record.text)
    assert record.metadata["pages"] > 10
    assert len(shared) / len(words(html)) > 0.9, sorted(words(html) - words(record.text))[:40]


def test_items_name_their_pages_and_drop_the_page_list():
    meta = '{"pages": 3, "page_starts": [0, 100, 250], "title": "Q3"}'
    first, last, kept = pdf.item_pages([meta, meta, None, '{"a": 1}'], [0, 90, 0, 0], [50, 260, 10, 10])
    assert (first, last) == ([1, 1, None, None], [1, 3, None, None])
    assert kept == ['{"pages": 3, "title": "Q3"}'] * 2 + [None, '{"a": 1}']
