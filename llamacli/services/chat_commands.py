"""Slash commands of `llamacli chat`: the table /help shows, parsing, and checking /set values.

Pure logic (no model, no terminal): a line is either a message for the model or a Command; anything
that starts with "/" and is not a known command is an error with a hint, never a prompt.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass
from typing import Any

from llamacli.base import settings
from llamacli.engine.params import RANDOM_SEED, GenerationParams
from llamacli.errors import ChatCommandError

# name -> (arguments, what it does); aliases map to a name in this table.
COMMANDS: dict[str, tuple[str, str]] = {
    "help": ("", "list these commands"),
    "bye": ("", "leave the chat (also /exit, Ctrl-D)"),
    "clear": ("", "start a new conversation (the old one stays in the history)"),
    "system": ("[TEXT]", "set the system prompt (/system none removes it; no TEXT shows it)"),
    "set": ("NAME VALUE", "temperature, top_p, top_k, min_p, repeat_penalty, seed, max_tokens; format, schema"),
    "show": ("", "the model, its context window and the settings"),
    "stats": ("", "turn the stats line after each answer on or off"),
    "retry": ("", "regenerate the last answer"),
    "save": ("NAME", "name this conversation (refused if another has NAME); /load or chat --continue NAME resume it"),
    "load": ("NAME", "switch to the conversation NAME (or a history id): new messages go on it, as with --continue"),
    "model": ("REF", "switch to another model, keeping the conversation (each answer records its model)"),
}
ALIASES = {"exit": "bye", "quit": "bye", "?": "help"}
SETTINGS = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "seed", "max_tokens")
FORMAT_SETTINGS = ("format", "schema", "schema_multi")  # the answer's shape (services/structured.py)
_INTS = ("top_k", "seed", "max_tokens")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}\Z")
BLOCK = '"""'


@dataclass(frozen=True)
class Command:
    """A parsed slash command: its canonical name and the rest of the line."""

    name: str
    argument: str = ""


def parse(line: str) -> Command | str:
    """A Command for "/name args", else the message text ("//text" sends "/text")."""
    stripped = line.strip()
    if stripped.startswith("//"):
        return stripped[1:]
    if not stripped.startswith("/") or stripped == "/":
        return line
    word, _, argument = stripped[1:].partition(" ")
    name = ALIASES.get(word.lower(), word.lower())
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, [*COMMANDS, *ALIASES], n=1, cutoff=0.5)
        hint = f"did you mean /{close[0]}? " if close else ""
        raise ChatCommandError(f"unknown command /{word}", hint + "/help lists the commands; //text sends /text")
    return Command(name, argument.strip())


def help_lines() -> list[str]:
    """The /help text, one command a line."""
    width = max(len(f"/{name} {args}") for name, (args, _) in COMMANDS.items())
    lines = [f"  {f'/{name} {args}'.ljust(width)}  {text}" for name, (args, text) in COMMANDS.items()]
    lines.append(f"  {BLOCK} … {BLOCK}".ljust(width + 2) + "    a message of several lines (pasting works too)")
    return lines


def format_setting(argument: str) -> tuple[str, str] | None:
    """(name, value) when `/set` ARGUMENT sets the answers' format; the value may hold spaces ('name, age int')."""
    name, _, value = argument.strip().partition(" ")
    key = name.lower().replace("-", "_")
    if key not in FORMAT_SETTINGS:
        return None
    if not value.strip():
        raise ChatCommandError(f"usage: /set {key} VALUE", "json or off for format; a schema or off for schema")
    return key, value.strip()


def apply_setting(params: GenerationParams, argument: str) -> GenerationParams:
    """PARAMS with `/set NAME VALUE` applied; ChatCommandError says what is wrong."""
    parts = argument.split()
    if len(parts) != 2:
        raise ChatCommandError("usage: /set NAME VALUE", f"NAME is one of {', '.join(SETTINGS)}")
    name, text = parts[0].lower().replace("-", "_"), parts[1]
    if name not in SETTINGS:
        close = difflib.get_close_matches(name, SETTINGS, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ChatCommandError(f"no setting '{parts[0]}'", hint + f"settings: {', '.join(SETTINGS + FORMAT_SETTINGS)}")
    changes: dict[str, Any] = {name: _parse_value(name, text)}
    return dataclasses.replace(params, **changes)


def _parse_value(name: str, text: str) -> float | int | None:
    if name in ("seed", "max_tokens") and text.lower() in ("none", "off", "default"):
        return None
    if name == "seed" and text.strip() == str(RANDOM_SEED):  # the usual spelling of "random" (llama.cpp's too)
        return None
    try:
        value: float | int = int(text) if name in _INTS else float(text)
    except ValueError:
        kind = "a whole number" if name in _INTS else "a number"
        raise ChatCommandError(f"{name} must be {kind}, got '{text}'") from None
    problem = settings.KEYS[name].problem(value)  # the ranges of the flags and of config.toml
    if problem is not None:
        hint = "/set max_tokens none removes the limit" if name == "max_tokens" else None
        raise ChatCommandError(f"{name} {problem}", hint)
    return value


def check_name(name: str) -> str:
    """A valid /save name (starts with a letter, so it is never taken for a history id)."""
    if not _NAME.match(name):
        raise ChatCommandError(
            f"'{name}' cannot be a conversation name" if name else "a name is needed, e.g. /save ideas",
            "use letters, digits, '.', '_' or '-', starting with a letter",
        )
    return name


def opens_block(line: str) -> bool:
    """Whether LINE starts a multi-line message that the closing triple quote ends."""
    stripped = line.strip()
    return stripped.startswith(BLOCK) and not (len(stripped) >= 6 and stripped.endswith(BLOCK))


def block_text(lines: list[str]) -> str:
    """The message from a triple-quoted block's lines (the quotes removed)."""
    text = "\n".join(lines).strip()
    text = text.removeprefix(BLOCK)
    return text.removesuffix(BLOCK).strip("\n")
