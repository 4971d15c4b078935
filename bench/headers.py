"""Theme headers, old recipe against new, in one run: do they name what a person would name?

    .venv/bin/python bench/headers.py --corpus ../shared/corpora/banking77/data.jsonl \\
        [--corpus ../shared/corpora/20newsgroups/data.jsonl:1000] [--text ../shared/corpora/gatsby/gatsby.txt]

For each corpus the vectors (all-MiniLM-L6-v2, cached like ``bench/cluster.py``) are clustered at the run
defaults (the clustering space and all), summarised once by the ``keyphrases`` plug-in, and each theme gets
two headers from the same keyphrases:

* ``old``: the recipe before phrase headers: the top two or three keyphrases joined by " · " (the third only
  when it scores at least half the first);
* ``old_issue_day``: the same recipe on keyphrases read as on the day issue 16 was filed (`issue_day_phrases`:
  sklearn's whole English stop list; since then "top", "amount", "fire", "system" and other nouns of that list
  count as words, and no phrase cuts a phrasal verb such as "top up" in two);
* ``new``: the published header: one phrase of one to four words from the theme's central passages, picked by
  meaning (closest to the theme's centroid) from c-TF-IDF's shortlist, without corpus-common words the theme
  does not own, distinct from its siblings' (``tasks/core/summarizers/headers.py``).

Figures per corpus and recipe:

* ``label cosine`` (labelled corpora): mean cosine, in the model's space, between each theme's header and the
  name of its majority label (``card_arrival`` -> "card arrival"), over the themes;
* ``common-word headers``: themes and subthemes whose header holds one of the corpus's 30 most frequent content
  words although the cluster uses it less than 3x as often as the corpus (the issue's rule); counted twice,
  with today's stop words and with the issue day's (``_issue_day_list``);
* ``sibling clashes``: pairs of sibling themes or subthemes with the same header.

``--text`` takes a plain-text file (a novel) and cuts it into chunks the way the pipeline does (``--chunk-size``
model tokens, default the run default). It has no labels, so only the last two figures and the headers are
printed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import load_corpus

from tasks.core.clustering import cluster_embeddings, clustering_space, recommended_k, with_document_context
from tasks.core.knn_graph import build_knn_graph
from tasks.core.summarizers import iter_clusters, summarize_clusters
from tasks.core.summarizers.headers import COMMON_RATE_RATIO, COMMON_WORDS
from tasks.core.summarizers.text import analyze_phrases
from tasks.infra.params import RunParams


def old_header(keyphrases: list[tuple[str, float]]) -> str:
    """The header recipe before phrase headers (top 2-3 keyphrases)."""
    top = keyphrases[:3]
    if len(top) == 3 and top[2][1] < 0.5 * top[0][1]:
        top = top[:2]
    return " · ".join(p for p, _ in top)


def issue_day_phrases(text: str) -> list[str]:
    """The keyphrase analyzer as it was on the day issue 16 was filed: sklearn's whole English stop list, and a
    bigram may end just before a particle ("auto top")."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from tasks.core.summarizers.text import STOP_WORDS, TOKEN_RE

    stop = STOP_WORDS | frozenset(ENGLISH_STOP_WORDS)
    toks = TOKEN_RE.findall(text.lower())
    keep = [t not in stop for t in toks]
    return [t for t, k in zip(toks, keep, strict=True) if k] + [
        f"{a} {b}" for a, b, ka, kb in zip(toks, toks[1:], keep, keep[1:], strict=False)
        if ka and (kb or b in {"up", "out", "off", "down"})]


@contextlib.contextmanager
def issue_day_keyphrases():
    """The keyphrase summarizer reads text as it did on the day issue 16 was filed (`issue_day_phrases`)."""
    import tasks.core.summarizers.keyphrases as keyphrases

    before = keyphrases.analyze_phrases
    keyphrases.analyze_phrases = issue_day_phrases
    try:
        yield
    finally:
        keyphrases.analyze_phrases = before


def text_chunks(path: Path, size: int, overlap: int) -> list[str]:
    """A plain-text file cut into chunks as the chunk stage cuts it (model tokens)."""
    from tasks.core.chunking import chunk_document, token_span_finder
    from tasks.core.embedding.identity import tokenizer_file

    text = path.read_text(encoding="utf-8")
    finder = token_span_finder(tokenizer_file("all-MiniLM-L6-v2"))
    return [text[a:b] for a, b in chunk_document(text, finder([text])[0], size=size, overlap=overlap, unit="tokens")]


@functools.cache
def encoder():
    """The packaged model, loaded once."""
    from tasks.core.embedding.engines import load_encoder

    return load_encoder("all-MiniLM-L6-v2", backend="st-fp32")


def embed(texts: list[str]) -> np.ndarray:
    """Unit vectors of texts with the packaged model."""
    return np.asarray(encoder()(texts), np.float32)


