"""Tests that the report escapes document text: hostile strings render as text and run nothing."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from tasks.core.reporting.assets import SCRIPT_FILE, static_text
from tests.unit.core.reporting.reporting_fixtures import parse_page, render_fixture_report


@pytest.fixture(scope="module")
def hostile_html() -> str:
    return render_fixture_report(hostile=True)


def test_only_our_own_scripts_are_in_the_page(hostile_html: str) -> None:
    page = parse_page(hostile_html)
    assert len(page.scripts) == 4
    *data, (code_attrs, code) = page.scripts
    assert [attrs for attrs, _ in data] == [{"type": "application/json", "id": name}
                                           for name in ("ts-index", "ts-themes", "ts-map-data")]
    assert code_attrs == {}
    assert code == "\n" + static_text(SCRIPT_FILE), "reports/static/report.js verbatim, on its own line"
    assert "<script>alert" not in hostile_html
    assert "</script><script>" not in hostile_html


def test_no_event_handler_or_injected_element_from_documents(hostile_html: str) -> None:
    page = parse_page(hostile_html)
    for tag, attrs in page.tags:
        assert tag not in {"img", "svg", "iframe", "object", "embed"}, (tag, attrs)
        for name in attrs:
            assert not name.startswith("on"), (tag, attrs)
    assert "<img" not in hostile_html
    # The payloads are shown as text instead.
    assert "&lt;img src=x onerror=alert(1)&gt;" in hostile_html
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in hostile_html
    assert "&lt;b&gt;bold&lt;/b&gt;" in hostile_html
    assert "&#34;&gt;&lt;svg onload=alert(2)&gt;" in hostile_html


def test_no_javascript_url_becomes_a_link(hostile_html: str) -> None:
    for _tag, attrs in parse_page(hostile_html).tags:
        for value in attrs.values():
            assert not (value or "").strip().lower().startswith("javascript:")


def test_jinja_syntax_in_documents_is_not_evaluated(hostile_html: str) -> None:
    assert "{{ 7*7 }}" in hostile_html
    assert "{% raw %}" in hostile_html


@pytest.mark.parametrize("block_id", ["ts-index", "ts-themes", "ts-map-data"])
def test_closing_script_tag_in_tojson_data_is_escaped(hostile_html: str, block_id: str) -> None:
    block = re.search(rf'<script type="application/json" id="{block_id}">(.*?)</script>', hostile_html, re.S)
    assert block is not None
    raw = block.group(1)
    assert "</script" not in raw.lower()
    assert "<" not in raw and ">" not in raw
    assert "\\u003c/script\\u003e" in raw or "\\u003cimg" in raw
    data = json.loads(raw)
    if block_id == "ts-index":
        assert "</script><script>alert(1)</script>" in data[1]["text"]
    if block_id == "ts-map-data":
        assert any("</script><script>alert(1)</script>" in t for t in data["pt"])
        assert any(f.startswith("<img src=x onerror=") for f in data["files"])


def test_csp_pins_the_inline_script_by_hash(hostile_html: str) -> None:
    page = parse_page(hostile_html)
    csp = next(a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    code = page.scripts[-1][1]
    digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in (csp or "")
    assert "default-src 'none'" in (csp or "")
    assert "unsafe-inline" not in (csp or "").split("script-src")[1].split(";")[0]


def test_long_unbroken_strings_are_clipped(hostile_html: str) -> None:
    assert "A" * 301 not in hostile_html
    assert "A" * 300 + "\u2026" in hostile_html
    assert "B" * 201 not in hostile_html
