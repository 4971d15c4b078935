"""Tests for ``tasks.core.reporting.formatting``: the filters that print numbers, times, text, ids and URLs."""

from __future__ import annotations

from typing import Any

import pytest

from tasks.core.reporting.formatting import (
    as_number,
    bar_width,
    clip,
    dom_id,
    fmt_delta,
    fmt_fraction_pct,
    fmt_percent,
    fmt_seconds,
    fmt_thousands,
    fmt_timestamp,
    ratio,
    redact_url,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(13083, "13,083"), (0, "0"), (1234.5, "1,234.5"), (None, "\u2014"), ("x", "\u2014"), (True, "\u2014")],
)
def test_fmt_thousands(value: Any, expected: str) -> None:
    assert fmt_thousands(value) == expected


def test_as_number_refuses_bools_and_non_finite_values() -> None:
    assert as_number("2.5") == 2.5
    assert as_number(True) is None and as_number(float("inf")) is None and as_number([1]) is None


def test_fmt_percentages() -> None:
    assert fmt_percent(9.24) == "9.2%"
    assert fmt_percent(0) == "0.0%"
    assert fmt_percent(0.04) == "<0.1%"
    assert fmt_fraction_pct(0.0316) == "3.2%"
    assert fmt_fraction_pct(1) == "100.0%"
    assert fmt_fraction_pct(None) == "\u2014"
    assert fmt_fraction_pct(float("nan")) == "\u2014"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.09, "0.09s"), (45.44, "45.4s"), (167.4, "2m 47s"), (3720, "1h 02m"), (-1, "\u2014"), (None, "\u2014")],
)
def test_fmt_seconds(value: Any, expected: str) -> None:
    assert fmt_seconds(value) == expected


def test_fmt_timestamp() -> None:
    assert fmt_timestamp("2026-11-24T06:40:47Z") == "24 Nov 2026, 06:40 UTC"
    assert fmt_timestamp("2026-11-24T08:40:47+02:00") == "24 Nov 2026, 06:40 UTC"
    assert fmt_timestamp("not a date") == "not a date"
    assert fmt_timestamp(None) == "\u2014"


def test_fmt_delta() -> None:
    assert fmt_delta(12) == "+12" and fmt_delta(-1.5, " pts") == "\u22121.5 pts"
    assert fmt_delta(0) == "no change" and fmt_delta(None) == "\u2014"


def test_clip_and_bar_width_and_ids() -> None:
    assert clip("short  text\n here") == "short text here"
    long_words = "word " * 100
    clipped = clip(long_words, 50)
    assert clipped.endswith("\u2026") and len(clipped) <= 51 and "wor\u2026" not in clipped
    assert clip("A" * 500, 300) == "A" * 300 + "\u2026"
    assert bar_width(0.5) == "50.0%"
    assert bar_width(3, 2) == "100.0%"
    assert bar_width("1;background:url(x)") == "0%"
    assert bar_width(1, 0) == "0%"
    assert dom_id("t0.1") == "t0-1"
    assert dom_id('"><script>') == "script"
    assert dom_id("") == "x"


def test_ratio() -> None:
    assert ratio(1, 4) == 0.25
    assert ratio(1, 0) is None and ratio(None, 4) is None


def test_redact_url_drops_credentials_and_query() -> None:
    assert redact_url("s3://AKIA:secret@bucket/path/?X-Amz-Signature=abc") == "s3://bucket/path/"
    assert redact_url("https://user:pw@minio.local:9000/b") == "https://minio.local:9000/b"
    assert redact_url("file:///srv/data") == "file:///srv/data"
