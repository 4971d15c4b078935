"""Phrases stage: group each theme's near-duplicate passages (`tasks.core.phrases`) for the publish stage.

It reads what earlier stages left: the embeddings, the clustering labels, the kNN graph (the candidate pairs)
and, from the catalog, a hash of each passage's normalised text. It writes ``phrases.npz`` to the scratch
folder; the publish stage gives each phrase its id and writes ``phrases.parquet``.
"""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from tasks.core.phrases import group_phrases, most_common_rows
from tasks.infra.catalog import open_catalog
from tasks.infra.params import PhraseParams
from tasks.infra.runs import RunRef
from tasks.infra.settings import Settings
from tasks.infra.stage import stage_logger, stage_task, stopwatch
from tasks.knn import load_graph


def phrase_keys(settings: Settings, run: RunRef) -> np.ndarray:
    """uint64 hash of each corpus passage's normalised text, in row order."""
    corpus = pq.read_table(run.corpus_path, columns=["row_no", "chunk_id"])
    with open_catalog(settings.catalog_path) as catalog:
        rows = catalog.rows("select_chunk_phrase_keys", chunk_ids_input=corpus)
    return np.fromiter((key for _, key in rows), dtype=np.uint64, count=len(rows))


@stage_task(name="phrases")
def phrases_task(run: RunRef, settings: Settings, params: PhraseParams) -> dict:
    """Near-duplicate passages of each theme grouped into phrases, with their counts."""
    log = stage_logger()
    with stopwatch() as timing:
        theme = np.load(run.clustering_path)["theme"]
        keys = phrase_keys(settings, run)
        graph = load_graph(run)
        emb = np.load(run.embeddings_path, mmap_mode="r")
        found = group_phrases(emb, theme, keys, graph.indices, graph.distances, params.phrase_cosine)
        hashes = pq.read_table(run.corpus_path, columns=["text_hash"]).column("text_hash")
        hashes = hashes.to_numpy(zero_copy_only=False)
        codes = np.unique(hashes.astype(str), return_inverse=True)[1].reshape(-1) if hashes.size else hashes
        shown = most_common_rows(found.label, codes.astype(np.int64), found.leader.size)
        # ids follow the leader's normalised text (stable); the text shown is the phrase's most common spelling
        np.savez(run.phrases_path, label=found.label, leader=shown, size=found.size,
                 variants=found.variants, leader_key=keys[found.leader], key=keys)
    grouped = int(found.size[found.size > 1].sum())
    log.info(f"phrases: {found.leader.size:,} phrases over {theme.size:,} chunks; {grouped:,} chunks share a phrase "
             f"with another ({int((found.size > 1).sum()):,} phrases of 2 or more)")
    return {"phrases": int(found.leader.size), "chunks_in_shared_phrases": grouped, "seconds": timing["seconds"]}
