"""A GGUF model loaded in llama.cpp, streaming chat completions as events.

The generation loop runs on llama.cpp's low-level API (llama_decode and its C sampler chain) rather
than llama-cpp-python's `Llama` class: per token it does one decode, one sample, a cached piece
lookup and an incremental UTF-8 decode, so it runs at the native library's speed and its cost does
not grow with the length of the answer. The KV cache is kept between calls, and a new prompt that
shares a prefix with what is already evaluated only evaluates the rest (multi-turn chat). With a prompt
cache directory, the state after the shared messages (a system prompt) is also kept on disk for the
next process (prefix_states.py, prompt_cache.py), and so is a chat's state after each answer
(`keep_conversation`), for the process that carries the chat on.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from llamacli.base import hardware
from llamacli.base.lora import Lora
from llamacli.engine import native, probe
from llamacli.engine import threads as threads_module
from llamacli.engine.chat_template import Message
from llamacli.engine.events import Completion, Event, Finished, FinishReason, Stats, TextDelta, collect
from llamacli.engine.model_text import ModelText
from llamacli.engine.params import DEFAULT_CTX, GenerationParams, LoadParams
from llamacli.engine.prefix_states import (
    CONVERSATION,
    PREFIX,
    common_prefix,
    open_prefix_states,
)
from llamacli.engine.sampling import Sampler
from llamacli.engine.shape import ModelShape
from llamacli.engine.text import TextAssembler
from llamacli.engine.threads import ThreadGovernor
from llamacli.engine.vocab import Vocabulary
from llamacli.errors import (
    AdapterLoadError,
    ContextBeyondTraining,
    ContextOverflow,
    MissingPart,
    ModelLoadError,
    TemplateError,
)


class Model(ModelShape, ModelText):
    """A loaded model and its context; a context manager that frees native memory on exit."""

    def __init__(self, path: Path, params: LoadParams | None = None) -> None:
        params = params or LoadParams()
        self.path = path
        self._ll = ll = native.lib(params.native_log)
        started = time.perf_counter()
        for no, part in enumerate(params.parts, start=1):
            if not part.is_file():  # llama.cpp would fail on it after loading the parts before it
                raise MissingPart(part, no, len(params.parts))
        self.runtime = probe.ensure_runs(path, params.probe_cache, params.reference_model, params.parts)
        native.take_errors()
        model_params = ll.llama_model_default_params()
        model_params.use_extra_bufts = self.runtime.config.extra_buffers
        self._model = native.load_model(ll, path, params.parts, model_params)
        if not self._model:
            raise ModelLoadError(path, native.take_errors() or "llama.cpp could not read it")
        self._ctx: Any = None
        try:
            self.n_ctx_train = int(ll.llama_model_n_ctx_train(self._model))
            if params.n_ctx and self.n_ctx_train and params.n_ctx > self.n_ctx_train:
                # llama.cpp would run it with a warning in its log only, and the answers degrade: refuse, so
                # that "this model cannot take more than N tokens" (ContextOverflow) holds for every window.
                raise ContextBeyondTraining(params.n_ctx, self.n_ctx_train)
            threads = params.n_threads or hardware.physical_cores()
            if self.runtime.config.max_threads is not None:
                threads = min(threads, self.runtime.config.max_threads)
            ctx_params = ll.llama_context_default_params()
            window = params.n_ctx or min(self.n_ctx_train or DEFAULT_CTX, DEFAULT_CTX)
            ctx_params.n_ctx = window * params.sequences
            if params.sequences > 1:  # one KV stream per sequence: each has its own whole window
                ctx_params.n_seq_max = params.sequences
                ctx_params.kv_unified = False
            ctx_params.n_batch = ctx_params.n_ubatch = params.n_batch
            ctx_params.n_threads = ctx_params.n_threads_batch = threads
            ctx_params.no_perf = True
            self._ctx = ll.llama_init_from_model(self._model, ctx_params)
            if not self._ctx:
                raise ModelLoadError(path, native.take_errors() or "could not create a context (out of memory?)")
            self.adapters = params.adapters
            self._apply_adapters(params.adapters)
            self.n_ctx = int(ll.llama_n_ctx_seq(self._ctx))  # a sequence's window; may be rounded up from the request
            self.sequences = params.sequences
            self.n_threads = threads
            # Threads chosen per token from the load (threads.py), unless the user set a number.
            self.governor = None if params.n_threads else ThreadGovernor(threads, self._set_generation_threads)
            self.n_batch = int(ll.llama_n_batch(self._ctx))  # llama.cpp may lower it to fit n_ctx
            self.vocab = Vocabulary(ll, ll.llama_model_get_vocab(self._model))
            self._memory = ll.llama_get_memory(self._ctx)
            self.template = self._load_template()
            self._states = open_prefix_states(params, path, self.runtime.config.name, ll, self._ctx, ctx_params)
        except BaseException:
            self.close()
            raise
        self._evaluated: list[int] = []  # tokens whose keys and values are in the KV cache, in order
        self._canonical = 0  # how many of them were evaluated segment by segment from a fresh context (see below)
        self._conversation: list[int] = []  # the tokens of the chat's state on disk (keep_conversation)
        self.load_seconds = time.perf_counter() - started

    def _apply_adapters(self, adapters: Sequence[Lora]) -> None:
        """Load ADAPTERS for this model and set them on the context, with their scales (docs/lora.md).

        llama.cpp's run-time adapter API: the base weights stay memory-mapped and untouched (llama-cpp-python's
        `lora_path` turns mmap off), and each adapter's own tensors take a small buffer, freed with the model.
        """
        if not adapters:
            return
        ll = self._ll
        handles = []
        for adapter in adapters:
            native.take_errors()
            handle = ll.llama_adapter_lora_init(self._model, str(adapter.path).encode())
            if not handle:
                raise AdapterLoadError(adapter.path, native.take_errors() or "llama.cpp could not read it")
            handles.append(handle)
        array = (ll.llama_adapter_lora_p_ctypes * len(handles))(*handles)
        scales = (ctypes.c_float * len(adapters))(*(a.scale for a in adapters))
        if ll.llama_set_adapters_lora(self._ctx, array, len(handles), scales) != 0:
            raise AdapterLoadError(adapters[0].path, native.take_errors() or "llama.cpp could not apply it")

    # -- lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        """Free the context and the weights (idempotent)."""
        ll = self._ll
        if getattr(self, "_ctx", None):
            ll.llama_free(self._ctx)
            self._ctx = None
        if getattr(self, "_model", None):
            ll.llama_model_free(self._model)
            self._model = None

    def runtime_summary(self) -> str:
        """One line on how llama.cpp runs here: the self-tested configuration, threads, wait policy."""
        when = "found by the self-test just now" if self.runtime.fresh else "remembered from the self-test"
        if self.governor is None:
            threads = f"{self.n_threads} threads (as asked)"
        else:
            now = f", {self.governor.current} now" if self.governor.current != self.n_threads else ""
            threads = f"up to {self.n_threads} threads{now}, fewer while other processes use the CPU"
        return f"llama.cpp: {self.runtime.describe()}, {when} · {threads} · {threads_module.wait_policy()}"

    def _set_generation_threads(self, n: int) -> None:
        self._ll.llama_set_n_threads(self._ctx, n, self.n_threads)  # prompts keep every thread

    def __enter__(self) -> Model:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- generation -----------------------------------------------------------------------------

    def generate(self, messages: Sequence[Message], params: GenerationParams) -> Completion:
        """The whole answer at once (built on `stream`)."""
        return collect(self.stream(messages, params))

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[Event]:
        """Stream the assistant's answer to MESSAGES: TextDelta events, then one Finished."""
        prompt = self.render(messages)
        return self.stream_tokens(prompt, params, self.boundaries(messages, prompt))

    def stream_tokens(
        self,
        prompt: Sequence[int],
        params: GenerationParams,
        boundaries: Sequence[int] = (),
        *,
        conversation: bool = False,
    ) -> Iterator[Event]:
        """Stream a completion of PROMPT tokens; raises ContextOverflow before doing any work.

        BOUNDARIES (ascending prefix lengths where messages end) are where the prompt is evaluated in separate
        parts, and where states can come from and go to the prompt cache. CONVERSATION: PROMPT carries on a
        chat, whose state up to its last boundary may have been kept by `keep_conversation`.
        """
        if len(prompt) >= self.n_ctx:
            raise ContextOverflow(len(prompt), self.n_ctx, self.n_ctx_train)
        return self._generate(list(prompt), params, list(boundaries), conversation)

    def keep_conversation(self, messages: Sequence[Message]) -> int:
        """Save the state of a chat's MESSAGES (ending with an answer) for the prompt that carries it on.

        What is saved is what the next prompt shares with them, as this chat computed it (the answer a
        token at a time); the tokens the answer's end needs are evaluated now, as the next turn would. The
        conversation's previous entry, now superseded, is removed. Returns the tokens saved (0: none).
        """
        if self._states is None or not messages:
            return 0
        try:
            done = self.render(messages, add_generation_prompt=False)
            following = self.render([*messages, Message("user", "?")])
        except (TemplateError, ContextOverflow):
            return 0
        n = common_prefix(done, following)
        if n < self._states.store.min_tokens or n >= self.n_ctx:
            return 0
        kept = min(common_prefix(self._evaluated, following), n)
        self._ll.llama_memory_seq_rm(self._memory, -1, kept, -1)
        del self._evaluated[kept:]
        self._canonical = min(self._canonical, kept)
        try:
            self._decode_prompt(following, kept, n)
        except ContextOverflow:
            return 0
        if not self._states.save(self._ll, self._ctx, following, n, CONVERSATION):
            return 0
        self._supersede(following[:n])
        return n

    def _supersede(self, tokens: list[int]) -> None:
        """Remember TOKENS as the chat's state on disk, removing the previous one when they carry it on
        (after a /retry or a /load, the previous state may still be continued: it stays, least recently used)."""
        previous, self._conversation = self._conversation, tokens
        if self._states is not None and previous and previous != tokens and tokens[: len(previous)] == previous:
            self._states.store.discard(self._states.key(previous, CONVERSATION))

    def _evaluate_prompt(self, prompt: list[int], boundaries: list[int], conversation: bool) -> tuple[int, int, int]:
        """Bring the KV cache to PROMPT, reusing what it can; returns (reused, restored from disk, saved) counts.

        A state goes to disk only if it was computed part by part from an empty context, as every uncached
        run computes it, so that restoring it gives the same numbers (prefix_states.py).
        """
        reused, restored, canonical = self._starting_point(prompt, boundaries, conversation)
        self._ll.llama_memory_seq_rm(self._memory, -1, reused, -1)
        del self._evaluated[reused:]
        self._canonical = 0
        states = self._states if canonical else None
        keep_at = boundaries[-1] if states is not None and boundaries else -1
        saved = 0
        native.note_threads_started()
        start = reused
        for end in [b for b in boundaries if b > reused] + [len(prompt)]:
            self._decode_prompt(prompt, start, end)
            if end == keep_at and states is not None and states.save(self._ll, self._ctx, prompt, end):
                saved = end
            start = end
        self._canonical = len(prompt) if canonical else 0
        return reused, restored, saved

    def _starting_point(self, prompt: list[int], boundaries: list[int], conversation: bool) -> tuple[int, int, bool]:
        """(tokens kept, of which restored from disk, whether they are as a fresh evaluation computes them)."""
        reused = min(common_prefix(self._evaluated, prompt), len(prompt) - 1)  # the last token is decoded again
        canonical = reused == 0 or (reused in boundaries and reused <= self._canonical)
        if self._states is None:
            return reused, 0, canonical
        wants_conversation = conversation and boundaries and boundaries[-1] > reused
        if wants_conversation and (restored := self._restore(prompt, boundaries[-1:], CONVERSATION)) is not None:
            return restored, restored, restored == 0  # 0: refused, the context is empty
        if (restored := self._restore(prompt, [b for b in boundaries if b > reused], PREFIX)) is None:
            return reused, 0, canonical
        return restored, restored, True

    def _restore(self, prompt: list[int], candidates: list[int], kind: str) -> int | None:
        """Load the longest stored state of KIND among CANDIDATES into an emptied context: its length, or None.

        None when there is none, or when llama.cpp refused it (the context is then empty: start from 0).
        """
        assert self._states is not None
        found = self._states.find(prompt, candidates, kind)
        if found is None:
            return None
        self.reset()
        if not self._states.restore(self._ll, self._ctx, self._memory, prompt, *found, kind):
            return 0
        self._evaluated.extend(prompt[: found[0]])
        if kind == CONVERSATION:
            self._conversation = prompt[: found[0]]
        return found[0]

    def _decode_prompt(self, prompt: list[int], start: int, end: int) -> None:
        """Evaluate PROMPT[start:end] in batches of n_batch; ContextOverflow if llama.cpp cannot."""
        ll = self._ll
        for first in range(start, end, self.n_batch):
            chunk = prompt[first : min(first + self.n_batch, end)]
            array = (ll.llama_token * len(chunk))(*chunk)
            if ll.llama_decode(self._ctx, ll.llama_batch_get_one(array, len(chunk))) != 0:
                ll.llama_memory_seq_rm(self._memory, -1, len(self._evaluated), -1)
                raise ContextOverflow(len(prompt), self.n_ctx, self.n_ctx_train)
            self._evaluated.extend(chunk)

    def reset(self) -> None:
        """Forget the KV cache: the next prompt is evaluated from scratch."""
        self._ll.llama_memory_clear(self._memory, True)
        self._evaluated.clear()
        self._canonical = 0

    def _generate(
        self, prompt: list[int], params: GenerationParams, boundaries: list[int], conversation: bool
    ) -> Iterator[Event]:
        ll = self._ll
        sampler = Sampler(ll, self.vocab, params)
        started = time.perf_counter()
        try:
            reused, restored, saved = self._evaluate_prompt(prompt, boundaries, conversation)
        except BaseException:
            sampler.free()
            raise
        prompt_done = time.perf_counter()
        governor = self.governor
        tick = governor.tick if governor is not None else _no_tick
        if governor is not None:
            governor.begin()
        # Hot loop: everything bound to locals; per token one sample, one decode, one cached piece.
        sample, decode, is_eog = sampler.sample, ll.llama_decode, ll.llama_vocab_is_eog
        ctx, vocab, evaluated = self._ctx, self.vocab.handle, self._evaluated
        assembler = TextAssembler(self.vocab.piece, params.stop)
        push = assembler.push
        token_slot = (ll.llama_token * 1)()
        batch = ll.llama_batch_get_one(token_slot, 1)
        limit = params.max_tokens if params.max_tokens is not None else self.n_ctx
        room = self.n_ctx - len(evaluated)
        generated = 0
        first_token_at = 0.0
        reason: FinishReason = "length"
        try:
            while generated < limit:
                token = sample(ctx, -1)
                if is_eog(vocab, token):
                    reason = "stop"
                    break
                generated += 1
                text = push(token)
                if text:
                    if not first_token_at:
                        first_token_at = time.perf_counter()
                    yield TextDelta(text)
                if assembler.stopped:
                    reason = "stop"
                    break
                if generated >= limit or generated > room:
                    break  # nothing more to generate, or no room left in the context for this token
                token_slot[0] = token
                if decode(ctx, batch) != 0:
                    break  # the KV cache is full
                evaluated.append(token)
                tick()
            tail = assembler.finish()
            if assembler.stopped:
                reason = "stop"
            if tail:
                yield TextDelta(tail)
        finally:
            sampler.free()
        finished = time.perf_counter()
        yield Finished(
            reason,
            Stats(
                prompt_tokens=len(prompt),
                cached_prompt_tokens=reused,
                restored_prompt_tokens=restored,
                saved_prompt_tokens=saved,
                generated_tokens=generated,
                prompt_seconds=prompt_done - started,
                generation_seconds=finished - prompt_done,
                time_to_first_token=(first_token_at or finished) - started,
                load_seconds=self.load_seconds,
                grammar_resamples=sampler.rejected,
            ),
        )


def _no_tick() -> None:
    """The governor's tick when the user fixed the thread count."""
