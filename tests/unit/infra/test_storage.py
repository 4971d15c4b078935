"""Local-folder store details (the shared storage contract runs in tests/integration)."""

import pytest

from tasks.infra.errors import StorageError


def test_published_files_are_world_readable(tmp_path):
    import stat

    from tasks.infra.storage import LocalStorage

    store = LocalStorage(tmp_path, create=True)
    store.put("runs/r1/manifest.json", b"{}")
    assert stat.S_IMODE((tmp_path / "runs/r1/manifest.json").stat().st_mode) == 0o644


def test_local_delete_prunes_empty_folders_but_not_the_root(tmp_path):
    from tasks.infra.storage import LocalStorage

    store = LocalStorage(tmp_path / "root", create=True)
    store.put("runs/r1/graphs/t0.png", b"png")
    store.put("runs/r2/manifest.json", b"{}")
    store.delete("runs/r1/graphs/t0.png")
    assert not (tmp_path / "root/runs/r1").exists()
    assert (tmp_path / "root/runs/r2/manifest.json").exists()
    store.delete("runs/r2/manifest.json")
    assert (tmp_path / "root").is_dir() and not (tmp_path / "root/runs").exists()


@pytest.mark.parametrize("garbage", [b"{not json", b"[]", b'{"run": "x"}', b'{"run_id": ""}', b"\xff\xfe"])
def test_a_damaged_latest_pointer_stops_the_run_instead_of_starting_over(tmp_path, garbage):
    from tasks.infra.outputs import latest_run_id
    from tasks.infra.storage import open_storage

    storage = open_storage(f"file://{tmp_path}", create=True)
    assert latest_run_id(storage) is None, "no pointer yet: the first run"
    storage.put("latest.json", b'{"run_id": "r-1"}')
    assert latest_run_id(storage) == "r-1"
    storage.put("latest.json", garbage)
    with pytest.raises(StorageError, match=r"latest.json is damaged .* delete it to start over"):
        latest_run_id(storage)
