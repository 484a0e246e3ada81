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


def models_dir(env: Mapping[str, str] = os.environ) -> Path:
    """The model store: pulled files, partial downloads, manifests (imported files stay where they are)."""
    return data_dir(env) / "models"


def history_file(env: Mapping[str, str] = os.environ) -> Path:
    """The conversation history (SQLite)."""
    return data_dir(env) / "history.db"


def input_history_file(env: Mapping[str, str] = os.environ) -> Path:
    """What was typed at chat's prompt (for the up arrow and Ctrl-R)."""
    return data_dir(env) / "chat-input-history"


def auto_choice_file(env: Mapping[str, str] = os.environ) -> Path:
    """The model chosen for runs that name none, kept so that scripts do not change model by themselves."""
    return data_dir(env) / "auto-choice.json"
