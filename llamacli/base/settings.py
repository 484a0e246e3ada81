"""User settings: flag > environment > config file > default, resolved on use.

`config.toml` holds a default for every option of `run` and `chat` (KEYS below); each key has one type
and one range, used alike for flags, the file and chat's /set. A value of the wrong type or out of range
is an error naming where it came from (the file and line, or the flag); a key we do not know is a
warning naming the file and line, with the closest key we do know. Nothing here prints: warnings are data.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llamacli.base import paths, remote_settings
from llamacli.base.remote_settings import RemoteConfig
from llamacli.base.sizes import parse_size
from llamacli.errors import ConfigError, InvalidValue

BUILTIN_DEFAULT_MODEL = "smollm2:135m"  # the bundled model: what runs when nothing else can be chosen


@dataclass(frozen=True)
class Key:
    """One setting: its config key, the flag that overrides it, its type and its range."""

    name: str
    flag: str | None  # None: config.toml (and the environment) only
    kind: type  # str, int, float, bool, or tuple (a list of strings)
    low: float | None = None
    high: float | None = None
    env: str | None = None  # the environment variable that overrides the file, if there is one
    special: tuple[float, str] | None = None  # a value outside the range that is accepted, and what it means
    size: bool = False  # an int in bytes, written as people write sizes ("4G", "512M"; a bare number is GiB)

    def problem(self, value: float) -> str | None:
        """What is wrong with a number of the right type ("must be between 0 and 1, got 2"), or None."""
        if self.special is not None and value == self.special[0]:
            return None
        low = self.low or 0
        also = f" (or {_shown(self.special[0])}: {self.special[1]})" if self.special else ""
        if self.high is None:
            return f"must be at least {_shown(low)}{also}, got {_shown(value)}" if value < low else None
        if math.isnan(value) or not (low <= value <= self.high):
            return f"must be between {_shown(low)} and {_shown(self.high)}{also}, got {_shown(value)}"
        return None


def _shown(number: float) -> str:
    """A number as people write it: 4294967294, 0.95, 10 (not 4.29497e+09 or 10.0)."""
    return str(number) if isinstance(number, int) else f"{number:g}"


KEYS: dict[str, Key] = {
    key.name: key
    for key in (
        Key("default_model", "--model", str, env="LLAMACLI_MODEL"),
        Key("system", "--system", str),
        Key("temperature", "--temperature", float, 0.0, 10.0),
        Key("top_p", "--top-p", float, 0.0, 1.0),
        Key("top_k", "--top-k", int, 0, 1_000_000),
        Key("min_p", "--min-p", float, 0.0, 1.0),
        Key("repeat_penalty", "--repeat-penalty", float, 0.01, 10.0),
        Key("seed", "--seed", int, 0, 2**32 - 2, special=(-1, "random")),  # as llama.cpp's tools take it
        Key("max_tokens", "--max-tokens", int, 1),
        Key("stop", "--stop", tuple),
        Key("ctx", "--ctx", int, 16, 1_048_576),
        Key("threads", "--threads", int, 1, 1024),
        Key("prompt_cache", "--no-cache", bool, env="LLAMACLI_PROMPT_CACHE"),
        Key("prompt_cache_max", None, int, 1, env="LLAMACLI_PROMPT_CACHE_MAX", size=True),
    )
}
GENERATION = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "seed", "max_tokens", "stop")


@dataclass(frozen=True)
class Settings:
    """Values for the options of `run` and `chat`; None where nothing was said (a built-in default applies).

    The same class holds what config.toml says and what the flags say, so that one can go over the other.
    """

    default_model: str | None = None  # None: the picker's choice among downloaded models (see services/auto_choice.py)
    system: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repeat_penalty: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] | None = None
    ctx: int | None = None
    threads: int | None = None
    prompt_cache: bool | None = None  # None: on (the on-disk prompt cache, engine/prompt_cache.py)
    prompt_cache_max: int | None = None  # bytes; None: the engine's default cap
    warnings: tuple[str, ...] = ()  # about the file: unknown keys, to be shown once by the command
    remotes: tuple[RemoteConfig, ...] = ()  # [remotes.NAME] tables: remote engines (base/remote_settings.py)

    def remote(self, name: str) -> RemoteConfig | None:
        """The configured remote called NAME, if there is one."""
        return next((r for r in self.remotes if r.name == name), None)

    def over(self, below: Settings) -> Settings:
        """These settings, with BELOW's values where these say nothing."""
        given = {name: value for name in KEYS if (value := getattr(self, name)) is not None}
        return dataclasses.replace(below, **given)

    def given(self, names: tuple[str, ...]) -> dict[str, Any]:
        """NAMES that have a value here, with it (for dataclasses.replace over built-in defaults)."""
        return {name: value for name in names if (value := getattr(self, name)) is not None}


