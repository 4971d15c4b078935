"""The report's map, old layout against new against umap-learn, on the same kNN graph, in one run.

    .venv/bin/python bench/map.py --corpus ../shared/corpora/banking77/data.jsonl \\
        [--corpus ../shared/corpora/20newsgroups/data.jsonl:1000] [--tsne] [--timing 100000]

For each corpus the vectors (all-MiniLM-L6-v2, cached like ``bench/cluster.py``) get the pipeline's kNN graph
(clustering space, ``recommended_k`` neighbours) and themes at the run defaults; then three layouts of it:

* ``discs``: the layout before the graph map (`tasks.core.layout.project_embeddings`: a disc per theme);
* ``themesift``: the published map (`tasks.core.graph_layout.graph_layout`: up to 200k chunks t-SNE on the
  pipeline's graph, `tasks.core.graph_tsne`; above, umap-learn's fuzzy graph and descent; both started from the
  discs);
* ``umap-learn``: umap-learn as its users run it, on the same 15-neighbour graph (its spectral start, its default
  epochs: 500 up to 10k rows, 200 above);
* ``t-sne`` (with ``--tsne``): scikit-learn's Barnes-Hut t-SNE (perplexity 30, cosine, PCA start) on the
  clustering-space vectors, with its own neighbour search: t-SNE as most users run it, a mark of what a 2-D
  layout of this corpus can reach (minutes at 10k rows on 2 cores).

Figures: ``preservation`` = share of each chunk's 15 graph neighbours among its 15 nearest map neighbours (all
chunks); ``trustworthiness`` (scikit-learn, 15 neighbours, cosine in the clustering space) on a seeded sample of
5,000 chunks (it is quadratic); seconds for the layout alone in this process (JIT paid by the first one that needs
it, which is ``themesift``: run first on purpose, so ``umap-learn`` is timed warm).

``--timing N``: ``graph_layout`` on N chunks in a **fresh process**, from interpreter start to the map (imports
and any JIT included). The chunks are Banking77's vectors repeated with seeded noise; their graph, with as many
neighbours as the knn stage takes at the defaults, is built beforehand.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import load_corpus

from tasks.core.clustering import cluster_embeddings, clustering_space, recommended_k
from tasks.core.graph_layout import MAP_NEIGHBOURS, graph_layout
from tasks.core.knn_graph import build_knn_graph
from tasks.core.layout import project_embeddings
from tasks.infra.params import RunParams

K = MAP_NEIGHBOURS
TRUST_SAMPLE = 5_000


def preservation(coords: np.ndarray, neighbours: np.ndarray) -> float:
    """Share of each row's graph neighbours among its as many nearest map neighbours."""
    import faiss  # already loaded by the graph; here only for the 2-D search

    k = neighbours.shape[1]
    index = faiss.IndexFlatL2(2)
    pts = np.ascontiguousarray(coords, np.float32)
    index.add(pts)
    _, near = index.search(pts, k + 1)
    hits = [len(set(a[a >= 0]) & set(b[1:])) for a, b in zip(neighbours, near, strict=True)]
    return float(np.mean(hits)) / k


def umap_learn(x: np.ndarray, indices: np.ndarray, distances: np.ndarray, seed: int) -> np.ndarray:
    """umap-learn with its own defaults on our graph's first 15 neighbours (self prepended, as it expects)."""
    from umap.umap_ import find_ab_params, fuzzy_simplicial_set, simplicial_set_embedding

    n = len(x)
    idx = np.c_[np.arange(n), indices[:, : K - 1]]
    finite_max = float(distances[np.isfinite(distances)].max())
    dist = np.c_[np.zeros(n), np.nan_to_num(distances[:, : K - 1], posinf=finite_max)]
    graph, _, _ = fuzzy_simplicial_set(x, K, np.random.RandomState(seed), "cosine", knn_indices=idx, knn_dists=dist)
    a, b = find_ab_params(1.0, 0.1)
    coords, _ = simplicial_set_embedding(
        data=x, graph=graph, n_components=2, initial_alpha=1.0, a=a, b=b, gamma=1.0, negative_sample_rate=5,
        n_epochs=500 if n <= 10_000 else 200, init="spectral", random_state=np.random.RandomState(seed),
        metric="cosine", metric_kwds={}, densmap=False, densmap_kwds={}, output_dens=False)
    return np.asarray(coords)


def tsne(x: np.ndarray, seed: int) -> np.ndarray:
    """scikit-learn's t-SNE with its usual settings (see the module docstring)."""
    from sklearn.manifold import TSNE

    return TSNE(n_components=2, perplexity=30.0, metric="cosine", init="pca", random_state=seed).fit_transform(x)


