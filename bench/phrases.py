"""Phrases: are planted near-duplicates grouped, and nothing else with them? Precision and recall of the grouping.

    .venv/bin/python bench/phrases.py [--corpus ../shared/corpora/banking77/data.jsonl] [--groups 300] \\
        [--thresholds 0.9 0.95 0.97 0.99 1.0] [--cache-dir /tmp/themesift-scratch]

Banking77 (vectors cached like ``bench/cluster.py``) plus planted groups: ``--groups`` of its queries (seeded
sample), each with four variants added to the corpus: upper case, other punctuation, messy spacing (the three the
issue names: the same text once normalised), and one typo (a letter dropped from a word: a near duplicate only
the embeddings can tell). Everything is clustered at the run defaults, and phrases are grouped exactly as the
phrases stage does (`tasks.core.phrases` on the run's kNN graph, keys from ``sql/select_chunk_phrase_keys.sql``
run in DuckDB), at each ``--thresholds`` cosine; side by side in the same run, the baseline: grouping by the exact
text only (what a ``GROUP BY text`` gives).

Printed per recipe, over the planted items (a planted group is its original query and its four variants):

* ``pair precision``: of the pairs in one phrase that involve a planted item, the share that are one planted
  group (a genuine query pulled into a planted group counts against it);
* ``pair recall``: of the planted groups' pairs, the share put in one phrase;
* ``groups whole``: planted groups entirely in one phrase (the three normalised variants with their original;
  and with the typo too);
* ``other rows grouped``: Banking77's own queries that share a phrase with another of its own queries, with a
  few examples to judge (near-duplicates the corpus itself holds).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from itertools import combinations
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cluster import load_corpus  # noqa: E402
from bench.headers import embed  # noqa: E402
from tasks.core.clustering import cluster_embeddings, clustering_space, recommended_k  # noqa: E402
from tasks.core.knn_graph import build_knn_graph  # noqa: E402
from tasks.core.phrases import group_phrases  # noqa: E402
from tasks.infra.catalog import load_sql  # noqa: E402
from tasks.infra.params import RunParams  # noqa: E402


def variants(text: str, rng: random.Random) -> list[str]:
    """Upper case, other punctuation, messy spacing, one typo."""
    bare = text.rstrip("?.!")
    words = text.split()
    long_words = [i for i, w in enumerate(words) if sum(c.isalpha() for c in w) >= 5]
    typo = list(words)
    if long_words:
        i = rng.choice(long_words)
        j = rng.randrange(1, len(words[i]) - 1)
        typo[i] = words[i][:j] + words[i][j + 1:]
    return [text.upper(), bare + "?!" if text.endswith("?") else bare + "...", "  " + "   ".join(words) + " ",
            " ".join(typo)]


def phrase_keys(texts: list[str]) -> np.ndarray:
    """The phrases stage's keys, from the same SQL file run over an in-memory chunks table."""
    con = duckdb.connect()
    con.register("chunks", pa.table({"chunk_id": [str(i) for i in range(len(texts))], "text": texts}))
    con.register("chunk_ids_input", pa.table({"row_no": np.arange(len(texts)),
                                              "chunk_id": [str(i) for i in range(len(texts))]}))
    rows = con.execute(load_sql("select_chunk_phrase_keys")).fetchall()
    return np.array([key for _, key in rows], dtype=np.uint64)


def exact_text_labels(texts: list[str]) -> np.ndarray:
    ids: dict[str, int] = {}
    return np.array([ids.setdefault(t, len(ids)) for t in texts])


