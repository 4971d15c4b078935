"""Progress reporting shared by the stages, the Prefect logs and the CLI bar.

Pure stage functions accept an optional `Progress` callback. The task wrappers pass `stage_progress`,
which forwards every update to the active sink (the CLI installs a rich progress bar) and writes a
Prefect log line at most every few seconds, so logs show the pace of long stages without flooding.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

Progress = Callable[[int, int], None]  # (done, total)


class ProgressSink(Protocol):
    """Receives stage progress (the CLI implements it with a rich progress bar)."""

    def update(self, stage: str, done: int, total: int) -> None:
        """Record that ``done`` of ``total`` units of ``stage`` are finished."""


_sink: ProgressSink | None = None


def set_sink(sink: ProgressSink | None) -> None:
    """Install (or remove, with None) the process-wide progress sink."""
    global _sink
    _sink = sink


def stage_progress(stage: str, logger: logging.Logger | logging.LoggerAdapter, unit: str,
                   every_s: float = 5.0) -> Progress:
    """A callback that updates the sink and logs ``stage: done/total unit (rate/s, ETA)`` now and then."""
    start = time.monotonic()
    last_log = [start]

    def update(done: int, total: int) -> None:
        if _sink is not None:
            _sink.update(stage, done, total)
        now = time.monotonic()
        if total > 0 and (now - last_log[0] >= every_s or done >= total):  # nothing to do: the stage says so itself
            last_log[0] = now
            rate = done / max(now - start, 1e-9)
            eta = (total - done) / rate if rate > 0 else float("inf")
            logger.info(f"{stage}: {done:,}/{total:,} {unit} ({rate:,.1f}/s, ETA {eta:,.0f} s)")

    return update
