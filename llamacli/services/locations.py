"""Where each kind of llamacli file lives (`llamacli paths`), resolved from the environment now."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from llamacli.base import paths


@dataclass(frozen=True)
class Place:
    """One kind of file and where it is: KEY for --json, LABEL for people."""

    key: str
    label: str
    path: Path


def all_paths(env: Mapping[str, str] = os.environ) -> list[Place]:
    """Every file and directory llamacli reads or writes, whether or not it exists yet."""
    return [
        Place("config", "config", paths.config_file(env)),
        Place("registry", "your models.toml", paths.user_registry_file(env)),
        Place("data", "data", paths.data_dir(env)),
        Place("models", "models", paths.models_dir(env)),
        Place("history", "history", paths.history_file(env)),
        Place("input_history", "chat input history", paths.input_history_file(env)),
        Place("auto_choice", "auto choice", paths.auto_choice_file(env)),
        Place("cache", "cache", paths.cache_dir(env)),
    ]
