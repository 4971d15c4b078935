"""themesift's clustering side by side with BERTopic's recipe, EVoC and raw HDBSCAN, in one run.

Usage::

    python bench/cluster.py --corpus ../shared/corpora/banking77/data.jsonl \\
        --corpus ../shared/corpora/20newsgroups/data.jsonl:1000 [--synthetic 50000] \\
        [--methods themesift,themesift-assign,themesift-eom,bertopic,evoc,hdbscan] \\
        [--raw-hdbscan-max 8000] [--json out.json]

``--corpus PATH[:MAX_CHARS]`` is a JSON-lines file with ``text`` and ``label``; one row = one chunk, cut to
``MAX_CHARS`` characters when given. Embeddings (all-MiniLM-L6-v2, L2-normalised float32) are computed once
and cached in ``--cache-dir`` (``<corpus folder>[_c<MAX_CHARS>].npy`` + ``_labels.npy``, file order).
``--cached NAME`` uses vectors already cached under that name (e.g. ``20newsgroups_n4000_c1000``, a seeded
4,000-post sample written by ``bench/cluster_quality.py --limit 4000 --max-chars 1000``).
``--synthetic N`` adds the clustered synthetic set of ``bench/scale.py`` (N rows, planted topics as labels).

Every method runs in its **own fresh process** (``--worker``), twice on the same vectors:

* ``fresh s``: from the start of the process to the end of the first clustering: interpreter start,
  imports, any numba JIT and the clustering itself, which is what a user pays once per run;
* ``warm s``: the second clustering in the same process (JIT already done).

Embedding is excluded from both. ``peak RSS`` is the worker's ``ru_maxrss``. Labels are scored against
the corpus labels with noise (-1) as one more label: NMI, AMI, ARI and % clustered.

Methods:

* ``themesift``: ``build_knn_graph`` + ``cluster_embeddings`` with the run defaults; the theme level and
  the finest level (a chunk's subtheme if it has one, else its theme, else noise) are both scored.
* ``themesift-raw`` / ``themesift-centered``: the same with ``geometry`` forced to ``raw`` (the vectors as
  embedded, the behaviour before the clustering space) or ``centered`` (the corpus's common direction
  removed); ``themesift`` uses the default ``auto``, which centres homogeneous corpora only.
* ``themesift-assign``: the same with :data:`ASSIGN_SETTINGS`: noise reassigned (every chunk reachable in
  the graph gets a theme and, where its theme has them, a subtheme), ``min_samples=15``, ``resolution=3``;
  ``--min-samples`` does not apply to it.
* ``themesift-eom``: the same with ``cluster_selection="eom"`` (HDBSCAN's excess of mass picks the clusters
  from the tree, the selection before modularity became the default), to show what the selection adds.
* ``bertopic``: BERTopic's default recipe, ``umap.UMAP(n_neighbors=15, n_components=5, min_dist=0.0,
  metric="cosine", low_memory=False)`` then ``hdbscan.HDBSCAN(min_cluster_size=10, metric="euclidean",
  cluster_selection_method="eom", prediction_data=True)``.
* ``evoc``: ``evoc.EVoC()`` defaults; ``labels_`` and, as an upper bound in its favour, the best of its
  ``cluster_layers_`` by NMI against the labels (chosen with the labels: an oracle).
* ``hdbscan``: exact ``hdbscan.HDBSCAN(min_cluster_size=25)`` on the raw 384-d vectors; O(n^2), so above
  ``--raw-hdbscan-max`` rows it runs on a seeded random subsample of that size and is scored on it
  (marked ``subsample``); run once (no warm call).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_T_START = time.perf_counter()  # as early as possible: "fresh" time starts with the interpreter

import numpy as np  # noqa: E402

os.environ.setdefault("OMP_NUM_THREADS", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install
sys.path.insert(0, str(Path(__file__).resolve().parent))

METHODS = ("themesift", "themesift-raw", "themesift-centered", "themesift-assign", "themesift-eom", "bertopic", "evoc",
           "hdbscan")
#: ``themesift-assign``: every chunk placed (noise reassigned by propagation), at settings that favour
#: themes one would label: ``min_samples`` 15 and theme resolution 3 (docs/benchmarks.md has the grid).
ASSIGN_SETTINGS = {"min_samples": 15, "resolution": 3.0, "reassign_noise": True}


# ----------------------------------------------------------------------------- workers (one process each)


def _run_themesift(emb: np.ndarray, seed: int, min_samples: int | None = None, geometry: str = "auto",
                   **options) -> dict:
    from tasks.core.clustering import cluster_embeddings, clustering_space, recommended_k
    from tasks.core.knn_graph import build_knn_graph

    emb = clustering_space(emb, geometry)  # as the knn and cluster stages do
    graph = build_knn_graph(emb, recommended_k(25, min_samples, len(emb)), seed=seed)
    res = cluster_embeddings(emb, graph, min_cluster_size=25, min_subcluster_size=5, min_samples=min_samples,
                             **options)
    n_themes = int(res.theme.max()) + 1
    finest = np.where(res.subtheme >= 0, res.subtheme + n_themes, res.theme)
    return {"levels": {"theme": res.theme, "finest": finest},
            "groups": f"{n_themes} themes + {res.subtheme_theme.size} subthemes"}


def _run_bertopic(emb: np.ndarray, seed: int) -> dict:
    import hdbscan
    import umap

    red = umap.UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine",
                    low_memory=False).fit_transform(emb)
    labels = hdbscan.HDBSCAN(min_cluster_size=10, metric="euclidean", cluster_selection_method="eom",
                             prediction_data=True).fit_predict(red)
    return {"levels": {"topics": labels}, "groups": f"{labels.max() + 1} topics"}


def _run_evoc(emb: np.ndarray, seed: int) -> dict:
    import evoc

    model = evoc.EVoC(random_state=seed)
    labels = model.fit_predict(emb)
    layers = {f"layer {i}": np.asarray(lab) for i, lab in enumerate(model.cluster_layers_)}
    return {"levels": {"labels_": np.asarray(labels), **layers},
            "groups": " / ".join(str(int(lab.max()) + 1) for lab in layers.values()) + " clusters per layer"}


def _run_hdbscan(emb: np.ndarray, seed: int) -> dict:
    import hdbscan

    labels = hdbscan.HDBSCAN(min_cluster_size=25).fit_predict(emb.astype(np.float64))
    return {"levels": {"clusters": labels}, "groups": f"{labels.max() + 1} clusters"}


def worker(method: str, emb_path: Path, rows_path: Path | None, repeat: int, seed: int, out: Path,
           min_samples: int | None = None) -> None:
    """Runs one method ``repeat`` times in this (fresh) process and writes timings and labels to ``out``."""
    t_load = time.perf_counter()
    emb = np.load(emb_path)
    if rows_path is not None:
        emb = np.ascontiguousarray(emb[np.load(rows_path)])
    load_s = time.perf_counter() - t_load  # reading the vectors is the embed stage's cost, not clustering's
    run = {"themesift": functools.partial(_run_themesift, min_samples=min_samples),
           "themesift-raw": functools.partial(_run_themesift, min_samples=min_samples, geometry="raw"),
           "themesift-centered": functools.partial(_run_themesift, min_samples=min_samples, geometry="centered"),
           "themesift-assign": functools.partial(_run_themesift, **ASSIGN_SETTINGS),
           "themesift-eom": functools.partial(_run_themesift, min_samples=min_samples, cluster_selection="eom"),
           "bertopic": _run_bertopic, "evoc": _run_evoc, "hdbscan": _run_hdbscan}[method]
    seconds, fresh = [], 0.0
    for i in range(repeat):
        t0 = time.perf_counter()
        res = run(emb, seed)
        seconds.append(time.perf_counter() - t0)
        if i == 0:
            fresh = time.perf_counter() - _T_START  # includes imports and JIT, not reading the vectors
    np.savez(out, **{f"level_{k}": v for k, v in res["levels"].items()})
    info = {"fresh_s": fresh - load_s, "call_s": seconds, "groups": res["groups"],
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    Path(f"{out}.json").write_text(json.dumps(info))


# ----------------------------------------------------------------------------- driver


def load_corpus(spec: str, cache_dir: Path, backend: str = "st-fp32") -> tuple[str, np.ndarray, np.ndarray]:
    """``PATH[:MAX_CHARS]`` -> (name, embeddings, labels), embedding and caching on first use.

    ``backend`` is a `tasks.core.embedding.engines` backend; caches of backends other than the reference
    ``st-fp32`` carry its name, so vectors of two backends are never mixed.
    """
    path_s, _, chars = spec.partition(":")
    path, max_chars = Path(path_s), int(chars or 0)
    name = (path.parent.name or path.stem) + (f"_c{max_chars}" if max_chars else "")
    name += "" if backend == "st-fp32" else f"_{backend}"
    emb_path, lab_path = cache_dir / f"{name}.npy", cache_dir / f"{name}_labels.npy"
    if not (emb_path.exists() and lab_path.exists()):
        rows = [json.loads(line) for line in path.open(encoding="utf-8")]
        texts = [r["text"][:max_chars] if max_chars else r["text"] for r in rows]
        os.environ["HF_HUB_OFFLINE"] = "1"
        from tasks.core.embedding.engines import load_encoder

        encode = load_encoder("all-MiniLM-L6-v2", backend=backend)
        parts, started, step = [], time.perf_counter(), 512
        for a in range(0, len(texts), step):  # slices, so a long embedding shows that it is moving
            parts.append(np.asarray(encode(texts[a:a + step]), np.float32))
            done = min(a + step, len(texts))
            print(f"  embedded {done:,}/{len(texts):,} texts ({backend}, "
                  f"{done / (time.perf_counter() - started):.1f}/s)", file=sys.stderr, flush=True)
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(emb_path, np.concatenate(parts))
        np.save(lab_path, np.array([str(r["label"]) for r in rows]))
    return name, np.load(emb_path), np.load(lab_path)


def synthetic_corpus(n: int, cache_dir: Path) -> tuple[str, np.ndarray, np.ndarray]:
    """The ``bench/scale.py`` generator's corpus of ``n`` rows, cached as .npy."""
    name = f"synthetic_{n}"
    emb_path, lab_path = cache_dir / f"{name}.npy", cache_dir / f"{name}_labels.npy"
    if not (emb_path.exists() and lab_path.exists()):
        from scale import make_corpus

        emb, labels = make_corpus(n, seed=0)
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(emb_path, emb)
        np.save(lab_path, labels)
    return name, np.load(emb_path), np.load(lab_path)


