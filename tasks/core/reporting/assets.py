"""Where the report's files live: the Jinja templates and the static CSS and JavaScript inlined into every report.

``reports/templates/`` holds the pages (``base.html``, ``report.html``, ``_partials.html``);
``reports/static/`` holds ``report.css`` and ``report.js``, plain files that are read once per process and
inlined verbatim, so a report stays one file that opens offline. The static files are our own text, never
data: the script reads the page's data only from its ``application/json`` blocks and puts strings into the
page through ``textContent``, and its exact inlined text is pinned by hash in the page's
Content-Security-Policy.
"""

from __future__ import annotations

import functools
from pathlib import Path

REPORTS_DIR: Path = Path(__file__).resolve().parents[3] / "reports"
"""The repository's ``reports/`` folder (the project runs from its checkout: ``pip install -e .``)."""
TEMPLATE_DIR: Path = REPORTS_DIR / "templates"
"""The Jinja templates of the report."""
STATIC_DIR: Path = REPORTS_DIR / "static"
"""The CSS and JavaScript inlined into the report."""

STYLE_FILE = "report.css"
SCRIPT_FILE = "report.js"


@functools.cache
def static_text(name: str) -> str:
    """The text of ``reports/static/<name>`` (read once per process).

    Args:
        name: A file name in `STATIC_DIR`, e.g. `SCRIPT_FILE`.

    Returns:
        The file's text, exactly as stored.
    """
    return (STATIC_DIR / name).read_text(encoding="utf-8")
