"""The CLI progress bar: one bar per stage with its unit rate (chunks/s) and ETA."""

from __future__ import annotations

import io

from rich.console import Console
from rich.progress import Progress

from flows.cli import BarSink, RateColumn


def test_the_embed_bar_shows_chunks_per_second():
    clock = [0.0]
    console = Console(file=io.StringIO(), width=100)
    with Progress(RateColumn(), console=console, get_time=lambda: clock[0], auto_refresh=False) as bars:
        sink = BarSink(bars)
        sink.update("embed", 0, 400)
        assert RateColumn().render(bars.tasks[0]).plain == "\u2013 chunks/s", "no rate before any progress"
        for step in range(1, 5):
            clock[0] = 2.0 * step
            sink.update("embed", 50 * step, 400)
        assert RateColumn().render(bars.tasks[0]).plain == "25.0 chunks/s"
        sink.update("ingest", 3, 10)
        assert [t.fields["unit"] for t in bars.tasks] == ["chunks", "objects"]


def test_stage_progress_logs_done_work_but_not_an_empty_stage(caplog) -> None:
    import logging

    from tasks.infra.progress import stage_progress

    log = logging.getLogger("themesift.test.progress")
    with caplog.at_level(logging.INFO, logger=log.name):
        stage_progress("embed", log, "passages")(0, 0)
        assert caplog.messages == [], "0/0 with an infinite ETA says nothing useful"
        stage_progress("embed", log, "passages")(4, 4)
    assert len(caplog.messages) == 1 and caplog.messages[0].startswith("embed: 4/4 passages (")