def cluster(emb: np.ndarray, one_document: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Themes and subthemes at the run defaults (a text's chunks read with their neighbours, as the pipeline does)."""
    p = RunParams()
    if one_document:
        emb = with_document_context(emb, np.zeros(len(emb)), np.arange(len(emb)), p.context_weight)
    x = clustering_space(emb, p.geometry)
    graph = build_knn_graph(x, min(recommended_k(p.min_cluster_size, p.min_samples, len(x)), len(x) - 1))
    c = cluster_embeddings(x, graph, min_cluster_size=p.min_cluster_size, min_subcluster_size=p.min_subcluster_size,
                           resolution=p.resolution, subtheme_resolution=p.subtheme_resolution)
    return c.theme, c.subtheme, c.subtheme_theme


def common_violations(texts: list[str], tree: list, headers: dict[str, str], analyzer=analyze_phrases) -> int:
    """Themes and subthemes whose header holds a corpus-common word they do not own (see the module docstring)."""
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import CountVectorizer

    vec = CountVectorizer(analyzer=lambda t: [w for w in analyzer(t) if " " not in w])
    x = sp.csr_matrix(vec.fit_transform(texts))
    vocab = vec.get_feature_names_out()
    totals = np.asarray(x.sum(axis=0)).ravel()
    top = np.argsort(-totals, kind="stable")[:COMMON_WORDS]
    rate = dict(zip(vocab[top], totals[top] / totals.sum(), strict=True))
    column = {str(vocab[i]): int(i) for i in top}
    bad = 0
    for node in iter_clusters(tree):  # themes and subthemes
        own = np.asarray(x[node.members].sum(axis=0)).ravel()
        own_total = max(float(own.sum()), 1.0)
        words = set(re.findall(r"[a-z0-9]+", headers[node.cluster_id].lower())) & set(column)
        if any(own[column[w]] / own_total < COMMON_RATE_RATIO * rate[w] for w in words):
            bad += 1
    return bad


def sibling_clashes(tree: list, headers: dict[str, str]) -> int:
    """Pairs of siblings with the same header."""
    groups = [tree] + [node.children for node in tree]
    clashes = 0
    for group in groups:
        seen = Counter(headers[n.cluster_id].lower() for n in group)
        clashes += sum(c * (c - 1) // 2 for c in seen.values())
    return clashes


def label_cosine(tree: list, labels: np.ndarray, headers: dict[str, str]) -> float:
    """Mean cosine between each theme's header and its majority label's name."""
    names = [Counter(labels[node.members]).most_common(1)[0][0].replace("_", " ").replace(".", " ")
             for node in tree]
    h = embed([headers[node.cluster_id] for node in tree])
    n = embed(names)
    return float(np.mean(np.sum(h * n, axis=1)))


def report(name: str, texts: list[str], emb: np.ndarray, labels: np.ndarray | None, show: int) -> dict:
    """Cluster, summarise and score one corpus (a labelled one: a row per document; else one text); print it."""
    theme, sub, sub_theme = cluster(emb, one_document=labels is None)
    tree = summarize_clusters(texts, emb, theme, sub, sub_theme, summarizers=["keyphrases", "exemplars"],
                              encode=embed)
    new = {node.cluster_id: node.header for node in iter_clusters(tree)}
    old = {node.cluster_id: old_header(node.keyphrases) or node.header for node in iter_clusters(tree)}
    with issue_day_keyphrases():
        day = summarize_clusters(texts, emb, theme, sub, sub_theme, summarizers=["keyphrases"], encode=None)
    old_day = {node.cluster_id: old_header(node.keyphrases) or node.header for node in iter_clusters(day)}
    out = {"corpus": name, "chunks": len(texts), "themes": len(tree),
           "subthemes": sum(len(node.children) for node in tree)}
    for recipe, headers in (("old_issue_day", old_day), ("old", old), ("new", new)):
        out[recipe] = {"common_word_headers": common_violations(texts, tree, headers),
                       # the 30 common words as counted when the issue was filed
                       "common_word_headers_issue_day_list": common_violations(texts, tree, headers,
                                                                                 issue_day_phrases),
                       "sibling_clashes": sibling_clashes(tree, headers)}
        if labels is not None:
            out[recipe]["label_cosine"] = round(label_cosine(tree, labels, headers), 4)
    print(json.dumps(out))
    for node in tree[:show]:
        print(f"  {node.size:>6}  {new[node.cluster_id]!r:<34} (old: {old[node.cluster_id]})")
        for child in node.children:
            print(f"  {child.size:>6}    · {new[child.cluster_id]!r:<30} (old: {old[child.cluster_id]})")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", action="append", default=[], help="PATH[:MAX_CHARS] of a labelled JSON-lines file")
    p.add_argument("--text", action="append", default=[], type=Path, help="a plain-text file (no labels)")
    p.add_argument("--chunk-size", type=int, default=RunParams().chunk_size)
    p.add_argument("--chunk-overlap", type=int, default=RunParams().chunk_overlap)
    p.add_argument("--cache-dir", type=Path, default=Path("/tmp/themesift-scratch"))
    p.add_argument("--show", type=int, default=12, help="themes whose headers are printed")
    args = p.parse_args()
    for spec in args.corpus:
        path = Path(spec.partition(":")[0])
        if not path.is_file():
            print(f"{path}: absent, skipped", file=sys.stderr)
            continue
        name, emb, labels = load_corpus(spec, args.cache_dir)
        chars = int(spec.partition(":")[2] or 0)
        texts = [json.loads(line)["text"] for line in path.open(encoding="utf-8")]
        report(name, [t[:chars] if chars else t for t in texts], emb, labels, args.show)
    for path in args.text:
        if not path.is_file():
            print(f"{path}: absent, skipped", file=sys.stderr)
            continue
        texts = text_chunks(path, args.chunk_size, args.chunk_overlap)
        report(f"{path.name} ({args.chunk_size} tokens)", texts, embed(texts), None, args.show)


if __name__ == "__main__":
    main()
