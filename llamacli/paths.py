"""Where llamacli keeps its files, resolved at call time from the environment.

`LLAMACLI_HOME` puts everything (models, config, history, caches) under one directory: tests use it to
isolate themselves, users to carry a portable directory. Without it, platformdirs gives each kind of
file the place the operating system expects.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import platformdirs

APP = "llamacli"


def _home(env: Mapping[str, str]) -> Path | None:
    value = env.get("LLAMACLI_HOME")
    return Path(value).expanduser() if value else None


def data_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Models, conversation history: things worth keeping."""
    home = _home(env)
    return home if home else platformdirs.user_data_path(APP)


def config_dir(env: Mapping[str, str] = os.environ) -> Path:
    """config.toml and the user's models.toml."""
    home = _home(env)
    return home if home else platformdirs.user_config_path(APP)


def cache_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Things that can be rebuilt (calibration results)."""
    home = _home(env)
    return home / "cache" if home else platformdirs.user_cache_path(APP)


def config_file(env: Mapping[str, str] = os.environ) -> Path:
    """The user's settings file."""
    return config_dir(env) / "config.toml"


def user_registry_file(env: Mapping[str, str] = os.environ) -> Path:
    """The user's additions and overrides to the model registry."""
    return config_dir(env) / "models.toml"
