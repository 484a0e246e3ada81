"""One generation for a handler: lease the model, submit the job, stream its events, always clean up.

The engine's thread hands events over with `call_soon_threadsafe`; the stream's `finally` cancels the job
(a client that went away frees its slot at the engine's next step) and returns the lease, whichever way
the response ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from llamacli.engine.batch import Job
from llamacli.engine.events import Event, Finished
from llamacli.engine.model import Model
from llamacli.engine.params import GenerationParams
from llamacli.errors import LlamacliError
from llamacli.server.errors import ApiError, from_domain
from llamacli.services.model_pool import ModelPool, Runner

Prompt = Callable[[Model], list[int]]  # the prompt's tokens, from the model's template and vocabulary


@dataclass
class Generation:
    """A started generation: the runner serving it, and its events (iterate `events()` once)."""

    runner: Runner
    job: Job
    queue: asyncio.Queue[Event | BaseException]
    pool: ModelPool
    started: float = field(default_factory=time.perf_counter)
    finished: Finished | None = None
    _released: bool = False

    async def events(self) -> AsyncIterator[Event]:
        """TextDeltas, then one Finished; raises an EngineFailure that came instead."""
        try:
            while True:
                event = await self.queue.get()
                if isinstance(event, BaseException):
                    raise event
                yield event
                if isinstance(event, Finished):
                    self.finished = event
                    return
        finally:
            self.close()

    def close(self) -> None:
        """Cancel the job (if still running) and return the lease (idempotent)."""
        self.job.cancel()
        if not self._released:
            self._released = True
            self.pool.release(self.runner)


async def start(
    pool: ModelPool,
    model: str | None,
    prompt: Prompt,
    params: GenerationParams,
    words: Callable[[LlamacliError], str],
    keep_alive: float | None = None,
) -> Generation:
    """Lease MODEL (loading it if needed, off the event loop) and queue the job; ApiError if refused."""
    loop = asyncio.get_running_loop()
    try:
        runner = await asyncio.to_thread(pool.acquire, model, keep_alive)
    except LlamacliError as e:
        raise from_domain(e, words) from None
    queue: asyncio.Queue[Event | BaseException] = asyncio.Queue()

    def sink(event: Event | BaseException) -> None:
        with contextlib.suppress(RuntimeError):  # the event loop is gone: the server stopped
            loop.call_soon_threadsafe(queue.put_nowait, event)

    try:
        job = Job(prompt(runner.model), params, sink)
        runner.engine.submit(job)
    except LlamacliError as e:
        pool.release(runner)
        raise from_domain(e, words) from None
    except BaseException:
        pool.release(runner)
        raise
    return Generation(runner, job, queue, pool)


async def collect(generation: Generation) -> tuple[str, Finished]:
    """The whole answer of GENERATION (for `stream: false`)."""
    pieces: list[str] = []
    async for event in generation.events():
        if isinstance(event, Finished):
            return "".join(pieces), event
        pieces.append(event.text)
    raise ApiError(500, "generation ended without an answer", "server_error")  # pragma: no cover
