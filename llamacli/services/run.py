"""The one-shot use case: compose the prompt, find the model, stream the answer."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from llamacli import paths, registry, settings
from llamacli.chat_template import Message
from llamacli.engine.params import RANDOM_SEED, GenerationParams, LoadParams
from llamacli.errors import InvalidValue, LlamacliError, UsageError
from llamacli.locate import LocalModel, locate, package_file


def compose_prompt(prompt: str, stdin_text: str | None) -> str:
    """PROMPT, then a blank line, then what came on stdin (either may be absent).

    The instruction comes first and the material after it, as a person would write it:
    `cat notes.txt | llamacli run "Summarize:"` asks "Summarize:\\n\\n<notes>".
    """
    parts = [p for p in (prompt.strip(), (stdin_text or "").strip("\n")) if p.strip()]
    if not parts:
        raise UsageError(
            "no prompt: give one as arguments or pipe text on stdin",
            "e.g. llamacli run \"Why is the sky blue?\"  (or 'llamacli chat' to talk interactively)",
        )
    return "\n\n".join(parts)


@dataclass(frozen=True)
class DecodedInput:
    """Piped bytes as text; what was not UTF-8 is replaced by U+FFFD and counted."""

    text: str
    first_bad: int | None = None  # byte offset of the first invalid sequence
    replaced: int = 0  # how many invalid sequences became U+FFFD


def decode_input(data: bytes) -> DecodedInput:
    """DATA as UTF-8 text, never refused: a stray Latin-1 byte costs one character, not the whole input."""
    try:
        return DecodedInput(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        first = e.start
    text = data.decode("utf-8", errors="replace")
    replaced = text.count("\ufffd") - data.count("\ufffd".encode())  # U+FFFD already in the input is not ours
    return DecodedInput(text, first, replaced)


def conversation(prompt: str, system: str | None) -> list[Message]:
    """The messages of a one-shot: an optional system prompt and the user's prompt."""
    messages = [Message("system", system)] if system else []
    messages.append(Message("user", prompt))
    return messages


def resolve(reference: str | None, env: Mapping[str, str] = os.environ) -> LocalModel:
    """The local file for REFERENCE, or for the configured default model when it is None."""
    name = reference or settings.load(env).default_model or settings.BUILTIN_DEFAULT_MODEL
    return locate(name, registry.load(env), env)


def bundled_model(env: Mapping[str, str] = os.environ) -> Path | None:
    """The bundled default model's file, if its package is installed (the engine's self-test uses it)."""
    variant = registry.load(env).find(settings.BUILTIN_DEFAULT_MODEL)
    try:
        return package_file(variant) if variant is not None else None
    except LlamacliError:
        return None


def load_params(
    n_ctx: int | None = None, n_threads: int | None = None, verbose: bool = False, env: Mapping[str, str] = os.environ
) -> LoadParams:
    """How every front end loads a model: the self-test's verdicts cached, tried on the bundled model."""
    return LoadParams(
        n_ctx=n_ctx,
        n_threads=n_threads,
        verbose=verbose,
        probe_cache=paths.cache_dir(env),
        reference_model=bundled_model(env),
    )


@dataclass(frozen=True)
class _Range:
    name: str
    low: float
    high: float

    def check(self, value: float | None) -> None:
        if value is None:
            return
        if math.isnan(value) or not (self.low <= value <= self.high):
            raise InvalidValue(f"{self.name} must be between {self.low:g} and {self.high:g}, got {value:g}")


_RANGES = {
    "temperature": _Range("--temperature", 0.0, 10.0),
    "top_p": _Range("--top-p", 0.0, 1.0),
    "top_k": _Range("--top-k", 0, 1_000_000),
    "min_p": _Range("--min-p", 0.0, 1.0),
    "repeat_penalty": _Range("--repeat-penalty", 0.01, 10.0),
}


def validate(load: LoadParams, gen: GenerationParams) -> None:
    """InvalidValue for any setting out of its range, before the model is loaded."""
    for field, check in _RANGES.items():
        check.check(getattr(gen, field))
    if gen.max_tokens is not None and gen.max_tokens < 1:
        raise InvalidValue(f"--max-tokens must be at least 1, got {gen.max_tokens}")
    if load.n_ctx is not None and not (16 <= load.n_ctx <= 1_048_576):
        raise InvalidValue(f"--ctx must be between 16 and 1048576, got {load.n_ctx}")
    if load.n_threads is not None and not (1 <= load.n_threads <= 1024):
        raise InvalidValue(f"--threads must be between 1 and 1024, got {load.n_threads}")
    if gen.seed is not None and gen.seed != RANDOM_SEED and not (0 <= gen.seed < 2**32 - 1):
        raise InvalidValue(f"--seed must be between 0 and {2**32 - 2} (or -1: random), got {gen.seed}")
