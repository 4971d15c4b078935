"""themesift doctor on a damaged latest.json and cache: found, and with --repair mended."""

from __future__ import annotations

import json

from flows.doctor import doctor
from tasks.infra.settings import load_settings


def test_a_damaged_pointer_is_found_and_pointed_at_the_newest_complete_run(tmp_path, monkeypatch):
    out = tmp_path / "out"
    for run_id, complete in (("20261101T000000Z-aaaa", True), ("20261102T000000Z-bbbb", True),
                             ("20261103T000000Z-cccc", False)):  # the newest folder is a half run
        (out / "runs" / run_id).mkdir(parents=True)
        (out / "runs" / run_id / "themes.json").write_text("{}")
        if complete:
            (out / "runs" / run_id / "manifest.json").write_text(json.dumps({"finished_at": run_id}))
    (out / "latest.json").write_text("\x00\x00garbage")
    monkeypatch.setenv("THEMESIFT_STATE_DIR", str(tmp_path / "state"))
    settings = load_settings(output_url=f"file://{out}")
    [catalog, cache, latest] = doctor(settings)
    assert catalog.ok and cache.ok and not latest.ok and "damaged" in latest.detail and not latest.repaired
    [_, _, latest] = doctor(settings, repair=True)
    assert latest.repaired == "pointed at 20261102T000000Z-bbbb, the newest complete run"
    assert json.loads((out / "latest.json").read_text())["run_id"] == "20261102T000000Z-bbbb"
    assert all(f.ok for f in doctor(settings))


def test_a_pointer_at_a_run_without_its_manifest_is_dangling(tmp_path, monkeypatch):
    out = tmp_path / "out"
    (out / "runs" / "20261101T000000Z-aaaa").mkdir(parents=True)
    (out / "latest.json").write_text(json.dumps({"run_id": "20261101T000000Z-aaaa"}))
    monkeypatch.setenv("THEMESIFT_STATE_DIR", str(tmp_path / "state"))
    [_, _, latest] = doctor(load_settings(output_url=f"file://{out}"), repair=True)
    assert "no manifest" in latest.detail and latest.repaired.startswith("deleted")
    assert not (out / "latest.json").exists()
