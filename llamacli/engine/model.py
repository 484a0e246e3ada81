"""A GGUF model loaded in llama.cpp, streaming chat completions as events.

The generation loop runs on llama.cpp's low-level API (llama_decode and its C sampler chain) rather
than llama-cpp-python's `Llama` class: per token it does one decode, one sample, a cached piece
lookup and an incremental UTF-8 decode, so it runs at the native library's speed and its cost does
not grow with the length of the answer. The KV cache is kept between calls, and a new prompt that
shares a prefix with what is already evaluated only evaluates the rest (multi-turn chat).
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
from llamacli.engine.params import DEFAULT_CTX, RANDOM_SEED, GenerationParams, LoadParams
from llamacli.engine.text import TextAssembler
from llamacli.engine.threads import ThreadGovernor
from llamacli.errors import ContextBeyondTraining, ContextOverflow, ModelLoadError


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
            self._vocab = ll.llama_model_get_vocab(self._model)
            self._memory = ll.llama_get_memory(self._ctx)
            self.template = self._load_template()
        except BaseException:
            self.close()
            raise
        self._pieces: dict[int, bytes] = {}
        self._eog_tokens: list[int] | None = None
        self._max_piece_bytes: int | None = None
        self._piece_buffer = ctypes.create_string_buffer(256)
        self._evaluated: list[int] = []  # tokens whose keys and values are in the KV cache, in order
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
        return int(self._ll.llama_vocab_n_tokens(self._vocab))

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

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        raw = self._ll.llama_vocab_get_text(self._vocab, token)
        return (raw or b"").decode("utf-8", "replace")

    def _load_template(self) -> ChatTemplate | None:
        source = self._ll.llama_model_chat_template(self._model, None)
        if not source:
            return None
        bos = self._token_text(self._ll.llama_vocab_bos(self._vocab))
        eos = self._token_text(self._ll.llama_vocab_eos(self._vocab))
        return ChatTemplate(source.decode("utf-8", "replace"), bos_token=bos, eos_token=eos)

    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        """Tokens of TEXT; special tokens written in the text (<|im_start|>) are parsed as such."""
        data = text.encode("utf-8")
        capacity = len(data) + 8
        while True:
            tokens = (self._ll.llama_token * capacity)()
            n = self._ll.llama_tokenize(self._vocab, data, len(data), tokens, capacity, add_special, True)
            if n >= 0:
                return list(tokens[:n])
            capacity = -n

    def piece(self, token: int) -> bytes:
        """The bytes of one token (special tokens render as nothing); any length, cached."""
        cached = self._pieces.get(token)
        if cached is not None:
            return cached
        buffer = self._piece_buffer
        n = self._ll.llama_token_to_piece(self._vocab, token, buffer, len(buffer), 0, False)
        if n < 0:  # longer than the buffer: grow it (llama-cpp-python's fixed 32 bytes truncates here)
            buffer = self._piece_buffer = ctypes.create_string_buffer(-n)
            n = self._ll.llama_token_to_piece(self._vocab, token, buffer, len(buffer), 0, False)
        piece = buffer.raw[:n]
        self._pieces[token] = piece
        return piece

    def detokenize(self, tokens: Sequence[int]) -> str:
        """Text of TOKENS (special tokens omitted)."""
        return b"".join(self.piece(t) for t in tokens).decode("utf-8", "replace")

    def render(self, messages: Sequence[Message]) -> list[int]:
        """Prompt tokens for a conversation, through the model's own chat template."""
        if self.template is None:
            text, add_special = plain_prompt(messages), True
        else:
            text = self.template.render(messages)
            # Templates that write the BOS token themselves must not get a second one from the tokenizer.
            bos = self.template.bos_token
            add_special = not (bos and text.startswith(bos))
        self._refuse_certain_overflow(text)
        return self.tokenize(text, add_special=add_special)

    def _refuse_certain_overflow(self, text: str) -> None:
        """ContextOverflow, without tokenizing, for a text too long for the window whatever its tokens.

        Tokenizing many megabytes costs seconds and memory; every token covers at most the longest piece
        in the vocabulary, which bounds the token count from below.
        """
        if len(text) <= self.n_ctx * 16:  # cheap common case: a token rarely covers more than 16 characters
            return
        size = len(text.encode("utf-8"))
        if self._max_piece_bytes is None:
            n_vocab = self._ll.llama_vocab_n_tokens(self._vocab)
            self._max_piece_bytes = max(1, max(len(self.piece(t)) for t in range(n_vocab)))
        at_least = -(-size // self._max_piece_bytes)
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
        return self.stream_tokens(self.render(messages), params)

    def stream_tokens(self, prompt: Sequence[int], params: GenerationParams) -> Iterator[Event]:
        """Stream a completion of PROMPT tokens; raises ContextOverflow before doing any work."""
        if len(prompt) >= self.n_ctx:
            raise ContextOverflow(len(prompt), self.n_ctx, self.n_ctx_train)
        return self._generate(list(prompt), params)

    def _evaluate_prompt(self, prompt: list[int]) -> int:
        """Bring the KV cache to PROMPT, reusing the common prefix; returns the reused count."""
        ll = self._ll
        reused = 0
        for have, want in zip(self._evaluated, prompt, strict=False):
            if have != want:
                break
            reused += 1
        reused = min(reused, len(prompt) - 1)  # the last prompt token is decoded again for fresh logits
        ll.llama_memory_seq_rm(self._memory, -1, reused, -1)
        del self._evaluated[reused:]
        native.note_threads_started()
        for start in range(reused, len(prompt), self.n_batch):
            chunk = prompt[start : start + self.n_batch]
            array = (ll.llama_token * len(chunk))(*chunk)
            if ll.llama_decode(self._ctx, ll.llama_batch_get_one(array, len(chunk))) != 0:
                ll.llama_memory_seq_rm(self._memory, -1, len(self._evaluated), -1)
                raise ContextOverflow(len(prompt), self.n_ctx, self.n_ctx_train)
            self._evaluated.extend(chunk)
        return reused

    def reset(self) -> None:
        """Forget the KV cache: the next prompt is evaluated from scratch."""
        self._ll.llama_memory_clear(self._memory, True)
        self._evaluated.clear()

    def _end_of_generation_tokens(self) -> list[int]:
        if self._eog_tokens is None:  # a scan of the whole vocabulary: once per model
            ll, vocab = self._ll, self._vocab
            self._eog_tokens = [t for t in range(ll.llama_vocab_n_tokens(vocab)) if ll.llama_vocab_is_eog(vocab, t)]
        return self._eog_tokens

    def _make_sampler(self, params: GenerationParams) -> Any:
        ll = self._ll
        chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
        add = ll.llama_sampler_chain_add
        if params.ignore_eos:
            banned = self._end_of_generation_tokens()
            biases = (ll.llama_logit_bias * len(banned))(*[ll.llama_logit_bias(t, float("-inf")) for t in banned])
            add(chain, ll.llama_sampler_init_logit_bias(ll.llama_vocab_n_tokens(self._vocab), len(banned), biases))
        if params.repeat_penalty != 1.0:
            n_vocab = ll.llama_vocab_n_tokens(self._vocab)
            add(chain, ll.llama_sampler_init_penalties(n_vocab, params.repeat_last_n, params.repeat_penalty, 0.0, 0.0))
        if params.temperature <= 0:
            add(chain, ll.llama_sampler_init_greedy())
            return chain
        if params.top_k > 0:
            add(chain, ll.llama_sampler_init_top_k(params.top_k))
        if params.top_p < 1.0:
            add(chain, ll.llama_sampler_init_top_p(params.top_p, 1))
        if params.min_p > 0.0:
            add(chain, ll.llama_sampler_init_min_p(params.min_p, 1))
        add(chain, ll.llama_sampler_init_temp(params.temperature))
        seed = ll.LLAMA_DEFAULT_SEED if params.seed in (None, RANDOM_SEED) else params.seed & 0xFFFFFFFF
        add(chain, ll.llama_sampler_init_dist(seed))
        return chain

    def _generate(self, prompt: list[int], params: GenerationParams) -> Iterator[Event]:
        ll = self._ll
        sampler = self._make_sampler(params)
        started = time.perf_counter()
        try:
            reused = self._evaluate_prompt(prompt)
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
        ctx, vocab, evaluated = self._ctx, self._vocab, self._evaluated
        assembler = TextAssembler(self.piece, params.stop)
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
                generated_tokens=generated,
                prompt_seconds=prompt_done - started,
                generation_seconds=finished - prompt_done,
                time_to_first_token=(first_token_at or finished) - started,
                load_seconds=self.load_seconds,
            ),
        )


def _no_tick() -> None:
    """The governor's tick when the user fixed the thread count."""
