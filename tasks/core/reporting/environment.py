"""The Jinja environment for reports: packaged templates, autoescaping everywhere, strict undefined, our filters."""

from __future__ import annotations

from typing import Any

import jinja2

from tasks.core.reporting.assets import TEMPLATE_DIR
from tasks.core.reporting.formatting import (
    bar_width,
    clip,
    close_bidi,
    dom_id,
    fmt_delta,
    fmt_fraction_pct,
    fmt_percent,
    fmt_score,
    fmt_seconds,
    fmt_thousands,
    fmt_timestamp,
    ratio,
    redact_url,
)

FILTERS: dict[str, Any] = {
    "thousands": fmt_thousands,
    "percent": fmt_percent,
    "fraction_pct": fmt_fraction_pct,
    "seconds": fmt_seconds,
    "score": fmt_score,
    "timestamp": fmt_timestamp,
    "clip": clip,
    "bar_width": bar_width,
    "ratio": ratio,
    "dom_id": dom_id,
    "redact_url": redact_url,
    "delta": fmt_delta,
}
"""The templates' filters by name (``{{ n|thousands }}``)."""


def make_environment() -> jinja2.Environment:
    """Build the Jinja environment used for reports.

    Autoescaping is on for every template, ``.html`` or not, and for string templates. Undefined values
    raise, so a missing field fails the render instead of silently printing nothing. Every printed value has
    the bidirectional overrides it opens closed (`close_bidi`).

    Returns:
        The environment over `TEMPLATE_DIR` with the `FILTERS` registered.
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml"), default_for_string=True, default=True
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=close_bidi,
    )
    env.filters.update(FILTERS)
    # Compact JSON for the script data blocks (the map of 100k chunks is most of the file); tojson still
    # escapes < > & ' so no string can close the <script> block.
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "separators": (",", ":")}
    return env
