"""Instructions that steer the themes: each facet's NMI with its instruction against the plain run, in one run.

    .venv/bin/python bench/instruction.py --reviews ../shared/corpora/product_reviews/data.jsonl \\
        [--banking77 ../shared/corpora/banking77/data.jsonl] [--headers]

Product reviews (3,818 sentences; ``product``, ``polarity`` and ``feature`` per sentence) are embedded once
(st-fp32, cached in ``--cache-dir``) and clustered at the run defaults plain and with each facet's instruction,
steered as a run steers them (`tasks.core.steering`: candidate phrases, the facet's span, projection). For every
clustering: NMI between the themes and each facet's labels (over the sentences where that facet is set; noise is
one more cluster), polarity purity (the share of polarity-labelled sentences in their theme's majority
polarity), themes and noise. Each instruction must raise its own facet more than it raises the other two. The
cost: seconds to gather and embed the candidate phrases and build the facet (the model loaded beforehand),
against the plain clustering's seconds. ``--banking77`` adds the "matching instruction" case: finest NMI of
``instruction="type of issue"`` against the plain run. ``--headers`` prints the largest themes' headers, picked
along the facet as the summarize stage picks them. ``--threads`` reads each sentence with its review as a run
with ``context_field`` does (a review: consecutive sentences with one review number; `tasks.core.clustering.context`,
:data:`THREAD_REACH` sentences each side at the default ``context_weight``), plain and with each instruction.
``--ceiling`` prints what a *supervised* reader of the same vectors reaches: a logistic regression trained
on each facet's labels, scored by 5-fold cross-validation, with and without the review (the sentence's vector
read with its review as above), as NMI against the labels. A path that does not exist is reported and skipped.
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

from cluster import load_corpus
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import normalized_mutual_info_score
from sklearn.model_selection import cross_val_predict

from tasks.core.clustering import (
    THREAD_REACH,
    cluster_embeddings,
    clustering_space,
    recommended_k,
    with_document_context,
)
from tasks.core.embedding.engines import load_encoder
from tasks.core.knn_graph import build_knn_graph
from tasks.core.steering import ALIGNED, candidate_phrases, facet_basis, parse_instruction, steer
from tasks.core.summarizers import summarize_clusters
from tasks.infra.params import RunParams

INSTRUCTIONS = {"product": "product mentioned", "polarity": "sentiment: positive or negative",
                "feature": "product feature discussed"}


def clustered(x: np.ndarray):
    """Themes and subthemes at the run defaults, as the knn and cluster stages compute them."""
    p = RunParams()
    x = clustering_space(x, p.geometry)
    graph = build_knn_graph(x, min(recommended_k(p.min_cluster_size, p.min_samples, len(x)), len(x) - 1), seed=p.seed)
    return cluster_embeddings(x, graph, min_cluster_size=p.min_cluster_size, min_subcluster_size=p.min_subcluster_size,
                              min_samples=p.min_samples, resolution=p.resolution,
                              subtheme_resolution=p.subtheme_resolution)


def facet_scores(theme: np.ndarray, facets: dict[str, np.ndarray]) -> dict:
    """NMI per facet (where set), polarity purity, themes and noise."""
    out = {}
    for name, labels in facets.items():
        known = np.array([v is not None for v in labels])
        out[name] = round(float(normalized_mutual_info_score(labels[known].astype(str), theme[known])), 3)
    known = np.array([v is not None for v in facets["polarity"]])
    t, pol = theme[known], facets["polarity"][known]
    out["polarity_purity"] = round(sum(Counter(pol[t == c]).most_common(1)[0][1] for c in np.unique(t)) / len(t), 3)
    out["themes"] = int(theme.max()) + 1
    out["noise_pct"] = round(100 * float((theme < 0).mean()), 1)
    return out


def steered_vectors(texts: list[str], emb: np.ndarray, instruction: str, encode,
                    gate: bool = True) -> tuple[np.ndarray, dict, np.ndarray]:
    """The chunk vectors a run clusters with this instruction (along its facet, unless the corpus already varies
    along it; ``gate=False`` projects regardless), what building the facet cost, and its directions."""
    start = time.perf_counter()
    facet = facet_basis(parse_instruction(instruction), candidate_phrases(texts), encode, emb)
    seconds = time.perf_counter() - start
    x = steer(emb, facet.basis) if facet.steers or not gate else emb
    return x, {"facet_seconds": round(seconds, 2), "vocabulary": facet.vocabulary, "alignment": facet.alignment,
               "steered": facet.steers or not gate, "closest_phrases": list(facet.phrases[:8])}, facet.basis


def headers(texts: list[str], emb: np.ndarray, theme: np.ndarray, encode, basis_encode=None, show: int = 6) -> list:
    """The largest themes' headers and sizes, picked in the space the themes were found in."""
    empty = np.full(len(theme), -1)
    tree = summarize_clusters(texts, emb, theme, empty, np.zeros(0, np.int64), summarizers=["keyphrases"],
                              encode=basis_encode or encode)
    return [(node.header, node.size) for node in tree[:show]]


