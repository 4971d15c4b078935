"""Benchmark: the whole recluster flow on a labelled JSONL corpus, scored against its labels.

    .venv/bin/python bench/pipeline.py --corpus ../shared/corpora/banking77/data.jsonl

Runs the real flow (Prefect, DuckDB, the packaged model) with default parameters in a fresh state folder,
then compares the published assignments with the corpus's ``label`` field: NMI / AMI / ARI with noise as
its own label, % clustered, themes and subthemes, at the theme level and the finest level (a chunk's
subtheme if it has one, else its theme, else noise). Per-stage seconds come from the run manifest.
In the same run it scores a baseline on the same embeddings: HDBSCAN on the raw vectors (the recipe
FACTS.md measured as 2–3 clusters and mostly noise), through the same kNN graph, so the gain of the
smoothed geometry is a ratio from one process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def scores(labels: list[str], found: list[str]) -> dict:
    """NMI/AMI/ARI of found labels (noise as its own label) and the clustered share."""
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score, normalized_mutual_info_score

    return {"nmi": round(normalized_mutual_info_score(labels, found), 4),
            "ami": round(adjusted_mutual_info_score(labels, found), 4),
            "ari": round(adjusted_rand_score(labels, found), 4),
            "clustered_pct": round(100 * sum(f != "noise" for f in found) / len(found), 2)}


def run_flow(corpus: Path, work: Path, overrides: list[str]) -> tuple[dict, float]:
    """Run the flow on one JSONL file; returns the report record and wall seconds."""
    os.environ["THEMESIFT_STATE_DIR"] = str(work / "state")
    os.environ["THEMESIFT_OUTPUT_URL"] = f"file://{work / 'out'}"
    from flows.recluster import recluster
    from tasks.infra.params import parse_param_overrides

    params = parse_param_overrides([*overrides, f'files=["{corpus.name}"]'])
    start = time.perf_counter()
    result = recluster(params=params, bucket_url=f"file://{corpus.parent.resolve()}")
    return result, time.perf_counter() - start


def label_rows(corpus: Path, work: Path, run_id: str) -> tuple[list[str], list[str], list[str]]:
    """(true label, theme label, finest label) per chunk of the run."""
    import pyarrow.parquet as pq

    from tasks.ingest import document_id

    truth = {}
    with corpus.open(encoding="utf-8") as handle:
        for line in handle:
            rec = json.loads(line)
            truth[document_id(corpus.name, None, str(rec["id"]))] = str(rec["label"])
    rows = pq.read_table(work / "out" / "runs" / run_id / "assignments.parquet").to_pylist()
    true = [truth[r["doc_id"]] for r in rows]
    theme = [r["theme_id"] or "noise" for r in rows]
    finest = [r["subtheme_id"] or r["theme_id"] or "noise" for r in rows]
    return true, theme, finest


def baseline_raw_hdbscan(work: Path, run_id: str, true_by_row: list[str], min_cluster_size: int) -> dict:
    """HDBSCAN straight on the raw vectors via the same FAISS kNN graph (no smoothing)."""
    from bench.baselines import raw_graph_hdbscan
    from tasks.embed import embedding_cache, load_corpus_embeddings
    from tasks.infra.catalog import open_catalog
    from tasks.infra.settings import load_settings

    settings = load_settings()
    with open_catalog(settings.catalog_path) as catalog:
        emb = load_corpus_embeddings(catalog, work / "state" / "runs" / run_id / "corpus.parquet",
                                     embedding_cache(settings))
    start = time.perf_counter()
    labels = raw_graph_hdbscan(emb, min_cluster_size=min_cluster_size)
    seconds = time.perf_counter() - start
    found = ["noise" if x < 0 else f"r{x}" for x in labels.tolist()]
    return {**scores(true_by_row, found), "themes": int(labels.max()) + 1, "seconds": round(seconds, 2)}


def main() -> int:
    """Parse arguments, run, print the table and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpora/banking77/data.jsonl"))
    parser.add_argument("--param", "-p", action="append", default=[], help="run parameter override key=value")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not args.corpus.is_file():
        print(f"corpus {args.corpus} is absent: pass --corpus <labelled .jsonl> "
              "(e.g. ../shared/corpora/banking77/data.jsonl)")
        return 2
    with tempfile.TemporaryDirectory(prefix="themesift-bench-") as tmp:
        work = Path(tmp)
        result, wall = run_flow(args.corpus, work, args.param)
        manifest = json.loads((work / "out" / "runs" / result["run_id"] / "manifest.json").read_text())
        true, theme, finest = label_rows(args.corpus, work, result["run_id"])
        figures = {
            "corpus": str(args.corpus), "chunks": len(true), "labels": len(set(true)), "wall_seconds": round(wall, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "themes": manifest["counts"]["themes"], "subthemes": manifest["counts"]["subthemes"],
            "noise_pct": manifest["noise_pct"], "timings": manifest["timings"], "params": manifest["params"],
            "theme_level": scores(true, theme), "finest_level": scores(true, finest),
            "baseline_raw_hdbscan": baseline_raw_hdbscan(work, result["run_id"], true,
                                                         manifest["params"]["min_cluster_size"]),
        }
    print_table(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def print_table(f: dict) -> None:
    """Human-readable figures."""
    print(f"\ncorpus {f['corpus']}: {f['chunks']:,} chunks, {f['labels']} labels; wall {f['wall_seconds']} s, "
          f"peak RSS {f['peak_rss_mb']} MB")
    print("stage seconds: " + ", ".join(f"{k} {v}" for k, v in f["timings"].items()))
    print(f"{'level':<26}{'NMI':>7}{'AMI':>7}{'ARI':>7}{'clustered':>11}{'groups':>8}")
    base = f["baseline_raw_hdbscan"]
    for name, s, groups in (("themesift theme level", f["theme_level"], f["themes"]),
                            ("themesift finest level", f["finest_level"], f["themes"] + f["subthemes"]),
                            ("baseline raw HDBSCAN", base, base["themes"])):
        print(f"{name:<26}{s['nmi']:>7.3f}{s['ami']:>7.3f}{s['ari']:>7.3f}{s['clustered_pct']:>10.1f}%{groups:>8}")
    print(f"finest-level NMI vs baseline: {f['finest_level']['nmi'] / max(base['nmi'], 1e-9):.2f}x; "
          f"clustered share vs baseline: {f['finest_level']['clustered_pct'] / max(base['clustered_pct'], 1e-9):.2f}x")


if __name__ == "__main__":
    sys.exit(main())
