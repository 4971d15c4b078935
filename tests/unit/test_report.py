"""Tests for ``tasks.report``: templates render, document strings are escaped, numbers are formatted."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import stat
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jinja2
import pytest

from tasks.errors import ConfigError
from tasks.report import (
    SCRIPT_TEMPLATE,
    bar_width,
    clip,
    dom_id,
    fmt_fraction_pct,
    fmt_percent,
    fmt_seconds,
    fmt_thousands,
    fmt_timestamp,
    make_environment,
    redact_url,
    render_report,
    write_report,
)
try:  # works whether or not tests/ is a package
    from tests.unit.report_fixtures import make_manifest, make_skips, make_themes, render_fixture_report
except ImportError:  # pragma: no cover - depends on how pytest was started
    from report_fixtures import (  # type: ignore[no-redef]
        make_manifest,
        make_skips,
        make_themes,
        render_fixture_report,
    )


class _Page(HTMLParser):
    """Collects every start tag with its attributes, and the text inside each <script>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._in_script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = dict(attrs)
            self.scripts.append((self._in_script, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = None

    def handle_data(self, data: str) -> None:
        if self._in_script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def _render(n_themes: int = 6, hostile: bool = False) -> str:
    themes = make_themes(n_themes, hostile=hostile)
    return render_report(themes, make_manifest(themes), make_skips(hostile))


@pytest.fixture(scope="module")
def hostile_html() -> str:
    return render_fixture_report(hostile=True)


@pytest.fixture(scope="module")
def normal_html() -> str:
    return render_fixture_report()


# ---------------------------------------------------------------------------------------------
# templates render
# ---------------------------------------------------------------------------------------------


def test_every_template_compiles_and_the_static_ones_render() -> None:
    env = make_environment()
    names = env.list_templates()
    assert {"base.html", "report.html", "_partials.html", "_style.css.j2", SCRIPT_TEMPLATE} <= set(names)
    for name in names:
        env.get_template(name)  # compiles
    assert "--accent" in env.get_template("_style.css.j2").render()
    assert "JSON.parse" in env.get_template(SCRIPT_TEMPLATE).render()


@pytest.mark.parametrize("n_themes", [1, 6, 12])
@pytest.mark.parametrize("hostile", [False, True])
@pytest.mark.parametrize("with_map", [False, True])
def test_report_renders_a_complete_document(n_themes: int, hostile: bool, with_map: bool) -> None:
    html = render_fixture_report(n_themes, hostile, with_map) if with_map else _render(n_themes, hostile)
    assert html.startswith("<!doctype html>")
    assert html.rstrip().endswith("</html>")
    assert html.count("data-theme-card ") == n_themes
    assert html.count("data-theme-page=") == n_themes
    assert 'id="noise"' in html and 'id="skips"' in html
    assert ('id="ts-map-data"' in html) == with_map


def test_themes_are_sorted_by_size_and_input_is_not_mutated() -> None:
    themes = make_themes(4)
    themes["clusters"].reverse()
    themes["clusters"][0]["subclusters"].reverse()
    before = copy.deepcopy(themes)
    html = render_report(themes, make_manifest(themes), [])
    assert themes == before
    order = re.findall(r'<article class="card[^"]*" id="card-(t\d+)"', html)
    assert order == ["t0", "t1", "t2", "t3"]


def test_no_external_resources_and_no_secret_settings(normal_html: str) -> None:
    page = _parse(normal_html)
    for tag, attrs in page.tags:
        assert "src" not in attrs, tag
        if tag == "link":
            pytest.fail("a <link> would load something")
        if "href" in attrs:
            assert (attrs["href"] or "").startswith("#"), attrs
    assert "must-not-appear" not in normal_html  # manifest.settings are never rendered
    assert "http://" not in normal_html and "https://" not in normal_html


# ---------------------------------------------------------------------------------------------
# escaping
# ---------------------------------------------------------------------------------------------


def test_only_our_own_scripts_are_in_the_page(hostile_html: str) -> None:
    page = _parse(hostile_html)
    expected_js = make_environment().get_template(SCRIPT_TEMPLATE).render()
    assert len(page.scripts) == 4
    *data, (code_attrs, code) = page.scripts
    assert [attrs for attrs, _ in data] == [{"type": "application/json", "id": name}
                                           for name in ("ts-index", "ts-themes", "ts-map-data")]
    assert code_attrs == {}
    assert code == expected_js
    assert "<script>alert" not in hostile_html
    assert "</script><script>" not in hostile_html


def test_no_event_handler_or_injected_element_from_documents(hostile_html: str) -> None:
    page = _parse(hostile_html)
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
    for _tag, attrs in _parse(hostile_html).tags:
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
    page = _parse(hostile_html)
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


def test_string_templates_are_autoescaped_too() -> None:
    env = make_environment()
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"


# ---------------------------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------------------------


def test_numbers_appear_formatted(normal_html: str) -> None:
    themes = make_themes()
    manifest = make_manifest(themes)
    chunks = manifest["counts"]["chunks"]
    assert chunks >= 1000
    assert f"{chunks:,}" in normal_html
    assert f">{themes['clusters'][0]['total_number_of_nodes']:,}<" in normal_html
    assert f"{manifest['noise_pct']:.1f}%" in normal_html
    assert "2m 47s" in normal_html  # timings.total = 167.4
    assert "24 Nov 2026, 06:40 UTC" in normal_html
    assert "1,200" in normal_html  # params.chunk_max_chars
    assert f"{themes['clusters'][0]['share'] * 100:.1f}% of all chunks" in normal_html.replace("<b>", "").replace(
        "</b>", ""
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [(13083, "13,083"), (0, "0"), (1234.5, "1,234.5"), (None, "\u2014"), ("x", "\u2014"), (True, "\u2014")],
)
def test_fmt_thousands(value: Any, expected: str) -> None:
    assert fmt_thousands(value) == expected


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


def test_redact_url_drops_credentials_and_query() -> None:
    assert redact_url("s3://AKIA:secret@bucket/path/?X-Amz-Signature=abc") == "s3://bucket/path/"
    assert redact_url("https://user:pw@minio.local:9000/b") == "https://minio.local:9000/b"
    assert redact_url("file:///srv/data") == "file:///srv/data"


# ---------------------------------------------------------------------------------------------
# empty runs and strictness
# ---------------------------------------------------------------------------------------------


def test_all_noise_run_renders_and_says_so() -> None:
    themes = make_themes(0)
    html = render_report(themes, make_manifest(themes), make_skips())
    assert "No themes were found in this run." in html
    assert "classed as noise" in html
    assert "100.0%" in html
    assert "data-theme-card data-theme=" not in html
    assert "<script" not in html  # nothing to filter, so no script at all


def test_zero_chunk_run_renders_and_says_so() -> None:
    themes = make_themes(0)
    themes["total_number_of_nodes"] = 0
    themes["noise"] = {"total_number_of_nodes": 0, "share": 0.0, "nodes": []}
    manifest = make_manifest(themes)
    manifest["counts"] = {key: 0 for key in manifest["counts"]}
    manifest["timings"] = {"ingest": 0.01, "total": 0.02}
    html = render_report(themes, manifest, [])
    assert "No themes were found in this run." in html
    assert "produced no text chunks" in html
    assert "None: every object in the bucket was read." in html
    assert "Where the chunks went" not in html


@pytest.mark.parametrize(
    "breakage",
    [
        lambda t, m: t["clusters"][0].pop("cluster_header"),
        lambda t, m: t["clusters"][1]["nodes"][0].pop("filename"),
        lambda t, m: t["clusters"][0]["subclusters"][0].pop("total_number_of_nodes"),
        lambda t, m: m["counts"].pop("documents"),
        lambda t, m: m["timings"].pop("total"),
        lambda t, m: t["noise"].pop("share"),
        lambda t, m: t.pop("noise"),
        lambda t, m: t.pop("clusters"),
        lambda t, m: t["clusters"][0].pop("subclusters"),
    ],
)
def test_strict_undefined_catches_a_missing_field(breakage: Any) -> None:
    themes = make_themes(3)
    manifest = make_manifest(themes)
    breakage(themes, manifest)
    with pytest.raises(jinja2.UndefinedError):
        render_report(themes, manifest, make_skips())


def test_missing_skip_field_is_caught() -> None:
    skips = make_skips()
    del skips[0]["detail"]
    themes = make_themes(2)
    with pytest.raises(jinja2.UndefinedError):
        render_report(themes, make_manifest(themes), skips)


def test_skip_table_is_capped_and_counted() -> None:
    skips = [
        {"object_key": f"k/{i}.bin", "record": None, "reason": "binary", "detail": "NUL bytes"} for i in range(250)
    ]
    themes = make_themes(2)
    html = render_report(themes, make_manifest(themes), skips)
    assert "Showing the first 200 of 250 skipped objects." in html
    assert html.count('<td class="key">') == 200
    assert "&times;&thinsp;250" in html


# ---------------------------------------------------------------------------------------------
# environment and writing
# ---------------------------------------------------------------------------------------------


def test_user_template_dir_overrides_packaged_templates(tmp_path: Path) -> None:
    (tmp_path / "_style.css.j2").write_text("/* house style */ body { color: teal; }")
    env = make_environment(tmp_path)
    themes = make_themes(2)
    html = render_report(themes, make_manifest(themes), [], env=env)
    assert "/* house style */" in html
    assert "data-theme-card" in html  # everything else still comes from the packaged templates


def test_missing_user_template_dir_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        make_environment(tmp_path / "nope")


def test_write_report_is_atomic_and_readable(tmp_path: Path) -> None:
    target = tmp_path / "run" / "report.html"
    assert write_report("<p>one</p>", target) == target
    assert target.read_text(encoding="utf-8") == "<p>one</p>"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    write_report("<p>two \u00e9</p>", target)
    assert target.read_text(encoding="utf-8") == "<p>two \u00e9</p>"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]


def test_write_report_failure_keeps_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch: Any) -> None:
    target = tmp_path / "report.html"
    write_report("old", target)

    def boom(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_report("new", target)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_self_report_shows_the_theme_modularity_only_when_the_run_measured_it() -> None:
    themes = make_themes(3)
    manifest = make_manifest(themes)
    plain = render_report(themes, manifest, make_skips())
    assert "theme modularity" not in plain
    manifest["quality"].update(modularity=0.6123, resolution=1.5, stickiness=0.1)
    text = re.sub(r"<[^>]+>", " ", render_report(themes, manifest, make_skips()))
    line = " ".join(text.split("theme modularity", 1)[1].split()[:16])
    assert line.startswith("0.61 on the kNN graph (resolution 1.5, stickiness 0.1 toward the last run)"), line
