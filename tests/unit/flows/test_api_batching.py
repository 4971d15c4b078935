"""The encoder batcher: concurrent requests share encoder calls, each gets its own rows, errors reach them all."""

from __future__ import annotations

import asyncio
import threading

import numpy as np

from flows.api.batching import MAX_BATCH_TEXTS, Batcher


class SlowEncoder:
    """Rows ``[len(text), call number]``; the first call blocks until released, so later requests pile up."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.release = threading.Event()

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if len(self.calls) == 1:
            self.release.wait(10)
        return np.array([[len(t), len(self.calls)] for t in texts], np.float32)


def test_requests_waiting_together_share_one_call_and_get_their_own_rows():
    async def scenario() -> tuple[list[np.ndarray], SlowEncoder]:
        encoder = SlowEncoder()
        batcher = Batcher(encoder)
        first = asyncio.create_task(batcher.embed(["a"]))
        await asyncio.sleep(0.05)  # the first call is running and blocked
        rest = [asyncio.create_task(batcher.embed(["bb", "ccc"][: 1 + i % 2])) for i in range(6)]
        await asyncio.sleep(0.05)
        encoder.release.set()
        out = await asyncio.gather(first, *rest)
        await batcher.close()
        return out, encoder

    out, encoder = asyncio.run(scenario())
    assert len(encoder.calls) == 2, "the six requests that waited behind the first were embedded in one call"
    assert out[0].tolist() == [[1, 1]]
    for i, rows in enumerate(out[1:]):
        assert rows[:, 0].tolist() == [2, 3][: 1 + i % 2] and set(rows[:, 1]) == {2}


def test_batches_are_bounded_and_a_failure_reaches_every_waiting_request():
    def failing(texts: list[str]) -> np.ndarray:
        raise RuntimeError("model gone")

    async def scenario() -> None:
        batcher = Batcher(failing)
        results = await asyncio.gather(batcher.embed(["x"]), batcher.embed(["y"]), return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)
        calls = []
        ok = Batcher(lambda texts: calls.append(len(texts)) or np.zeros((len(texts), 2), np.float32))
        sizes = [MAX_BATCH_TEXTS - 10, 20, 5]
        rows = await asyncio.gather(*(ok.embed(["t"] * n) for n in sizes))
        assert [r.shape[0] for r in rows] == sizes and max(calls) <= MAX_BATCH_TEXTS and sum(calls) == sum(sizes)
        await ok.close()
        await batcher.close()

    asyncio.run(scenario())


def test_a_request_larger_than_a_batch_is_embedded_whole():
    async def scenario() -> int:
        batcher = Batcher(lambda texts: np.zeros((len(texts), 1), np.float32))
        rows = await batcher.embed(["t"] * (MAX_BATCH_TEXTS + 5))
        await batcher.close()
        return rows.shape[0]

    assert asyncio.run(scenario()) == MAX_BATCH_TEXTS + 5
