"""Find: which of a run's themes a new text belongs to, from the vectors of the chunks the run clustered.

Two rules, both over unit vectors (cosine) of the same model:

- ``knn`` (the default): the text's :data:`FIND_K` nearest clustered chunks vote for their themes, each with
  its cosine; themes are ranked by their vote, and a theme's ``similarity`` is the cosine of its nearest chunk.
  A theme is the shape its members make, not a point: a text near one edge of a long or curved theme is still
  among that theme's chunks, however far the theme's mean is.
- ``centroid``: the cosine to each theme's normalised mean vector (the baseline ``bench/find.py`` measures the
  vote against).

Noise chunks do not vote (they are in no theme). A theme whose ``similarity`` is under the caller's threshold is
left out, so a text unlike anything in the run finds nothing rather than the least bad theme.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Neighbours that vote (bench/find.py compares 5, 15 and 30).
FIND_K = 15
#: Query-by-item similarities computed at once (bounds memory: 32M float32 = 128 MB).
_BLOCK_CELLS = 1 << 25


@dataclass(frozen=True)
class Match:
    """One theme found for a text: its label in the run, the subtheme its voters favour (-1: none), the cosine
    of its nearest chunk (``knn``) or of its centroid (``centroid``), and its share of the vote (0..1)."""

    theme: int
    subtheme: int
    similarity: float
    votes: float


class ThemeFinder:
    """The clustered chunks of one run, ready to be asked which themes new texts belong to.

    Args:
        vectors: ``(n, d)`` unit vectors of the run's chunks (any float dtype; kept as float32).
        theme: ``(n,)`` theme label per chunk, ``-1`` for noise.
        subtheme: ``(n,)`` subtheme label per chunk, ``-1`` for none.
    """

    def __init__(self, vectors: np.ndarray, theme: np.ndarray, subtheme: np.ndarray) -> None:
        theme = np.asarray(theme, np.int64)
        if vectors.ndim != 2 or vectors.shape[0] != theme.shape[0] or np.shape(subtheme) != theme.shape:
            raise ValueError(f"vectors {vectors.shape}, theme {theme.shape} and subtheme {np.shape(subtheme)} "
                             "must have one row per chunk")
        keep = np.flatnonzero(theme >= 0)
        self.vectors = np.ascontiguousarray(vectors[keep], dtype=np.float32)
        self.theme = theme[keep]
        self.subtheme = np.asarray(subtheme, np.int64)[keep]
        self.n_themes = int(self.theme.max()) + 1 if self.theme.size else 0
        self._centroids: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def centroids(self) -> np.ndarray:
        """``(themes, d)`` unit mean vector of each theme (computed once)."""
        if self._centroids is None:
            sums = np.zeros((self.n_themes, self.dim), np.float64)
            np.add.at(sums, self.theme, self.vectors)
            norms = np.linalg.norm(sums, axis=1, keepdims=True)
            self._centroids = (sums / np.maximum(norms, 1e-12)).astype(np.float32)
        return self._centroids

    def find(self, queries: np.ndarray, *, method: str = "knn", k: int = FIND_K, threshold: float = 0.0,
             limit: int = 3) -> list[list[Match]]:
        """For each query vector (unit, ``(m, d)``), up to ``limit`` themes, best first, whose similarity is at
        least ``threshold``."""
        queries = np.atleast_2d(np.asarray(queries, np.float32))
        if queries.shape[1] != self.dim:
            raise ValueError(f"query vectors have {queries.shape[1]} dimensions, the run's have {self.dim}")
        if self.n_themes == 0:
            return [[] for _ in range(queries.shape[0])]
        if method == "centroid":
            return [self._by_centroid(row, threshold, limit) for row in queries @ self.centroids().T]
        if method != "knn":
            raise ValueError(f"unknown find method {method!r} (knn or centroid)")
        k = max(1, min(k, self.theme.shape[0]))
        out: list[list[Match]] = []
        step = max(1, _BLOCK_CELLS // max(self.theme.shape[0], 1))
        for a in range(0, queries.shape[0], step):
            sims = queries[a:a + step] @ self.vectors.T
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            for row, cols in zip(sims, top, strict=True):
                out.append(self._by_vote(row[cols], cols, threshold, limit))
        return out

    def _by_vote(self, sims: np.ndarray, cols: np.ndarray, threshold: float, limit: int) -> list[Match]:
        weight = np.maximum(sims.astype(np.float64), 0.0)
        themes = self.theme[cols]
        total = float(weight.sum()) or 1.0
        matches = []
        for t in np.unique(themes):
            mine = themes == t
            best = float(sims[mine].max())
            if best < threshold:
                continue
            subs = self.subtheme[cols][mine]
            sub_weight = np.bincount(subs[subs >= 0], weights=weight[mine][subs >= 0]) if (subs >= 0).any() else None
            sub = int(np.argmax(sub_weight)) if sub_weight is not None else -1
            matches.append(Match(int(t), sub, best, float(weight[mine].sum()) / total))
        matches.sort(key=lambda m: (-m.votes, -m.similarity, m.theme))
        return matches[:limit]

    def _by_centroid(self, sims: np.ndarray, threshold: float, limit: int) -> list[Match]:
        order = np.argsort(-sims, kind="stable")[:limit]
        return [Match(int(t), -1, float(sims[t]), 0.0) for t in order if sims[t] >= threshold]
