"""Figures for the 100M-chunk plan (docs/scale.md): graph index kinds, and clustering a sample then assigning the rest.

Usage::

    python bench/scale_plan.py index  --n 1000000 [--build-n 200000] [--queries 4000] [--json out.json]
    python bench/scale_plan.py index  --npy a.npy b.npy ...   # real vectors instead of the synthetic corpus
    python bench/scale_plan.py assign --n 1000000 [--sample 100000] [--full] [--json out.json]
    python bench/scale_plan.py flow [--corpus ../shared/corpora/20newsgroups/data.jsonl] [--dask 2]

Both read the synthetic corpus of ``bench/scale.py`` (generated and cached under ``--cache-dir`` on first use),
and each runs in its own process so its peak RSS is its own.

``index``: the FAISS index kinds a 100M-row kNN graph could use, built on the first ``--build-n`` rows (HNSW
is slow to build on 2 cores; every kind is built on the same rows): bytes per vector (the serialised index
over the row count, so ids and lists are counted), build seconds, kNN search rate on ``--queries`` rows and
recall@15 of their neighbours against exact search. Today's graph (``tasks.core.knn_graph``, blocked IVF over
float32 rows) is the baseline, on the same rows, in the same run.

``assign``: what the plan does past one node's memory: cluster a seeded random sample of ``--sample`` rows
with the pipeline's own clustering (defaults), then give every other row the theme most of its 15 nearest
sample rows hold (an IVF index over the sample, searched in blocks, as workers would). Prints the assignment
rate and theme NMI/AMI against the planted topics; with ``--full`` also the whole-corpus clustering in the same
run, and the agreement between the two.

``flow``: the rates of what stays in the flow's process when ingest and embed fan out: chunking (one process,
documents of ``--corpus``, absent: said so), committing chunks to the catalog, ingesting 3,000 posts as
objects (one object per transaction, the old way, against groups) and committing returned vectors to the
embedding cache; with
``--dask N`` also the chunk stage's partitions on one process and on 1..N local Dask workers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

from bench.scale import read_embeddings, write_corpus

K = 15
RERANK = 64


def peak_gb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


def exact_neighbours(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    import faiss

    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    return index.search(queries, k)[1]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f[f >= 0]) & set(t)) for f, t in zip(found, truth, strict=True))
    return round(hits / truth.size, 3)


def bytes_per_vector(index, n: int) -> int:
    import faiss

    return int(round(faiss.serialize_index(index).nbytes / n))


def index_kinds(emb: np.ndarray, n_queries: int, seed: int) -> list[dict]:
    """Each index kind on ``emb``: bytes/vector, build s, query rate, recall@15 on a seeded query sample."""
    import faiss

    from tasks.core.knn_graph import build_knn_graph

    n, d = emb.shape
    rng = np.random.default_rng(seed)
    q_rows = np.sort(rng.choice(n, n_queries, replace=False))
    queries = emb[q_rows]
    truth = exact_neighbours(emb, queries, K + 1)[:, 1:]
    rows = []

    start = time.perf_counter()
    graph = build_knn_graph(emb, K, seed=seed)
    seconds = time.perf_counter() - start
    rows.append({"kind": "today: blocked IVF over float32 rows (whole graph)", "bytes_per_vector": 4 * d + 8,
                 "build_s": None, "graph_s": round(seconds, 1), "queries_per_s": round(n / seconds, 1),
                 "recall_at_15": recall(graph.indices[q_rows, :K], truth)})

    nlist = int(4 * np.sqrt(n))
    train = emb[rng.choice(n, min(n, 40 * nlist), replace=False)]
    kinds = {
        "IVF-SQ8 (8-bit scalar codes)": lambda q: faiss.IndexIVFScalarQuantizer(
            q, d, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT),
        "IVF-PQ 48x8 (48-byte codes)": lambda q: faiss.IndexIVFPQ(q, d, nlist, 48, 8, faiss.METRIC_INNER_PRODUCT),
        "IVF-PQ 96x8 (96-byte codes)": lambda q: faiss.IndexIVFPQ(q, d, nlist, 96, 8, faiss.METRIC_INNER_PRODUCT),
    }
    for name, make in kinds.items():
        quantizer = faiss.IndexFlatIP(d)
        index = make(quantizer)
        start = time.perf_counter()
        index.train(train)
        index.add(emb)
        built = time.perf_counter() - start
        index.nprobe = 24
        start = time.perf_counter()
        found = index.search(queries, K + 1)[1]
        searched = time.perf_counter() - start
        rows.append({"kind": f"{name}, {nlist} lists, 24 probes", "bytes_per_vector": bytes_per_vector(index, n),
                     "build_s": round(built, 1), "queries_per_s": round(n_queries / searched, 1),
                     "recall_at_15": recall(drop_self(found, q_rows), truth)})
        if name.startswith("IVF-PQ 48"):
            start = time.perf_counter()
            candidates = index.search(queries, RERANK)[1]
            reranked = rerank(emb, queries, candidates)
            searched = time.perf_counter() - start
            rows.append({"kind": f"{name} + exact re-rank of {RERANK} candidates (rows read from disk)",
                         "bytes_per_vector": rows[-1]["bytes_per_vector"], "build_s": round(built, 1),
                         "queries_per_s": round(n_queries / searched, 1),
                         "recall_at_15": recall(drop_self(reranked, q_rows), truth)})
        del index

    index = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 80
    start = time.perf_counter()
    index.add(emb)
    built = time.perf_counter() - start
    index.hnsw.efSearch = 64
    start = time.perf_counter()
    found = index.search(queries, K + 1)[1]
    searched = time.perf_counter() - start
    rows.append({"kind": "HNSW32 over float32 rows (efConstruction 80, efSearch 64)",
                 "bytes_per_vector": bytes_per_vector(index, n), "build_s": round(built, 1),
                 "queries_per_s": round(n_queries / searched, 1),
                 "recall_at_15": recall(drop_self(found, q_rows), truth)})
    return rows


def rerank(emb: np.ndarray, queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The ``K + 1`` best of each query's candidates by exact inner product (the rows a shard would read)."""
    safe = np.maximum(candidates, 0)
    sims = np.einsum("qd,qcd->qc", queries, emb[safe])
    sims[candidates < 0] = -np.inf
    order = np.argsort(-sims, axis=1)[:, : K + 1]
    return np.take_along_axis(candidates, order, axis=1)


