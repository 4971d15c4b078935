"""The summarizer contract: the records plug-ins fill, the `Summarizer` protocol and the registry by name.

A plug-in is any object with a ``name`` and an ``apply(tree, ctx)`` method that fills some fields of
every :class:`ClusterSummary` in the tree, in place. Plug-ins are registered once (at import, see
``keyphrases`` and ``exemplars``) and chosen per run by the ``summarizers`` run parameter, which
:func:`check_summarizers` validates before any work is done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from tasks.infra.errors import ConfigError

__all__ = [
    "ClusterSummary",
    "SummaryContext",
    "Summarizer",
    "available_summarizers",
    "check_summarizers",
    "get_summarizer",
    "register_summarizer",
    "resolve_summarizers",
]


@dataclass
class ClusterSummary:
    """One theme or subtheme and everything the summarizers found out about it.

    Attributes:
        cluster_id: ``"t<N>"`` for themes, ``"t<N>.<M>"`` for subthemes; N and M are 0-based
            size ranks (largest first).
        level: ``"theme"`` or ``"subtheme"``.
        members: Sorted int64 row indices into the chunk arrays.
        size: Number of members.
        parent_id: ``cluster_id`` of the parent theme for subthemes, else ``None``.
        header: Short human name (never empty after ``summarize_clusters``).
        summary: One extractive sentence from the most central member, at most 200 chars.
        keyphrases: ``(phrase, c-TF-IDF score)``, best first.
        nodes: ``(row index, centrality)`` of the most central members, most central first.
        cohesion: Mean cosine of members to the normalised centroid.
        unassigned: Themes only: members in no subtheme (all of them if it has no subthemes).
        children: Subthemes (themes only), largest first.
        label: The clustering-stage label (theme label or global subtheme id), for joins.
    """

    cluster_id: str
    level: str
    members: np.ndarray
    size: int
    parent_id: str | None
    header: str = ""
    summary: str = ""
    keyphrases: list[tuple[str, float]] = field(default_factory=list)
    nodes: list[tuple[int, float]] = field(default_factory=list)
    cohesion: float = 0.0
    unassigned: int = 0
    children: list[ClusterSummary] = field(default_factory=list)
    label: int = -1


@dataclass(frozen=True)
class SummaryContext:
    """Everything a summarizer may read. Inputs are already validated and normalised."""

    texts: Sequence[str]
    emb: np.ndarray  # (n, d) float32, rows L2-normalised
    theme: np.ndarray  # (n,) int64
    subtheme: np.ndarray  # (n,) int64
    subtheme_theme: np.ndarray  # (S,) int64
    top_n_nodes: int = 5
    n_keyphrases: int = 8
    #: The run's model (texts -> unit vectors), for summaries that compare phrases with passages by meaning;
    #: None where no model is at hand (they fall back to word statistics).
    encode: Callable[[list[str]], np.ndarray] | None = None


@runtime_checkable
class Summarizer(Protocol):
    """A summary plug-in: fills some fields of every cluster in the tree, in place.

    It receives the whole tree at once because some summaries (c-TF-IDF) score a cluster
    against the others. It must be deterministic for a given context; a plug-in that samples
    takes its seed as a constructor argument.
    """

    name: str

    def apply(self, tree: list[ClusterSummary], ctx: SummaryContext) -> None:
        """Fill fields of the clusters in ``tree`` (themes and their children) in place."""
        ...


_REGISTRY: dict[str, Summarizer] = {}


def register_summarizer(summarizer: Summarizer, *, replace: bool = False) -> Summarizer:
    """Make a summarizer selectable by its ``name`` in the ``summarizers`` run parameter.

    Args:
        summarizer: An object with a ``name`` and an ``apply(tree, ctx)`` method.
        replace: Allow overriding an existing registration (tests, experiments).

    Returns:
        The summarizer itself.

    Raises:
        TypeError: If ``summarizer`` does not have the protocol's shape.
        ValueError: If the name is taken and ``replace`` is false.
    """
    if not isinstance(summarizer, Summarizer):
        raise TypeError(f"{summarizer!r} has no 'name' and 'apply(tree, ctx)'")
    if summarizer.name in _REGISTRY and not replace:
        raise ValueError(f"a summarizer named {summarizer.name!r} is already registered")
    _REGISTRY[summarizer.name] = summarizer
    return summarizer


def available_summarizers() -> list[str]:
    """Names accepted by the ``summarizers`` parameter, sorted."""
    return sorted(_REGISTRY)


def check_summarizers(names: Sequence[str]) -> None:
    """Validate the ``summarizers`` run parameter before any work is done.

    Args:
        names: Summarizer names, in the order they are to be applied (may be empty).

    Raises:
        ConfigError: If ``names`` is a bare string, or names summarizers that are not
            registered; the message lists the unknown ones and the available ones.
    """
    # A bare string would be iterated letter by letter and fail with a confusing "unknown 'k'".
    if isinstance(names, str):
        raise ConfigError(f"summarizers must be a list of names, not the string {names!r}; e.g. [{names!r}]")
    unknown = [name for name in dict.fromkeys(names) if name not in _REGISTRY]
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        listed = ", ".join(repr(name) for name in unknown)
        raise ConfigError(
            f"unknown summarizer{plural} {listed} in the summarizers parameter; "
            f"available summarizers: {', '.join(available_summarizers())}"
        )


def get_summarizer(name: str) -> Summarizer:
    """Look a summarizer up by name.

    Raises:
        ConfigError: For an unknown name; the message lists the available ones.
    """
    check_summarizers([name])
    return _REGISTRY[name]


def resolve_summarizers(names: Sequence[str]) -> list[Summarizer]:
    """The registered summarizers for ``names``, in order (checked first, see :func:`check_summarizers`)."""
    check_summarizers(names)
    return [_REGISTRY[name] for name in names]
