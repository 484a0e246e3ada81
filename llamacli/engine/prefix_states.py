"""A Model's side of the prompt cache: where a prompt may be cut, and moving KV states to and from disk.

A prompt is evaluated in segments that end where its messages end (`message_boundaries`), whether or
not a cache is used: llama.cpp's numerics can depend on how tokens are batched, so a state restored at
a boundary must have been computed exactly as an uncached run computes it. With that, greedy output is
byte-identical with and without the cache, on a hit, a partial hit or a miss.

What is saved is the KV state of sequence 0 (llama.cpp's per-sequence state API: its cells, positions,
keys and values; never the logits), up to the end of the last message a later prompt can share: the
system prompt and earlier turns, not the question.

A chat also saves, after each answer, the state of its whole conversation (`CONVERSATION` entries), for
`chat --continue` in a later process. That state holds the answer as it was generated, a token at a
time, so it is not what a batch evaluation of the same tokens computes: it has its own kind of key,
and only a conversation carried on is restored from it, never a one-shot prompt.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from llamacli.engine import runtime
from llamacli.engine.chat_template import Message
from llamacli.engine.params import LoadParams
from llamacli.engine.prompt_cache import PromptCache, state_key

PREFIX = "prefix"  # the shared messages of a prompt, evaluated in batches from an empty context
CONVERSATION = "conversation"  # a chat up to the end of its last answer, as the chat computed it


def file_identity(path: Path) -> str:
    """A cheap stand-in for a model file's digest: its path, size and modification time."""
    st = path.stat()
    return f"file:{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"


def open_prefix_states(
    params: LoadParams, path: Path, runtime_name: str, ll: Any, ctx: Any, ctx_params: Any
) -> PrefixStates | None:
    """The prompt cache for a model loaded from PATH, keyed by all that shapes a state; None if not asked for."""
    if params.prompt_cache_dir is None:
        return None
    setup = (
        f"model={params.model_identity or file_identity(path)}",
        f"n_ctx={int(ll.llama_n_ctx(ctx))}",
        f"n_batch={int(ll.llama_n_batch(ctx))}",
        f"n_ubatch={int(ll.llama_n_ubatch(ctx))}",
        f"kv={ctx_params.type_k}/{ctx_params.type_v}",
        f"flash_attn={ctx_params.flash_attn_type}",
        f"runtime={runtime_name}",  # extra buffer types (repacked weights) change the kernels, so the numbers
        f"build={runtime.build_id()}",
        *_adapter_setup(params),  # a state computed with adapters is never restored without them, or with others
    )
    store = PromptCache(params.prompt_cache_dir, params.prompt_cache_bytes)
    return PrefixStates(store, setup, path.name)


def _adapter_setup(params: LoadParams) -> tuple[str, ...]:
    """The LoRA adapters' part of the key: each file's identity and its scale, in order (none: no part, so the
    keys of models without adapters are what they were)."""
    if not params.adapters:
        return ()
    return (f"adapters={';'.join(f'{file_identity(a.path)}@{a.scale!r}' for a in params.adapters)}",)


def message_boundaries(
    messages: Sequence[Message],
    prompt: Sequence[int],
    prefix_tokens: Callable[[Sequence[Message]], list[int] | None],
    ends: Sequence[int] | None = None,
) -> list[int]:
    """Token counts at which PROMPT's messages end (all but the last), ascending, each within PROMPT.

    PREFIX_TOKENS renders the first messages without a generation prompt (None if the template refuses); the
    boundary is the common prefix of that with PROMPT, so it is a prefix any prompt sharing those messages has.
    ENDS limits the work to those message counts (a long chat needs only its first and last boundary).
    """
    found: list[int] = []
    for i in sorted(set(ends)) if ends is not None else range(1, len(messages)):
        tokens = prefix_tokens(messages[:i]) if 0 < i < len(messages) else None
        if tokens is None:
            continue
        common = common_prefix(tokens, prompt)
        if 0 < common < len(prompt) and (not found or common > found[-1]):
            found.append(common)
    return found


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many tokens A and B share from the start."""
    common = 0
    for have, want in zip(a, b, strict=False):
        if have != want:
            break
        common += 1
    return common


class PrefixStates:
    """The prompt cache as one loaded model sees it: keys from its setup, states from its context."""

    def __init__(self, store: PromptCache, setup: Sequence[str], label: str) -> None:
        self.store = store
        self.setup = tuple(setup)
        self.label = label

    def key(self, tokens: Sequence[int], kind: str = PREFIX) -> str:
        """The store key of the state after TOKENS in this model and context (KIND: how it was computed)."""
        return state_key(self.setup if kind == PREFIX else (*self.setup, f"kind={kind}"), tokens)

    def find(
        self, prompt: Sequence[int], candidates: Sequence[int], kind: str = PREFIX
    ) -> tuple[int, bytearray] | None:
        """The longest of CANDIDATES (prefix lengths of PROMPT) with a stored state of KIND, and that state."""
        for n in sorted(candidates, reverse=True):
            if n < self.store.min_tokens:
                break
            payload = self.store.get(self.key(prompt[:n], kind))
            if payload is not None:
                return n, payload
        return None

    def restore(
        self, ll: Any, ctx: Any, memory: Any, prompt: Sequence[int], n: int, payload: bytearray, kind: str = PREFIX
    ) -> bool:
        """Load PAYLOAD, the state after PROMPT[:n], into the empty sequence 0; a refused state is removed."""
        array = (ctypes.c_uint8 * len(payload)).from_buffer(payload)
        if ll.llama_state_seq_set_data(ctx, array, len(payload), 0) and ll.llama_memory_seq_pos_max(memory, 0) == n - 1:
            return True
        ll.llama_memory_clear(memory, True)
        self.store.discard(self.key(prompt[:n], kind))
        return False

    def save(self, ll: Any, ctx: Any, prompt: Sequence[int], n: int, kind: str = PREFIX) -> bool:
        """Store the state of sequence 0, which holds exactly PROMPT[:n]; False if it was not stored."""
        if n < self.store.min_tokens:
            return False
        size = int(ll.llama_state_seq_get_size(ctx, 0))
        buffer = bytearray(size)
        written = int(ll.llama_state_seq_get_data(ctx, (ctypes.c_uint8 * size).from_buffer(buffer), size, 0))
        if not written:
            return False
        info = {"tokens": n, "model": self.label, "kind": kind}
        return self.store.put(self.key(prompt[:n], kind), memoryview(buffer)[:written], info)
