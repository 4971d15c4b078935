"""Document-level quality on long documents (full-length 20 Newsgroups), themesift beside BERTopic's recipe and
EVoC on the same chunks, rolled up the same way, in one run.

    .venv/bin/python bench/documents.py --corpus ../shared/corpora/20newsgroups/data.jsonl [--docs 3000] \\
        [--methods themesift,themesift-alone,bertopic,evoc]

The posts (not cut) are put in a seeded order and chunked exactly as the chunk stage cuts a document (the run's
chunk size and overlap, model tokens); ``--docs N`` keeps the first N posts of that order (a seeded random
sample; all by default). Chunk vectors (all-MiniLM-L6-v2, st-fp32) are cached in ``--cache-dir`` by text hash,
so a bigger ``--docs`` or a change to the chunking only embeds the chunks not seen before.

Methods, each on the same chunk vectors:

* ``themesift``: the run defaults (each chunk read with its document neighbours, ``context_weight`` 0.5; the
  clustering space; graph; themes);
* ``themesift-alone``: the same with ``context_weight`` 0 (each chunk alone: the behaviour before);
* ``themesift-placed``: the defaults with the README's settings for themes that match labels a person would
  give, every chunk placed (``reassign_noise``, ``min_samples`` 15, ``resolution`` 3);
* ``bertopic``: BERTopic's default recipe (UMAP 5-d, HDBSCAN ``min_cluster_size`` 10), as in bench/cluster.py;
* ``evoc``: ``evoc.EVoC()`` defaults (``labels_``).

Any method with ``@posts`` appended (``themesift@posts``, ``themesift-placed@posts``, ``evoc@posts``,
``bertopic@posts``) clusters the posts instead of the chunks: each post is one point, the unit mean of its chunk
vectors, and every chunk takes its post's group. A long post then weighs as much as a short one, where among
the chunks it weighs as many chunks as it has. For themesift that is the run's ``cluster_unit=document``
(``tasks.core.clustering.cluster_documents`` on the chunks read in context, as the cluster stage calls it); the
baselines get the posts' mean vectors of the chunks as embedded.

Each post's theme is the most common non-noise theme of its chunks (noise only if every chunk is noise), the
roll-up the report's document table uses. Scored against the newsgroup: NMI and AMI at the document level (AMI
because many small clusters inflate NMI), plus chunk-level NMI, the number of groups, the share of posts in
noise and, for themesift, the themes over 20 % of the chunks and their subtheme counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import _run_bertopic, _run_evoc

from tasks.core.chunking import chunk_document, text_hash, token_span_finder
from tasks.core.clustering import (
    cluster_documents,
    cluster_embeddings,
    clustering_space,
    document_vectors,
    recommended_k,
    with_document_context,
)
from tasks.core.decode import usable_text
from tasks.core.embedding.identity import tokenizer_file
from tasks.core.knn_graph import build_knn_graph
from tasks.infra.params import RunParams

METHODS = ("themesift", "themesift-alone", "themesift-placed", "bertopic", "evoc")
#: The README's settings for themes that match labels a person would give (its ``reassign_noise`` row).
PLACED = {"reassign_noise": True, "min_samples": 15, "resolution": 3.0}
BIG_THEME = 0.2


def seeded_chunks(path: Path, size: int, overlap: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Every post's chunks, posts in a seeded order: texts, post number per chunk, label per chunk. Each post is
    read as ingest reads a record: its blocks of encoded binary left out, and a post of nothing else skipped."""
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    finder = token_span_finder(tokenizer_file("all-MiniLM-L6-v2"))
    texts, doc, label = [], [], []
    for i in np.random.default_rng(0).permutation(len(rows)).tolist():
        text = usable_text(rows[i]["text"])[0]
        if text is None or not text.strip():
            continue
        for a, b in chunk_document(text, finder([text])[0], size=size, overlap=overlap, unit="tokens"):
            if text[a:b].strip():
                texts.append(text[a:b])
                doc.append(i)
                label.append(rows[i]["label"])
    return texts, np.asarray(doc), np.asarray(label)


def cached_vectors(texts: list[str], cache: Path) -> np.ndarray:
    """Vectors of ``texts`` from a cache keyed by each text's hash (the run's embedding-cache key), embedding and
    adding only the texts it lacks."""
    have: dict[str, np.ndarray] = {}
    if cache.is_file():
        with np.load(cache) as saved:
            have = dict(zip(saved["hashes"].tolist(), saved["vectors"], strict=True))
    hashes = [text_hash(t) for t in texts]
    todo = {h: t for h, t in zip(hashes, texts, strict=True) if h not in have}
    if todo:
        from tasks.core.embedding.engines import load_encoder

        encode = load_encoder("all-MiniLM-L6-v2", backend="st-fp32")
        missing = list(todo)
        for start in range(0, len(missing), 2000):
            batch = missing[start : start + 2000]
            have.update(zip(batch, np.asarray(encode([todo[h] for h in batch]), np.float32), strict=True))
            np.savez(cache, hashes=np.asarray(list(have)), vectors=np.stack(list(have.values())))
            print(f"  embedded {start + len(batch):,}/{len(missing):,} new chunks", file=sys.stderr, flush=True)
    return np.stack([have[h] for h in hashes]).astype(np.float32)


