"""Local-folder store details (the shared storage contract runs in tests/integration)."""


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
