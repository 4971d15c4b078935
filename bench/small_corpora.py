"""Small corpora: the graph width and theme resolution of the defaults against the ones before, in one run.

    .venv/bin/python bench/small_corpora.py --corpus ../shared/corpora/banking77/data.jsonl \\
        --corpus ../shared/corpora/20newsgroups/data.jsonl:1000 --corpus ../shared/corpora/product_reviews/data.jsonl \\
        --text ../shared/corpora/gatsby/gatsby.txt [--sizes 300 --sizes 600 ...] [--seeds 2] [--full]

Each labelled corpus (JSON lines with ``text`` and ``label``; product reviews are labelled by their ``product``)
is embedded once (st-fp32, cached in ``--cache-dir`` as ``bench/cluster.py`` caches it) and cut into seeded
random samples of each ``--sizes`` row count. Every sample, and with ``--full`` the whole corpus, is clustered
at ``min_cluster_size`` 25 / ``min_subcluster_size`` 5 on one graph per setting, four ways:

* ``no rule``: no small-corpus rule (every graph ``k`` 33, ``min_samples`` 10), theme resolution 1.5 (the
  defaults before the rule);
* ``before``: the small-corpus graph rule (``SMALL_CORPUS_SHARE``) at resolution 1.5 everywhere (the defaults
  until the small-corpus resolution);
* ``defaults``: what a run does now: the rule, and resolution ``SMALL_CORPUS_RESOLUTION`` (2) in a corpus of
  250-825 chunks, 1.5 elsewhere;
* ``2 everywhere``: the rule and resolution 2 for every corpus size.

Printed per sample: themes and theme AMI / finest NMI against the labels for each way; then the means and how
many samples each way raised or lowered against ``before``. ``--text`` files are cut and embedded as
``bench/narrative.py`` does (one document, each chunk read in context) and get theme counts and sizes at 25/5
and the tutorial's 50/10. A path that does not exist is reported and skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import load_corpus
from narrative import chunks_of, embedded
from sklearn.metrics import adjusted_mutual_info_score, normalized_mutual_info_score

import tasks.core.clustering.contract as contract
from tasks.core.clustering import cluster_embeddings, clustering_space, recommended_k, with_document_context
from tasks.core.knn_graph import build_knn_graph
from tasks.infra.params import RunParams

#: (name, small-corpus rule on, theme resolution; None: the run default for the corpus's size)
WAYS = (("no rule", False, 1.5), ("before", True, 1.5), ("defaults", True, None), ("2 everywhere", True, 2.0))
#: The way the others are counted up or down against.
BASE = 1


def _clustered(x: np.ndarray, mcs: int, mss: int, small: bool, resolution: float | None):
    """The clustering of ``x`` one way; the small-corpus rule is switched off by letting a neighbourhood span
    the whole corpus (its cap is then never below the default width)."""
    share = contract.SMALL_CORPUS_SHARE
    contract.SMALL_CORPUS_SHARE = share if small else 1.0
    try:
        graph = build_knn_graph(x, min(recommended_k(mcs, None, len(x)), len(x) - 1), seed=0)
        return cluster_embeddings(x, graph, min_cluster_size=mcs, min_subcluster_size=mss,
                                  resolution=resolution)
    finally:
        contract.SMALL_CORPUS_SHARE = share


def _labelled(spec: str, cache_dir: Path) -> tuple[str, np.ndarray, np.ndarray]:
    """A labelled corpus; product reviews carry their product as the label."""
    path = Path(spec.partition(":")[0])
    if path.parent.name != "product_reviews":
        return load_corpus(spec, cache_dir)
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    relabelled = cache_dir / "product_reviews_by_product" / "data.jsonl"
    if not relabelled.exists():
        relabelled.parent.mkdir(parents=True, exist_ok=True)
        relabelled.write_text("".join(json.dumps({"text": r["text"], "label": r["product"]}) + "\n" for r in rows))
    return load_corpus(str(relabelled), cache_dir)


def _row(x: np.ndarray, labels: np.ndarray) -> list[tuple[int, float, float]]:
    """(themes, theme AMI, finest NMI) for each way."""
    out = []
    for _, small, resolution in WAYS:
        c = _clustered(x, 25, 5, small, resolution)
        n = int(c.theme.max()) + 1
        finest = np.where(c.subtheme >= 0, c.subtheme + n, c.theme)
        out.append((n, adjusted_mutual_info_score(labels, c.theme), normalized_mutual_info_score(labels, finest)))
    return out


def labelled_samples(specs: list[str], sizes: list[int], seeds: int, full: bool, cache_dir: Path) -> None:
    """The table over every sample, then the means and the up/down counts against ``WAYS[BASE]``."""
    print("sample | " + " | ".join(f"{name}: themes, theme AMI / finest NMI" for name, _, _ in WAYS))
    rows = []
    for spec in specs:
        if not Path(spec.partition(":")[0]).exists():
            print(f"{spec}: absent, skipped")
            continue
        name, emb, labels = _labelled(spec, cache_dir)
        cases = [(f"{name} {m} s{s}", np.random.default_rng(s).choice(len(emb), m, replace=False))
                 for m in sizes if m < len(emb) for s in range(seeds)]
        cases += [(f"{name} all {len(emb)}", np.arange(len(emb)))] if full else []
        for label, rows_ in cases:
            row = _row(clustering_space(np.ascontiguousarray(emb[rows_], np.float32), "auto"), labels[rows_])
            rows.append(row)
            print(label + " | " + " | ".join(f"{n} {a:.3f} / {f:.3f}" for n, a, f in row), flush=True)
    if rows:
        arr = np.array(rows)  # (samples, ways, 3)
        print(f"mean over {len(rows)} | " + " | ".join(
            f"{arr[:, w, 1].mean():.4f} / {arr[:, w, 2].mean():.4f}" for w in range(len(WAYS))))
        for w, (name, _, _) in enumerate(WAYS):
            if w == BASE:
                continue
            d = arr[:, w, 1] - arr[:, BASE, 1]
            print(f"{name} against {WAYS[BASE][0]}, theme AMI: {int((d > 1e-9).sum())} up, "
                  f"{int((d < -1e-9).sum())} down, {int((abs(d) <= 1e-9).sum())} equal")


def narrative(texts: list[Path], cache_dir: Path) -> None:
    """Theme counts, sizes and subthemes per theme of each text at 25/5 and 50/10, each way."""
    p = RunParams()
    for path in texts:
        if not path.exists():
            print(f"{path}: absent, skipped")
            continue
        emb = embedded(chunks_of(path, p.chunk_size, p.chunk_overlap), cache_dir)
        x = clustering_space(with_document_context(emb, np.zeros(len(emb)), np.arange(len(emb)), p.context_weight),
                             p.geometry)
        for mcs, mss in ((25, 5), (50, 10)):
            for name, small, resolution in WAYS:
                c = _clustered(x, mcs, mss, small, resolution)
                n = int(c.theme.max()) + 1
                print(f"{path.name} ({len(x)} chunks) {mcs}/{mss} {name}: {n} themes "
                      f"{[int((c.theme == t).sum()) for t in range(n)]}, subthemes "
                      f"{[int((c.subtheme_theme == t).sum()) for t in range(n)]}, "
                      f"noise {100 * float((c.theme < 0).mean()):.1f} %", flush=True)


def main() -> None:
    """Parse the arguments and print both parts."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", action="append", default=[], help="PATH[:MAX_CHARS] of a labelled JSON-lines file")
    p.add_argument("--text", action="append", default=[], type=Path, help="a plain-text file (one document)")
    p.add_argument("--sizes", type=int, action="append", help="rows per sample (default 300, 600, 1000, 2000)")
    p.add_argument("--seeds", type=int, default=2, help="samples per size")
    p.add_argument("--full", action="store_true", help="also cluster each whole corpus")
    p.add_argument("--cache-dir", type=Path, default=Path("/tmp/themesift-scratch"))
    args = p.parse_args()
    narrative(args.text, args.cache_dir)
    labelled_samples(args.corpus, args.sizes or [300, 600, 1000, 2000], args.seeds, args.full, args.cache_dir)


if __name__ == "__main__":
    main()
