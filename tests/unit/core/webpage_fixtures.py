"""Pages of one made-up shop: every page shares its header, menu, cookie banner and footer (the boilerplate
main-content extraction must drop), around an article of its own."""

from __future__ import annotations

from html import escape

MENU_ITEMS = ("Tents and shelters", "Hiking boots", "Rain jackets", "Camping stoves", "Trail maps", "Winter sale")
COOKIE_NOTICE = ("We use cookies to improve your experience on our website. By continuing to browse you agree "
                 "to our use of cookies and to our privacy policy.")
FOOTER_NOTICE = ("Copyright 2026 Acme Outdoor Supply Ltd. All rights reserved. Registered in England and Wales, "
                 "company number 0123456. Terms of service. Privacy policy. Contact customer care for support.")
#: Words only the boilerplate uses: none of them may head a theme in main mode.
BOILERPLATE_WORDS = {"cookies", "cookie", "browse", "copyright", "registered", "england", "wales", "rights",
                     "acme", "reserved", "privacy", "policy"}


def site_page(title: str, paragraphs: list[str]) -> str:
    """A page of the shop with ``paragraphs`` as its article, laid out the way real sites are."""
    menu = "".join(f'<li><a href="/c/{i}">{escape(item)}</a></li>' for i, item in enumerate(MENU_ITEMS))
    article = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (f"<!DOCTYPE html><html><head><title>{escape(title)} | Acme Outdoor Supply</title>"
            '<meta name="author" content="Acme editors"></head><body>'
            f'<div id="cookie-banner" class="cookie-consent"><p>{COOKIE_NOTICE}</p><button>Accept all cookies</button>'
            '</div><header class="site-header"><div class="logo">Acme Outdoor Supply</div>'
            f'<nav class="main-menu"><ul>{menu}</ul></nav></header>'
            f'<main><article><h1>{escape(title)}</h1>{article}</article></main>'
            f'<aside class="sidebar"><h3>Popular</h3><ul>{menu}</ul></aside>'
            f'<footer class="site-footer"><p>{FOOTER_NOTICE}</p></footer></body></html>')
