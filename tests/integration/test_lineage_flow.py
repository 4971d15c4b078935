"""Nightly runs that remember: stable ids, lineage events, the diff report, experiments and retention."""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from collections.abc import Iterator

import pyarrow.parquet as pq
import pytest

from tasks.infra.params import RunParams
from tests.integration.conftest import Workspace, make_workspace
from tests.integration.corpus import planted_document

pytestmark = pytest.mark.integration
PARAMS = dict(min_cluster_size=8, min_subcluster_size=4)


def write_theme(ws: Workspace, theme: str, count: int, start: int = 0, seed: int = 0) -> None:
    """``count`` one-theme documents under ``<theme>/``."""
    rng = random.Random(f"{theme}-{seed}-{start}")
    folder = ws.bucket / theme
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        (folder / f"{i:03d}.txt").write_text(planted_document(theme, rng))


def run_file(ws: Workspace, run_id: str, name: str):
    """A file of a run as it was before the retention run pruned the old ones."""
    return ws.root / "before-retention" / "runs" / run_id / name


def manifest(ws: Workspace, run_id: str) -> dict:
    return json.loads(run_file(ws, run_id, "manifest.json").read_text())


def theme_of_each_planted(ws: Workspace, run_id: str) -> dict[str, str]:
    """Planted theme (folder) → the published theme id holding most of its chunks."""
    rows = pq.read_table(run_file(ws, run_id, "assignments.parquet")).to_pylist()
    votes: dict[str, Counter] = {}
    for r in rows:
        if r["theme_id"] is not None:
            votes.setdefault(r["object_key"].split("/")[0], Counter())[r["theme_id"]] += 1
    return {planted: c.most_common(1)[0][0] for planted, c in votes.items()}


def latest_run(ws: Workspace) -> str:
    return json.loads((ws.out / "latest.json").read_text())["run_id"]


@pytest.fixture(scope="module")
def nights(prefect_harness, tmp_path_factory) -> Iterator[tuple[Workspace, list[dict]]]:
    """Three nights: (1) refunds, passwords, gardening; (2) the same; (3) gardening gone, astronomy new,
    refunds half as big again. Then an experiment with other parameters, then a run with retention 2."""
    from flows.recluster import recluster

    with pytest.MonkeyPatch.context() as mp:
        ws = make_workspace(tmp_path_factory.mktemp("nights"), mp)
        for theme in ("refunds", "passwords", "gardening"):
            write_theme(ws, theme, 30)
        results = [recluster(params=RunParams(**PARAMS))]
        results.append(recluster(params=RunParams(**PARAMS)))
        shutil.rmtree(ws.bucket / "gardening")
        write_theme(ws, "astronomy", 30)
        write_theme(ws, "refunds", 15, start=30)
        results.append(recluster(params=RunParams(**PARAMS)))
        results.append(recluster(params=RunParams(**{**PARAMS, "min_cluster_size": 12}, promote=False)))
        shutil.copytree(ws.out, ws.root / "before-retention")  # the checks below read the pruned runs here
        results.append(recluster(params=RunParams(**PARAMS, keep_runs=2)))
        yield ws, results


def test_a_rerun_of_the_same_corpus_keeps_every_id_and_has_an_empty_diff(nights):
    ws, results = nights
    first, second = (r["run_id"] for r in results[:2])
    assert manifest(ws, second)["lineage"]["previous_run_id"] == first
    assert manifest(ws, second)["lineage"]["diff"] == []
    # The second night's cut was steered by the first night's themes: every chunk it clustered is known.
    q1, q2 = manifest(ws, first)["quality"], manifest(ws, second)["quality"]
    assert "stickiness" not in q1, "nothing to stick to on the first night"
    assert q2["stickiness"] == RunParams().stickiness > 0
    assert q2["prior_known_pct"] == pytest.approx(q1["clustered_pct"], abs=0.01)
    one, two = (json.loads(run_file(ws, r, "themes.json").read_text()) for r in (first, second))

    def ids(doc):
        return sorted((c["cluster_id"], c["cluster_header"], tuple(s["cluster_id"] for s in c["subclusters"]))
                      for c in doc["clusters"])
    assert ids(one) == ids(two)
    assert "No theme changed" in run_file(ws, second, "report.html").read_text()


def test_the_third_night_reports_what_changed_and_keeps_the_other_ids(nights):
    ws, results = nights
    before = theme_of_each_planted(ws, results[1]["run_id"])
    third = results[2]["run_id"]
    after = theme_of_each_planted(ws, third)
    assert after["refunds"] == before["refunds"] and after["passwords"] == before["passwords"]
    assert after["astronomy"] not in before.values(), "a new theme gets an id never used before"

    lineage = manifest(ws, third)["lineage"]
    events = {(e["event"], e["cluster_id"]) for e in lineage["diff"] if e["level"] == "theme"}
    assert ("born", after["astronomy"]) in events
    assert ("died", before["gardening"]) in events
    assert ("grew", after["refunds"]) in events
    assert not any(cid == after["passwords"] for _, cid in events), "an unchanged theme is not in the diff"
    table = pq.read_table(run_file(ws, third, "lineage.parquet")).to_pylist()
    assert {(r["event"], r["cluster_id"]) for r in table if r["level"] == "theme"} >= events

    html = run_file(ws, third, "report.html").read_text()
    assert "Emerging themes" in html and "Gone" in html and "Biggest movers" in html
    gone_example = html.split("<h3>Gone</h3>", 1)[1].split("</section>", 1)[0]
    assert any(s in gone_example for s in ("soil", "garden", "Prune", "Sow", "Water", "Plant", "Mulch", "Aphids")), \
        "a gone theme shows an example passage from the run it was last seen in"


def test_an_experiment_reuses_the_embeddings_and_does_not_become_latest(nights):
    ws, results = nights
    third, experiment, fifth = (r["run_id"] for r in results[2:5])
    doc = manifest(ws, experiment)
    assert doc["counts"]["chunks_embedded"] == 0 and doc["counts"]["chunks_cached"] > 0
    assert doc["params"]["min_cluster_size"] == 12 and doc["promoted"] is False
    assert doc["lineage"]["previous_run_id"] == third, "experiments compare with the latest run"
    assert ws.manifest(fifth)["lineage"]["previous_run_id"] == third, "nightly runs ignore experiments"
    assert latest_run(ws) == fifth


def test_retention_keeps_the_newest_runs_and_the_latest(nights):
    ws, results = nights
    kept = sorted(p.name for p in (ws.out / "runs").iterdir())
    assert kept == sorted(r["run_id"] for r in results[3:5])
    assert latest_run(ws) in kept
