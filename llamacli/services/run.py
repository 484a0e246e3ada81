"""The one-shot use case: compose the prompt, find the model, stream the answer."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from llamacli.base import paths, settings
from llamacli.engine.chat_template import Message
from llamacli.engine.params import DEFAULT_PROMPT_CACHE_BYTES, GenerationParams, LoadParams
from llamacli.errors import InvalidValue, LlamacliError, NoPrompt
from llamacli.models import registry
from llamacli.models.locate import LocalModel, locate, package_file


def compose_prompt(prompt: str, stdin_text: str | None) -> str:
    """PROMPT, then a blank line, then what came on stdin (either may be absent).

    The instruction comes first and the material after it, as a person would write it:
    `cat notes.txt | llamacli run "Summarize:"` asks "Summarize:\\n\\n<notes>".
    """
    parts = [p for p in (prompt.strip(), (stdin_text or "").strip("\n")) if p.strip()]
    if not parts:
        raise NoPrompt()
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
    n_ctx: int | None = None,
    n_threads: int | None = None,
    native_log: bool = False,
    env: Mapping[str, str] = os.environ,
    *,
    prompt_cache: bool = True,
    prompt_cache_bytes: int | None = None,
) -> LoadParams:
    """How every front end loads a model: the self-test's verdicts cached, tried on the bundled model, and
    prompt states kept on disk (unless PROMPT_CACHE is off) under the user cache directory.

    The model's identity for the prompt cache is filled in when the model is known (`loading.load`).
    """
    return LoadParams(
        n_ctx=n_ctx,
        n_threads=n_threads,
        native_log=native_log,
        probe_cache=paths.cache_dir(env),
        reference_model=bundled_model(env),
        prompt_cache_dir=prompt_cache_dir(env) if prompt_cache else None,
        prompt_cache_bytes=prompt_cache_bytes or DEFAULT_PROMPT_CACHE_BYTES,
    )


def prompt_cache_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Where prompt states are kept: the user cache directory's `prompts` (engine/prompt_cache.py)."""
    from llamacli.engine.prompt_cache import default_dir

    return default_dir(env)


@dataclass(frozen=True)
class Options:
    """What `run` and `chat` load and generate with, the flags over config.toml over built-in defaults."""

    load: LoadParams
    gen: GenerationParams
    system: str | None
    config: settings.Settings  # config.toml and the environment alone (its warnings are to be shown once)


def options(flags: settings.Settings, *, native_log: bool = False, env: Mapping[str, str] = os.environ) -> Options:
    """FLAGS (None where not given) over config.toml over the built-in defaults, validated.

    config.toml's values were checked as it was read (an error there names the file and line), so a
    value out of range here came from a flag, and the error names the flag.
    """
    config = settings.load(env)
    chosen = flags.over(config)
    gen = dataclasses.replace(GenerationParams(), **chosen.given(settings.GENERATION))
    load = load_params(
        chosen.ctx,
        chosen.threads,
        native_log,
        env,
        prompt_cache=chosen.prompt_cache is not False,
        prompt_cache_bytes=chosen.prompt_cache_max,
    )
    validate(load, gen)
    return Options(load, gen, chosen.system, config)


def validate(load: LoadParams, gen: GenerationParams) -> None:
    """InvalidValue naming the flag for any setting out of its range, before the model is loaded."""
    values = {"ctx": load.n_ctx, "threads": load.n_threads} | {
        name: getattr(gen, name) for name in settings.GENERATION if name != "stop"
    }
    for name, value in values.items():
        key = settings.KEYS[name]
        if value is not None and (problem := key.problem(value)) is not None:
            raise InvalidValue(f"{key.flag} {problem}")
