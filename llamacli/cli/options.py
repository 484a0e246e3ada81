"""Options that several commands share, declared once so their names, help and defaults agree."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llamacli.base.settings import Settings
from llamacli.cli.output import Output
from llamacli.engine.params import GenerationParams

if TYPE_CHECKING:
    from llamacli.services.run import Options

_BUILTIN = GenerationParams()  # the built-in defaults, stated in --help; config.toml can change them


def _default(value: object) -> str:
    """A built-in default in Click's own words: the flags default to None, so config.toml can fill them."""
    return f"  [default: {value}]"


Model = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Model reference (instead of the first word); 'auto': the picker's choice."),
]
System = Annotated[str | None, typer.Option("--system", "-s", help="System prompt.")]
MaxTokens = Annotated[int | None, typer.Option("--max-tokens", "-n", help="Stop after this many tokens.")]
Temperature = Annotated[
    float | None,
    typer.Option(
        help="Sampling temperature; 0 is greedy (deterministic)." + _default(_BUILTIN.temperature), show_default=False
    ),
]
TopP = Annotated[
    float | None,
    typer.Option("--top-p", help="Nucleus sampling threshold." + _default(_BUILTIN.top_p), show_default=False),
]
TopK = Annotated[
    int | None,
    typer.Option(
        "--top-k", help="Sample among the K likeliest tokens (0: all)." + _default(_BUILTIN.top_k), show_default=False
    ),
]
MinP = Annotated[
    float | None,
    typer.Option(
        "--min-p", help="Drop tokens below this fraction of the top one." + _default(_BUILTIN.min_p), show_default=False
    ),
]
RepeatPenalty = Annotated[
    float | None,
    typer.Option(
        "--repeat-penalty",
        help="Penalty for repeated tokens (1: off)." + _default(_BUILTIN.repeat_penalty),
        show_default=False,
    ),
]
Seed = Annotated[int | None, typer.Option(help="Random seed, for reproducible sampling (-1: random).")]
Stop = Annotated[list[str] | None, typer.Option("--stop", help="Stop when this text appears (repeatable).")]
Ctx = Annotated[
    int | None,
    typer.Option("--ctx", "-c", help="Context window in tokens [default: model's, at most 4096].", show_default=False),
]
Threads = Annotated[
    int | None,
    typer.Option(
        "--threads",
        "-t",
        help="CPU threads [default: physical cores, fewer while other processes use some].",
        show_default=False,
    ),
]
PromptCache = Annotated[
    bool | None,
    typer.Option(
        "--cache/--no-cache",
        help="Keep prompt states on disk, so a prompt that starts the same is evaluated once"
        " (see 'llamacli cache') [default: on].",
        show_default=False,
    ),
]
Format = Annotated[
    str | None,
    typer.Option(
        "--format",
        metavar="json",
        help="'json': the answer is a JSON object, held to it token by token (docs/structured-output.md).",
    ),
]
Schema = Annotated[
    str | None,
    typer.Option(
        "--schema",
        metavar="SCHEMA",
        help="The answer is JSON matching SCHEMA: a JSON Schema inline or in a file, or fields like"
        " 'name, age int, tags list'.",
    ),
]
SchemaMulti = Annotated[
    str | None,
    typer.Option("--schema-multi", metavar="SCHEMA", help='Like --schema, for a list of them: {"items": [...]}.'),
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Timings and how llama.cpp runs here, on stderr.")]
Debug = Annotated[bool, typer.Option("--debug", help="llama.cpp's own log on stderr (loading, warnings).")]
Offline = Annotated[bool, typer.Option("--offline", help="Never touch the network.")]
PullBest = Annotated[
    bool,
    typer.Option(
        "--pull", help="With no model named (or 'auto'): first download the model 'recommend' picks, if not here."
    ),
]


def flags(parameters: Mapping[str, Any]) -> Settings:
    """What the command line said, from a command's parameters (`locals()`): those named like a setting.

    `default_model` is not among them: `run` and `chat` take the model as a word, not as a setting.
    """
    given = {name: value for name, value in parameters.items() if name in _FLAG_SETTINGS}
    if given.get("stop") is not None:
        given["stop"] = tuple(given["stop"]) or None
    return Settings(**given)


_FLAG_SETTINGS = {f.name for f in dataclasses.fields(Settings)} - {"default_model", "warnings", "remotes"}


def resolve(out: Output, flags: Settings, *, debug: bool) -> Options:
    """FLAGS over config.toml over the built-in defaults; config.toml's warnings shown once, on stderr."""
    from llamacli.services import run as service

    chosen = service.options(flags, native_log=debug)
    for line in chosen.config.warnings:
        out.notice(f"warning: {line}")
    return chosen


Lora = Annotated[
    list[str] | None,
    typer.Option(
        "--lora",
        metavar="FILE[:SCALE]",
        help="Apply this LoRA adapter to the model, at SCALE (default 1; repeatable; docs/lora.md).",
        show_default=False,
    ),
]


def with_lora(chosen: Options, lora: list[str] | None) -> Options:
    """CHOSEN with the --lora adapters added to what it loads (each FILE[:SCALE] checked for its form here,
    against the model once it is known)."""
    if not lora:
        return chosen
    from llamacli.base import lora as lora_spec

    adapters = tuple(lora_spec.parse(text) for text in lora)
    return dataclasses.replace(chosen, load=dataclasses.replace(chosen.load, adapters=adapters))


Remote = Annotated[
    str | None,
    typer.Option(
        "--remote",
        "-r",
        help="Run on a remote engine: a URL (http://HOST:PORT) or a [remotes.NAME] of config.toml"
        " [env: LLAMACLI_REMOTE].",
        show_default=False,
    ),
]
