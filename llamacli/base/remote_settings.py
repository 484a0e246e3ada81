"""`[remotes.NAME]` tables of config.toml: remote engines that `run`, `chat` and `list` can use by name.

Checked as the rest of config.toml is (an error names the file and line). A key is never written in the
file: `api_key_env` names the environment variable that holds it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from llamacli.errors import ConfigError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
FIELDS = ("url", "api_key_env", "models", "headers")


@dataclass(frozen=True)
class RemoteConfig:
    """One remote engine: where it is, which variable holds its key, what it may run, extra headers."""

    name: str
    url: str
    api_key_env: str | None = None
    models: tuple[str, ...] = ()  # empty: any model the server serves
    headers: dict[str, str] = field(default_factory=dict)


def check_url(url: str, where: str) -> str:
    """URL without a trailing slash, or ConfigError when it is not http(s)://HOST[:PORT][/PATH]."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{where}: url must be http://HOST[:PORT] or https://..., got {url!r}", _HINT)
    return url.rstrip("/")


_HINT = 'e.g. [remotes.gpu] then url = "http://gpu-box:8000" and api_key_env = "GPU_API_KEY"'


def parse(tables: object, text: str, path: str) -> tuple[tuple[RemoteConfig, ...], list[str]]:
    """The `remotes` table of config.toml (TEXT, at PATH): the remotes, and warnings for unknown keys."""
    if not isinstance(tables, dict):
        raise ConfigError(f"{path}, line {_line(text, 'remotes')}: remotes must be tables [remotes.NAME]", _HINT)
    found, warnings = [], []
    for name, table in tables.items():
        where = f"{path}, line {_line(text, f'remotes.{name}')}"
        if not NAME.match(name) or not isinstance(table, dict):
            raise ConfigError(
                f"{where}: [remotes.{name}] must be a table with a url, named by letters and digits", _HINT
            )
        for key in table:
            if key not in FIELDS:
                warnings.append(
                    f"{where}: unknown key '{key}' in [remotes.{name}] is ignored (known: {', '.join(FIELDS)})"
                )
        found.append(_remote(name, table, where))
    return tuple(found), warnings


def _remote(name: str, table: dict[str, Any], where: str) -> RemoteConfig:
    url = table.get("url")
    if not isinstance(url, str):
        raise ConfigError(f'{where}: [remotes.{name}] needs url = "http://HOST:PORT"', _HINT)
    key_env = table.get("api_key_env")
    if key_env is not None and (not isinstance(key_env, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key_env)):
        raise ConfigError(
            f"{where}: api_key_env must be the NAME of an environment variable, got {key_env!r}",
            "never put the key itself in config.toml: export it in a variable and name that",
        )
    models = table.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise ConfigError(
            f"{where}: models must be a list of model names, got {models!r}", 'e.g. models = ["llama3.3:70b"]'
        )
    headers = table.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ConfigError(
            f"{where}: headers must be a table of strings, got {headers!r}", 'e.g. headers = { X-Team = "ml" }'
        )
    return RemoteConfig(name, check_url(url, where), key_env, tuple(models), dict(headers))


def _line(text: str, dotted: str) -> int:
    """The line of table header [DOTTED] (or the first `DOTTED` key), 1 when it is not found."""
    found = re.search(rf"^[ \t]*\[?[ \t]*{re.escape(dotted)}[ \t]*[\].=]", text, re.MULTILINE)
    return text.count("\n", 0, found.start()) + 1 if found else 1
