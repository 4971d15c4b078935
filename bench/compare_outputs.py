"""Compare two published runs: are themes.json and assignments.parquet the same, bit for bit?

    .venv/bin/python bench/compare_outputs.py OUT_A OUT_B

Each argument is an output folder (``latest.json`` is followed) or a run folder (``runs/<run_id>/``).
The run id and anything derived from it differ between two runs by design, so ``run_id`` is the only
field set aside; everything else (ids, headers, passages, shares, centrality, map coordinates) must match
exactly. Used to check that a refactor changed no output: run the pipeline on the same input with the
old and the new tree, then compare. Exit status 0 when identical, 1 when not (the first differences are
printed), 2 on a bad argument.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq


def run_folder(path: Path) -> Path:
    """The run folder an argument names: itself, or the one its ``latest.json`` points at."""
    if (path / "themes.json").is_file():
        return path
    latest = path / "latest.json"
    if not latest.is_file():
        raise SystemExit(f"error: {path} holds neither themes.json nor latest.json")
    return path / json.loads(latest.read_text(encoding="utf-8"))["prefix"]


def json_differences(a: Any, b: Any, where: str = "$", limit: int = 10) -> list[str]:
    """Paths where two JSON values differ (at most ``limit``)."""
    out: list[str] = []
    stack = [(a, b, where)]
    while stack and len(out) < limit:
        x, y, at = stack.pop()
        if isinstance(x, dict) and isinstance(y, dict):
            for key in sorted(set(x) | set(y), reverse=True):
                stack.append((x.get(key, "<missing>"), y.get(key, "<missing>"), f"{at}.{key}"))
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            stack.extend((p, q, f"{at}[{i}]") for i, (p, q) in reversed(list(enumerate(zip(x, y, strict=True)))))
        elif x != y or type(x) is not type(y):
            out.append(f"{at}: {str(x)[:80]!r} != {str(y)[:80]!r}")
    return out


def compare_runs(a: Path, b: Path) -> list[str]:
    """Every difference between two run folders' themes.json and assignments.parquet (empty: identical)."""
    themes = [json.loads((p / "themes.json").read_text(encoding="utf-8")) for p in (a, b)]
    for doc in themes:
        doc.pop("run_id", None)
    problems = [f"themes.json {d}" for d in json_differences(*themes)]
    tables = [pq.read_table(p / "assignments.parquet") for p in (a, b)]
    if tables[0].schema != tables[1].schema:
        problems.append(f"assignments.parquet schema: {tables[0].schema} != {tables[1].schema}")
    elif not tables[0].equals(tables[1]):
        for name in tables[0].column_names:
            if not tables[0].column(name).equals(tables[1].column(name)):
                problems.append(f"assignments.parquet column {name!r} differs")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    args = parser.parse_args(argv)
    a, b = run_folder(args.a), run_folder(args.b)
    problems = compare_runs(a, b)
    rows = pq.read_metadata(a / "assignments.parquet").num_rows
    themes = len(json.loads((a / "themes.json").read_text(encoding="utf-8"))["clusters"])
    if problems:
        print(f"DIFFERENT: {a} vs {b}")
        print("\n".join(f"  {p}" for p in problems))
        return 1
    print(f"identical: {a} vs {b} ({themes} themes, {rows:,} chunks; themes.json and assignments.parquet)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
