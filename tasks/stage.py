"""What every stage's thin Prefect wrapper shares: the task decorator, a logger, a stopwatch.

Tasks use ``NO_CACHE``: our catalog and embedding cache decide what is already done, not Prefect's
result cache (which would hash large inputs and could skip work whose state changed underneath).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

stage_task = functools.partial(task, cache_policy=NO_CACHE, persist_result=False)


def stage_logger() -> logging.Logger | logging.LoggerAdapter:
    """The Prefect run logger inside a flow or task, a plain logger outside (tests, benchmarks)."""
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