def compare(name: str, emb: np.ndarray, seed: int = 0, with_tsne: bool = False) -> dict:
    """The three layouts of one corpus's graph, scored."""
    from sklearn.manifold import trustworthiness

    p = RunParams()
    x = clustering_space(emb, p.geometry)
    graph = build_knn_graph(x, min(recommended_k(p.min_cluster_size, p.min_samples, len(x)), len(x) - 1))
    c = cluster_embeddings(x, graph, min_cluster_size=p.min_cluster_size, min_subcluster_size=p.min_subcluster_size,
                           resolution=p.resolution, subtheme_resolution=p.subtheme_resolution)
    indices, distances = np.asarray(graph.indices), np.asarray(graph.distances)
    sample = np.sort(np.random.default_rng(seed).choice(len(x), min(TRUST_SAMPLE, len(x)), replace=False))
    out = {"corpus": name, "chunks": len(x)}
    layouts = {"discs": lambda: project_embeddings(emb, c.theme, seed=seed),
               "themesift": lambda: graph_layout(emb, c.theme, indices, distances, seed=seed),
               "umap-learn": lambda: umap_learn(x, indices, distances, seed)}
    if with_tsne:
        layouts["t-sne"] = lambda: tsne(x, seed)
    for method, run in layouts.items():
        start = time.perf_counter()
        coords = run()
        seconds = time.perf_counter() - start
        out[method] = {"preservation": round(preservation(coords, indices[:, :K]), 3),
                       "trustworthiness": round(float(trustworthiness(x[sample], coords[sample], n_neighbors=K,
                                                                      metric="cosine")), 3),
                       "seconds": round(seconds, 1)}
    out["ratio_vs_discs"] = round(out["themesift"]["preservation"] / out["discs"]["preservation"], 2)
    out["minus_umap_learn"] = round(out["themesift"]["preservation"] - out["umap-learn"]["preservation"], 3)
    for method in ("umap-learn", "t-sne"):
        if method in out:
            out[f"{method}_ratio_vs_discs"] = round(out[method]["preservation"] / out["discs"]["preservation"], 2)
    print(json.dumps(out), flush=True)
    return out


_TIMING_CHILD = """
import time; t0 = time.perf_counter()
import sys, numpy as np
sys.path.insert(0, {root!r})
from tasks.core.graph_layout import graph_layout
z = np.load({path!r})
coords = graph_layout(z["emb"], z["theme"], z["indices"], z["distances"], seed=0)
print(round(time.perf_counter() - t0, 1), coords.shape[0])
"""


def fresh_timing(n: int, emb: np.ndarray) -> dict:
    """``graph_layout`` on ``n`` chunks in a fresh process (see the module docstring)."""
    rng = np.random.default_rng(0)
    reps = -(-n // len(emb))
    big = np.concatenate([emb + 0.03 * rng.standard_normal(emb.shape).astype(np.float32) for _ in range(reps)])[:n]
    big /= np.linalg.norm(big, axis=1, keepdims=True)
    p = RunParams()
    graph = build_knn_graph(big, recommended_k(p.min_cluster_size, p.min_samples, n))  # as the knn stage would
    theme = np.zeros(n, np.int64)  # one theme: the start is one disc, the descent does all the work
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/graph.npz"
        np.savez(path, emb=big, theme=theme, indices=graph.indices, distances=graph.distances)
        start = time.perf_counter()
        child = _TIMING_CHILD.format(root=str(Path(__file__).resolve().parents[1]), path=path)
        done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
    inner, rows = done.stdout.split()
    out = {"timing_chunks": int(rows), "fresh_process_s": round(wall, 1), "in_process_s": float(inner)}
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", action="append", default=[], help="PATH[:MAX_CHARS] of a labelled JSON-lines file")
    p.add_argument("--timing", type=int, default=0, help="also time a fresh-process layout of this many chunks")
    p.add_argument("--tsne", action="store_true", help="also lay each corpus out with t-SNE (slow; a reference)")
    p.add_argument("--cache-dir", type=Path, default=Path("/tmp/themesift-scratch"))
    args = p.parse_args()
    first = None
    for spec in args.corpus:
        if not Path(spec.partition(":")[0]).is_file():
            print(f"{spec}: absent, skipped", file=sys.stderr)
            continue
        name, emb, _ = load_corpus(spec, args.cache_dir)
        first = emb if first is None else first
        compare(name, emb, with_tsne=args.tsne)
    if args.timing:
        if first is None:
            raise SystemExit("--timing needs a --corpus to draw vectors from")
        fresh_timing(args.timing, first)


if __name__ == "__main__":
    main()
