"""Themes in one long narrative text (the Telnyx tutorial's Gatsby): raw, centred, and the defaults (centred,
each chunk read with its neighbours), in one run.

    .venv/bin/python bench/narrative.py --text ../shared/corpora/gatsby/gatsby.txt \\
        [--chunk-size 240 --chunk-size 128] [--sizes 25/5 --sizes 50/10] [--passages]

The file is cut into chunks exactly as the chunk stage cuts one document (model tokens, the run's overlap
unless ``--chunk-overlap``), embedded once per chunk size with the packaged model (st-fp32, cached in
``--cache-dir``), and clustered at each ``min_cluster_size/min_subcluster_size`` pair with
three variants, everything else at the run defaults: ``raw`` (the vectors as embedded, each chunk alone),
``centered`` (the corpus's common direction removed, chunks alone; what ``auto`` picks for a text whose chunks
share a mean cosine of 0.1 or more, printed as ``mean_cosine``) and ``default`` (``auto`` geometry and each
chunk read with the chunks before and after it, ``context_weight`` at its default). Printed per setting:
themes, their sizes, subthemes per theme, noise, and whether the whole corpus came out as one theme; with
``--passages`` the start of each theme's most central passage (cosine to its centroid in the embedded space).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.core.chunking import chunk_document, token_span_finder
from tasks.core.clustering import (
    cluster_embeddings,
    clustering_space,
    mean_pairwise_cosine,
    recommended_k,
    with_document_context,
)
from tasks.core.embedding.engines import load_encoder
from tasks.core.embedding.identity import tokenizer_file
from tasks.core.knn_graph import build_knn_graph
from tasks.infra.params import RunParams


def chunks_of(path: Path, size: int, overlap: int) -> list[str]:
    """The file's chunks as the chunk stage cuts them."""
    text = path.read_text(encoding="utf-8")
    finder = token_span_finder(tokenizer_file("all-MiniLM-L6-v2"))
    spans = chunk_document(text, finder([text])[0], size=size, overlap=overlap, unit="tokens")
    return [text[a:b] for a, b in spans]


def embedded(chunks: list[str], cache_dir: Path) -> np.ndarray:
    """Unit vectors of the chunks, cached by the chunks' content."""
    key = hashlib.blake2b("\x00".join(chunks).encode(), digest_size=8).hexdigest()
    path = cache_dir / f"narrative_{key}.npy"
    if not path.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(path, np.asarray(load_encoder("all-MiniLM-L6-v2", backend="st-fp32")(chunks), np.float32))
    return np.load(path)


VARIANTS = {"raw": {"geometry": "raw", "context_weight": 0.0},
            "centered": {"geometry": "centered", "context_weight": 0.0}, "default": {}}


def cluster(emb: np.ndarray, mcs: int, mss: int, variant: str) -> dict:
    """Themes, subthemes and noise at the run defaults but for the sizes and the variant's settings."""
    p = RunParams(min_cluster_size=mcs, min_subcluster_size=mss, **VARIANTS[variant])
    in_order = np.arange(len(emb))  # one document, chunks in reading order
    x = clustering_space(with_document_context(emb, np.zeros(len(emb)), in_order, p.context_weight), p.geometry)
    graph = build_knn_graph(x, min(recommended_k(mcs, p.min_samples, len(x)), len(x) - 1))
    c = cluster_embeddings(x, graph, min_cluster_size=mcs, min_subcluster_size=mss, min_samples=p.min_samples,
                           resolution=p.resolution, subtheme_resolution=p.subtheme_resolution)
    n = int(c.theme.max()) + 1 if (c.theme >= 0).any() else 0
    return {"themes": n, "sizes": [int((c.theme == t).sum()) for t in range(n)],
            "subthemes": [int((c.subtheme_theme == t).sum()) for t in range(n)],
            "noise_pct": round(100 * float((c.theme < 0).mean()), 1),
            "whole_corpus_theme": bool(c.diagnostics.get("whole_corpus_theme", False)), "labels": c.theme}


def central_passage(emb: np.ndarray, chunks: list[str], rows: np.ndarray, chars: int = 110) -> str:
    """The start of the passage closest to the rows' centroid."""
    centre = emb[rows].mean(axis=0)
    best = rows[int(np.argmax(emb[rows] @ centre))]
    return " ".join(chunks[best].split())[:chars]


def main() -> None:
    defaults = RunParams()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--text", type=Path, required=True)
    p.add_argument("--chunk-size", type=int, action="append")
    p.add_argument("--chunk-overlap", type=int, help="default: the run's, scaled to the chunk size")
    p.add_argument("--sizes", action="append", help="MIN_CLUSTER/MIN_SUBCLUSTER (repeatable)")
    p.add_argument("--passages", action="store_true")
    p.add_argument("--cache-dir", type=Path, default=Path("/tmp/themesift-scratch"))
    args = p.parse_args()
    if not args.text.is_file():
        raise SystemExit(f"{args.text}: absent (the corpora live in ../shared/corpora/); nothing measured")
    for size in args.chunk_size or [defaults.chunk_size]:
        overlap = args.chunk_overlap or max(1, round(defaults.chunk_overlap * size / defaults.chunk_size))
        chunks = chunks_of(args.text, size, overlap)
        emb = embedded(chunks, args.cache_dir)
        for pair in args.sizes or [f"{defaults.min_cluster_size}/{defaults.min_subcluster_size}"]:
            mcs, mss = (int(v) for v in pair.split("/"))
            for variant in VARIANTS:
                out = cluster(emb, mcs, mss, variant)
                labels = out.pop("labels")
                print(json.dumps({"text": args.text.name, "chunk_size": size, "chunks": len(chunks),
                                  "mean_cosine": round(mean_pairwise_cosine(emb), 3),
                                  "min_cluster_size": mcs, "min_subcluster_size": mss, "variant": variant, **out}))
                if args.passages:
                    for t in range(out["themes"]):
                        print(f"    theme {t} ({out['sizes'][t]}): "
                              f"{central_passage(emb, chunks, np.flatnonzero(labels == t))}")


if __name__ == "__main__":
    main()
