"""The report stage inside a real flow run: map positions, graph PNGs, Prefect artifacts, and the page in Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow.parquet as pq
import pytest

from tasks.core.reporting.artifacts import ARTIFACT_KEYS
from tasks.infra.params import RunParams
from tests.integration.browser import browser, open_report
from tests.integration.conftest import Workspace, make_workspace
from tests.integration.corpus import write_planted_corpus

pytestmark = pytest.mark.integration
PARAMS = RunParams(min_cluster_size=10, min_subcluster_size=4, top_n_nodes=6)


@pytest.fixture(scope="module")
def flow_run(prefect_harness, tmp_path_factory) -> Iterator[tuple[Workspace, dict]]:
    """Two runs over the planted corpus (the second one has a previous run to compare with)."""
    from flows.recluster import recluster

    with pytest.MonkeyPatch.context() as mp:
        ws = make_workspace(tmp_path_factory.mktemp("report-flow"), mp)
        write_planted_corpus(ws.bucket, per_theme=16)
        recluster(params=PARAMS)
        yield ws, recluster(params=PARAMS)


def test_assignments_carry_map_positions(flow_run) -> None:
    ws, result = flow_run
    table = pq.read_table(ws.out / "runs" / result["run_id"] / "assignments.parquet")
    assert {"x", "y"} <= set(table.column_names)
    xs, ys = table.column("x").to_numpy(), table.column("y").to_numpy()
    assert xs.min() >= -1 and xs.max() <= 1 and ys.min() >= -1 and ys.max() <= 1


def test_graph_pngs_are_written_next_to_the_report(flow_run) -> None:
    ws, result = flow_run
    run_dir = ws.out / "runs" / result["run_id"]
    assert (run_dir / "graph.png").read_bytes().startswith(b"\x89PNG")
    themes = ws.themes(result["run_id"])["clusters"]
    assert themes
    assert sorted(p.name for p in (run_dir / "graphs").iterdir()) == sorted(f"{t['cluster_id']}.png" for t in themes)


def test_flow_run_publishes_link_markdown_and_table_artifacts(flow_run) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, TaskRunFilter
    from prefect.client.schemas.sorting import ArtifactSort

    _ws, result = flow_run
    with get_client(sync_client=True) as client:
        # Every argument explicit: prefect 3.8.8's client sends the missing ones as nulls, which its API rejects.
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=list(ARTIFACT_KEYS.values()))),
            flow_run_filter=FlowRunFilter(), task_run_filter=TaskRunFilter(), sort=ArtifactSort.CREATED_DESC,
            limit=50, offset=0)
    mine = {a.key: a for a in artifacts if result["run_id"] in (a.description or "")}
    assert set(mine) == set(ARTIFACT_KEYS.values())
    # Prefect stores a link artifact as Markdown ("[text](url)"); the table as a table.
    assert mine[ARTIFACT_KEYS["link"]].type == "markdown" and mine[ARTIFACT_KEYS["table"]].type == "table"
    assert f"]({result['report_url']})" in str(mine[ARTIFACT_KEYS["link"]].data)
    assert all(a.flow_run_id is not None for a in mine.values()), "artifacts belong to the flow run (its UI page)"
    markdown = mine[ARTIFACT_KEYS["markdown"]]
    assert "| theme | header | chunks |" in str(markdown.data)


def test_pipeline_report_opens_clean_in_chromium(flow_run) -> None:
    ws, result = flow_run
    report = ws.out / "runs" / result["run_id"] / "report.html"
    html = report.read_text(encoding="utf-8")
    assert "Compared with the previous run" in html
    with browser() as chromium, open_report(chromium, report) as (page, log):
        assert int(page.get_attribute("#ts-map", "data-points-drawn")) == result["chunks"]
        page.click("[data-theme-card] .summary")
        page.wait_for_selector(".theme-page:target", state="visible")
        assert page.locator(".theme-page:target .sub").count() >= 0
        assert page.locator(".theme-page:target table.docs tbody tr").count() >= 1
    assert log.console_errors == [] and log.page_errors == [] and log.dialogs == []
    assert log.network(report) == []