def load(env: Mapping[str, str] = os.environ) -> Settings:
    """Read config.toml (if any), check every key, then let the environment override it."""
    path = paths.config_file(env)
    text, data = _read(path)
    values: dict[str, Any] = {}
    warnings: list[str] = []
    remotes: tuple[RemoteConfig, ...] = ()
    for name, value in data.items():
        if name == "remotes":
            remotes, said = remote_settings.parse(value, text, str(path))
            warnings += said
            continue
        where = f"{path}, line {_line_of(text, name)}"
        key = KEYS.get(name)
        if key is None:
            close = difflib.get_close_matches(name, KEYS, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(KEYS)})"
            warnings.append(f"{where}: unknown key '{name}' is ignored{hint}")
            continue
        values[name] = _checked(key, value, where)
    for key in KEYS.values():
        if key.env and (from_env := env.get(key.env, "").strip()):
            values[key.name] = _from_env(key, from_env)
    return Settings(**values, warnings=tuple(warnings), remotes=remotes)


def _read(path: Path) -> tuple[str, dict[str, Any]]:
    if not path.is_file():
        return "", {}
    try:
        text = path.read_text(encoding="utf-8")
        return text, tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: {e}", "fix the file or remove it") from e


def _line_of(text: str, name: str) -> int:
    """The line where top-level key NAME is set (as `name =`, `"name" =`, `[name]` or `name.x =`)."""
    spelled = rf"(?:{re.escape(name)}|\"{re.escape(name)}\"|'{re.escape(name)}')"
    found = re.search(rf"^[ \t]*\[?[ \t]*{spelled}[ \t]*[=.\]]", text, re.MULTILINE)
    return text.count("\n", 0, found.start()) + 1 if found else 1


_SIZE_EXAMPLE = '"4G"'
_YES = ("1", "true", "yes", "on")
_NO = ("0", "false", "no", "off")


def _from_env(key: Key, text: str) -> Any:
    """The environment variable's TEXT as KEY's type, or ConfigError naming the variable."""
    if key.kind is bool:
        if text.lower() in _YES + _NO:
            return text.lower() in _YES
        raise ConfigError(f"{key.env} must be 1 or 0 (on or off), got {text!r}", f"e.g. {key.env}=0")
    if key.size:
        try:
            return parse_size(text, str(key.env))
        except InvalidValue as e:
            raise ConfigError(e.message, f"e.g. {key.env}=2G") from e
    return text


def _checked(key: Key, value: object, where: str) -> Any:
    """VALUE as KEY's type, or ConfigError naming WHERE, the key and what is wrong."""
    example = {str: '"text"', int: "4", float: "0.7", bool: "false", tuple: '["\\n\\n", "END"]'}[key.kind]
    hint = f"e.g. {key.name} = {_SIZE_EXAMPLE if key.size else example}, or remove the line"
    if key.kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {key.name} must be true or false, got {value!r}", hint)
        return value
    if key.size:
        return _checked_size(key, value, where, hint)
    if key.kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {key.name} must be a string, got {value!r}", hint)
        return value
    if key.kind is tuple:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) and item for item in items):
            raise ConfigError(f"{where}: {key.name} must be a string or a list of strings, got {value!r}", hint)
        return tuple(items)
    return _checked_number(key, value, where, hint)


def _checked_size(key: Key, value: object, where: str, hint: str) -> int:
    """A size written as text ("4G", "512M") or a bare number (GiB), in bytes."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigError(f'{where}: {key.name} must be a size such as "4G", got {value!r}', hint)
    try:
        return parse_size(str(value), key.name)
    except InvalidValue as e:
        raise ConfigError(f"{where}: {e.message}", hint) from e


def _checked_number(key: Key, value: object, where: str, hint: str) -> Any:
    """An int or float key's VALUE, of the right type and within its range."""
    number_types: tuple[type, ...] = (int,) if key.kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, number_types):
        kind = "a whole number" if key.kind is int else "a number"
        raise ConfigError(f"{where}: {key.name} must be {kind}, got {value!r}", hint)
    number = key.kind(value)
    if (problem := key.problem(number)) is not None:
        raise ConfigError(f"{where}: {key.name} {problem}", hint)
    return number
