"""Summarize stage: header, keyphrases, summary, central passages and cohesion of every theme and subtheme.

The summaries come from the plug-ins named by the ``summarizers`` parameter (`tasks.core.summarizers`),
applied in order; this stage reads the run's texts and labels and writes ``summaries.json`` and each
chunk's centrality to the scratch folder.
"""

from __future__ import annotations

import json

import numpy as np

from tasks.chunk import load_corpus_texts
from tasks.core.embedding.engines import Encoder
from tasks.core.steering import steer
from tasks.core.summarizers import ClusterSummary, summarize_clusters
from tasks.embed import run_encoder
from tasks.infra.errors import ModelError
from tasks.infra.params import SummaryParams
from tasks.infra.runs import RunRef
from tasks.infra.settings import Settings
from tasks.infra.stage import stage_logger, stage_task, stopwatch
from tasks.steer import load_facet


def theme_centrality(emb: np.ndarray, theme: np.ndarray) -> np.ndarray:
    """float32 (n,): each chunk's cosine to its theme's normalised centroid (0 for noise)."""
    out = np.zeros(len(theme), dtype=np.float32)
    for t in np.unique(theme[theme >= 0]):
        rows = np.flatnonzero(theme == t)
        centroid = emb[rows].mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
        out[rows] = emb[rows] @ centroid
    return out


def summary_record(summary: ClusterSummary, doc_ids: np.ndarray) -> dict:
    """A JSON-able summary with its label index and document count (members stay in the arrays)."""
    return {
        "cluster_id": summary.cluster_id, "level": summary.level, "label": int(summary.label),
        "size": summary.size, "header": summary.header, "summary": summary.summary,
        "keyphrases": [[p, float(s)] for p, s in summary.keyphrases],
        "nodes": [[int(r), float(c)] for r, c in summary.nodes], "cohesion": float(summary.cohesion),
        "unassigned": int(summary.unassigned), "documents": int(len(np.unique(doc_ids[summary.members]))),
        "children": [],
    }


def phrase_encoder(settings: Settings) -> Encoder:
    """The run's model for header phrases, loaded on the first call only (a run whose clusters have no
    candidates never loads it); if it cannot load, headers are picked by word statistics and the log says why."""
    loaded: list[Encoder | None] = []

    def encode(texts: list[str]) -> np.ndarray:
        if not loaded:
            try:
                loaded.append(run_encoder(settings))
            except ModelError as exc:
                stage_logger().warning(f"summarize: headers by word statistics only; the model did not load: {exc}")
                loaded.append(None)
        if loaded[0] is None:
            raise ModelError("no model for header phrases")
        return loaded[0](texts)

    return encode


def along_facet(encode: Encoder, basis: np.ndarray) -> Encoder:
    """``encode``, its vectors taken along the instruction's facet (as the chunks' are)."""

    def encode_along(texts: list[str]) -> np.ndarray:
        return steer(encode(texts), basis)

    return encode_along


def summarize_run(run: RunRef, settings: Settings, params: SummaryParams) -> list[dict]:
    """The JSON-able summaries of a run's themes (each with its subthemes as ``children``). With an instruction,
    central passages and header phrases are judged along its facet, so the headers speak in its terms."""
    encode = phrase_encoder(settings)
    emb = np.load(run.embeddings_path)
    basis = load_facet(run, params.instruction)
    if basis is not None:
        emb, encode = steer(emb, basis), along_facet(encode, basis)
    clustering = np.load(run.clustering_path)
    texts, doc_ids = load_corpus_texts(settings, run)
    summaries = summarize_clusters(texts, emb, clustering["theme"], clustering["subtheme"],
                                   clustering["subtheme_theme"], top_n_nodes=params.top_n_nodes,
                                   summarizers=params.summarizers, encode=encode)
    records = []
    for s in summaries:
        record = summary_record(s, doc_ids)
        record["children"] = [summary_record(c, doc_ids) for c in s.children]
        records.append(record)
    np.save(run.centrality_path, theme_centrality(emb, clustering["theme"]))
    return records


@stage_task(name="summarize")
def summarize_task(run: RunRef, settings: Settings, params: SummaryParams) -> dict:
    """Header, keyphrases, summary, central passages and cohesion for every theme and subtheme."""
    log = stage_logger()
    with stopwatch() as timing:
        records = summarize_run(run, settings, params)
        run.summaries_path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    mean_cohesion = round(float(np.mean([r["cohesion"] for r in records])), 4) if records else 0.0
    log.info(f"summarize: {len(records)} themes summarised; mean cohesion {mean_cohesion}")
    return {"themes": len(records), "mean_cohesion": mean_cohesion, "seconds": timing["seconds"]}
