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
from typing import Any

from llamacli.engine.batch import Job
from llamacli.engine.events import Event, Finished, Stats
from llamacli.engine.model import Model
from llamacli.engine.params import GenerationParams
from llamacli.errors import LlamacliError
from llamacli.server.errors import ApiError, from_domain
from llamacli.services.model_pool import ModelPool, Runner

Prompt = Callable[[Model], list[int]]  # the prompt's tokens, from the model's template and vocabulary
Params = GenerationParams | Callable[[Model], GenerationParams]  # how to sample (or how, for the model leased)
_live: set[Generation] = set()  # started and not closed, on this event loop: what `end_all` ends


@dataclass(eq=False)
class Generation:
    """A started generation: the runner serving it, and its events (iterate `events()` once)."""

    runner: Runner
    job: Job
    queue: asyncio.Queue[Event | BaseException]
    pool: ModelPool
    started: float = field(default_factory=time.perf_counter)
    finished: Finished | None = None
    _released: bool = False

    def __post_init__(self) -> None:
        _live.add(self)

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
        _live.discard(self)
        if not self._released:
            self._released = True
            self.pool.release(self.runner)


async def start(
    pool: ModelPool,
    model: str | None,
    prompt: Prompt,
    params: Params,
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
        job = Job(prompt(runner.model), params(runner.model) if callable(params) else params, sink)
        runner.engine.submit(job)
    except LlamacliError as e:
        pool.release(runner)
        raise from_domain(e, words) from None
    except BaseException:
        pool.release(runner)
        raise
    return Generation(runner, job, queue, pool)


async def load(
    pool: ModelPool, model: str | None, words: Callable[[LlamacliError], str], keep_alive: float | None = None
) -> Runner:
    """Load MODEL without generating (ollama's preload: a request with no prompt), its keep-alive started."""
    try:
        runner = await asyncio.to_thread(pool.acquire, model, keep_alive)
    except LlamacliError as e:
        raise from_domain(e, words) from None
    pool.release(runner)
    return runner


def log_fields(stats: Stats) -> dict[str, Any]:
    """The numbers of a generation for its request's log line (requests.note)."""
    return {
        "prompt_tokens": stats.prompt_tokens,
        "generated_tokens": stats.generated_tokens,
        "tokens_per_second": round(stats.generation_tokens_per_second, 1),
        "ttft_ms": round(stats.time_to_first_token * 1000),
    }


async def collect(events: AsyncIterator[Event]) -> tuple[str, Finished]:
    """The whole answer in EVENTS (a generation's `events()`, for `stream: false`)."""
    pieces: list[str] = []
    async for event in events:
        if isinstance(event, Finished):
            return "".join(pieces), event
        pieces.append(event.text)
    raise ApiError(500, "generation ended without an answer", "server_error")  # pragma: no cover


def end_all(error: BaseException) -> None:
    """Every running generation hears ERROR now and its job is cancelled (the server is stopping).

    On the event loop, so a stream ends at once even while the engine is in the middle of a long step.
    """
    for running in list(_live):
        running.job.cancel()
        running.queue.put_nowait(error)
