"""Batched generation: several requests at once in one llama.cpp context, one sequence (slot) each.

What llama.cpp's own server does (tools/server): a fixed set of slots share one context; one loop owns
it, and every step is a single `llama_decode` holding the next token of every generating slot plus a
chunk of a waiting prompt, so the weights are read once for all of them (on a CPU, generation is bound
by reading the weights: four streams cost little more than one) and a new prompt never stalls running
streams for longer than one chunk. A slot keeps its sequence's tokens in the KV cache after its request
ends; the next request goes to the free slot sharing the longest prefix with its prompt (a conversation
coming back), which then evaluates only the rest.

Requests come from other threads (the HTTP server's) as `Job`s; the loop runs on its own thread and
hands each job's events to the job's sink on that thread. llama.cpp releases the GIL while it computes,
so the server's event loop keeps answering during a decode.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llamacli.engine.events import Event, Finished, FinishReason, Stats, TextDelta
from llamacli.engine.model import Model
from llamacli.engine.params import GenerationParams
from llamacli.engine.prefix_states import common_prefix
from llamacli.engine.sampling import make_sampler
from llamacli.engine.text import TextAssembler
from llamacli.errors import ContextOverflow, EngineFailure, ServerBusy

Sink = Callable[[Event | BaseException], None]  # called on the engine's thread; must not block


@dataclass(eq=False)
class Job:
    """One request: its prompt tokens, how to sample, and where its events go.

    `cancel()` may be called from any thread (a client that went away): the slot is freed at the
    engine's next step, within one token.
    """

    prompt: list[int]
    params: GenerationParams
    sink: Sink
    submitted_at: float = field(default_factory=time.perf_counter)
    cancelled: bool = False

    def cancel(self) -> None:
        """Stop generating for this job (idempotent); its sink hears nothing more."""
        self.cancelled = True


class _Slot:
    """A sequence of the shared context, the tokens in its KV cache, and the job it serves (if any)."""

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.tokens: list[int] = []  # evaluated into this sequence's KV cache, in order
        self.job: Job | None = None
        self.last_used = 0.0
        self.pending: list[int] = []  # prompt tokens still to evaluate
        self.next_token = -1  # sampled, to be decoded in the next step (-1: none)
        self.sampler: Any = None
        self.assembler: TextAssembler | None = None
        self.reused = 0
        self.generated = 0
        self.limit = 0
        self.started_at = self.prompt_done_at = self.first_text_at = 0.0


@dataclass(frozen=True)
class Load:
    """What the engine is doing: for health checks, `/api/ps` and the 503 decision."""

    active: int
    queued: int
    slots: int


class BatchEngine:
    """Owns a loaded Model's context and serves Jobs on its slots from one thread (start with `start`)."""

    def __init__(self, model: Model, queue_limit: int = 64) -> None:
        self.model = model
        self._ll, self._ctx, self._memory = model._ll, model._ctx, model._memory
        self.n_ctx = model.n_ctx  # each sequence's window
        self.n_batch = model.n_batch
        self._slots = [_Slot(seq) for seq in range(model.sequences)]
        self._queue: collections.deque[Job] = collections.deque()
        self._queue_limit = queue_limit
        self._wake = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._batch: Any = self._ll.llama_batch_init(self.n_batch, 0, 1)

    # -- from other threads -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop thread."""
        self._thread = threading.Thread(target=self._loop, name=f"llamacli-engine-{self.model.path.name}", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        """Queue JOB; ContextOverflow for a prompt longer than a slot's window, ServerBusy past the queue's bound."""
        if not job.prompt:
            raise ContextOverflow(0, self.n_ctx, self.model.n_ctx_train)
        if len(job.prompt) >= self.n_ctx:
            raise ContextOverflow(len(job.prompt), self.n_ctx, self.model.n_ctx_train)
        with self._wake:
            if self._closing:
                raise ServerBusy(0)
            if len(self._queue) >= self._queue_limit:
                raise ServerBusy(len(self._queue))
            self._queue.append(job)
            self._wake.notify()

    def load(self) -> Load:
        """How many jobs generate and wait now."""
        with self._wake:
            active = sum(1 for s in self._slots if s.job is not None)
            return Load(active, len(self._queue), len(self._slots))

    def close(self) -> None:
        """Stop the loop; jobs still queued or running hear an EngineFailure. Frees nothing of the Model."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()
        if self._batch is not None:
            self._ll.llama_batch_free(self._batch)
            self._batch = None

    # -- the loop (engine thread) -------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while self._wait_for_work():
                self._step()
        finally:
            self._abandon_all()

    def _wait_for_work(self) -> bool:
        """Block until there is something to do; False when closing. Admits queued jobs to free slots."""
        with self._wake:
            while True:
                if self._closing:
                    return False
                self._drop_cancelled()
                self._admit()
                if any(s.job is not None for s in self._slots):
                    return True
                self._wake.wait()

    def _drop_cancelled(self) -> None:
        """Free the slots and queue places of cancelled jobs (their sinks hear nothing more)."""
        if any(j.cancelled for j in self._queue):
            self._queue = collections.deque(j for j in self._queue if not j.cancelled)
        for slot in self._slots:
            if slot.job is not None and slot.job.cancelled:
                self._release(slot)

    def _admit(self) -> None:
        """Give each waiting job the free slot that already holds the longest prefix of its prompt."""
        while self._queue:
            free = [s for s in self._slots if s.job is None]
            if not free:
                return
            job = self._queue.popleft()
            best = max(free, key=lambda s: (common_prefix(s.tokens, job.prompt), -s.last_used))
            self._assign(best, job)

    def _assign(self, slot: _Slot, job: Job) -> None:
        reused = min(common_prefix(slot.tokens, job.prompt), len(job.prompt) - 1)  # the last is decoded again
        self._ll.llama_memory_seq_rm(self._memory, slot.seq, reused, -1)
        del slot.tokens[reused:]
        slot.job, slot.reused, slot.pending = job, reused, job.prompt[reused:]
        slot.next_token, slot.generated = -1, 0
        params = job.params
        slot.limit = params.max_tokens if params.max_tokens is not None else self.n_ctx
        slot.sampler = make_sampler(self._ll, self.model.vocab, params)
        slot.assembler = TextAssembler(self.model.vocab.piece, params.stop)
        slot.started_at = time.perf_counter()
        slot.prompt_done_at = slot.first_text_at = 0.0

    def _step(self) -> None:
        """One llama_decode: a token of every generating slot, then prompt chunks in the room left."""
        batch, outputs = self._batch, []
        n = 0
        for slot in self._slots:
            if slot.job is not None and slot.next_token >= 0:
                n = self._put(batch, n, slot.next_token, len(slot.tokens), slot.seq, True)
                slot.tokens.append(slot.next_token)
                slot.next_token = -1
                outputs.append((slot, n - 1))
        for slot in self._slots:
            room = self.n_batch - n
            if room <= 0:
                break
            if slot.job is None or not slot.pending:
                continue
            chunk, slot.pending = slot.pending[:room], slot.pending[room:]
            for i, token in enumerate(chunk):
                last = not slot.pending and i == len(chunk) - 1
                n = self._put(batch, n, token, len(slot.tokens), slot.seq, last)
                slot.tokens.append(token)
            if not slot.pending:
                outputs.append((slot, n - 1))
        batch.n_tokens = n
        if self._ll.llama_decode(self._ctx, batch) != 0:
            self._fail([s for s in self._slots if s.job is not None], EngineFailure("llama_decode failed"))
            return
        now = time.perf_counter()
        for slot, index in outputs:
            if not slot.prompt_done_at:
                slot.prompt_done_at = now
            self._sample(slot, index)

    def _put(self, batch: Any, n: int, token: int, pos: int, seq: int, logits: bool) -> int:
        batch.token[n] = token
        batch.pos[n] = pos
        batch.n_seq_id[n] = 1
        batch.seq_id[n][0] = seq
        batch.logits[n] = logits
        return n + 1

    def _sample(self, slot: _Slot, index: int) -> None:
        """Sample SLOT's next token from output INDEX of the last decode; emit its text, or finish."""
        job, assembler = slot.job, slot.assembler
        assert job is not None and assembler is not None
        if job.cancelled:
            self._release(slot)
            return
        ll = self._ll
        token = ll.llama_sampler_sample(slot.sampler, self._ctx, index)
        if ll.llama_vocab_is_eog(self.model.vocab.handle, token):
            self._finish(slot, "stop")
            return
        slot.generated += 1
        text = assembler.push(token)
        if text:
            if not slot.first_text_at:
                slot.first_text_at = time.perf_counter()
            job.sink(TextDelta(text))
        if assembler.stopped:
            self._finish(slot, "stop")
        elif slot.generated >= slot.limit or len(slot.tokens) + 1 >= self.n_ctx:
            self._finish(slot, "length")
        else:
            slot.next_token = token

    def _finish(self, slot: _Slot, reason: FinishReason) -> None:
        job, assembler = slot.job, slot.assembler
        assert job is not None and assembler is not None
        tail = assembler.finish()
        if assembler.stopped:
            reason = "stop"
        if tail:
            job.sink(TextDelta(tail))
        job.sink(Finished(reason, self._stats(slot)))
        self._release(slot)

    def _stats(self, slot: _Slot) -> Stats:
        job = slot.job
        assert job is not None
        now = time.perf_counter()
        return Stats(
            prompt_tokens=len(job.prompt),
            cached_prompt_tokens=slot.reused,
            generated_tokens=slot.generated,
            prompt_seconds=slot.prompt_done_at - slot.started_at,
            generation_seconds=now - slot.prompt_done_at,
            time_to_first_token=(slot.first_text_at or now) - job.submitted_at,
            load_seconds=0.0,
        )

    def _release(self, slot: _Slot) -> None:
        """Free SLOT for the next job; its tokens stay in the KV cache for a prompt that shares them."""
        if slot.sampler is not None:
            self._ll.llama_sampler_free(slot.sampler)
        slot.sampler = slot.assembler = slot.job = None
        slot.pending, slot.next_token = [], -1
        slot.last_used = time.perf_counter()

    def _fail(self, slots: Sequence[_Slot], error: BaseException) -> None:
        for slot in slots:
            job = slot.job
            if job is not None and not job.cancelled:
                job.sink(error)
            self._ll.llama_memory_seq_rm(self._memory, slot.seq, -1, -1)
            slot.tokens.clear()
            self._release(slot)

    def _abandon_all(self) -> None:
        """On close: every job still queued or running hears an EngineFailure."""
        with self._wake:
            queued, self._queue = list(self._queue), collections.deque()
        for job in queued:
            if not job.cancelled:
                job.sink(EngineFailure("the server is shutting down"))
        self._fail([s for s in self._slots if s.job is not None], EngineFailure("the server is shutting down"))