def drop_self(found: np.ndarray, q_rows: np.ndarray) -> np.ndarray:
    """Each query's first ``K`` neighbours other than itself."""
    out = np.full((len(found), K), -1, np.int64)
    for i, (row, q) in enumerate(zip(found, q_rows, strict=True)):
        others = row[row != q][:K]
        out[i, : len(others)] = others
    return out


def assign_rest(emb: np.ndarray, sample: np.ndarray, sample_theme: np.ndarray, seed: int) -> tuple[np.ndarray, float]:
    """Every row's theme by a majority of its ``K`` nearest sample rows (ties: the nearer; noise when most
    neighbours are noise); returns the labels and rows/s of the search and vote."""
    import faiss

    base = emb[sample]
    d = base.shape[1]
    nlist = int(4 * np.sqrt(len(base)))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    index.train(base[rng.choice(len(base), min(len(base), 40 * nlist), replace=False)])
    index.add(base)
    index.nprobe = 16
    from scipy.sparse import coo_matrix

    labels = np.full(len(emb), -1, np.int64)
    labels[sample] = sample_theme
    rest = np.setdiff1d(np.arange(len(emb)), sample)
    weight = 1 + (K - np.arange(K)) * 1e-3  # one vote each; a tie goes to the theme of the nearer row
    start = time.perf_counter()
    for lo in range(0, len(rest), 50_000):
        rows = rest[lo:lo + 50_000]
        idx = index.search(emb[rows], K)[1]
        found = (idx >= 0).ravel()
        votes = coo_matrix((np.tile(weight, len(rows))[found],
                            (np.repeat(np.arange(len(rows)), K)[found], sample_theme[idx.ravel()[found]] + 1)),
                           shape=(len(rows), int(sample_theme.max()) + 2)).tocsr()
        labels[rows] = np.asarray(votes.argmax(axis=1)).ravel() - 1  # column 0 is noise
    return labels, len(rest) / (time.perf_counter() - start)


def cluster(emb: np.ndarray, seed: int):
    from tasks.core.clustering import cluster_embeddings, recommended_k
    from tasks.core.knn_graph import build_knn_graph

    graph = build_knn_graph(emb, recommended_k(25, None, len(emb)), seed=seed)
    return cluster_embeddings(emb, graph, min_cluster_size=25, min_subcluster_size=5)


def scores(truth: np.ndarray, labels: np.ndarray) -> dict:
    from sklearn.metrics import adjusted_mutual_info_score, normalized_mutual_info_score

    sub = np.random.default_rng(0).choice(len(truth), min(len(truth), 200_000), replace=False)
    return {"theme_nmi": round(normalized_mutual_info_score(truth[sub], labels[sub]), 3),
            "theme_ami": round(adjusted_mutual_info_score(truth[sub], labels[sub]), 3),
            "clustered_pct": round(100 * float((labels >= 0).mean()), 1), "themes": int(labels.max()) + 1}


