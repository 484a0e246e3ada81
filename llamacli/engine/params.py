"""What the engine needs to load a model and to generate, as two small frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from llamacli.base.lora import Lora

DEFAULT_CTX = 4096  # capped by the model's trained context; memory grows linearly with it
DEFAULT_PROMPT_CACHE_BYTES = 4 * 1024**3  # prompt states on disk (prompt_cache.py): a few GB, oldest go first
RANDOM_SEED = -1  # what llama.cpp's tools and most front ends take for "a random seed"


@dataclass(frozen=True)
class LoadParams:
    """How to load a GGUF: context window, threads, logging, the on-disk prompt cache, LoRA adapters."""

    n_ctx: int | None = None  # None: min(trained context, DEFAULT_CTX)
    n_threads: int | None = None  # None: physical cores, fewer while other processes take some (threads.py)
    n_batch: int = 512
    # Sequences the context holds at once, each with its own window of n_ctx tokens (the server's slots,
    # engine/batch.py); 1 for run and chat.
    sequences: int = 1
    native_log: bool = False  # let llama.cpp's own log lines through to stderr (--debug)
    probe_cache: Path | None = None  # where the self-test's verdicts are kept (probe.py); None: once per process
    reference_model: Path | None = None  # a known-good GGUF for the machine's self-test (the bundled model)
    # The file's verified sha256 when the store has it; None: its path, size and mtime stand for it. Part of the
    # prompt cache's key, so that a state is only ever restored into the model that computed it.
    model_identity: str | None = None
    prompt_cache_dir: Path | None = None  # where prompt prefix states are kept (prompt_cache.py); None: no caching
    prompt_cache_bytes: int = DEFAULT_PROMPT_CACHE_BYTES  # the cap on that directory
    # LoRA adapters applied on the context at run time, the base model staying memory-mapped (docs/lora.md).
    # Checked against the model before the load (services/loading.py); part of the prompt cache's key.
    adapters: tuple[Lora, ...] = ()
    # Every file of a model split into several, in order (the path loaded is the first); () for one file.
    # Loaded with llama_model_load_from_splits: the store's blobs are not named as llama.cpp's loader expects.
    parts: tuple[Path, ...] = ()


@dataclass(frozen=True)
class GenerationParams:
    """Sampling and stopping. Defaults are llama.cpp's own."""

    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    repeat_last_n: int = 64
    seed: int | None = None  # None (or RANDOM_SEED): a random seed
    max_tokens: int | None = None  # None: until the model stops or the context is full
    stop: tuple[str, ...] = field(default_factory=tuple)
    ignore_eos: bool = False  # keep generating past end-of-turn (benchmarks, like llama.cpp's --ignore-eos)
    grammar: str | None = None  # GBNF (root rule `root`) every answer must match: structured output (json_schema.py)
    json_schema: str | None = None  # the JSON Schema (JSON text) that grammar was made from: what a remote is sent