def run_themesift(emb: np.ndarray, doc: np.ndarray, context_weight: float, unit: str = "chunk",
                  **overrides) -> tuple[np.ndarray, dict]:
    """Themes at the run defaults (sizes, geometry) with the given context weight, ``cluster_unit`` and parameter
    overrides, through the code the cluster stage runs."""
    p = RunParams(context_weight=context_weight, cluster_unit=unit, **overrides)
    x = with_document_context(emb, doc, np.arange(len(doc)), p.context_weight)
    knobs = {"min_cluster_size": p.min_cluster_size, "min_subcluster_size": p.min_subcluster_size,
             "min_samples": p.min_samples, "resolution": p.resolution, "subtheme_resolution": p.subtheme_resolution,
             "reassign_noise": p.reassign_noise}
    if p.cluster_unit == "document":
        c = cluster_documents(x, doc, geometry=p.geometry, seed=p.seed, **knobs)
    else:
        x = clustering_space(x, p.geometry)
        graph = build_knn_graph(x, min(recommended_k(p.min_cluster_size, p.min_samples, len(x)), len(x) - 1))
        c = cluster_embeddings(x, graph, **knobs)
    n_themes = int(c.theme.max()) + 1
    big = [t for t in range(n_themes) if (c.theme == t).mean() > BIG_THEME]
    return c.theme, {"groups": n_themes, "subthemes": int(len(c.subtheme_theme)),
                     "big_themes": [{"share": round(float((c.theme == t).mean()), 3),
                                     "subthemes": int((c.subtheme_theme == t).sum())} for t in big]}


def roll_up(labels: np.ndarray, doc: np.ndarray) -> dict[int, int]:
    """Each post's most common non-noise label (-1 only when all its chunks are noise)."""
    per_doc: dict[int, list[int]] = {}
    for d, lab in zip(doc.tolist(), labels.tolist(), strict=True):
        per_doc.setdefault(d, []).append(lab)
    return {d: Counter([v for v in labs if v >= 0] or [-1]).most_common(1)[0][0] for d, labs in per_doc.items()}


def score(name: str, labels: np.ndarray, doc: np.ndarray, chunk_truth: np.ndarray, seconds: float,
          extra: dict) -> dict:
    """Document-level NMI/AMI (and chunk-level NMI) of one method's labels."""
    from sklearn.metrics import adjusted_mutual_info_score, normalized_mutual_info_score

    truth_of = dict(zip(doc.tolist(), chunk_truth.tolist(), strict=False))
    docs = roll_up(labels, doc)
    pred = [docs[d] for d in docs]
    truth = [truth_of[d] for d in docs]
    out = {"method": name, "doc_nmi": round(float(normalized_mutual_info_score(truth, pred)), 3),
           "doc_ami": round(float(adjusted_mutual_info_score(truth, pred)), 3),
           "chunk_nmi": round(float(normalized_mutual_info_score(chunk_truth, labels)), 3),
           "docs_in_noise_pct": round(100 * float(np.mean(np.asarray(pred) < 0)), 1),
           "seconds": round(seconds, 1), **extra}
    out.setdefault("groups", int(labels.max()) + 1)
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", type=Path, required=True, help="JSON lines with text and label (20 Newsgroups)")
    p.add_argument("--docs", type=int, default=0, help="keep the first N posts of the seeded order (0: all)")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--cache-dir", type=Path, default=Path("/tmp/themesift-scratch"))
    args = p.parse_args()
    if not args.corpus.is_file():
        raise SystemExit(f"{args.corpus}: absent (the corpora live in ../shared/corpora/); nothing measured")
    defaults = RunParams()
    texts, doc, label = seeded_chunks(args.corpus, defaults.chunk_size, defaults.chunk_overlap)
    if args.docs:
        keep_docs = list(dict.fromkeys(doc.tolist()))[: args.docs]
        n = int(np.flatnonzero(np.isin(doc, keep_docs)).max()) + 1  # chunks are grouped by post in order
        texts, doc, label = texts[:n], doc[:n], label[:n]
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    emb = cached_vectors(texts, args.cache_dir / f"{args.corpus.parent.name}_full_t{defaults.chunk_size}.npz")
    print(json.dumps({"corpus": args.corpus.parent.name, "posts": len(set(doc.tolist())), "chunks": len(texts),
                      "chunks_per_post": round(len(texts) / len(set(doc.tolist())), 2)}), flush=True)
    for method in args.methods.split(","):
        start = time.perf_counter()
        base, _, unit = method.partition("@")
        if base not in METHODS or unit not in ("", "posts"):
            raise SystemExit(f"unknown method {method!r}; choose from {', '.join(METHODS)}, each optionally @posts")
        if unit == "posts" and base.startswith("themesift"):  # the run's cluster_unit=document
            labels, extra = run_method(base, emb, doc, defaults.context_weight, unit="document")
        elif unit == "posts":
            posts, of_chunk = document_vectors(emb, doc)
            labels, extra = run_method(base, posts, np.arange(len(posts)), 0.0)
            labels = np.asarray(labels)[of_chunk]
        else:
            labels, extra = run_method(base, emb, doc, defaults.context_weight)
        score(method, np.asarray(labels), doc, label, time.perf_counter() - start, extra)


def run_method(method: str, emb: np.ndarray, doc: np.ndarray, context_weight: float,
               unit: str = "chunk") -> tuple[np.ndarray, dict]:
    """One method's labels for the rows of ``emb`` (chunks of the posts ``doc``, or posts themselves)."""
    if method.startswith("themesift"):
        weight = 0.0 if method == "themesift-alone" else context_weight
        return run_themesift(emb, doc, weight, unit, **(PLACED if method == "themesift-placed" else {}))
    if method == "bertopic":
        return _run_bertopic(emb, 0)["levels"]["topics"], {}
    return _run_evoc(emb, 0)["levels"]["labels_"], {}


if __name__ == "__main__":
    main()
