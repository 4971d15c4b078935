"""Integration fixtures: one Prefect test harness per session, a private state/output folder per use."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A throwaway Prefect API (SQLite in a temp folder) shared by every flow run in the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@dataclass
class Workspace:
    """A bucket folder plus the state and output folders one deployment would use."""

    root: Path

    @property
    def bucket(self) -> Path:
        return self.root / "bucket"

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def manifest(self, run_id: str) -> dict:
        return json.loads((self.out / "runs" / run_id / "manifest.json").read_text())

    def themes(self, run_id: str) -> dict:
        return json.loads((self.out / "runs" / run_id / "themes.json").read_text())


def make_workspace(root: Path, mp: pytest.MonkeyPatch) -> Workspace:
    """Point THEMESIFT_* at folders under ``root``."""
    ws = Workspace(root)
    ws.bucket.mkdir(parents=True, exist_ok=True)
    mp.setenv("THEMESIFT_BUCKET_URL", f"file://{ws.bucket}")
    mp.setenv("THEMESIFT_OUTPUT_URL", f"file://{ws.out}")
    mp.setenv("THEMESIFT_STATE_DIR", str(ws.state))
    mp.setenv("THEMESIFT_EMBED_COMMIT_SIZE", "64")
    return ws


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A fresh deployment for one test."""
    return make_workspace(tmp_path, monkeypatch)
