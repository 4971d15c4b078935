"""The chunk stage's partitions for Dask: documents cut apart, in any order, freeze the same corpus as the
single-process chunk stage."""

from __future__ import annotations

import pyarrow.parquet as pq

from tasks.chunk import chunk_corpus, commit_chunks, documents_to_chunk, freeze_corpus, span_finder
from tasks.chunk_partitions import chunk_partition
from tasks.core.chunking import ChunkSpec
from tasks.infra.catalog import open_catalog
from tasks.infra.params import IngestParams, RunParams
from tasks.infra.storage import open_storage
from tasks.ingest import ingest_bucket


def ingested(bucket, path) -> None:
    with open_catalog(path) as catalog:
        ingest_bucket(open_storage(f"file://{bucket}"), catalog, run_id="r1", params=RunParams().view(IngestParams))


def test_partitions_cut_apart_and_committed_out_of_order_freeze_the_same_corpus(tmp_path):
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    for i in range(7):
        (bucket / f"doc-{i}.txt").write_text(" ".join(f"harbour{i} boat{j % 13} tide word{j}" for j in range(90 + i)))
    spec = ChunkSpec("chars", 300, 40)
    for name in ("alone", "fanned"):
        ingested(bucket, tmp_path / f"{name}.duckdb")
    with open_catalog(tmp_path / "alone.duckdb") as catalog:
        alone = chunk_corpus(catalog, run_id="r1", spec=spec, find_spans=span_finder(spec),
                             corpus_path=tmp_path / "alone.parquet")
    with open_catalog(tmp_path / "fanned.duckdb") as catalog:
        todo = documents_to_chunk(catalog, "r1", spec)
        batches = [todo[i : i + 3] for i in range(0, len(todo), 3)]
        written = sum(commit_chunks(catalog, batch, chunk_partition(batch, spec)) for batch in reversed(batches))
        fanned = freeze_corpus(catalog, "r1", spec, tmp_path / "fanned.parquet", None, len(todo), written)
        assert documents_to_chunk(catalog, "r1", spec) == [], "every document is chunked once committed"
    assert len(batches) == 3 and alone.chunks > 7 * 5
    assert (fanned.documents_chunked, fanned.chunks_written, fanned.chunks) == \
        (alone.documents_chunked, alone.chunks_written, alone.chunks)
    assert pq.read_table(tmp_path / "fanned.parquet").equals(pq.read_table(tmp_path / "alone.parquet"))
