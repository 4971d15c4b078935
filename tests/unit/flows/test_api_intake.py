"""The API's intake: accepted requests are on disk before the POST answers, become flow runs in order, survive a
restart and Prefect being away, and a refused one is kept with its reason instead of blocking the rest."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from flows.api.intake import Accepted, Intake, Refused


def entry(n: int) -> Accepted:
    return Accepted(task_id=f"00000000-0000-4000-8000-{n:012d}", bucket="b", parameters={"run_id": f"r{n}"},
                    tags=["themesift-api"], accepted_at=datetime(2026, 11, 30, tzinfo=UTC) + timedelta(seconds=n))


class Prefect:
    """Stands in for the flow-run creation call: records what it made; can be told to be away or to refuse."""

    def __init__(self, away: int = 0, refuse: set[str] | None = None) -> None:
        self.made: list[str] = []
        self.away = away
        self.refuse = refuse or set()

    async def create(self, accepted: Accepted) -> None:
        await asyncio.sleep(0)
        if self.away:
            self.away -= 1
            raise httpx.ConnectError("connection refused")
        if accepted.task_id in self.refuse:
            raise Refused("parameters do not match the deployment's schema")
        self.made.append(accepted.task_id)


async def drain(intake: Intake, deadline_s: float = 30) -> None:
    async with asyncio.timeout(deadline_s):
        while intake.entries:
            await asyncio.sleep(0.01)


def test_an_accepted_request_is_on_disk_before_accept_returns(tmp_path: Path):
    intake = Intake(tmp_path, Prefect().create)
    intake.accept(entry(1))
    saved = Accepted.from_json((tmp_path / f"{entry(1).task_id}.json").read_text())
    assert saved == entry(1) and list(intake.entries) == [entry(1).task_id]
    assert not list(tmp_path.glob("*.tmp"))


def test_requests_become_flow_runs_in_the_order_they_came_and_leave_the_journal(tmp_path: Path):
    prefect = Prefect()

    async def scenario() -> None:
        intake = Intake(tmp_path, prefect.create)
        intake.start()
        for n in (3, 1, 2):
            intake.accept(entry(n))
        await drain(intake)
        await intake.stop()

    asyncio.run(scenario())
    assert prefect.made == [entry(n).task_id for n in (3, 1, 2)]
    assert not list(tmp_path.glob("*.json"))


def test_a_restart_replays_the_journal_oldest_first_and_sets_aside_what_it_cannot_read(tmp_path: Path):
    writer = Intake(tmp_path, Prefect().create)
    for n in (2, 1):  # never started: a process that died before making the flow runs
        writer.accept(entry(n))
    (tmp_path / "garbled.json").write_text("{not json")
    prefect = Prefect()

    async def scenario() -> None:
        intake = Intake(tmp_path, prefect.create)
        intake.start()
        await drain(intake)
        await intake.stop()

    asyncio.run(scenario())
    assert prefect.made == [entry(1).task_id, entry(2).task_id]
    assert (tmp_path / "garbled.unreadable").read_text() == "{not json"


def test_while_prefect_is_away_requests_wait_and_none_is_lost(tmp_path: Path, monkeypatch):
    monkeypatch.setattr("flows.api.intake.MAX_BACKOFF_S", 0.01)
    prefect = Prefect(away=3)

    async def scenario() -> None:
        intake = Intake(tmp_path, prefect.create)
        intake.start()
        intake.accept(entry(1))
        intake.accept(entry(2))
        await drain(intake)
        await intake.stop()

    asyncio.run(scenario())
    assert prefect.made == [entry(1).task_id, entry(2).task_id]


def test_a_refused_request_is_kept_with_its_reason_and_does_not_block_the_next(tmp_path: Path):
    prefect = Prefect(refuse={entry(1).task_id})

    async def scenario() -> Intake:
        intake = Intake(tmp_path, prefect.create)
        intake.start()
        intake.accept(entry(1))
        intake.accept(entry(2))
        await drain(intake)
        await intake.stop()
        return intake

    intake = asyncio.run(scenario())
    assert prefect.made == [entry(2).task_id]
    assert "schema" in intake.refused[entry(1).task_id].refusal
    reloaded = Intake(tmp_path, prefect.create)
    reloaded.load()  # the refusal outlives a restart, and is not retried
    assert not reloaded.entries and "schema" in reloaded.refused[entry(1).task_id].refusal
    assert reloaded.withdraw(entry(1).task_id) is not None and not list(tmp_path.glob("*.json"))


def test_a_request_withdrawn_while_its_flow_run_is_made_is_flagged_for_the_creator(tmp_path: Path):
    seen: list[bool] = []
    intake: Intake

    async def create(accepted: Accepted) -> None:
        intake.withdraw(accepted.task_id)  # a DELETE arriving while Prefect makes the run
        await asyncio.sleep(0)
        seen.append(accepted.withdrawn)

    async def scenario() -> None:
        nonlocal intake
        intake = Intake(tmp_path, create)
        intake.start()
        intake.accept(entry(1))
        await drain(intake)
        await asyncio.sleep(0.05)
        await intake.stop()

    asyncio.run(scenario())
    assert seen == [True] and not intake.entries and not list(tmp_path.glob("*.json"))
