"""Tests that keep the docs and declarations honest: SQL files, settings, parameters, prefect.yaml."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tasks.infra.catalog import SQL_DIR, load_sql, schema_statements
from tasks.infra.params import RunParams, validate_params
from tasks.infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SQL_NAMES = sorted(p.stem for p in SQL_DIR.glob("*.sql"))
PYTHON_SOURCES = "\n".join(p.read_text() for d in ("tasks", "flows") for p in (ROOT / d).rglob("*.py"))
INPUT_COLUMNS = {
    "listing_input": {"key": pa.string(), "size": pa.int64(), "etag": pa.string(), "last_modified": pa.float64(),
                      "decode_config": pa.string()},
    "documents_input": {"doc_id": pa.string(), "object_key": pa.string(), "record_no": pa.int32(),
                        "record_id": pa.string(), "text": pa.string(), "n_chars": pa.int32(), "metadata": pa.string()},
    "skips_input": {"object_key": pa.string(), "record_no": pa.int32(), "reason": pa.string(),
                    "detail": pa.string(), "run_id": pa.string()},
    "doc_ids_input": {"doc_id": pa.string()},
    "keys_input": {"key": pa.string()},
    "objects_input": {"key": pa.string(), "size": pa.int64(), "etag": pa.string(), "last_modified": pa.float64(),
                      "content_hash": pa.string(), "decode_config": pa.string(), "status": pa.string(),
                      "n_documents": pa.int32(), "updated_run": pa.string()},
    "chunks_input": {"chunk_id": pa.string(), "doc_id": pa.string(), "object_key": pa.string(), "ordinal": pa.int32(),
                     "char_start": pa.int32(), "char_end": pa.int32(), "text": pa.string(), "text_hash": pa.string(),
                     "chunk_config": pa.string()},
    "chunk_ids_input": {"row_no": pa.int64(), "chunk_id": pa.string()},
    "assignments_input": {"chunk_id": pa.string(), "theme_id": pa.string(), "subtheme_id": pa.string(),
                          "centrality": pa.float32(), "phrase_id": pa.string()},
    "phrases_input": {"phrase_id": pa.string(), "theme_id": pa.string(), "subtheme_id": pa.string(),
                      "chunk_id": pa.string(), "items_count": pa.int32(), "variants": pa.int32()},
    "clusters_input": {"cluster_id": pa.string(), "parent_id": pa.string(), "level": pa.string(), "size": pa.int32(),
                       "header": pa.string(), "centroid": pa.list_(pa.float32())},
    "lineage_input": {"previous_run_id": pa.string(), "level": pa.string(), "cluster_id": pa.string(),
                      "event": pa.string(), "previous_ids": pa.list_(pa.string()), "current_ids": pa.list_(pa.string()),
                      "size_before": pa.int32(), "size_after": pa.int32(), "moved_share": pa.float64()},
}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> tuple[duckdb.DuckDBPyConnection, dict]:
    """An in-memory catalog with the schema, empty inputs, and tiny Parquet files for file parameters."""
    tmp = tmp_path_factory.mktemp("sql")
    con = duckdb.connect()
    for ddl in schema_statements():
        con.execute(ddl)
    for name, cols in INPUT_COLUMNS.items():
        con.register(name, pa.table({c: pa.array([], t) for c, t in cols.items()}))
    con.execute(load_sql("create_listing"))
    corpus = tmp / "corpus.parquet"
    pq.write_table(pa.table({"row_no": [0], "chunk_id": ["c"], "doc_id": ["d"], "object_key": ["k"],
                             "char_start": [0], "char_end": [1], "text_hash": ["h"]}), corpus)
    part = tmp / "part-0.parquet"
    pq.write_table(pa.table({"text_hash": ["h"], "embedding": pa.FixedSizeListArray.from_arrays(
        pa.array(np.ones(4, np.float32)), 4)}), part)
    values = {"corpus": str(corpus), "parts": [str(part)], "prefix": "", "key": "k", "run_id": "r",
              "decode_config": "x", "chunk_config": "x", "size": 1, "etag": "e", "last_modified": 0.0,
              "content_hash": "h", "status": "ok", "n_documents": 1, "started_at": "2026-01-01 00:00:00",
              "finished_at": "2026-01-01 00:00:00", "params": "{}", "settings": "{}", "counts": "{}",
              "output_prefix": "runs/r/", "commit_size": 16, "event_id": "e", "kind": "rename",
              "created_at": "2026-01-01T00:00:00", "payload": "{}", "path": "$.session"}
    return con, values


@pytest.mark.parametrize("name", SQL_NAMES)
def test_every_sql_file_is_used_and_runs(name, catalog):
    assert f'"{name}"' in PYTHON_SOURCES, f"sql/{name}.sql is not used by any task"
    sql = load_sql(name)
    assert sql.lstrip().startswith("--"), "each SQL file starts with a header comment"
    con, values = catalog
    wanted = set(re.findall(r"\$([a-z_]+)", sql))
    con.begin()
    try:
        con.execute(sql, {k: values[k] for k in wanted})
    finally:
        con.rollback()


def test_schema_is_idempotent():
    """Applying the schema to a catalog that has it changes nothing and raises nothing."""
    con = duckdb.connect()
    shapes = []
    for _ in range(2):
        for ddl in schema_statements():
            con.execute(ddl)
        shapes.append(con.execute("SELECT table_name, column_name, data_type FROM information_schema.columns "
                                  "ORDER BY table_name, ordinal_position").fetchall())
    tables = {row[0] for row in shapes[0]}
    assert {"objects", "documents", "chunks", "skips", "runs"} <= tables
    assert shapes[0] == shapes[1]


def test_every_setting_and_parameter_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for name in Settings.model_fields:
        assert f"THEMESIFT_{name.upper()}" in readme, f"setting {name} is not documented in the README"
    for name in RunParams.model_fields:
        assert f"`{name}`" in readme, f"run parameter {name} is not documented in the README"


def test_prefect_yaml_deployments_import_and_validate():
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    names = set()
    for deployment in spec["deployments"]:
        module, _, attr = deployment["entrypoint"].partition(":")
        flow = getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), attr)
        names.add(f"{flow.name}/{deployment['name']}")
        validate_params(deployment["parameters"].get("params"))
    assert names == {"recluster/nightly", "recluster/adhoc", "embed/adhoc"}
    nightly = next(d for d in spec["deployments"] if d["name"] == "nightly")
    assert nightly["schedules"] == [{"cron": "0 2 * * *", "timezone": "UTC"}]


def test_ci_runs_make_test_only():
    lines = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[-1].strip() == "make test"
