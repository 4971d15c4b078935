"""The report in a real browser (headless Chromium): loads clean, draws the map, drills down, runs nothing hostile.

Reports come from the synthetic fixtures (tests/unit/core/reporting/reporting_fixtures.py) with map positions
laid out by the real `tasks.core.layout`; the pipeline's own report is checked in test_report_flow.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.browser import browser, open_report
from tests.unit.core.reporting.reporting_fixtures import make_themes, render_fixture_report

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    with browser() as b:
        yield b


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("reports")
    paths = {name: root / f"{name}.html" for name in ("normal", "hostile")}
    for name, path in paths.items():
        path.write_text(render_fixture_report(6, hostile=name == "hostile"), encoding="utf-8")
    return paths


def test_page_loads_without_errors_or_network_and_draws_every_chunk(chromium, reports) -> None:
    with open_report(chromium, reports["normal"]) as (page, log):
        drawn = int(page.get_attribute("#ts-map", "data-points-drawn"))
        assert drawn == make_themes(6)["total_number_of_nodes"]
        assert page.is_visible("#ts-map") and page.is_visible("[data-theme-card]")
        assert not page.is_visible("#theme-t0")
    assert log.console_errors == [] and log.page_errors == [] and log.dialogs == []
    assert log.network(reports["normal"]) == []


def test_clicking_a_card_opens_its_theme_page_with_subthemes(chromium, reports) -> None:
    themes = make_themes(6)
    with open_report(chromium, reports["normal"]) as (page, log):
        page.click("#card-t1 .summary")
        page.wait_for_selector("#theme-t1", state="visible")
        assert not page.is_visible("#card-t1"), "the overview is replaced by the theme page"
        subs = page.locator("#theme-t1 .sub h4").all_inner_texts()
        assert len(subs) == len(themes["clusters"][1]["subclusters"])
        assert page.locator("#theme-t1 [data-map-slot] #ts-map").count() == 1, "the map follows to the theme page"
        drawn = int(page.get_attribute("#ts-map", "data-points-drawn"))
        assert drawn >= themes["clusters"][1]["total_number_of_nodes"]
        assert page.locator("#theme-t1 table.docs tbody tr").count() > 0
        page.click("#theme-t1 .crumbs a[href='#themes']")
        page.wait_for_selector("#card-t1", state="visible")
    assert log.console_errors == [] and log.page_errors == []


def test_map_click_selects_a_theme_and_hover_shows_a_passage(chromium, reports) -> None:
    with open_report(chromium, reports["normal"]) as (page, log):
        page.evaluate("document.getElementById('ts-map').scrollIntoView({block: 'center'})")
        target = page.evaluate("""() => {
            const d = JSON.parse(document.getElementById('ts-map-data').textContent);
            const v = JSON.parse(document.getElementById('ts-map').getAttribute('data-view'));
            const r = document.getElementById('ts-map').getBoundingClientRect();
            const i = d.p.find(i => d.t[i] === 0);  // a dot of theme t0 that carries its passage
            return [r.left + r.width / 2 + (d.x[i] - v[0]) * v[2], r.top + r.height / 2 - (d.y[i] - v[1]) * v[2]];
        }""")
        page.mouse.move(*target)
        page.wait_for_selector("#ts-tip", state="visible")
        assert page.inner_text("#ts-tip .tt").startswith("t0 "), "hovering a dot of t0 shows its passage"
        found = target
        box = page.locator("#ts-map").bounding_box()
        assert page.inner_text("#ts-tip .src").endswith(".jsonl")
        page.mouse.click(*found)
        page.wait_for_selector("#ts-sel", state="visible")
        assert page.inner_text("#ts-sel strong") == "t0"
        assert page.get_attribute("#ts-sel a.open", "href") == "#theme-t0"
        page.mouse.move(box["x"] + 5, box["y"] + 5)
        page.mouse.down()
        page.mouse.move(box["x"] + 120, box["y"] + 60, steps=5)
        page.mouse.up()
        page.mouse.wheel(0, -400)
    assert log.console_errors == [] and log.page_errors == []


def test_filter_narrows_cards_legend_and_map(chromium, reports) -> None:
    with open_report(chromium, reports["normal"]) as (page, log):
        page.fill("#ts-filter", "password")
        page.wait_for_function("document.getElementById('ts-count').textContent.includes('of')")
        assert page.locator("[data-theme-card]:visible").count() == 1
        assert page.locator("[data-legend]:visible").count() == 1
        page.fill("#ts-filter", "zzzz-no-such-theme")
        assert page.is_visible("#ts-nomatch")
    assert log.console_errors == [] and log.page_errors == []


@pytest.mark.parametrize("fragment", ["", "#theme-t0", "#theme-t1"])
def test_hostile_text_executes_nothing(chromium, reports, fragment: str) -> None:
    with open_report(chromium, reports["hostile"], fragment) as (page, log):
        if not fragment:
            page.fill("#ts-filter", "script")
            page.fill("#ts-filter", "")
        box = page.locator("#ts-map").bounding_box()
        for fx in (0.2, 0.4, 0.5, 0.6, 0.8):
            page.mouse.move(box["x"] + fx * box["width"], box["y"] + box["height"] / 2)
        injected = page.evaluate("""() => ({
            elements: document.querySelectorAll('img, svg, iframe, object, embed').length,
            scripts: document.scripts.length,
            handlers: [...document.querySelectorAll('*')]
                .filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
            links: [...document.querySelectorAll('a[href]')]
                .map(a => a.getAttribute('href')).filter(h => !h.startsWith('#')),
        })""")
        text = page.inner_text("body")
    assert log.dialogs == [], "an injected script ran"
    assert log.console_errors == [] and log.page_errors == []
    assert log.network(reports["hostile"]) == []
    assert injected == {"elements": 0, "scripts": 4, "handlers": 0, "links": []}
    assert "<img src=x onerror=" in text or "<script>" in text, "payloads are shown as text"
