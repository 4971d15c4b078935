"""The DuckDB catalog: the only place Python runs SQL.

Every statement lives in ``sql/<verb_object>.sql`` (schema DDL in ``sql/schema/``, applied in order and
idempotent). Values are always bound parameters (``$name``); Arrow inputs are registered under the fixed
names the SQL files use (``*_input``), never interpolated.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tasks.infra.errors import CatalogError
from tasks.infra.query import SqlFilter

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
#: Where a statement takes a compiled filter (`Catalog.arrow`'s ``where``).
WHERE_MARKER = "/*where*/TRUE"
# Arrow tables may only be registered under these names (the SQL files refer to them).
INPUT_NAMES = frozenset(
    {"listing_input", "documents_input", "skips_input", "doc_ids_input", "chunks_input", "keys_input", "objects_input",
     "chunk_ids_input", "assignments_input", "clusters_input", "lineage_input", "phrases_input"}
)


@functools.cache
def load_sql(name: str) -> str:
    """Return the text of ``sql/<name>.sql``; unknown names raise `CatalogError`."""
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise CatalogError(f"no SQL statement named {name!r} in {SQL_DIR}")
    return path.read_text(encoding="utf-8")


#: What DuckDB says when a file's blocks are damaged (checksums, truncation, garbage).
DAMAGE_SIGNS = ("Corrupt database file", "checksum", "not a valid DuckDB database", "could not read enough bytes")
REPAIR = ("`themesift doctor --repair` sets it aside and keeps what still reads (the next run rebuilds the rest "
          "from the bucket, embedding nothing twice)")


def schema_statements() -> list[str]:
    """The schema DDL files, in their numbered order."""
    return [p.read_text(encoding="utf-8") for p in sorted((SQL_DIR / "schema").glob("*.sql"))]


class Catalog:
    """One DuckDB connection with named statements."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def run(self, name: str, params: Mapping[str, Any] | None = None, **inputs: pa.Table) -> list[tuple]:
        """Execute ``sql/<name>.sql`` with bound ``params`` and Arrow ``inputs``; return its rows (if any).

        The result is fetched before the inputs are unregistered: DuckDB refuses to drop a view a
        pending result still reads.
        """
        for key, table in inputs.items():
            if key not in INPUT_NAMES:
                raise CatalogError(f"{key!r} is not an allowed input name")
            self.con.register(key, table)
        try:
            return self.con.execute(load_sql(name), dict(params or {})).fetchall()
        finally:
            for key in inputs:
                self.con.unregister(key)

    def rows(self, name: str, params: Mapping[str, Any] | None = None, **inputs: pa.Table) -> list[tuple]:
        """Execute a query and return all its rows (reads better than `run` at call sites that query)."""
        return self.run(name, params, **inputs)

    def arrow(self, name: str, params: Mapping[str, Any] | None = None, where: SqlFilter | None = None) -> pa.Table:
        """Execute a query and return an Arrow table (no Python objects per row).

        ``where``, a condition compiled by `tasks.infra.query` (its SQL holds only that module's constants and
        ``$qN`` placeholders), replaces the statement's ``/*where*/TRUE`` marker, and its parameters are bound
        with the rest.
        """
        sql = load_sql(name)
        if where is not None:
            if WHERE_MARKER not in sql:
                raise CatalogError(f"sql/{name}.sql has no {WHERE_MARKER} marker to filter by")
            sql = sql.replace(WHERE_MARKER, f"({where.sql})")
            params = {**(params or {}), **where.params}
        return self.con.sql(sql, params=dict(params or {})).to_arrow_table()

    @contextmanager
    def transaction(self) -> Iterator[Catalog]:
        """Commit everything in the block, or nothing (a killed run leaves the catalog as it was)."""
        self.con.begin()
        try:
            yield self
        except BaseException:
            self.con.rollback()
            raise
        self.con.commit()


@contextmanager
def open_catalog(path: Path) -> Iterator[Catalog]:
    """Open (creating if needed) the catalog file, apply the schema, and close it afterwards.

    Raises:
        CatalogError: when the file is locked by another process or is not a DuckDB database.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path))
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise CatalogError(
                f"catalog {path} is in use by another themesift process; wait for it to finish"
            ) from None
        raise CatalogError(f"cannot open catalog {path}: {_first_line(exc)}; {REPAIR}") from None
    except duckdb.Error as exc:
        raise CatalogError(f"catalog {path} is damaged ({_first_line(exc)}); {REPAIR}") from None
    try:
        for ddl in schema_statements():
            con.execute(ddl)
        yield Catalog(con)
    except duckdb.Error as exc:
        if any(sign in str(exc) for sign in DAMAGE_SIGNS):
            raise CatalogError(f"catalog {path} is damaged ({_first_line(exc)}); {REPAIR}") from None
        raise
    finally:
        con.close()


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
