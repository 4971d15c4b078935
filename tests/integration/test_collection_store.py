"""Collections whose outputs live on S3 (the moto server on loopback): deleting one removes exactly its objects."""

from __future__ import annotations

import pytest

from flows.api.collection_store import CollectionStore
from tasks.infra.settings import load_settings
from tasks.infra.storage import open_storage

pytestmark = pytest.mark.integration


def test_deleting_a_collection_removes_its_outputs_on_s3_and_nothing_else(s3_bucket: str, tmp_path):
    settings = load_settings(state_dir=str(tmp_path / "state"), output_url=f"{s3_bucket}/out")
    store = CollectionStore(settings)
    doomed = store.create("tickets", "b", "s3://b", "", {})
    store.create("tickets-2", "b", "s3://b", "", {})  # its prefix starts with the other's name
    mine, theirs = (open_storage(store.locations(name)[1], settings=settings) for name in ("tickets", "tickets-2"))
    for storage in (mine, theirs):
        storage.put("runs/r1/themes.json", b"{}")
        storage.put("latest.json", b'{"run_id": "r1"}')
    assert store.latest_run_id("tickets") == "r1"
    store.delete(doomed)
    assert list(mine.list("")) == [] and store.get("tickets") is None
    assert sorted(i.key for i in theirs.list("")) == ["latest.json", "runs/r1/themes.json"]
    assert store.get("tickets-2") is not None and store.latest_run_id("tickets") is None
    store.delete(doomed)  # again: nothing left to delete, no error
