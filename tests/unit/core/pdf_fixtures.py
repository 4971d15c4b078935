"""PDFs the tests make themselves (fpdf2): text on known pages, image-only pages, encrypted copies (pypdf)."""

from __future__ import annotations

import io

from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

PAGES = ["Gardening starts with good soil and patient watering.",
         "Telescopes gather light; the larger the mirror, the fainter the galaxy.",
         "Refunds arrive within five business days after the return is scanned."]


def make_pdf(pages: list[str | None]) -> bytes:
    """A PDF with one page per entry: its text, or (None) a drawn rectangle and no text at all."""
    doc = FPDF()
    doc.set_font("Helvetica", size=12)
    for text in pages:
        doc.add_page()
        if text is None:
            doc.rect(20, 20, 100, 60, style="F")
        else:
            doc.multi_cell(0, 8, text)
    return bytes(doc.output())


def encrypted(data: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="RC4-128")
    sink = io.BytesIO()
    writer.write(sink)
    return sink.getvalue()
