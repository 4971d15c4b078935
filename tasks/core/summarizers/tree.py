"""The theme/subtheme tree: label validation, grouping rows into clusters and assigning their ids.

Contract
--------
* ``theme`` - ``(n,)`` integer theme label per chunk, ``-1`` = noise.
* ``subtheme`` - ``(n,)`` integer *global* subtheme id ``0..S-1`` per chunk, ``-1`` = none.
* ``subtheme_theme`` - ``(S,)`` parent theme label of each subtheme.

Ids are assigned by size rank, 0-based: the largest theme is ``"t0"``, the largest subtheme of
``t0`` is ``"t0.0"``, the next ``"t0.1"``. Equal sizes are ordered by the clustering-stage label
(kept in ``label``), so ids are deterministic. Subtheme ids with no members are skipped. Noise
is not a cluster and is not returned.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from tasks.core.summarizers.base import ClusterSummary

__all__ = ["build_cluster_tree", "iter_clusters", "validate_labels"]


def _as_labels(arr: np.ndarray, what: str) -> np.ndarray:
    """``arr`` as a 1-D int64 array, or a ValueError naming ``what`` is wrong with it."""
    a = np.asarray(arr)
    if a.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {a.shape}")
    if a.size and a.dtype.kind not in "iu":
        raise ValueError(f"{what} must hold integers, got dtype {a.dtype}")
    return a.astype(np.int64, copy=False)


def _check_label_ranges(theme: np.ndarray, subtheme: np.ndarray, n_sub: int) -> None:
    """Theme labels are ``>= -1``; subtheme ids index ``subtheme_theme`` (or are ``-1``)."""
    if len(subtheme) != len(theme):
        raise ValueError(f"subtheme has {len(subtheme)} rows but theme has {len(theme)}")
    if theme.size and theme.min() < -1:
        raise ValueError("theme labels must be >= -1 (-1 = noise)")
    if subtheme.size and (subtheme.min() < -1 or subtheme.max() >= n_sub):
        raise ValueError(
            f"subtheme ids must be in -1..{n_sub - 1} (subtheme_theme has {n_sub} entries), "
            f"got {subtheme.min()}..{subtheme.max()}"
        )


def _check_subtheme_parents(theme: np.ndarray, subtheme: np.ndarray, subtheme_theme: np.ndarray) -> None:
    """Every chunk's subtheme belongs to the chunk's own theme."""
    # Anything else is a clustering bug that would silently produce subthemes whose members
    # sit outside their parent.
    bad = np.flatnonzero(subtheme >= 0)
    bad = bad[subtheme_theme[subtheme[bad]] != theme[bad]]
    if bad.size:
        row = int(bad[0])
        raise ValueError(
            f"row {row}: subtheme {subtheme[row]} belongs to theme "
            f"{subtheme_theme[subtheme[row]]} but the row is in theme {theme[row]}"
        )


def validate_labels(
    theme: np.ndarray, subtheme: np.ndarray, subtheme_theme: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check the three label arrays agree with each other (see the module contract).

    Returns:
        ``(theme, subtheme, subtheme_theme)`` as int64 arrays.

    Raises:
        ValueError: Wrong dimensions or dtypes, mismatched lengths, out-of-range labels, or a
            row whose subtheme belongs to another theme.
    """
    theme = _as_labels(theme, "theme")
    subtheme = _as_labels(subtheme, "subtheme")
    subtheme_theme = _as_labels(subtheme_theme, "subtheme_theme")
    _check_label_ranges(theme, subtheme, len(subtheme_theme))
    _check_subtheme_parents(theme, subtheme, subtheme_theme)
    return theme, subtheme, subtheme_theme


def iter_clusters(tree: Sequence[ClusterSummary]) -> Iterator[ClusterSummary]:
    """Yield every theme followed by its subthemes (depth-first, in tree order)."""
    for theme in tree:
        yield theme
        yield from theme.children


def _groups_by_size(labels: np.ndarray, ids: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """``(label, sorted member rows)`` for each label in ``ids``, largest first, ties by label."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    groups = []
    for lab in ids:
        lo, hi = np.searchsorted(sorted_labels, [lab, lab + 1])
        if hi > lo:
            groups.append((int(lab), np.sort(order[lo:hi]).astype(np.int64)))
    groups.sort(key=lambda g: (-len(g[1]), g[0]))
    return groups


def _subthemes_by_theme(subtheme: np.ndarray, subtheme_theme: np.ndarray) -> dict[int, list[tuple[int, np.ndarray]]]:
    """Non-empty subthemes grouped under their parent theme label, each list largest first."""
    kids_of: dict[int, list[tuple[int, np.ndarray]]] = {}
    for lab, members in _groups_by_size(subtheme, np.arange(len(subtheme_theme))):
        kids_of.setdefault(int(subtheme_theme[lab]), []).append((lab, members))  # stays size-sorted
    return kids_of


def _theme_node(rank: int, label: int, members: np.ndarray, kids: list[tuple[int, np.ndarray]]) -> ClusterSummary:
    """The theme of size rank ``rank`` with its subthemes (``kids``, largest first) as children."""
    node = ClusterSummary(f"t{rank}", "theme", members, len(members), None, label=label)
    node.children = [
        ClusterSummary(f"t{rank}.{r}", "subtheme", m, len(m), node.cluster_id, label=lab)
        for r, (lab, m) in enumerate(kids)
    ]
    node.unassigned = node.size - sum(k.size for k in node.children)
    return node


def build_cluster_tree(theme: np.ndarray, subtheme: np.ndarray, subtheme_theme: np.ndarray) -> list[ClusterSummary]:
    """Group rows into themes and subthemes and assign their ids.

    Args:
        theme: ``(n,)`` theme label per chunk, ``-1`` = noise.
        subtheme: ``(n,)`` global subtheme id per chunk, ``-1`` = none.
        subtheme_theme: ``(S,)`` parent theme label per subtheme id.

    Returns:
        Themes sorted by size (desc, ties by label), each with its non-empty subthemes in
        ``children`` sorted the same way. Only ids, members, sizes and ``unassigned`` are set.

    Raises:
        ValueError: If the arrays have wrong shapes, lengths or disagree with each other.
    """
    theme, subtheme, subtheme_theme = validate_labels(theme, subtheme, subtheme_theme)
    kids_of = _subthemes_by_theme(subtheme, subtheme_theme)
    groups = _groups_by_size(theme, np.unique(theme[theme >= 0]))
    return [_theme_node(rank, label, members, kids_of.get(label, [])) for rank, (label, members) in enumerate(groups)]