def sample_then_assign(emb: np.ndarray, truth: np.ndarray, n_sample: int, full: bool, seed: int) -> dict:
    from sklearn.metrics import adjusted_mutual_info_score

    sample = np.sort(np.random.default_rng(seed).choice(len(emb), n_sample, replace=False))
    start = time.perf_counter()
    res = cluster(np.ascontiguousarray(emb[sample]), seed)
    clustered = time.perf_counter() - start
    out = {"sample": n_sample, "sample_cluster_s": round(clustered, 1), "peak_rss_after_sample_gb": peak_gb()}
    labels, rate = assign_rest(emb, sample, res.theme, seed)
    out.update({"assign_rows_per_s": round(rate, 1), "sampled": scores(truth, labels)})
    if full:
        start = time.perf_counter()
        whole = cluster(emb, seed).theme
        out.update({"full_cluster_s": round(time.perf_counter() - start, 1), "full": scores(truth, whole),
                    "ami_sampled_vs_full": round(adjusted_mutual_info_score(whole, labels), 3)})
    out["peak_rss_gb"] = peak_gb()
    return out


def catalog_commit_rate(docs: list[str], find) -> float:
    """Chunks/s the flow commits to a fresh catalog, batches of 2,000 documents, as the chunk stage does."""
    import tempfile

    from tasks.chunk import chunk_table, commit_chunks
    from tasks.core.chunking import ChunkSpec
    from tasks.infra.catalog import open_catalog

    spec = ChunkSpec("tokens", 240, 32, "all-MiniLM-L6-v2")
    rows = [(f"d{i}", f"k{i}", text) for i, text in enumerate(docs)]
    tables = [(rows[i : i + 2000], chunk_table(rows[i : i + 2000], spec, find)) for i in range(0, len(rows), 2000)]
    with tempfile.TemporaryDirectory() as folder, open_catalog(Path(folder) / "catalog.duckdb") as catalog:
        start = time.perf_counter()
        written = sum(commit_chunks(catalog, batch, table) for batch, table in tables)
        return round(written / (time.perf_counter() - start), 1)


def ingest_rates(docs: list[str]) -> dict:
    """Objects/s of the single-process ingest over ``docs`` as one ``.txt`` object each, committing one object per
    transaction (the baseline: how ingest committed before) and groups of `tasks.ingest.GROUP_OBJECTS`."""
    import tempfile

    from tasks.infra.catalog import open_catalog
    from tasks.infra.params import IngestParams, RunParams
    from tasks.infra.storage import open_storage
    from tasks.ingest import GROUP_OBJECTS, ingest_bucket

    out = {"objects": len(docs)}
    with tempfile.TemporaryDirectory() as folder:
        bucket = Path(folder) / "bucket"
        bucket.mkdir()
        for i, text in enumerate(docs):
            (bucket / f"post-{i:05d}.txt").write_text(text)
        storage = open_storage(f"file://{bucket}")
        for label, group in (("one object per transaction", 1), (f"groups of {GROUP_OBJECTS}", GROUP_OBJECTS)):
            with open_catalog(Path(folder) / f"catalog-{group}.duckdb") as catalog:
                start = time.perf_counter()
                ingest_bucket(storage, catalog, run_id="r", params=RunParams().view(IngestParams), group_objects=group)
                out[label] = round(len(docs) / (time.perf_counter() - start), 1)
    out["ratio"] = round(out[f"groups of {GROUP_OBJECTS}"] / out["one object per transaction"], 2)
    return out


def flow_rates(corpus: Path, seed: int) -> dict:
    """What stays in the flow's process when ingest and embed fan out: cutting documents into chunks (one core)
    and committing returned vectors to the embedding cache (one part of 1,024 per partition)."""
    import tempfile

    from tasks.core.chunking import chunk_document, token_span_finder
    from tasks.core.embedding.cache import EmbeddingCache
    from tasks.core.embedding.identity import tokenizer_file

    out: dict = {}
    if corpus.is_file():
        docs = [json.loads(line)["text"] for line in corpus.read_text().split("\n")[:4000] if line.strip()]
        find = token_span_finder(tokenizer_file("all-MiniLM-L6-v2"))
        start = time.perf_counter()
        chunks = sum(len(chunk_document(d, spans, size=240, overlap=32, unit="tokens"))
                     for d, spans in zip(docs, find(docs), strict=True))
        seconds = time.perf_counter() - start
        out["chunking"] = {"documents": len(docs), "chunks": chunks, "chunks_per_s": round(chunks / seconds, 1),
                           "mb_per_s": round(sum(map(len, docs)) / seconds / 1e6, 2),
                           "catalog_commit_chunks_per_s": catalog_commit_rate(docs, find)}
        out["ingest_objects_per_s"] = ingest_rates(docs[:3000])
    else:
        print(f"{corpus} is absent: chunking rate not measured")
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((1024, 384)).astype(np.float32)
    with tempfile.TemporaryDirectory() as folder:
        cache = EmbeddingCache(Path(folder), "bench")
        start = time.perf_counter()
        for part in range(40):
            cache.write_part([f"{part:04d}{i:08d}" for i in range(1024)], vectors)
        seconds = time.perf_counter() - start
        size = sum(f.stat().st_size for f in Path(folder).rglob("*.parquet"))
    out["cache_commit"] = {"parts": 40, "vectors_per_s": round(40 * 1024 / seconds, 1),
                           "bytes_per_vector": round(size / (40 * 1024), 1)}
    return out