def reviews(path: Path, cache_dir: Path, encode, show_headers: bool, threads: bool, ceiling: bool) -> None:
    """Plain against each instruction on product reviews."""
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    texts = [r["text"] for r in rows]
    cache = cache_dir / "product_reviews.npy"
    if not cache.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(cache, np.asarray(encode(texts), np.float32))
    emb = np.load(cache)
    if ceiling:
        return supervised_ceiling(rows, emb)
    if threads:
        return threaded(rows, emb, encode)
    facets = {f: np.array([r[f] for r in rows], dtype=object) for f in ("product", "polarity", "feature")}
    start = time.perf_counter()
    plain = clustered(emb)
    plain_seconds = time.perf_counter() - start
    base = facet_scores(plain.theme, facets)
    print(json.dumps({"run": "plain", **base, "cluster_seconds": round(plain_seconds, 2)}))
    if show_headers:
        print("  headers:", headers(texts, emb, plain.theme, encode))
    for facet, instruction in INSTRUCTIONS.items():
        for gate in (True, False):
            x, cost, basis = steered_vectors(texts, emb, instruction, encode, gate)
            if not gate and not cost["alignment"] >= ALIGNED:
                continue  # the gate steered already: the same run
            result = clustered(x)
            got = facet_scores(result.theme, facets)
            gains = {f: round(got[f] - base[f], 3) for f in INSTRUCTIONS}
            own_first = all(gains[facet] > gains[f] for f in INSTRUCTIONS if f != facet)
            print(json.dumps({"run": f"instruction={instruction!r}" + ("" if gate else ", projected regardless"),
                              **got, "gain_vs_plain": gains, "own_facet_gains_most": own_first, **cost,
                              "facet_cost_vs_plain_clustering": round(cost["facet_seconds"] / plain_seconds, 2)}))
            if show_headers and cost["steered"]:
                print("  headers:", headers(texts, x, result.theme, encode, lambda t, b=basis: steer(encode(t), b)))


def review_of(rows: list[dict]) -> np.ndarray:
    """Each sentence's review: a run of consecutive sentences with one review number (numbers restart with each
    product; the product itself is not used)."""
    return np.cumsum([i == 0 or r["review"] != rows[i - 1]["review"] for i, r in enumerate(rows)])


def supervised_ceiling(rows: list[dict], emb: np.ndarray) -> None:
    """Facet NMI of a logistic regression trained on the labels (5-fold), alone and read with the review."""
    read = with_document_context(emb, review_of(rows), np.arange(len(rows)), RunParams().context_weight,
                                 reach=THREAD_REACH)
    for facet in INSTRUCTIONS:
        known = np.array([i for i, r in enumerate(rows) if r[facet] is not None])
        labels = np.array([rows[i][facet] for i in known])
        out = {}
        for name, x in (("alone", emb), ("read_with_review", read)):
            guess = cross_val_predict(LogisticRegression(max_iter=2000, C=4.0), x[known], labels, cv=5)
            out[name] = round(float(normalized_mutual_info_score(labels, guess)), 3)
        print(json.dumps({"facet": facet, "labelled": len(known), "supervised_nmi": out}))


