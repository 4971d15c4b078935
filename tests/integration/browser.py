"""Open a report in headless Chromium (Debian's ``chromium``, driven by playwright) and record what it did.

Playwright's own browser download is never used: the browser is the system's ``chromium`` binary
(``make test`` installs it). Every page is watched for console errors, uncaught exceptions, dialogs
(``alert`` from an injected script would open one) and network requests other than the report itself.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"]


def chromium_path() -> str:
    """The system Chromium, or a clear error saying how to install it."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise RuntimeError("report browser tests need Debian's chromium: apt-get install -y chromium "
                           "(make test installs it)")
    return path


@dataclass
class PageLog:
    """What a page did while it was open."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def network(self, report: Path) -> list[str]:
        """Requests other than loading the report file itself."""
        own = report.resolve().as_uri()
        return [url for url in self.requests if url.split("#")[0] != own]


@contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium browser (playwright ``Browser``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@contextmanager
def open_report(chromium: Any, report: Path, fragment: str = "", *, width: int = 1280,
                height: int = 1000) -> Iterator[tuple[Any, PageLog]]:
    """Load ``report`` (plus ``#fragment``), wait until its script says it is ready, and log everything."""
    log = PageLog()
    page = chromium.new_page(viewport={"width": width, "height": height})
    page.on("console", lambda msg: log.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: log.page_errors.append(str(exc)))
    page.on("dialog", lambda dialog: (log.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: log.requests.append(request.url))
    try:
        page.goto(report.resolve().as_uri() + fragment)
        page.wait_for_selector("html[data-ts-ready]", state="attached", timeout=30_000)
        yield page, log
    finally:
        page.close()
