"""find on held-out texts: the kNN vote over the run's chunks beside the nearest-centroid baseline, in one run.

Usage::

    python bench/find.py [--corpus ../shared/corpora/banking77/data.jsonl] [--held-out 0.1] [--seed 0] \\
        [--k 5 --k 15 --k 30] [--json out.json]

The corpus (JSON lines with ``text`` and ``label``, embedded once with the packaged model and cached like
``bench/cluster.py``) is split, seeded, into a run (90 %) and held-out queries (10 %) that the run never sees.
The run is clustered at the defaults exactly as the cluster stage does (clustering space, kNN graph,
``cluster_embeddings``); then every held-out query is looked up with `tasks.core.find.ThemeFinder` on the run's
vectors, as ``GET /clustering/v1/collections/{c}/clusters/find`` does. A query is **found** when the first theme
returned is the theme holding most of the run's chunks of its label (its intent's theme). Printed per rule: the
share found, the share whose intent's theme is among the first three, and the time per query.

Two figures frame it. **The run's own agreement**: the share of the run's chunks that the clustering itself put
in their label's theme: a find that reproduces the run perfectly scores about this, so it bounds what "found"
can reach (it measures the clustering, not find). **Fidelity to the run**: ten-fold, each fold's clustered chunks
looked up among the other nine folds' chunks; the share that find puts back in the theme the run gave them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cluster import load_corpus  # noqa: E402
from tasks.core.clustering import cluster_embeddings, clustering_space, recommended_k  # noqa: E402
from tasks.core.find import ThemeFinder  # noqa: E402
from tasks.core.knn_graph import build_knn_graph  # noqa: E402
from tasks.infra.params import RunParams  # noqa: E402


def cluster_run(emb: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Theme and subtheme labels of the run's chunks at the run defaults."""
    p = RunParams(seed=seed)
    x = clustering_space(emb, p.geometry)
    graph = build_knn_graph(x, recommended_k(p.min_cluster_size, p.min_samples, len(x)), seed=seed)
    res = cluster_embeddings(x, graph, min_cluster_size=p.min_cluster_size, min_subcluster_size=p.min_subcluster_size,
                             min_samples=p.min_samples, resolution=p.resolution,
                             subtheme_resolution=p.subtheme_resolution)
    return res.theme, res.subtheme


def intent_themes(labels: np.ndarray, theme: np.ndarray) -> dict[str, int]:
    """Each label's theme: the one holding most of its clustered chunks (labels all in noise have none)."""
    out = {}
    for label in np.unique(labels):
        t = theme[(labels == label) & (theme >= 0)]
        if t.size:
            out[str(label)] = int(np.bincount(t).argmax())
    return out


def score(finder: ThemeFinder, queries: np.ndarray, truth: list[int | None], method: str, k: int) -> dict:
    started = time.perf_counter()
    found = finder.find(queries, method=method, k=k, limit=3)
    seconds = time.perf_counter() - started
    first = [m[0].theme if m else None for m in found]
    top3 = [[x.theme for x in m] for m in found]
    n = len(truth)
    return {"method": method, "k": k if method == "knn" else None,
            "found_pct": round(100 * sum(f == t for f, t in zip(first, truth, strict=True)) / n, 2),
            "top3_pct": round(100 * sum(t in m for m, t in zip(top3, truth, strict=True)) / n, 2),
            "ms_per_query": round(1000 * seconds / n, 3)}


def fidelity(emb: np.ndarray, theme: np.ndarray, subtheme: np.ndarray, method: str, k: int, seed: int) -> float:
    """Ten-fold: the share of clustered chunks that find, on the other folds, returns to their own theme."""
    folds = np.random.default_rng(seed).integers(0, 10, len(emb))
    hits = total = 0
    for f in range(10):
        rest, mine = folds != f, np.flatnonzero((folds == f) & (theme >= 0))
        finder = ThemeFinder(emb[rest], theme[rest], subtheme[rest])
        found = finder.find(emb[mine], method=method, k=k, limit=1)
        hits += sum(bool(m) and m[0].theme == t for m, t in zip(found, theme[mine], strict=True))
        total += len(mine)
    return round(100 * hits / max(total, 1), 2)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default=str(ROOT.parent / "shared/corpora/banking77/data.jsonl"))
    p.add_argument("--held-out", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--k", type=int, action="append")
    p.add_argument("--cache-dir", type=Path, default=Path("/tmp/themesift-scratch"))
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if not Path(args.corpus.partition(":")[0]).is_file():
        print(f"corpus not found: {args.corpus} (pass --corpus PATH; the corpora are not in the repository)")
        return 2
    name, emb, labels = load_corpus(args.corpus, args.cache_dir)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(emb))
    cut = int(round(len(emb) * (1 - args.held_out)))
    run_rows, query_rows = np.sort(order[:cut]), np.sort(order[cut:])
    started = time.perf_counter()
    theme, subtheme = cluster_run(emb[run_rows], args.seed)
    cluster_s = time.perf_counter() - started
    owner = intent_themes(labels[run_rows], theme)
    truth = [owner.get(str(label)) for label in labels[query_rows]]
    finder = ThemeFinder(emb[run_rows], theme, subtheme)
    results = [score(finder, emb[query_rows], truth, "centroid", 0)]
    results += [score(finder, emb[query_rows], truth, "knn", k) for k in (args.k or [5, 15, 30])]
    for r in results:
        r["fidelity_pct"] = fidelity(emb[run_rows], theme, subtheme, r["method"], r["k"] or 0, args.seed)
    base = results[0]["found_pct"]
    own = np.array([owner.get(str(label), -2) for label in labels[run_rows]])
    agreement = round(100 * float((theme == own).mean()), 2)
    print(f"{name}: run {len(run_rows):,} chunks ({finder.n_themes} themes, {100 * (theme < 0).mean():.1f} % noise, "
          f"clustered in {cluster_s:.1f} s), {len(query_rows):,} held-out queries; "
          f"{sum(t is None for t in truth)} whose label has no theme count as not found")
    print(f"the run's own agreement: {agreement:.2f} % of its chunks are in their label's theme "
          f"({100 * float((theme == own)[theme >= 0].mean()):.2f} % of those clustered)")
    print(f"{'rule':<16}{'found %':>9}{'top-3 %':>9}{'fidelity %':>12}{'ms/query':>10}{'vs centroid':>13}")
    for r in results:
        rule = "centroid" if r["method"] == "centroid" else f"knn vote k={r['k']}"
        print(f"{rule:<16}{r['found_pct']:>9.2f}{r['top3_pct']:>9.2f}{r['fidelity_pct']:>12.2f}"
              f"{r['ms_per_query']:>10.3f}{r['found_pct'] - base:>+12.2f}")
    if args.json:
        args.json.write_text(json.dumps({"corpus": name, "run": len(run_rows), "queries": len(query_rows),
                                         "themes": finder.n_themes, "run_agreement_pct": agreement,
                                         "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
