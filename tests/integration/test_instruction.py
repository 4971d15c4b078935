"""An instruction steers the themes: a planted two-facet corpus (products x moods) with the packaged model, the
recluster flow end to end, and the caches."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import normalized_mutual_info_score

from tasks.core.clustering import cluster_embeddings, clustering_space, recommended_k
from tasks.core.embedding.engines import load_encoder
from tasks.core.knn_graph import build_knn_graph
from tasks.core.steering import ALIGNED, candidate_phrases, facet_basis, parse_instruction, steer
from tasks.infra.params import RunParams
from tasks.ingest import document_id
from tests.integration.conftest import make_workspace

pytestmark = pytest.mark.integration
# Two facets that cut across each other: what a sentence is about, and how the writer feels about it.
THINGS = {"kitchen": ["coffee maker", "blender", "toaster", "kettle", "microwave", "rice cooker"],
          "travel": ["hotel room", "flight", "train ride", "rental car", "beach resort", "city tour"],
          "computer": ["laptop", "keyboard", "monitor", "printer", "graphics card", "wireless mouse"]}
MOODS = {"positive": ["works perfectly", "is wonderful", "exceeded my expectations", "is a joy",
                      "was worth every penny", "is excellent", "made me very happy", "is fantastic"],
         "negative": ["broke after a week", "is terrible", "was a huge disappointment", "is awful",
                      "was a waste of money", "stopped working", "made me angry", "is useless"]}
SENTIMENT = "sentiment: positive or negative"


def two_facet_corpus(seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    """Sentences "The <thing> <mood phrase>.", three quarters of all pairs, with each one's two facets."""
    rng = random.Random(seed)
    rows = [(f"The {thing} {phrase}.", kind, mood)
            for kind, things in THINGS.items() for mood, phrases in MOODS.items()
            for thing, phrase in itertools.product(things, phrases) if rng.random() < 0.75]
    texts, kinds, moods = zip(*rows, strict=True)
    return list(texts), list(kinds), list(moods)


@pytest.fixture(scope="module")
def encode():
    return load_encoder("all-MiniLM-L6-v2", backend="st-fp32")


def themes(x: np.ndarray) -> np.ndarray:
    x = clustering_space(x, "auto")
    graph = build_knn_graph(x, min(recommended_k(25, None, len(x)), len(x) - 1), seed=0)
    return cluster_embeddings(x, graph, min_cluster_size=25, min_subcluster_size=5).theme


def test_the_instruction_turns_the_themes_toward_its_facet(encode):
    texts, kinds, moods = two_facet_corpus()
    emb = np.asarray(encode(texts), np.float32)
    plain = themes(emb)
    nmi = normalized_mutual_info_score
    assert nmi(kinds, plain) > 0.5 > 0.1 > nmi(moods, plain), "the plain themes are the things"
    facet = facet_basis(parse_instruction(SENTIMENT), candidate_phrases(texts), encode, emb)
    assert facet.steers and facet.alignment < ALIGNED
    steered = themes(steer(emb, facet.basis))
    assert nmi(moods, steered) > 0.25 > nmi(kinds, steered), "steered, the themes are the moods"
    asked_for_kinds = facet_basis(parse_instruction("type of product or service"), candidate_phrases(texts),
                                  encode, emb)
    assert not asked_for_kinds.steers, "the corpus already varies along the things: plain vectors kept"


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


def test_a_steered_run_end_to_end_keeps_the_plain_vectors_apart(prefect_harness, tmp_path, monkeypatch):
    from flows.recluster import recluster

    ws = make_workspace(tmp_path, monkeypatch)
    texts, _kinds, moods = two_facet_corpus()
    with (ws.bucket / "reviews.jsonl").open("w") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"id": f"r{i}", "text": text}) + "\n")
    plain = recluster(params=RunParams())
    vectors_before = _digest(ws.state / "embeddings")
    graphs_before = {p.name for p in (ws.state / "graph-cache").glob("*.npz")}
    steered = recluster(params=RunParams(instruction=SENTIMENT, instruction_examples=["so-so"]))
    manifest = ws.manifest(steered["run_id"])
    assert manifest["params"]["instruction"] == SENTIMENT
    facet = manifest["instruction"]
    assert facet["facet"] == "sentiment" and facet["examples"] == ["positive", "negative", "so-so"]
    assert facet["steered"] and facet["directions"] > 0 and facet["phrases"]
    assert manifest["counts"]["chunks_embedded"] == 0, "an instruction re-embeds no chunk"
    assert _digest(ws.state / "embeddings") == vectors_before, "the embedding cache holds plain vectors only"
    graphs_after = {p.name for p in (ws.state / "graph-cache").glob("*.npz")}
    assert graphs_after - graphs_before, "the steered graph is cached under its own key"
    assert ws.manifest(plain["run_id"])["instruction"] is None
    mood = {document_id("reviews.jsonl", None, f"r{i}"): m for i, m in enumerate(moods)}
    rows = pq.read_table(ws.out / "runs" / steered["run_id"] / "assignments.parquet").to_pylist()
    by_theme: dict[str, Counter] = {}
    for row in rows:
        if row["theme_id"] is not None:
            by_theme.setdefault(row["theme_id"], Counter())[mood[row["doc_id"]]] += 1
    clustered = sum(sum(c.values()) for c in by_theme.values())
    assert sum(c.most_common(1)[0][1] for c in by_theme.values()) / clustered >= 0.75, by_theme
    html = (ws.out / "runs" / steered["run_id"] / "report.html").read_text()
    assert "Grouped by" in html and "sentiment: positive or negative" in html
