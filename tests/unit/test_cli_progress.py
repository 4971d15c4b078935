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
