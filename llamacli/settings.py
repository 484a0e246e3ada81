"""User settings: flag > environment > config file > default, resolved on use."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass

from llamacli import paths
from llamacli.errors import ConfigError

BUILTIN_DEFAULT_MODEL = "smollm2:135m"  # the bundled model: what runs when nothing else can be chosen


@dataclass(frozen=True)
class Settings:
    """Settings a command needs when the user passed no flag for them."""

    default_model: str | None = None  # None: the picker's choice among downloaded models (see cli/auto_model.py)


def load(env: Mapping[str, str] = os.environ) -> Settings:
    """Read config.toml (if any), then let the environment override it."""
    path = paths.config_file(env)
    data: dict[str, object] = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: {e}", "fix the file or remove it") from e
    default_model = env.get("LLAMACLI_MODEL") or data.get("default_model") or None
    if default_model is not None and not isinstance(default_model, str):
        raise ConfigError(f"{path}: default_model must be a string", 'e.g. default_model = "smollm2:135m"')
    return Settings(default_model=default_model)
