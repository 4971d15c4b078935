"""Phrases: near-duplicate passages inside a theme, grouped, so 300 copies of "where is my refund" read as one
line with a count.

Two passages of the same theme (noise counts as one more group) are the same phrase when

1. their **normalised text** is equal (case, punctuation and runs of whitespace ignored: the catalog hashes it,
   `sql/select_chunk_phrase_keys.sql`), or
2. their **embeddings** have a cosine of at least ``threshold``: checked on the pairs the kNN graph already
   holds (so the cost is ``n x k`` dot products at most, never ``n²``), keeping only pairs whose graph distance
   is already small before computing the exact cosine on the embeddings.

Grouping by (2) is a star, not a chain: a phrase's leader (the exact-text group with the most near-duplicate
weight around it) takes each still-free group that is itself within ``threshold`` of the leader, so "refund
please" ~ "refund pls" ~ "refund plan" never joins its two ends through the middle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Default cosine at or above which two passages of one theme are one phrase (bench/phrases.py measures it).
PHRASE_COSINE = 0.98
#: Graph pairs farther than this (cosine distance in the graph's space) are not checked on the embeddings.
GRAPH_SLACK = 0.15
#: Pairs checked per batch (bounds the memory of the gathered vectors).
BATCH_PAIRS = 1 << 18


@dataclass(frozen=True)
class Phrases:
    """Each row's phrase (0..P-1), each phrase's leader row (its representative passage), how many rows and
    how many distinct normalised texts it holds."""

    label: np.ndarray  # int64 (n,)
    leader: np.ndarray  # int64 (P,)
    size: np.ndarray  # int64 (P,)
    variants: np.ndarray  # int64 (P,)


def exact_groups(theme: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Each row's group of equal normalised text within its theme, numbered by first row (int64 (n,))."""
    if theme.size == 0:
        return np.zeros(0, np.int64)
    pairs = np.stack([theme.astype(np.int64), keys.astype(np.uint64).view(np.int64)], axis=1)
    _, first, inverse = np.unique(pairs, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # number groups by their first row: deterministic, row-ordered
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inverse.reshape(-1)].astype(np.int64)


def near_pairs(emb: np.ndarray, theme: np.ndarray, group: np.ndarray, neighbours: np.ndarray,
               distances: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (row < row) of the kNN graph in one theme and in different exact groups whose embeddings'
    cosine is at least ``threshold``."""
    cutoff = (1.0 - threshold) + GRAPH_SLACK
    found_rows, found_cols = [], []
    block = max(1, BATCH_PAIRS // max(1, neighbours.shape[1]))
    for start in range(0, neighbours.shape[0], block):  # blocks: only the close pairs are ever materialised
        nb, dist = neighbours[start : start + block], distances[start : start + block]
        r, c = np.nonzero((nb >= 0) & (dist <= cutoff))
        rows, cols = r.astype(np.int64) + start, nb[r, c].astype(np.int64)
        same = (theme[rows] == theme[cols]) & (group[rows] != group[cols])
        found_rows.append(rows[same])
        found_cols.append(cols[same])
    rows = np.concatenate(found_rows) if found_rows else np.zeros(0, np.int64)
    cols = np.concatenate(found_cols) if found_cols else np.zeros(0, np.int64)
    if rows.size == 0:
        return rows, cols
    pairs = np.unique(np.stack([np.minimum(rows, cols), np.maximum(rows, cols)], axis=1), axis=0)
    rows, cols = pairs[:, 0], pairs[:, 1]
    sims = np.empty(rows.size, np.float32)
    for start in range(0, rows.size, BATCH_PAIRS):
        a, b = rows[start : start + BATCH_PAIRS], cols[start : start + BATCH_PAIRS]
        sims[start : start + a.size] = np.einsum("ij,ij->i", emb[a], emb[b])
    ok = sims >= threshold
    return rows[ok], cols[ok]


def group_phrases(emb: np.ndarray, theme: np.ndarray, keys: np.ndarray, neighbours: np.ndarray,
                  distances: np.ndarray, threshold: float = PHRASE_COSINE) -> Phrases:
    """The run's phrases (see the module docstring).

    Args:
        emb: float32 ``(n, d)`` unit embeddings (as embedded: the exact cosine is checked on these).
        theme: int ``(n,)`` theme label per row (-1: noise, grouped like a theme of its own).
        keys: uint64 ``(n,)`` hash of each row's normalised text.
        neighbours, distances: the kNN graph (``(n, k)`` rows, ``-1`` padding; cosine distances).
        threshold: cosine at or above which two passages are one phrase.
    """
    n = theme.size
    group = exact_groups(theme, keys)
    n_groups = int(group.max()) + 1 if n else 0
    group_size = np.bincount(group, minlength=n_groups).astype(np.int64)
    first_row = np.full(n_groups, n, np.int64)
    np.minimum.at(first_row, group, np.arange(n, dtype=np.int64))
    rows, cols = near_pairs(emb, theme, group, neighbours, distances, threshold)
    a, b = group[rows], group[cols]
    edge = np.unique(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1), axis=0)
    phrase_of_group = np.arange(n_groups, dtype=np.int64)  # groups without near pairs stay their own phrase
    if edge.size:
        adjacency: dict[int, set[int]] = {}
        for g1, g2 in edge.tolist():
            adjacency.setdefault(g1, set()).add(g2)
            adjacency.setdefault(g2, set()).add(g1)
        weight = {g: int(group_size[g] + sum(group_size[h] for h in near)) for g, near in adjacency.items()}
        taken: set[int] = set()
        for g in sorted(adjacency, key=lambda g: (-weight[g], first_row[g])):
            if g in taken:
                continue
            taken.add(g)
            for h in sorted(adjacency[g] - taken):
                taken.add(h)
                phrase_of_group[h] = g
    leaders, phrase_index = np.unique(phrase_of_group, return_inverse=True)
    label = phrase_index[group]
    size = np.bincount(label, minlength=leaders.size).astype(np.int64)
    variants = np.bincount(phrase_index, minlength=leaders.size).astype(np.int64)
    return Phrases(label=label.astype(np.int64), leader=first_row[leaders], size=size, variants=variants)


def phrase_ids(leader_keys: np.ndarray) -> list[str]:
    """Each phrase's id: ``p_`` and the hex of its leader's normalised-text hash, so a phrase keeps its id from
    run to run while its leading text does (a text leading phrases in two themes gets ``-2``, ``-3`` after it)."""
    seen: dict[int, int] = {}
    ids = []
    for key in leader_keys.astype(np.uint64).tolist():
        seen[key] = seen.get(key, 0) + 1
        ids.append(f"p_{key:016x}" + (f"-{seen[key]}" if seen[key] > 1 else ""))
    return ids


def most_common_rows(label: np.ndarray, codes: np.ndarray, n_phrases: int) -> np.ndarray:
    """Each phrase's representative row: a row of its most frequent exact text (``codes``: an id per distinct
    text), the first such row on a tie, so 300 copies and 2 misspellings show as the copies' spelling."""
    if label.size == 0:
        return np.zeros(0, np.int64)
    pairs, first, counts = np.unique(np.stack([label, codes], axis=1), axis=0, return_index=True,
                                     return_counts=True)
    order = np.lexsort((first, -counts, pairs[:, 0]))  # by phrase, most frequent text first, then earliest row
    best = np.full(n_phrases, -1, np.int64)
    chosen = pairs[order, 0]
    keep = np.r_[True, chosen[1:] != chosen[:-1]]
    best[chosen[keep]] = first[order][keep]
    return best
