"""What every stage's thin Prefect wrapper shares: the task decorator, a logger, a stopwatch.

Tasks use ``NO_CACHE``: our catalog and embedding cache decide what is already done, not Prefect's
result cache (which would hash large inputs and could skip work whose state changed underneath).

Prefect is imported when a stage task is first used, not when a stage module is imported: the pure
functions beside each wrapper (``build_knn_graph``, ``cluster_embeddings``, ...) are what benchmarks,
notebooks and tests call, and importing Prefect costs about a second of every fresh process.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class _StageTask:
    """A stage's Prefect task, built on first use; behaves as the ``prefect.Task`` it wraps."""

    def __init__(self, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        functools.update_wrapper(self, fn)
        self._fn, self._options, self._task = fn, options, None

    def _prefect_task(self) -> Any:
        if self._task is None:
            # Prefect costs ~1 s to import: stage modules stay importable without it (see module docstring).
            from prefect import task
            from prefect.cache_policies import NO_CACHE

            self._task = task(self._fn, cache_policy=NO_CACHE, persist_result=False, **self._options)
        return self._task

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._prefect_task()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # submit, map, with_options, fn, name, ...
        if name.startswith("_"):  # not built yet (unpickling): never recurse through _prefect_task
            raise AttributeError(name)
        return getattr(self._prefect_task(), name)


def stage_task(**options: Any) -> Callable[[Callable[..., Any]], _StageTask]:
    """``@stage_task(name=...)``: a Prefect task without result caching, created lazily."""
    return lambda fn: _StageTask(fn, options)


def stage_logger() -> logging.Logger | logging.LoggerAdapter:
    """The Prefect run logger inside a flow or task, a plain logger outside (tests, benchmarks)."""
    if "prefect" not in sys.modules:  # no flow or task can be running
        return logging.getLogger("themesift")
    # Prefect costs ~1 s to import: stage modules stay importable without it (see module docstring).
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("themesift")


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    """Measure a block: ``with stopwatch() as t: ...`` then ``t["seconds"]``."""
    timing = {"seconds": 0.0}
    start = time.perf_counter()
    try:
        yield timing
    finally:
        timing["seconds"] = round(time.perf_counter() - start, 3)
