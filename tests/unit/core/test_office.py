"""Word documents, RTF and e-mails: text in document order with their metadata; quoted replies and signatures out;
broken files are recorded skips."""

from __future__ import annotations

import io
from email.message import EmailMessage

import docx
import pytest

from tasks.core.decode import decode_object


def make_docx() -> bytes:
    document = docx.Document()
    document.core_properties.title = "Quarterly review"
    document.core_properties.author = "Ada"
    document.add_heading("Refunds", level=1)
    document.add_paragraph("Refunds took nine days on average in the third quarter.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Region", "Days"
    table.cell(1, 0).text, table.cell(1, 1).text = "North", "7"
    document.add_paragraph("Gardening kits were the most returned item.")
    sink = io.BytesIO()
    document.save(sink)
    return sink.getvalue()


def make_eml(html: bool = False) -> bytes:
    message = EmailMessage()
    message["Subject"] = "Where is my refund?"
    message["From"] = "Customer <c@example.com>"
    message["Date"] = "Mon, 23 Nov 2026 10:00:00 +0000"
    body = ("I returned the order last week and the refund has not arrived.\n\n"
            "On Sunday, Support wrote:\n> Please allow five business days.\n> Thanks\n\n-- \nSent from my phone\n")
    if html:
        message.set_content("<html><body><p>The <b>refund</b> still has not arrived.</p><script>x()</script>"
                            "</body></html>", subtype="html")
    else:
        message.set_content(body)
    return bytes(message)


def test_a_word_document_reads_in_order_with_its_tables_and_properties():
    [record] = decode_object("reports/q3.docx", make_docx()).records
    text = record.text
    assert text.index("Refunds took nine days") < text.index("North | 7") < text.index("Gardening kits")
    assert record.metadata == {"title": "Quarterly review", "author": "Ada"}


def test_an_email_keeps_its_own_words_and_headers_not_the_quoted_reply_or_signature():
    [record] = decode_object("mail/1.eml", make_eml()).records
    assert "refund has not arrived" in record.text
    assert "five business days" not in record.text and "Sent from my phone" not in record.text
    assert record.metadata["subject"] == "Where is my refund?" and record.metadata["from"].startswith("Customer")
    [html] = decode_object("mail/2.eml", make_eml(html=True)).records
    assert "refund still has not arrived" in " ".join(html.text.split()) and "x()" not in html.text


# What WordPad writes: a font table, a code page, \\'hh escapes in it, \\uN escapes with their ANSI stand-in.
RTF = (rb"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\fnil\fcharset0 Calibri;}}"
       rb"{\*\generator Riched20 10.0.19041}\viewkind4\uc1 \pard\sa200\sl276\slmult1\f0\fs22\lang9 "
       rb"The caf\'e9 charged me twice\u8212?a refund is still pending.\par "
       rb"{\b Second} paragraph: price 10 \u8364? incl. VAT.\par }")


def test_rtf_reads_as_its_text_with_code_page_and_unicode_escapes():
    [record] = decode_object("letters/complaint.rtf", RTF).records
    assert record.text.splitlines()[0] == "The caf\u00e9 charged me twice\u2014a refund is still pending."
    assert "Second paragraph: price 10 \u20ac incl. VAT." in record.text
    assert "Calibri" not in record.text and "Riched20" not in record.text


@pytest.mark.parametrize(("key", "data", "reason"), [
    ("broken.docx", b"PK\x03\x04 not really a zip", "docx_malformed"),
    ("plain.rtf", b"just text pretending to be RTF", "rtf_malformed"),
    ("blank.rtf", rb"{\rtf1\ansi{\fonttbl{\f0 Arial;}}\par\par}", "empty"),
    ("empty.docx", None, "empty"),
    ("blank.eml", b"Subject: nothing\n\n", "empty"),
])
def test_broken_or_empty_office_files_are_recorded_skips(key, data, reason):
    if data is None:
        sink = io.BytesIO()
        docx.Document().save(sink)
        data = sink.getvalue()
    decoded = decode_object(key, data)
    assert decoded.records == [] and [s.reason for s in decoded.skips] == [reason]
