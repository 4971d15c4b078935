"""Word documents (.docx, python-docx), RTF (striprtf) and e-mails (.eml, the standard library's parser) as text.

A .docx is its paragraphs and its tables' cells in document order, a blank line between them, with the
title and author of its properties as metadata. An .eml is its body (the plain-text part, else the HTML part
as visible text) without the quoted reply lines (``>``) and without the signature after the ``-- `` line, with
``subject``, ``from`` and ``date`` as metadata. An .rtf is its text without control words, its ``\\'hh`` and
``\\u`` escapes decoded. Failures are ``(reason, detail)``: ``docx_malformed``, ``rtf_malformed``,
``eml_malformed``; a document with no text is for the caller to call ``empty``.
"""

from __future__ import annotations

import io
import re
from email import policy
from email.parser import BytesParser
from typing import Any

from tasks.core.webpage import html_to_text

_SIGNATURE = re.compile(r"\n-- ?\n.*\Z", re.S)


def docx_text(data: bytes) -> tuple[str, dict[str, Any]] | tuple[None, tuple[str, str]]:
    """The document's text and metadata, or ``(None, (reason, detail))``."""
    # python-docx and lxml cost ~0.2 s to import: only buckets with Word files pay it.
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
        parts = []
        for block in document.element.body.iterchildren():
            tag = block.tag.rsplit("}", 1)[-1]
            if tag == "p":
                parts.append("".join(t.text or "" for t in block.iter() if t.tag.endswith("}t")))
            elif tag == "tbl":
                for row in block.iter():
                    if row.tag.endswith("}tr"):
                        cells = ["".join(t.text or "" for t in c.iter() if t.tag.endswith("}t"))
                                 for c in row if c.tag.endswith("}tc")]
                        parts.append(" | ".join(c for c in cells if c.strip()))
        props = document.core_properties
        meta = {k: v for k, v in (("title", props.title), ("author", props.author)) if v}
    except Exception as exc:  # noqa: BLE001 - any parser failure on untrusted bytes is a recorded skip
        return None, ("docx_malformed", f"not a readable .docx: {type(exc).__name__}: {str(exc)[:200]}")
    return "\n\n".join(p.strip() for p in parts if p.strip()), meta


def rtf_text(data: bytes) -> tuple[str, dict[str, Any]] | tuple[None, tuple[str, str]]:
    """The text of an RTF document, or ``(None, (reason, detail))``."""
    # striprtf is small, but only buckets with RTF files need it.
    from striprtf.striprtf import rtf_to_text

    if not data.lstrip().startswith(b"{\\rtf"):
        return None, ("rtf_malformed", "an .rtf file must start with {\\rtf")
    try:  # RTF is 7-bit: anything else is an escape (\'hh in the document's code page, \uN as Unicode)
        text = rtf_to_text(data.decode("latin-1"), encoding="cp1252", errors="replace")
    except Exception as exc:  # noqa: BLE001 - a parser failure on untrusted bytes is a recorded skip
        return None, ("rtf_malformed", f"not readable RTF: {type(exc).__name__}: {str(exc)[:200]}")
    text = re.sub(r"[ \t]+\n", "\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip(), {}


def eml_text(data: bytes) -> tuple[str, dict[str, Any]] | tuple[None, tuple[str, str]]:
    """The message's own words and its headers, or ``(None, (reason, detail))``."""
    try:
        message = BytesParser(policy=policy.default).parsebytes(data)
        part = message.get_body(preferencelist=("plain", "html"))
        body = part.get_content() if part is not None else ""
        if part is not None and part.get_content_subtype() == "html":
            body = html_to_text(body)[1]
        meta = {k: str(message[h]) for k, h in (("subject", "Subject"), ("from", "From"), ("date", "Date"))
                if message[h]}
    except Exception as exc:  # noqa: BLE001 - a broken message is a recorded skip
        return None, ("eml_malformed", f"not a readable e-mail: {type(exc).__name__}: {str(exc)[:200]}")
    body = body.replace("\r\n", "\n")
    body = _SIGNATURE.sub("", body)
    own = [line for line in body.split("\n") if not line.lstrip().startswith(">")]
    return "\n".join(own).strip(), meta
