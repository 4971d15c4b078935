"""Scale check: the clustering path (knn + cluster, themes + subthemes) on synthetic 384-d unit vectors.

Usage::

    python bench/scale.py --n 1000000 [--cache-dir /tmp/themesift-scratch] [--seed 0] [--reassign-noise] \\
        [--json out.json]

Step 1 (once, cached): :func:`make_corpus` draws ``n`` "realistic" clustered unit vectors and writes them to
``<cache-dir>/synthetic_<n>_s<seed>.parquet`` (one ``embedding`` column of ``fixed_size_list<float32, 384>``,
like the embedding cache) plus the planted labels as ``.npy``. Step 2 runs in a **fresh process**: read the
Parquet file to numpy, :func:`tasks.core.knn_graph.build_knn_graph` with the run's default ``k`` (method ``auto``),
:func:`tasks.core.clustering.cluster_embeddings` with the default parameters (with ``--layout``, then
:func:`tasks.core.graph_layout.graph_layout` on the same graph, as the project stage does). It prints seconds
per step, the child's peak RSS (``ru_maxrss``: the whole clustering path, the generator excluded), counts, and NMI/AMI
against the planted topics (noise points are their own label).

The generator (shared with ``bench/cluster.py --synthetic``) mimics sentence embeddings of a large corpus:

* all vectors share a common direction (real embeddings are anisotropic: mean pairwise cosine > 0);
* ``n_domains`` broad domains, each holding topics (a few hundred in all), each topic 1-4 subtopics;
* topic sizes are Zipf-like (a few big topics, a long tail of small ones), spreads vary per topic;
* ``noise_share`` of the points are background chunks belonging to no topic.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

D = 384


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def make_corpus(n: int, *, n_topics: int = 300, n_domains: int = 20, noise_share: float = 0.08,
                seed: int = 0, d: int = D) -> tuple[np.ndarray, np.ndarray]:
    """Draws ``n`` clustered unit vectors (float32 ``(n, d)``) and their topic labels (int64, ``-1`` = noise).

    Rows are shuffled so topics are interleaved, as in a real corpus.
    """
    rng = np.random.default_rng(seed)
    common = _unit(rng.standard_normal(d))
    domains = _unit(0.6 * common + _unit(rng.standard_normal((n_domains, d))))
    topic_domain = rng.integers(0, n_domains, n_topics)
    topics = _unit(domains[topic_domain] + 0.9 * _unit(rng.standard_normal((n_topics, d))))
    n_sub = rng.integers(1, 5, n_topics)
    weights = 1.0 / np.arange(1, n_topics + 1) ** 0.8  # Zipf-like sizes
    weights = rng.permutation(weights / weights.sum())
    n_noise = int(round(noise_share * n))
    sizes = rng.multinomial(n - n_noise, weights)
    spread = rng.uniform(0.55, 0.95, n_topics)  # per-point offset norm relative to the unit centre
    out = np.empty((n, d), np.float32)
    labels = np.empty(n, np.int64)
    row = 0
    for t in range(n_topics):
        subs = _unit(topics[t] + 0.45 * _unit(rng.standard_normal((n_sub[t], d))))
        which = rng.integers(0, n_sub[t], sizes[t])
        for start in range(0, sizes[t], 100_000):  # bounded temporaries for huge topics
            w = which[start:start + 100_000]
            noise = rng.standard_normal((len(w), d)).astype(np.float32) * (spread[t] / np.sqrt(d))
            out[row:row + len(w)] = _unit(subs[w] + noise)
            labels[row:row + len(w)] = t
            row += len(w)
    for start in range(0, n_noise, 100_000):
        m = min(100_000, n_noise - start)
        out[row:row + m] = _unit(0.35 * common + _unit(rng.standard_normal((m, d))))
        labels[row:row + m] = -1
        row += m
    order = rng.permutation(n)
    return out[order], labels[order]


def _paths(cache_dir: Path, n: int, seed: int) -> tuple[Path, Path]:
    base = cache_dir / f"synthetic_{n}_s{seed}"
    return Path(f"{base}.parquet"), Path(f"{base}_labels.npy")


def write_corpus(n: int, seed: int, cache_dir: Path) -> tuple[Path, Path]:
    """Generates and writes the corpus to Parquet (+ labels) unless it is cached."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq_path, lab_path = _paths(cache_dir, n, seed)
    if pq_path.exists() and lab_path.exists():
        return pq_path, lab_path
    emb, labels = make_corpus(n, seed=seed)
    cache_dir.mkdir(parents=True, exist_ok=True)
    col = pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1)), D)
    tmp = pq_path.with_suffix(".tmp")
    pq.write_table(pa.table({"embedding": col}), tmp, row_group_size=65_536)
    os.replace(tmp, pq_path)
    np.save(lab_path, labels)
    return pq_path, lab_path