def chunking_on_dask(corpus: Path, workers: int) -> dict:
    """The chunk stage's partitions (`tasks.chunk_partitions.chunk_partition`, 2,000 documents each) on one
    process and on local Dask clusters of 1..``workers`` single-threaded processes (tokenizer warmed first)."""
    import logging

    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.CRITICAL)  # workers closing at the end are not news

    from tasks.chunk import span_finder
    from tasks.chunk_partitions import chunk_partition
    from tasks.core.chunking import ChunkSpec

    lines = [line for line in corpus.read_text().split("\n") if line.strip()][:12000]
    docs = [(f"d{i}", f"k{i}", json.loads(line)["text"]) for i, line in enumerate(lines)]
    batches = [docs[i : i + 2000] for i in range(0, len(docs), 2000)]
    spec = ChunkSpec("tokens", 240, 32, "all-MiniLM-L6-v2")
    span_finder(spec)
    chunk_partition(batches[0][:10], spec)  # warm: tokenizer loaded
    start = time.perf_counter()
    chunks = sum(chunk_partition(b, spec).num_rows for b in batches)
    rows = {"one process": round(chunks / (time.perf_counter() - start), 1)}
    for n in range(1, workers + 1):
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            client.run(lambda: chunk_partition([("w", "w", "warm up the tokenizer")], spec))
            start = time.perf_counter()
            done = sum(f.result().num_rows for f in client.map(chunk_partition, batches, spec=spec, pure=False))
            rows[f"{n} Dask worker(s)"] = round(done / (time.perf_counter() - start), 1)
    return {"documents": len(docs), "partitions": len(batches), "chunks": chunks, "chunks_per_s": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=["index", "assign", "flow"])
    parser.add_argument("--corpus", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared/corpora/20newsgroups/data.jsonl")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--build-n", type=int, default=200_000, help="index: rows the kinds are built on")
    parser.add_argument("--queries", type=int, default=4000)
    parser.add_argument("--sample", type=int, default=100_000, help="assign: rows clustered")
    parser.add_argument("--full", action="store_true", help="assign: also cluster the whole corpus")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/themesift-scratch"))
    parser.add_argument("--dask", type=int, default=0, help="flow: also chunk on 1..N local Dask workers")
    parser.add_argument("--npy", type=Path, nargs="*", help="index: real unit vectors (.npy files) instead")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.part == "flow":
        result = {"part": "flow", **flow_rates(args.corpus, args.seed)}
        if args.dask and args.corpus.is_file():
            result["chunking_on_dask"] = chunking_on_dask(args.corpus, args.dask)
        print(json.dumps(result, indent=1))
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
        return 0
    if args.part == "index" and args.npy:
        emb = np.concatenate([np.load(path) for path in args.npy]).astype(np.float32)
    else:
        pq_path, lab_path = write_corpus(args.n, args.seed, args.cache_dir)
        emb = read_embeddings(pq_path)
    if args.part == "index":
        rows = index_kinds(np.ascontiguousarray(emb[: args.build_n]), args.queries, args.seed)
        result = {"part": "index", "n": min(len(emb), args.build_n), "source": [str(p) for p in args.npy or []]
                  or "synthetic", "queries": args.queries, "kinds": rows, "peak_rss_gb": peak_gb()}
        for row in rows:
            print(f"{row['kind']:<64} {row['bytes_per_vector']:>6} B/vector  build {row['build_s']}s  "
                  f"{row['queries_per_s']:>9} queries/s  recall@15 {row['recall_at_15']}")
    else:
        result = {"part": "assign", "n": len(emb),
                  **sample_then_assign(emb, np.load(lab_path), args.sample, args.full, args.seed)}
        print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