def scores(truth: np.ndarray, pred: np.ndarray) -> dict:
    """NMI/AMI/ARI against the labels (noise = one more label) and the clustered share."""
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score, normalized_mutual_info_score

    return {"NMI": normalized_mutual_info_score(truth, pred), "AMI": adjusted_mutual_info_score(truth, pred),
            "ARI": adjusted_rand_score(truth, pred), "clustered_pct": 100.0 * float((pred >= 0).mean())}


def run_method(method: str, emb_path: Path, truth: np.ndarray, args: argparse.Namespace, tmp: Path) -> dict:
    """Runs one method in a fresh worker process and scores its levels."""
    rows_path, subsample = None, False
    repeat = args.repeat
    if method == "hdbscan":
        repeat = 1
        if len(truth) > args.raw_hdbscan_max:
            rows = np.sort(np.random.default_rng(0).choice(len(truth), args.raw_hdbscan_max, replace=False))
            rows_path = tmp / f"{method}_rows.npy"
            np.save(rows_path, rows)
            truth, subsample = truth[rows], True
    out = tmp / f"{method}.npz"
    cmd = [sys.executable, __file__, "--worker", method, "--emb", str(emb_path), "--out", str(out),
           "--repeat", str(repeat), "--seed", str(args.seed)] + (["--rows", str(rows_path)] if rows_path else []) \
        + (["--min-samples", str(args.min_samples)] if args.min_samples else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"method": method, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    info = json.loads(Path(f"{out}.json").read_text())
    labels = np.load(out)
    levels = {k.removeprefix("level_"): scores(truth, labels[k]) for k in labels.files}
    return {"method": method, "subsample": len(truth) if subsample else None, "levels": levels, **info}


def _pick(method: str, levels: dict) -> tuple[str, dict]:
    """The level a method is judged by: themesift's finest, EVoC's best layer, else its only level."""
    if method.startswith("themesift"):
        return "finest", levels["finest"]
    if method == "evoc":
        best = max((k for k in levels if k.startswith("layer")), key=lambda k: levels[k]["NMI"], default="labels_")
        return best, levels[best]
    key = next(iter(levels))
    return key, levels[key]


def print_table(name: str, n: int, n_labels: int, results: list[dict]) -> None:
    """One table per corpus with every level and the ratios against the BERTopic recipe."""
    print(f"\n## {name}: {n:,} chunks, {n_labels} labels")
    print(f"{'method':16} {'level':9} {'NMI':>6} {'AMI':>6} {'ARI':>6} {'clust%':>7} {'fresh s':>8} "
          f"{'warm s':>7} {'RSS GB':>7}  groups")
    base = next((r for r in results if r["method"] == "bertopic" and "levels" in r), None)
    for r in results:
        if "error" in r:
            print(f"{r['method']:16} error: {r['error']}")
            continue
        warm = r["call_s"][1] if len(r["call_s"]) > 1 else float("nan")
        for level, s in r["levels"].items():
            note = f" (subsample {r['subsample']:,})" if r["subsample"] else ""
            print(f"{r['method']:16} {level:9} {s['NMI']:6.3f} {s['AMI']:6.3f} {s['ARI']:6.3f} "
                  f"{s['clustered_pct']:7.1f} {r['fresh_s']:8.1f} {warm:7.2f} {r['peak_rss_gb']:7.2f}  "
                  f"{r['groups'] if level == next(iter(r['levels'])) else ''}{note}")
    if base is None:
        return
    _, b = _pick("bertopic", base["levels"])
    b_warm = base["call_s"][-1]
    print("ratios vs the BERTopic recipe (judged level: themesift finest, EVoC best layer):")
    for r in results:
        if "error" in r or r["method"] == "bertopic":
            continue
        level, s = _pick(r["method"], r["levels"])
        print(f"  {r['method']:16} [{level}] NMI x{s['NMI'] / b['NMI']:.2f}  AMI x{s['AMI'] / b['AMI']:.2f}  "
              f"speed fresh x{base['fresh_s'] / r['fresh_s']:.1f}  warm x{b_warm / r['call_s'][-1]:.1f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", action="append", default=[], help="PATH[:MAX_CHARS] of a JSON-lines file (repeatable)")
    p.add_argument("--synthetic", type=int, action="append", default=[], help="add a synthetic set of N rows")
    p.add_argument("--cached", action="append", default=[],
                   help="NAME of embeddings already in --cache-dir (NAME.npy + NAME_labels.npy), e.g. a subsample")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--raw-hdbscan-max", type=int, default=8000, help="subsample raw HDBSCAN above this many rows")
    p.add_argument("--repeat", type=int, default=2, help="clusterings per worker process (2 = fresh + warm)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", type=Path, default=Path("/tmp/themesift-scratch"))
    p.add_argument("--json", type=Path, help="also write all results here")
    p.add_argument("--embed-backend", default="st-fp32",
                   help="embedding backend for --corpus (st-fp32 = the sentence-transformers reference)")
    p.add_argument("--min-samples", type=int, help="themesift's min_samples (default: the library default)")
    p.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    p.add_argument("--emb", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--rows", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.worker, args.emb, args.rows, args.repeat, args.seed, args.out, args.min_samples)
        return 0
    for spec in args.corpus:
        if not Path(spec.partition(":")[0]).is_file():
            print(f"corpus not found: {spec} (pass --corpus PATH[:MAX_CHARS] to a JSON-lines file)", file=sys.stderr)
            return 2
    corpora = [load_corpus(spec, args.cache_dir, args.embed_backend) for spec in args.corpus]
    corpora += [(name, np.load(args.cache_dir / f"{name}.npy"), np.load(args.cache_dir / f"{name}_labels.npy"))
                for name in args.cached]
    corpora += [synthetic_corpus(n, args.cache_dir) for n in args.synthetic]
    report = {}
    for name, emb, labels in corpora:
        truth = np.unique(labels, return_inverse=True)[1]
        with tempfile.TemporaryDirectory() as tmp:
            emb_path = Path(tmp) / "emb.npy"
            np.save(emb_path, emb)
            results = [run_method(m, emb_path, truth, args, Path(tmp)) for m in args.methods.split(",")]
        print_table(name, len(emb), len(np.unique(labels)), results)
        report[name] = results
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
