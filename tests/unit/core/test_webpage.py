"""Web pages: main content without the site's boilerplate, the visible-text mode, metadata and fallbacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.core.decode import DecodeOptions, decode_object
from tasks.core.webpage import html_to_text, page_text
from tests.unit.core.webpage_fixtures import COOKIE_NOTICE, FOOTER_NOTICE, MENU_ITEMS, site_page

ARTICLE = ["The tent pole snapped on the second night and the rain fly leaked at every seam.",
           "Customer care sent a replacement pole within a week, but the fly still leaks in heavy rain."]
SPEC_HTML = Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.html")


def test_main_mode_keeps_the_article_and_drops_menu_banner_and_footer():
    text, meta = page_text(site_page("Tent pole broke", ARTICLE), "main")
    assert all(sentence in text for sentence in ARTICLE)
    assert COOKIE_NOTICE not in text and FOOTER_NOTICE[:40] not in text
    assert not any(item in text for item in MENU_ITEMS)
    assert meta["title"].startswith("Tent pole broke") and meta["author"] == "Acme editors"


def test_visible_mode_keeps_every_visible_word():
    text, meta = page_text(site_page("Tent pole broke", ARTICLE), "visible")
    assert all(s in text for s in ARTICLE) and COOKIE_NOTICE in text and FOOTER_NOTICE in text
    assert all(item in text for item in MENU_ITEMS)
    assert meta == {"title": "Tent pole broke | Acme Outdoor Supply"}


def test_the_mode_is_a_decoding_option():
    page = site_page("Tent pole broke", ARTICLE).encode()
    main = decode_object("a/review.html", page).records[0]
    visible = decode_object("a/review.html", page, DecodeOptions(html_mode="visible")).records[0]
    assert COOKIE_NOTICE not in main.text and COOKIE_NOTICE in visible.text
    assert DecodeOptions(html_mode="visible").fingerprint("a.htm") != DecodeOptions().fingerprint("a.htm")
    assert DecodeOptions(html_mode="visible").fingerprint("a.txt") == DecodeOptions().fingerprint("a.txt")


def test_a_page_without_main_content_is_read_as_visible_text_and_says_so():
    text, meta = page_text("<html><body><footer>Opening hours: 9 to 5</footer></body></html>", "main")
    assert text == "Opening hours: 9 to 5" and meta == {"html_content": "visible"}


@pytest.mark.parametrize(("markup", "word"), [
    ("<html><body><div><div><p>unclosed " * 2000, "unclosed"),
    ("<p>\x00\x01 control bytes</p>", "control bytes"),
    ("<html><body>" + "<table><tr><td>cell</td>" * 500, "cell"),
    ("</p></div></body></html> stray closers only", "stray closers only"),
    ("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><p>&a; entity</p>", "entity"),
])
def test_broken_markup_never_raises_and_keeps_its_words(markup: str, word: str):
    text, meta = page_text(markup, "main")
    assert word in text and isinstance(meta, dict)


def test_script_only_pages_are_empty_skips_in_both_modes():
    for mode in ("main", "visible"):
        decoded = decode_object("x.html", b"<html><script>x()</script></html>", DecodeOptions(html_mode=mode))
        assert not decoded.records and decoded.skips[0].reason == "empty"


@pytest.mark.skipif(not SPEC_HTML.is_dir(), reason="Debian's shared-mime-info documentation is not installed")
def test_a_real_manual_page_from_a_debian_package():
    """The shared-mime-info specification as Debian ships it (DocBook HTML with navigation bars)."""
    html = (SPEC_HTML / "index.html").read_text()
    main, _ = page_text(html, "main")
    visible = html_to_text(html)[1]
    assert "shared-mime-info" in main.lower() or "mime" in main.lower()
    assert 0 < len(main) <= len(visible)
    for page in sorted(SPEC_HTML.glob("*.html")):
        text, _ = page_text(page.read_text(), "main")
        assert text.strip(), page.name


def test_a_page_laid_out_in_a_table_keeps_its_article_only_and_a_table_only_page_keeps_its_table():
    menu = " | ".join(MENU_ITEMS)
    body = "".join(f"<p>{s}</p>" for s in ARTICLE * 2)
    layout = (f"<html><body><table><tr><td colspan='2'>Acme Outdoor Supply<br>{menu}</td></tr><tr><td>Popular"
              f"<ul><li>Boots</li></ul></td><td><b>Tent pole broke</b>{body}</td></tr><tr><td colspan='2'>"
              f"<small>{COOKIE_NOTICE} {FOOTER_NOTICE}</small></td></tr></table></body></html>")
    text, _ = page_text(layout, "main")
    assert ARTICLE[0] in text and COOKIE_NOTICE[:40] not in text and MENU_ITEMS[0] not in text
    prices = ("<html><body><table><tr><th>Tent</th><th>Price</th></tr><tr><td>Ridgeline two-person tent</td>"
              "<td>249 pounds</td></tr><tr><td>Summit four-season tent</td><td>489 pounds</td></tr></table>"
              "</body></html>")
    text, _ = page_text(prices, "main")
    assert "Ridgeline two-person tent" in text and "489 pounds" in text