def threaded(rows: list[dict], emb: np.ndarray, encode) -> None:
    """Each sentence read with its review's sentences (``context_field``), plain and with each instruction."""
    texts = [r["text"] for r in rows]
    facets = {f: np.array([r[f] for r in rows], dtype=object) for f in ("product", "polarity", "feature")}
    review = review_of(rows)
    weight = RunParams().context_weight

    def read_in_review(x: np.ndarray) -> np.ndarray:
        return with_document_context(x, review, np.arange(len(rows)), weight, reach=THREAD_REACH)

    alone = facet_scores(clustered(emb).theme, facets)
    base = facet_scores(clustered(read_in_review(emb)).theme, facets)
    print(json.dumps({"run": "plain, each sentence alone", **alone}))
    print(json.dumps({"run": f"plain, read with its review ({len(set(review))} reviews)", **base}))
    for facet, instruction in INSTRUCTIONS.items():
        x, cost, _ = steered_vectors(texts, emb, instruction, encode)
        got = facet_scores(clustered(np.ascontiguousarray(read_in_review(np.ascontiguousarray(x)))).theme, facets)
        gains = {f: round(got[f] - base[f], 3) for f in INSTRUCTIONS}
        print(json.dumps({"run": f"instruction={instruction!r}, read with its review", **got,
                          "gain_vs_plain_read_with_review": gains, "steered": cost["steered"],
                          "own_facet_gains_most": all(gains[facet] > gains[f] for f in INSTRUCTIONS if f != facet)}))


def banking77(path: Path, cache_dir: Path, encode) -> None:
    """The plain run against ``instruction="type of issue"`` (what the corpus is already about)."""
    _, emb, labels = load_corpus(str(path), cache_dir)
    texts = [json.loads(line)["text"] for line in path.open(encoding="utf-8")]
    out = {}
    gated, cost, _ = steered_vectors(texts, emb, "type of issue", encode)
    forced, _, _ = steered_vectors(texts, emb, "type of issue", encode, gate=False)
    out["alignment"], out["steered"] = cost["alignment"], cost["steered"]
    for name, x in (("plain", emb), ("type of issue", gated), ("type of issue, projected regardless", forced)):
        c = clustered(np.ascontiguousarray(x, np.float32))
        n = int(c.theme.max()) + 1
        finest = np.where(c.subtheme >= 0, c.subtheme + n, c.theme)
        out[name] = {"theme_nmi": round(float(normalized_mutual_info_score(labels, c.theme)), 3),
                     "finest_nmi": round(float(normalized_mutual_info_score(labels, finest)), 3), "themes": n}
    out["finest_difference"] = round(out["type of issue"]["finest_nmi"] - out["plain"]["finest_nmi"], 3)
    print(json.dumps({"corpus": "banking77", **out}))


def main() -> None:
    """Parse the arguments and run each corpus given."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reviews", type=Path, help="product_reviews/data.jsonl")
    p.add_argument("--banking77", type=Path, help="banking77/data.jsonl")
    p.add_argument("--headers", action="store_true")
    p.add_argument("--threads", action="store_true", help="read each review sentence with its review")
    p.add_argument("--ceiling", action="store_true", help="what a supervised reader of the same vectors reaches")
    p.add_argument("--cache-dir", type=Path, default=Path("/tmp/themesift-scratch"))
    args = p.parse_args()
    encode = load_encoder("all-MiniLM-L6-v2", backend="st-fp32")
    def on_reviews(q: Path) -> None:
        reviews(q, args.cache_dir, encode, args.headers, args.threads, args.ceiling)

    for path, run in ((args.reviews, on_reviews),
                      (args.banking77, lambda q: banking77(q, args.cache_dir, encode))):
        if path is None:
            continue
        if not path.is_file():
            print(f"{path}: absent, skipped")
            continue
        run(path)


if __name__ == "__main__":
    main()
