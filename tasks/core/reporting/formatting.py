"""Plain-text formatting for the report: the numbers, times, clipped text, ids and URLs that templates print.

Every function takes whatever the data holds (numbers, strings, None, garbage) and returns a plain
``str`` (``ratio``: a float or None); none of them raises on bad input, they print an em dash instead.
Nothing here produces markup: autoescaping still applies when a result is printed.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

PASSAGE_MAX_CHARS = 300
"""Passages longer than this are cut (at a word boundary where one is near) and end in an ellipsis."""

_DASH = "\u2014"
_ELLIPSIS = "\u2026"
_MINUS = "\u2212"


def as_number(value: Any) -> float | None:
    """Return ``value`` as a finite float, or None if it is missing, a bool or not numeric."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def fmt_thousands(value: Any) -> str:
    """Format a count with thousands separators (``13083`` -> ``13,083``).

    Args:
        value: An int or float; anything non-numeric renders as an em dash.

    Returns:
        The formatted number.
    """
    number = as_number(value)
    if number is None:
        return _DASH
    if number.is_integer():
        return f"{int(number):,}"
    return f"{number:,.1f}"


def fmt_percent(value: Any, digits: int = 1) -> str:
    """Format a value that is already a percentage (``9.24`` -> ``9.2%``).

    Args:
        value: The percentage, 0-100.
        digits: Decimal places.

    Returns:
        The formatted percentage; tiny non-zero values render as ``<0.1%``.
    """
    number = as_number(value)
    if number is None:
        return _DASH
    smallest = 10.0**-digits
    if 0 < abs(number) < smallest:
        return f"<{smallest:.{digits}f}%"
    return f"{number:.{digits}f}%"


def fmt_fraction_pct(value: Any, digits: int = 1) -> str:
    """Format a fraction as a percentage (``0.0316`` -> ``3.2%``).

    Args:
        value: The fraction, 0-1.
        digits: Decimal places.

    Returns:
        The formatted percentage.
    """
    number = as_number(value)
    return _DASH if number is None else fmt_percent(number * 100, digits)


def fmt_seconds(value: Any) -> str:
    """Format a duration compactly (``0.09`` -> ``0.09s``, ``167.4`` -> ``2m 47s``, ``3720`` -> ``1h 02m``).

    Args:
        value: Seconds.

    Returns:
        A short human duration.
    """
    number = as_number(value)
    if number is None or number < 0:
        return _DASH
    if number < 1:
        return f"{number:.2f}s"
    if number < 60:
        return f"{number:.1f}s"
    minutes, secs = divmod(round(number), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def fmt_score(value: Any, digits: int = 2) -> str:
    """Format a 0-1 score such as cohesion or centrality (``0.713`` -> ``0.71``)."""
    number = as_number(value)
    return _DASH if number is None else f"{number:.{digits}f}"


def fmt_timestamp(value: Any) -> str:
    """Format an ISO-8601 timestamp as ``24 Nov 2026, 06:40 UTC``; unparseable input is shown as is."""
    if not isinstance(value, str) or not value:
        return _DASH
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%d %b %Y, %H:%M UTC")


def fmt_delta(value: Any, unit: str = "") -> str:
    """Format a change with its sign (``12`` -> ``+12``, ``-3.5`` -> ``−3.5``, ``0`` -> ``no change``).

    Args:
        value: The change.
        unit: Printed after the number; with a unit the number always has one decimal (``+1.5 pts``).

    Returns:
        The signed change.
    """
    number = as_number(value)
    if number is None:
        return _DASH
    if number == 0:
        return "no change"
    sign = "+" if number > 0 else _MINUS
    body = fmt_thousands(abs(number)) if not unit else f"{abs(number):.1f}"
    return f"{sign}{body}{unit}"


def clip(value: Any, limit: int = PASSAGE_MAX_CHARS) -> str:
    """Collapse whitespace and cut text to ``limit`` characters, ending with an ellipsis if cut.

    The cut lands on a word boundary when one is within the last fifth of the limit; long unbroken
    strings are cut hard. The result is plain text: autoescaping still applies when it is printed.

    Args:
        value: The text.
        limit: Maximum length before the ellipsis.

    Returns:
        The clipped text.
    """
    text = " ".join(str(value).split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space >= limit * 0.8:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + _ELLIPSIS


def bar_width(value: Any, scale: Any = 1.0) -> str:
    """Turn ``value / scale`` into a CSS percentage clamped to 0-100, e.g. ``"42.5%"``.

    Only ever emits digits, a dot and ``%``, so it is safe inside a ``style`` attribute whatever
    the input was.
    """
    number, denominator = as_number(value), as_number(scale)
    if number is None or not denominator:
        return "0%"
    return f"{min(100.0, max(0.0, 100.0 * number / denominator)):.1f}%"


def ratio(value: Any, total: Any) -> float | None:
    """Return ``value / total``, or None when either is missing or ``total`` is zero."""
    number, denominator = as_number(value), as_number(total)
    if number is None or not denominator:
        return None
    return number / denominator


def dom_id(value: Any) -> str:
    """Make a string safe and readable as an HTML id fragment (``t0.1`` -> ``t0-1``)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", str(value)).strip("-")[:64]
    return cleaned or "x"


def redact_url(value: Any) -> str:
    """Drop credentials, query and fragment from a URL before showing it (``s3://k:s@b/p?x`` -> ``s3://b/p``)."""
    text = str(value)
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


_EMBEDDINGS = "\u202a\u202b\u202d\u202e"  # LRE RLE LRO RLO, closed by PDF (U+202C)
_ISOLATES = "\u2066\u2067\u2068"  # LRI RLI FSI, closed by PDI (U+2069)


def close_bidi(value: Any) -> Any:
    """``value`` with every bidirectional embedding, override and isolate it opens closed at its end.

    A document's U+202E (right-to-left override) would otherwise reverse everything printed after it in the
    same paragraph of the report, other documents' words included ("Trojan Source"); the environment applies
    this to every printed value. Markup (``tojson``, already-built HTML) is left alone: its characters are
    escaped or ours.
    """
    if type(value) is not str or not any(c in value for c in _EMBEDDINGS + _ISOLATES):
        return value
    isolates = sum(value.count(c) for c in _ISOLATES) - value.count("\u2069")
    embeddings = sum(value.count(c) for c in _EMBEDDINGS) - value.count("\u202c")
    return value + "\u2069" * max(isolates, 0) + "\u202c" * max(embeddings, 0)
