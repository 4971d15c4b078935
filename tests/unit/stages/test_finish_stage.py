"""The finish stage closes a run in the right order: manifest last in the run folder, then latest.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.finish import close_run, complete_manifest
from tasks.infra.catalog import open_catalog
from tasks.infra.outputs import read_latest
from tasks.infra.params import FinishParams, RunParams
from tasks.infra.settings import Settings
from tasks.infra.storage import LocalStorage
from tasks.start import start_run


class RecordingStorage(LocalStorage):
    """A local store that remembers the order of its writes."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, create=True)
        self.writes: list[str] = []

    def put(self, key: str, data: bytes) -> None:
        self.writes.append(key)
        super().put(key, data)


def draft_manifest(run_id: str) -> dict:
    return {"run_id": run_id, "status": "complete", "finished_at": "draft", "counts": {"themes": 1},
            "timings": {"ingest": 1.0, "cluster": 2.0, "total": 3.0}}


@pytest.fixture
def started(tmp_path):
    settings = Settings(state_dir=tmp_path / "state", output_url=f"file://{tmp_path / 'out'}")
    with open_catalog(settings.catalog_path) as catalog:
        run = start_run(catalog, settings, RunParams())
    run.manifest_path.write_text(json.dumps(draft_manifest(run.run_id)))
    for path in (run.embeddings_path, run.graph_path, run.assignments_path, run.themes_path):
        path.write_bytes(b"x")
    return settings, run, RecordingStorage(tmp_path / "out")


def test_manifest_is_the_run_folders_last_file_and_latest_follows(started):
    settings, run, storage = started
    storage.put(f"runs/{run.run_id}/report.html", b"<html></html>")
    manifest, pruned = close_run(run, settings, FinishParams(promote=True, keep_runs=3), storage,
                                 {"publish": 0.5, "report": 0.25})
    assert storage.writes[-2:] == [f"runs/{run.run_id}/manifest.json", "latest.json"]
    assert read_latest(storage)["run_id"] == run.run_id and pruned == []
    assert manifest["timings"]["total"] == 3.75 and manifest["finished_at"] != "draft"
    assert not run.embeddings_path.exists() and not run.graph_path.exists() and run.themes_path.exists()
    with open_catalog(settings.catalog_path) as catalog:
        assert catalog.rows("select_complete_runs") == [(run.run_id,)]


def test_an_unpromoted_run_is_complete_but_latest_stays(started):
    settings, run, storage = started
    close_run(run, settings, FinishParams(promote=False, keep_runs=3), storage, {"publish": 0.0, "report": 0.0})
    assert storage.writes == [f"runs/{run.run_id}/manifest.json"] and read_latest(storage) is None


def test_complete_manifest_adds_the_last_stages_without_touching_the_draft():
    draft = draft_manifest("r1")
    done = complete_manifest(draft, "2026-11-30T00:00:00Z", {"publish": 1.5, "report": 0.5})
    assert list(done["timings"]) == ["ingest", "cluster", "publish", "report", "total"]
    assert done["timings"]["total"] == 5.0 and draft["timings"]["total"] == 3.0