def read_embeddings(path: Path) -> np.ndarray:
    """Reads the ``embedding`` column into a float32 ``(n, d)`` array via Arrow (no per-row Python)."""
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    width = f.schema_arrow.field("embedding").type.list_size
    out = np.empty((f.metadata.num_rows, width), np.float32)
    row = 0
    for i in range(f.num_row_groups):  # one row group at a time: peak = the array + one group
        col = f.read_row_group(i, columns=["embedding"]).column("embedding")
        for chunk in col.chunks:
            flat = chunk.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
            out[row:row + len(flat)] = flat
            row += len(flat)
    return out


def time_phrases(emb: np.ndarray, theme: np.ndarray, graph, labels: np.ndarray, seed: int) -> dict:
    """The phrases stage's two steps at this scale: the normalised-text keys in DuckDB (over synthetic ticket
    texts, 3 % of them case/punctuation variants of their nearest neighbour's) and the grouping on the run's graph."""
    import duckdb
    import pyarrow as pa

    from tasks.core.phrases import group_phrases
    from tasks.infra.catalog import load_sql

    n = emb.shape[0]
    rng = np.random.default_rng(seed)
    texts = [f"Ticket about topic {t}: my order number {i} has not arrived, please help." for i, t in
             enumerate(labels.tolist())]
    for i in rng.choice(n, n * 3 // 100, replace=False).tolist():  # a copy of its nearest neighbour's text
        texts[i] = texts[max(int(graph.indices[i, 0]), 0)].upper() + "!!"
    ids = pa.array(np.arange(n).astype(str))
    con = duckdb.connect()
    con.register("chunks", pa.table({"chunk_id": ids, "text": texts}))
    con.register("chunk_ids_input", pa.table({"row_no": np.arange(n), "chunk_id": ids}))
    del texts
    start = time.perf_counter()
    rows = con.execute(load_sql("select_chunk_phrase_keys")).fetchall()
    keys = np.fromiter((key for _, key in rows), dtype=np.uint64, count=len(rows))
    t_keys = time.perf_counter() - start
    del rows
    con.close()
    start = time.perf_counter()
    found = group_phrases(emb, theme, keys, graph.indices, graph.distances)
    t_group = time.perf_counter() - start
    return {"keys": round(t_keys, 1), "group": round(t_group, 1), "phrases": int(found.leader.size),
            "chunks_in_shared_phrases": int(found.size[found.size > 1].sum())}


def run_clustering(pq_path: Path, lab_path: Path, seed: int, reassign_noise: bool = False,
                   layout: bool = False, phrases: bool = False) -> dict:
    """The clustering path as the flow runs it (and, with ``layout``, the map on the same graph, as the project
    stage lays it out); returns seconds, counts, quality and peak RSS."""
    from sklearn.metrics import adjusted_mutual_info_score, normalized_mutual_info_score

    from tasks.core.clustering import cluster_embeddings, recommended_k
    from tasks.core.knn_graph import build_knn_graph

    t0 = time.perf_counter()
    emb = read_embeddings(pq_path)
    t_read = time.perf_counter() - t0
    k = recommended_k(25, None, emb.shape[0])
    graph = build_knn_graph(emb, k, seed=seed)
    t_knn = time.perf_counter() - t0 - t_read
    rss_knn = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # peak so far: read + kNN
    res = cluster_embeddings(emb, graph, min_cluster_size=25, min_subcluster_size=5,
                             reassign_noise=reassign_noise)
    t_cluster = time.perf_counter() - t0 - t_read - t_knn
    t_layout = 0.0
    if layout:
        from tasks.core.graph_layout import graph_layout

        start = time.perf_counter()
        graph_layout(emb, res.theme, graph.indices, graph.distances, seed=seed)
        t_layout = time.perf_counter() - start
    truth = np.load(lab_path)
    phrase_steps = time_phrases(emb, res.theme, graph, truth, seed) if phrases else None
    n_themes = int(res.theme.max()) + 1
    finest = np.where(res.subtheme >= 0, res.subtheme + n_themes, res.theme)
    sub = np.random.default_rng(0).choice(len(truth), min(len(truth), 200_000), replace=False)
    return {
        "n": int(emb.shape[0]), "k": k, "seconds": {"read_parquet": round(t_read, 1), "knn": round(t_knn, 1),
                                                   "cluster": round(t_cluster, 1),
                                                   **({"layout": round(t_layout, 1)} if layout else {}),
                                                   **({"phrases": round(phrase_steps["keys"] + phrase_steps["group"],
                                                                        1)} if phrase_steps else {}),
                                                   "total": round(t_read + t_knn + t_cluster + t_layout + (
                                                       phrase_steps["keys"] + phrase_steps["group"]
                                                       if phrase_steps else 0), 1)},
        **({"phrases": phrase_steps} if phrase_steps else {}),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "peak_rss_through_knn_gb": round(rss_knn, 2),
        "themes": n_themes, "subthemes": int(res.subtheme_theme.size),
        "clustered_pct": round(100 * float((res.theme >= 0).mean()), 1),
        "reassigned_noise_pct": res.diagnostics.get("reassigned_noise_pct", 0.0),
        "theme_nmi_200k_sample": round(normalized_mutual_info_score(truth[sub], res.theme[sub]), 3),
        "theme_ami_200k_sample": round(adjusted_mutual_info_score(truth[sub], res.theme[sub]), 3),
        "finest_nmi_200k_sample": round(normalized_mutual_info_score(truth[sub], finest[sub]), 3),
        "cluster_seconds_by_step": res.diagnostics.get("seconds", {}),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", type=Path, default=Path("/tmp/themesift-scratch"))
    p.add_argument("--json", type=Path, help="also write the result here")
    p.add_argument("--reassign-noise", action="store_true", help="also place the noise (reassign_noise=True)")
    p.add_argument("--layout", action="store_true", help="also lay the map out on the graph (the project stage)")
    p.add_argument("--phrases", action="store_true", help="also group phrases on the same graph (the phrases stage)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        pq_path, lab_path = _paths(args.cache_dir, args.n, args.seed)
        print(json.dumps(run_clustering(pq_path, lab_path, args.seed, args.reassign_noise, args.layout,
                                        args.phrases)))
        return 0
    t0 = time.perf_counter()
    write_corpus(args.n, args.seed, args.cache_dir)
    print(f"corpus ready in {time.perf_counter() - t0:.1f} s", flush=True)
    out = subprocess.run([sys.executable, __file__, "--child", "--n", str(args.n), "--seed", str(args.seed),
                          "--cache-dir", str(args.cache_dir)] + (["--reassign-noise"] if args.reassign_noise else [])
                         + (["--layout"] if args.layout else []) + (["--phrases"] if args.phrases else []),
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return out.returncode
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
