"""Tests for ``tasks.core.reporting.render``: the report renders whole, sorted, formatted, offline and strict."""

from __future__ import annotations

import copy
import re
from typing import Any

import jinja2
import pytest

from tasks.core.reporting import render_report
from tasks.core.reporting.environment import make_environment
from tests.unit.core.reporting.reporting_fixtures import (
    make_manifest,
    make_skips,
    make_themes,
    parse_page,
    render_fixture_report,
)


def _render(n_themes: int = 6, hostile: bool = False) -> str:
    themes = make_themes(n_themes, hostile=hostile)
    return render_report(themes, make_manifest(themes), make_skips(hostile))


@pytest.fixture(scope="module")
def normal_html() -> str:
    return render_fixture_report()


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
    page = parse_page(normal_html)
    for tag, attrs in page.tags:
        assert "src" not in attrs, tag
        if tag == "link":
            pytest.fail("a <link> would load something")
        if "href" in attrs:
            assert (attrs["href"] or "").startswith("#"), attrs
    assert "must-not-appear" not in normal_html  # manifest.settings are never rendered
    assert "http://" not in normal_html and "https://" not in normal_html


def test_the_stylesheet_is_inlined(normal_html: str) -> None:
    style = re.search(r"<style>(.*?)</style>", normal_html, re.S)
    assert style is not None and "--accent" in style.group(1)


def test_string_templates_are_autoescaped_too() -> None:
    env = make_environment()
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"


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


def test_the_lede_counts_one_document_in_the_singular() -> None:
    themes = make_themes()
    manifest = make_manifest(themes)
    lede = re.compile(r"from\s+([\d,]+)\s+(documents?) in this bucket")
    assert lede.search(render_report(themes, manifest, [])).group(2) == "documents"
    manifest["counts"]["documents"] = 1
    assert lede.search(render_report(themes, manifest, [])).groups() == ("1", "document")


def test_the_instruction_is_shown_escaped_with_what_it_was_read_as() -> None:
    themes = make_themes()
    manifest = make_manifest(themes)
    assert "Grouped by" not in render_report(themes, manifest, [])
    manifest["instruction"] = {"instruction": "mood <script>alert(1)</script>", "steered": True, "directions": 16,
                               "phrases": ["happy with", "<img src=x onerror=alert(2)>"], "alignment": 0.2}
    html = render_report(themes, manifest, [])
    assert "Grouped by <b>mood &lt;script&gt;alert(1)&lt;/script&gt;</b>" in html
    assert "16 directions" in html and "&lt;img src=x onerror=alert(2)&gt;" in html and "<img src=x" not in html
    manifest["instruction"] = {**manifest["instruction"], "steered": False}
    assert "already\n      varies along it, alignment 0.2" in render_report(themes, manifest, [])


def test_all_noise_run_renders_and_says_so() -> None:
    themes = make_themes(0)
    html = render_report(themes, make_manifest(themes), make_skips())
    assert "No themes were found in this run." in html
    assert "classed as noise" in html
    assert "100.0%" in html
    assert "data-theme-card data-theme=" not in html
    assert "<script" not in html  # nothing to filter, so no script at all


def test_a_whole_corpus_theme_is_explained() -> None:
    themes = make_themes(1)
    manifest = make_manifest(themes)
    assert "One theme:" not in render_report(themes, manifest, make_skips())
    manifest["quality"]["whole_corpus_theme"] = True
    html = render_report(themes, manifest, make_skips())
    assert "One theme:" in html and "smaller <code>min_cluster_size</code>" in html


def test_curated_themes_are_marked_and_pdf_passages_name_their_page() -> None:
    themes = make_themes(3)
    plain = render_report(themes, make_manifest(themes), make_skips())
    assert 'class="curated"' not in plain and "p. 4" not in plain
    first = themes["clusters"][0]
    first["curation"] = ["renamed", "merged"]
    first["subclusters"][0]["curation"] = ["split"] if first["subclusters"] else []
    first["nodes"][0].update(page=4, page_end=4)
    first["nodes"][1].update(page=2, page_end=3)
    html = render_report(themes, make_manifest(themes), make_skips())
    assert html.count(">renamed</span>") >= 1 and html.count(">merged</span>") >= 1
    assert "p. 4" in html and "pp. 2–3" in html


