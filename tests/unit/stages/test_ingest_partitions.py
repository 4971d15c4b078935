"""The ingest stage's partitions for Dask: how objects are cut, and that decoding them apart and committing them
in any order leaves the catalog exactly as the single-process ingest does."""

from __future__ import annotations

import json

from tasks.infra.catalog import open_catalog
from tasks.infra.params import IngestParams, RunParams
from tasks.infra.settings import Settings
from tasks.infra.storage import ObjectInfo, open_storage
from tasks.ingest import close_ingest, commit_groups, commit_objects, ingest_bucket, new_counts, plan_ingest
from tasks.ingest_partitions import decode_partition


def infos(*sizes: int) -> list[ObjectInfo]:
    return [ObjectInfo(f"k{i}", size, f"e{i}", 0.0) for i, size in enumerate(sizes)]


def test_groups_keep_the_order_and_both_bounds():
    cuts = commit_groups(infos(*[10] * 7), max_objects=3, max_bytes=1000)
    assert cuts == [[0, 1, 2], [3, 4, 5], [6]]
    cuts = commit_groups(infos(400, 400, 400, 2000, 10, 10), max_objects=10, max_bytes=1000)
    assert cuts == [[0, 1], [2], [3], [4, 5]]  # an object over the byte bound stands alone
    assert commit_groups([], max_objects=3, max_bytes=10) == []


def write_bucket(folder) -> None:
    folder.mkdir()
    for i in range(9):
        (folder / f"note-{i}.txt").write_text(f"Note {i} about the harbour and its boats, written on day {i}.\n")
    (folder / "rows.jsonl").write_text("\n".join(json.dumps({"text": f"row {i} of the ledger"}) for i in range(4)))
    (folder / "empty.txt").write_text("")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really")


def catalog_state(path) -> dict:
    with open_catalog(path) as catalog:
        return {table: sorted(map(repr, catalog.con.execute(f"SELECT * FROM {table}").fetchall()))
                for table in ("documents", "objects", "skips")}


def test_partitions_decoded_apart_and_committed_out_of_order_equal_the_single_process_ingest(tmp_path):
    bucket = tmp_path / "bucket"
    write_bucket(bucket)
    storage = open_storage(f"file://{bucket}")
    params = RunParams().view(IngestParams)
    with open_catalog(tmp_path / "alone.duckdb") as catalog:
        alone = ingest_bucket(storage, catalog, run_id="r1", params=params)
    with open_catalog(tmp_path / "fanned.duckdb") as catalog:
        plan = plan_ingest(storage, catalog, params)
        found = plan.infos()
        cuts = commit_groups(found, max_objects=4, max_bytes=1 << 20)
        assert len(cuts) == 3
        counts, settings = new_counts(), Settings(bucket_url=f"file://{bucket}")
        for cut in reversed(cuts):  # partitions come back in any order
            decoded = decode_partition([found[i] for i in cut], settings, plan.options, 1.0)
            commit_objects(catalog, "r1", [(plan.to_read[i], digest, result) for i, (digest, result)
                                           in zip(cut, decoded, strict=True)], plan.options, counts)
        fanned = close_ingest(catalog, "r1", params, plan, counts)
    assert fanned == alone and alone.objects_read == 12 and alone.objects_skipped >= 2
    assert catalog_state(tmp_path / "fanned.duckdb") == catalog_state(tmp_path / "alone.duckdb")
