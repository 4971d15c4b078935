"""PDFs: text and page numbers round-trip; encrypted, image-only, malformed and over-long PDFs are recorded skips."""

from __future__ import annotations

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