def score(label: np.ndarray, planted: dict[int, int], n_original: int, texts: list[str]) -> dict:
    """Pair precision / recall over planted items, whole groups, and the corpus's own grouped rows."""
    members: dict[int, list[int]] = {}
    for row, phrase in enumerate(label.tolist()):
        members.setdefault(phrase, []).append(row)
    tp = fp = 0
    for rows in members.values():
        if len(rows) < 2 or not any(r in planted for r in rows):
            continue
        for a, b in combinations(rows, 2):
            if a in planted or b in planted:
                same = a in planted and b in planted and planted[a] == planted[b]
                tp += same
                fp += not same
    groups: dict[int, list[int]] = {}
    for row, g in planted.items():
        groups.setdefault(g, []).append(row)
    true_pairs = sum(len(r) * (len(r) - 1) // 2 for r in groups.values())
    whole_norm = sum(len({label[r] for r in rows[:4]}) == 1 for rows in groups.values())  # original + 3 variants
    whole_all = sum(len({label[r] for r in rows}) == 1 for rows in groups.values())
    own = [rows for rows in members.values() if sum(r < n_original and r not in planted for r in rows) >= 2]
    examples = [[texts[r] for r in rows if r < n_original][:3] for rows in own[:3]]
    return {"pair_precision": round(tp / max(tp + fp, 1), 4), "pair_recall": round(tp / max(true_pairs, 1), 4),
            "groups_whole_normalised": whole_norm, "groups_whole_with_typo": whole_all, "groups": len(groups),
            "other_rows_grouped": sum(sum(r < n_original and r not in planted for r in rows) for rows in own),
            "examples": examples}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared/corpora/banking77/data.jsonl"))
    parser.add_argument("--groups", type=int, default=300)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.9, 0.95, 0.97, 0.99, 1.0])
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/themesift-scratch"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    path = Path(args.corpus)
    if not path.is_file():
        print(f"corpus {path} is absent: nothing measured (give --corpus a Banking77 data.jsonl)")
        return 0
    name, emb, _ = load_corpus(str(path), args.cache_dir)
    texts = [json.loads(line)["text"] for line in path.open(encoding="utf-8")]
    rng = random.Random(args.seed)
    picked = rng.sample(range(len(texts)), args.groups)
    planted: dict[int, int] = {}
    extra: list[str] = []
    for g, row in enumerate(picked):
        planted[row] = g
        for v in variants(texts[row], rng):
            planted[len(texts) + len(extra)] = g
            extra.append(v)
    start = time.perf_counter()
    all_emb = np.vstack([emb, embed(extra)])
    print(f"{name}: {len(texts):,} queries + {len(extra):,} planted variants of {args.groups} "
          f"(embedded in {time.perf_counter() - start:.0f} s)", flush=True)
    all_texts = texts + extra
    p = RunParams()
    x = clustering_space(all_emb, p.geometry)
    graph = build_knn_graph(x, min(recommended_k(p.min_cluster_size, p.min_samples, len(x)), len(x) - 1))
    theme = cluster_embeddings(x, graph, min_cluster_size=p.min_cluster_size,
                               min_subcluster_size=p.min_subcluster_size, resolution=p.resolution,
                               subtheme_resolution=p.subtheme_resolution).theme
    keys = phrase_keys(all_texts)
    results = {"baseline: exact text": score(exact_text_labels(all_texts), planted, len(texts), all_texts)}
    for threshold in args.thresholds:
        start = time.perf_counter()
        found = group_phrases(all_emb, theme, keys, graph.indices, graph.distances, threshold)
        seconds = time.perf_counter() - start
        results[f"phrases, cosine {threshold:g}"] = {**score(found.label, planted, len(texts), all_texts),
                                                    "phrases": int(found.leader.size), "seconds": round(seconds, 2)}
    print("\n| recipe | pair precision | pair recall | groups whole (normalised / with typo) | "
          "other rows grouped |\n|---|---:|---:|---:|---:|")
    for recipe, r in results.items():
        print(f"| {recipe} | {r['pair_precision']:.3f} | {r['pair_recall']:.3f} | {r['groups_whole_normalised']} / "
              f"{r['groups_whole_with_typo']} of {r['groups']} | {r['other_rows_grouped']} |")
    for recipe, r in results.items():
        if r["examples"]:
            print(f"\n{recipe}: the corpus's own rows grouped, e.g. " + " | ".join(" ~ ".join(e) for e in
                                                                               r["examples"]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
