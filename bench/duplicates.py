"""Do exact duplicates across documents need their multiplicity in the graph?

    .venv/bin/python bench/duplicates.py [--embeddings PATH]

3,000 Banking77 chunks (their cached vectors: `bench/cluster.py` writes them) plus one template ticket, far from
every intent, sent by 60 customers: clustered as the pipeline clusters (clustering space, kNN graph, HDBSCAN on
it) with the 60 copies kept, and with the copies counted once (what "count once in the graph, keep the
multiplicity for sizes" would do: HDBSCAN takes no sample weights, so the sizes cannot reach the clustering).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tasks.core.clustering import cluster_embeddings, clustering_space, recommended_k  # noqa: E402
from tasks.core.knn_graph import build_knn_graph  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embeddings", type=Path, default=Path("/tmp/themesift-scratch/banking77.npy"))
    parser.add_argument("--copies", type=int, default=60)
    args = parser.parse_args()
    if not args.embeddings.is_file():
        print(f"embeddings not found: {args.embeddings} (bench/cluster.py caches Banking77's there)")
        return 2
    emb = np.load(args.embeddings).astype(np.float32)
    rng = np.random.default_rng(0)
    base = emb[rng.choice(len(emb), 3000, replace=False)]
    template = rng.normal(size=emb.shape[1]).astype(np.float32)  # a direction far from every intent
    template /= np.linalg.norm(template)
    for copies in (args.copies, 1):
        x = np.vstack([base, np.repeat(template[None], copies, 0)])
        space = clustering_space(x, "auto")
        graph = build_knn_graph(space, recommended_k(25, None, len(space)), seed=0)
        res = cluster_embeddings(space, graph, min_cluster_size=25, min_subcluster_size=5, min_samples=None)
        label = int(res.theme[len(base)])
        size = int((res.theme == label).sum()) if label >= 0 else 0
        print(f"{copies:>3} cop{'y' if copies == 1 else 'ies'} in the graph: the template is "
              f"{'theme ' + str(label) + f' of {size} chunks' if label >= 0 else 'noise'}; "
              f"{int(res.theme.max()) + 1} themes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