def test_a_right_to_left_override_in_a_passage_stops_at_its_end() -> None:
    """U+202E in a document would reverse everything after it in the same paragraph of the page."""
    themes = make_themes(3)
    themes["clusters"][0]["nodes"][0]["text"] = "my refund \u202epending is it\u2067 still"
    themes["clusters"][0]["cluster_header"] = "refund \u202d· login"
    html = render_report(themes, make_manifest(themes), make_skips())
    assert "my refund \u202epending is it\u2067 still\u2069\u202c" in html
    assert "refund \u202d· login\u202c" in html
    assert html.count("\u202e") == html.count("\u202e" + "pending is it\u2067 still\u2069\u202c")


def test_parameters_show_as_they_are_set_booleans_nulls_and_lists_in_json() -> None:
    themes = make_themes(3)
    manifest = make_manifest(themes)
    manifest["params"].update(publish_items=True, reassign_noise=False, where=None, prefix="",
                              summarizers=["keyphrases", "exemplars"])
    html = render_report(themes, manifest, make_skips())
    for key, shown in (("publish_items", "true"), ("reassign_noise", "false"), ("where", "null"),
                       ("prefix", '""'), ("summarizers", '[&#34;keyphrases&#34;,&#34;exemplars&#34;]')):
        assert f"<dt>{key}</dt><dd>{shown}</dd>" in html, key


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


def test_self_report_shows_the_theme_modularity_only_when_the_run_measured_it() -> None:
    themes = make_themes(3)
    manifest = make_manifest(themes)
    plain = render_report(themes, manifest, make_skips())
    assert "theme modularity" not in plain
    manifest["quality"].update(modularity=0.6123, resolution=1.5, stickiness=0.1)
    text = re.sub(r"<[^>]+>", " ", render_report(themes, manifest, make_skips()))
    line = " ".join(text.split("theme modularity", 1)[1].split()[:16])
    assert line.startswith("0.61 on the kNN graph (resolution 1.5, stickiness 0.1 toward the last run)"), line


def test_a_context_field_run_says_which_field_threads_the_records_escaped() -> None:
    themes = make_themes()
    manifest = make_manifest(themes)
    assert "in its thread" not in render_report(themes, manifest, [])
    manifest["threads"] = {"field": "session<b>", "threads": 1313}
    html = " ".join(render_report(themes, manifest, []).split())
    assert 'in its thread (field <b class="mono">session&lt;b&gt;</b>: 1,313 threads).' in html
    manifest["threads"] = {"field": "session", "threads": None}  # a resumed run without the knn stage's count
    assert '<b class="mono">session</b>).' in " ".join(render_report(themes, manifest, []).split())


def test_a_document_unit_run_says_its_documents_were_clustered_and_counts_them() -> None:
    themes = make_themes(3)
    manifest = make_manifest(themes)
    manifest["params"]["reassign_noise"] = True
    manifest["quality"].update(reassigned_noise_pct=12.5)
    plain = " ".join(re.sub(r"<[^>]+>", " ", render_report(themes, manifest, make_skips())).split())
    assert "clustered by document" not in plain and "noise reassigned 12.5% of chunks" in plain
    manifest["quality"].update(unit="document", documents=18812)
    text = " ".join(re.sub(r"<[^>]+>", " ", render_report(themes, manifest, make_skips())).split())
    assert "clustered by document: 18,812 documents, each one point with all its chunks in its theme" in text
    assert "noise reassigned 12.5% of documents" in text


def test_the_map_caption_keeps_a_space_between_its_sentences() -> None:
    from tasks.core.reporting import build_map_data, map_rows, sort_themes, theme_documents
    from tests.unit.core.reporting.reporting_fixtures import make_map_inputs

    themes = make_themes(3)
    assignments, passages = make_map_inputs(themes)
    drawn, carried = map_rows(assignments)
    some = {r: passages[r] for r in carried.tolist()[:3]}  # fewer passages than dots: the hover sentence shows
    html = render_report(themes, make_manifest(themes), make_skips(),
                         map_data=build_map_data(assignments, sort_themes(themes), some, drawn),
                         documents=theme_documents(assignments))
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert "chunks are drawn. Hover shows the passage for a sample of 3 dots." in text
