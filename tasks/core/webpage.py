"""Web pages as text: the page's main content (trafilatura), or every word a browser would show.

``main`` (the default ``html_mode``) keeps what the page is about and drops what every page of a site shares:
menus, cookie banners, sidebars, footers (and the tables of a page laid out in tables, unless tables are all
the page holds). trafilatura does it from the page alone (its own rules on tags, class names and link
density), so a page decodes the same whatever else the bucket holds. Its ``fast`` mode skips the jusText and
readability fallbacks: measured on bench/web.py's 300 pages, 202 pages/s instead of 56, with the same
result (no page keeps any boilerplate). It also finds the page's title, author, date and site name, kept as
metadata. A page where it finds no main content (a bare fragment, a footer alone) is read as visible text and
says so (``html_content: visible``), so nothing is silently dropped. ``visible`` is the old mode: every visible word,
scripts and styles dropped, ``<title>`` kept.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any, Literal

HtmlMode = Literal["main", "visible"]
#: Metadata trafilatura finds and we keep, by its attribute name.
_PAGE_FIELDS = ("title", "author", "date", "sitename")


def page_text(html: str, mode: HtmlMode = "main") -> tuple[str, dict[str, Any]]:
    """The text of an HTML page and its metadata (``title``, and in ``main`` mode what else the page says)."""
    title, visible = html_to_text(html)
    meta: dict[str, Any] = {"title": title} if title else {}
    if mode == "visible" or not visible:
        return visible, meta
    main, found = main_content(html)
    if not main:
        return visible, {**meta, "html_content": "visible"}
    return main, {**meta, **found}


def main_content(html: str) -> tuple[str, dict[str, Any]]:
    """The page's main text and the metadata trafilatura finds (``("", {})`` when it finds none)."""
    # trafilatura and its fallbacks cost ~0.5 s to import: only buckets with web pages pay it.
    import trafilatura

    doc = None
    # Tables are read only when the page holds nothing else: a site laid out in a table (header, menu, sidebar
    # and footer in its cells) is otherwise kept whole. Measured: on the shared-mime-info specification the
    # text without its tables still holds 95.4 % of the PDF edition's words (95.1 % with them).
    for tables in (False, True):
        try:
            doc = trafilatura.bare_extraction(html, include_comments=False, include_tables=tables,
                                              with_metadata=True, deduplicate=False, fast=True)
        except Exception:  # noqa: BLE001 - an extractor failure on untrusted markup falls back to visible text
            return "", {}
        if doc is not None and (doc.text or "").strip():
            break
    else:
        return "", {}
    meta = {name: str(getattr(doc, name)) for name in _PAGE_FIELDS if getattr(doc, name, None)}
    return _tidy(doc.text), meta


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t\f\v]+", " ", text.replace("\r\n", "\n"))
    return re.sub(r" *\n[ \n]*\n *", "\n\n", text).strip()


class _VisibleText(HTMLParser):
    """Collects the text a browser would show; drops scripts, styles and markup."""

    HIDDEN = {"script", "style", "noscript", "template", "svg", "head"}
    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
              "blockquote", "pre", "table", "ul", "ol", "header", "footer", "hr", "dd", "dt"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._hidden = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self.HIDDEN:
            self._hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self.HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._hidden:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """Return ``(title, visible text)`` of an HTML page, whitespace tidied."""
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    body = re.sub(r"[ \t\f\v]+", " ", "".join(parser.parts))
    body = re.sub(r" *\n[ \n]*\n *", "\n\n", body)
    body = re.sub(r" *\n *", "\n", body).strip()
    return " ".join("".join(parser.title).split()), body
