"""A GGUF model loaded in llama.cpp, streaming chat completions as events.

The generation loop runs on llama.cpp's low-level API (llama_decode and its C sampler chain) rather
than llama-cpp-python's `Llama` class: per token it does one decode, one sample, a cached piece
lookup and an incremental UTF-8 decode, so it runs at the native library's speed and its cost does
not grow with the length of the answer. The KV cache is kept between calls, and a new prompt that
shares a prefix with what is already evaluated only evaluates the rest (multi-turn chat). With a prompt
cache directory, the state after the shared messages (a system prompt) is also kept on disk for the
next process (prefix_states.py, prompt_cache.py).
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from llamacli.base import hardware
from llamacli.engine import native, probe
from llamacli.engine import threads as threads_module
from llamacli.engine.chat_template import ChatTemplate, Message, plain_prompt
from llamacli.engine.events import Completion, Event, Finished, FinishReason, Stats, TextDelta
from llamacli.engine.params import DEFAULT_CTX, GenerationParams, LoadParams
from llamacli.engine.prefix_states import message_boundaries, open_prefix_states
from llamacli.engine.sampling import make_sampler
from llamacli.engine.text import TextAssembler
from llamacli.engine.threads import ThreadGovernor
from llamacli.engine.vocab import Vocabulary
from llamacli.errors import ContextBeyondTraining, ContextOverflow, ModelLoadError, TemplateError


class Model:
    """A loaded model and its context; a context manager that frees native memory on exit."""

    def __init__(self, path: Path, params: LoadParams | None = None) -> None:
        params = params or LoadParams()
        self.path = path
        self._ll = ll = native.lib(params.native_log)
        started = time.perf_counter()
        self.runtime = probe.ensure_runs(path, params.probe_cache, params.reference_model)
        native.take_errors()
        model_params = ll.llama_model_default_params()
        model_params.use_extra_bufts = self.runtime.config.extra_buffers
        self._model = ll.llama_model_load_from_file(str(path).encode(), model_params)
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
            ctx_params.n_ctx = params.n_ctx or min(self.n_ctx_train or DEFAULT_CTX, DEFAULT_CTX)
            ctx_params.n_batch = ctx_params.n_ubatch = params.n_batch
            ctx_params.n_threads = ctx_params.n_threads_batch = threads
            ctx_params.no_perf = True
            self._ctx = ll.llama_init_from_model(self._model, ctx_params)
            if not self._ctx:
                raise ModelLoadError(path, native.take_errors() or "could not create a context (out of memory?)")
            self.n_ctx = int(ll.llama_n_ctx(self._ctx))  # may be rounded up from the request
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
        self.load_seconds = time.perf_counter() - started

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

    # -- shape (read-only, for the memory and speed estimates) ----------------------------------

    @property
    def n_layer(self) -> int:
        """Transformer blocks."""
        return int(self._ll.llama_model_n_layer(self._model))

    @property
    def n_head_kv(self) -> int:
        """Key/value heads (grouped-query attention shares them among query heads)."""
        return int(self._ll.llama_model_n_head_kv(self._model))

    @property
    def n_head(self) -> int:
        """Query heads."""
        return int(self._ll.llama_model_n_head(self._model))

    @property
    def n_embd(self) -> int:
        """Embedding width."""
        return int(self._ll.llama_model_n_embd(self._model))

    @property
    def head_dim(self) -> int:
        """Size of one key head: the GGUF's key_length, else n_embd / n_head."""
        arch = self.metadata("general.architecture") or ""
        value = self.metadata(f"{arch}.attention.key_length")
        return int(value) if value else self.n_embd // max(1, self.n_head)

    @property
    def n_ff(self) -> int | None:
        """Feed-forward width, when the GGUF says."""
        arch = self.metadata("general.architecture") or ""
        value = self.metadata(f"{arch}.feed_forward_length")
        return int(value) if value and value.isdigit() else None

    @property
    def n_vocab(self) -> int:
        """Vocabulary size."""
        return self.vocab.size

    @property
    def n_params(self) -> int:
        """Parameters."""
        return int(self._ll.llama_model_n_params(self._model))

    # -- metadata and text ----------------------------------------------------------------------

    def metadata(self, key: str) -> str | None:
        """A GGUF metadata value as text, or None."""
        size = 256
        while True:
            buffer = ctypes.create_string_buffer(size)
            n = self._ll.llama_model_meta_val_str(self._model, key.encode(), buffer, size)
            if n < 0:
                return None
            if n < size:
                return buffer.raw[:n].decode("utf-8", "replace")
            size = n + 1

    def _load_template(self) -> ChatTemplate | None:
        source = self._ll.llama_model_chat_template(self._model, None)
        if not source:
            return None
        bos = self.vocab.token_text(self._ll.llama_vocab_bos(self.vocab.handle))
        eos = self.vocab.token_text(self._ll.llama_vocab_eos(self.vocab.handle))
        return ChatTemplate(source.decode("utf-8", "replace"), bos_token=bos, eos_token=eos)

    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        """Tokens of TEXT; special tokens written in the text (<|im_start|>) are parsed as such."""
        return self.vocab.tokenize(text, add_special)

    def piece(self, token: int) -> bytes:
        """The bytes of one token (special tokens render as nothing); any length, cached."""
        return self.vocab.piece(token)

    def detokenize(self, tokens: Sequence[int]) -> str:
        """Text of TOKENS (special tokens omitted)."""
        return self.vocab.detokenize(tokens)

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> list[int]:
        """Prompt tokens for a conversation, through the model's own chat template."""
        if self.template is None:
            text, add_special = plain_prompt(messages), True
        else:
            text = self.template.render(messages, add_generation_prompt)
            # Templates that write the BOS token themselves must not get a second one from the tokenizer.
            bos = self.template.bos_token
            add_special = not (bos and text.startswith(bos))
        self._refuse_certain_overflow(text)
        return self.tokenize(text, add_special=add_special)

    def _prefix_tokens(self, messages: Sequence[Message]) -> list[int] | None:
        """The first messages of a conversation as tokens, without a generation prompt; None if refused."""
        try:
            return self.render(messages, add_generation_prompt=False)
        except TemplateError:  # some templates insist on a conversation ending with the user
            return None

    def _refuse_certain_overflow(self, text: str) -> None:
        """ContextOverflow, without tokenizing, for a text too long for the window whatever its tokens.

        Tokenizing many megabytes costs seconds and memory; every token covers at most the longest piece
        in the vocabulary, which bounds the token count from below.
        """
        if len(text) <= self.n_ctx * 16:  # cheap common case: a token rarely covers more than 16 characters
            return
        size = len(text.encode("utf-8"))
        at_least = -(-size // self.vocab.max_piece_bytes())
        if at_least >= self.n_ctx:
            raise ContextOverflow(at_least, self.n_ctx, self.n_ctx_train, at_least=True)

    # -- generation -----------------------------------------------------------------------------

    def generate(self, messages: Sequence[Message], params: GenerationParams) -> Completion:
        """The whole answer at once (built on `stream`)."""
        pieces: list[str] = []
        for event in self.stream(messages, params):
            if isinstance(event, TextDelta):
                pieces.append(event.text)
            else:
                return Completion("".join(pieces), event.reason, event.stats)
        raise AssertionError("stream ended without Finished")  # pragma: no cover

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[Event]:
        """Stream the assistant's answer to MESSAGES: TextDelta events, then one Finished."""
        prompt = self.render(messages)
        return self.stream_tokens(prompt, params, self.boundaries(messages, prompt))

    def boundaries(self, messages: Sequence[Message], prompt: Sequence[int]) -> list[int]:
        """Where PROMPT (MESSAGES rendered) has its messages end, but the last: for `stream_tokens`."""
        return message_boundaries(messages, prompt, self._prefix_tokens) if len(messages) > 1 else []

    def stream_tokens(
        self, prompt: Sequence[int], params: GenerationParams, boundaries: Sequence[int] = ()
    ) -> Iterator[Event]:
        """Stream a completion of PROMPT tokens; raises ContextOverflow before doing any work.

        BOUNDARIES (ascending prefix lengths where messages end) are where the prompt is evaluated in separate
        parts, and where states can come from and go to the prompt cache.
        """
        if len(prompt) >= self.n_ctx:
            raise ContextOverflow(len(prompt), self.n_ctx, self.n_ctx_train)
        return self._generate(list(prompt), params, list(boundaries))

    def _evaluate_prompt(self, prompt: list[int], boundaries: list[int]) -> tuple[int, int, int]:
        """Bring the KV cache to PROMPT, reusing what it can; returns (reused, restored from disk, saved) counts.

        A state goes to disk only if it was computed part by part from an empty context, as every uncached
        run computes it, so that restoring it gives the same numbers (prefix_states.py).
        """
        reused, restored, canonical = self._starting_point(prompt, boundaries)
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

    def _starting_point(self, prompt: list[int], boundaries: list[int]) -> tuple[int, int, bool]:
        """(tokens kept, of which restored from disk, whether they are as a fresh evaluation computes them)."""
        reused = 0
        for have, want in zip(self._evaluated, prompt, strict=False):
            if have != want:
                break
            reused += 1
        reused = min(reused, len(prompt) - 1)  # the last prompt token is decoded again for fresh logits
        canonical = reused == 0 or (reused in boundaries and reused <= self._canonical)
        found = self._states.find(prompt, [b for b in boundaries if b > reused]) if self._states else None
        if self._states is None or found is None:
            return reused, 0, canonical
        self.reset()
        if not self._states.restore(self._ll, self._ctx, self._memory, prompt, *found):
            return 0, 0, True
        self._evaluated.extend(prompt[: found[0]])
        return found[0], found[0], True

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

    def _generate(self, prompt: list[int], params: GenerationParams, boundaries: list[int]) -> Iterator[Event]:
        ll = self._ll
        sampler = make_sampler(ll, self.vocab, params)
        started = time.perf_counter()
        try:
            reused, restored, saved = self._evaluate_prompt(prompt, boundaries)
        except BaseException:
            ll.llama_sampler_free(sampler)
            raise
        prompt_done = time.perf_counter()
        governor = self.governor
        tick = governor.tick if governor is not None else _no_tick
        if governor is not None:
            governor.begin()
        # Hot loop: everything bound to locals; per token one sample, one decode, one cached piece.
        sample, decode, is_eog = ll.llama_sampler_sample, ll.llama_decode, ll.llama_vocab_is_eog
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
                token = sample(sampler, ctx, -1)
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
            ll.llama_sampler_free(sampler)
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
            ),
        )


def _no_tick() -> None:
    """The governor's tick when the user fixed the thread count."""
