"""Texts from concurrent requests embedded together: one encoder call per batch instead of one per request.

On a CPU the model's cost per call is mostly fixed overhead and threads that contend when calls overlap: eight
requests that each embed one short text take longer apart than together. A `Batcher` queues the texts of
whatever requests are waiting, embeds them in one call in a worker thread (at most :data:`MAX_BATCH_TEXTS` texts;
a request's own texts are never split) and hands each request its rows. One batcher per encoder.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from contextlib import suppress

import numpy as np
from fastapi.concurrency import run_in_threadpool

#: Texts embedded in one call at most (a single request with more is embedded alone).
MAX_BATCH_TEXTS = 256

Encode = Callable[[list[str]], np.ndarray]


class Batcher:
    """Embeds the texts of concurrent callers in shared calls of ``encode`` (see the module docstring)."""

    def __init__(self, encode: Encode) -> None:
        self.encode = encode
        self._waiting: deque[tuple[list[str], asyncio.Future[np.ndarray]]] = deque()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None

    async def embed(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), d)`` float32 vectors of ``texts``."""
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._run())
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._waiting.append((list(texts), future))
        self._wake.set()
        return await future

    async def close(self) -> None:
        """Stop the worker (requests still queued get a CancelledError)."""
        if self._worker is not None:
            self._worker.cancel()
            with suppress(asyncio.CancelledError):
                await self._worker

    async def _run(self) -> None:
        while True:
            if not self._waiting:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._waiting.popleft()]
            size = len(batch[0][0])
            while self._waiting and size + len(self._waiting[0][0]) <= MAX_BATCH_TEXTS:
                batch.append(self._waiting.popleft())
                size += len(batch[-1][0])
            texts = [t for part, _ in batch for t in part]
            try:
                vectors = np.asarray(await run_in_threadpool(self.encode, texts), np.float32)
            except Exception as exc:  # noqa: BLE001 - each waiting request gets the error, the worker goes on
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for part, future in batch:
                if not future.done():
                    future.set_result(vectors[start:start + len(part)])
                start += len(part)
