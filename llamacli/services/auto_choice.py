"""The model chosen for runs that name none (and have no default configured), kept between runs.

A script's `llamacli run "hi"` must not change model because another model was pulled meanwhile. So,
when stderr is not a terminal, the picker's choice is written down the first time it is made and reused
while it is still on disk and the picker's own settings (LLAMACLI_MEMORY, LLAMACLI_MIN_SPEED) are as they
were. Setting `default_model` or LLAMACLI_MODEL takes over; removing the model, or changing those
settings, makes the next such run choose again (and say so). Returns data, never prints.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

from llamacli.base import paths
from llamacli.errors import LlamacliError
from llamacli.models import registry
from llamacli.models.locate import LocalModel, locate
from llamacli.services.recommend import MIN_SPEED_ENV
from llamacli.sizing.fit import MEMORY_ENV

SETTINGS = (MEMORY_ENV, MIN_SPEED_ENV)  # what the picker was told: a change means "choose again"


@dataclass(frozen=True)
class Kept:
    """The remembered choice: the model's name and the settings it was chosen under."""

    model: str
    settings: dict[str, str | None]


def _settings(env: Mapping[str, str]) -> dict[str, str | None]:
    return {name: env.get(name) or None for name in SETTINGS}


def recall(env: Mapping[str, str] = os.environ) -> Kept | None:
    """What was kept, if anything readable was."""
    try:
        data = json.loads(paths.auto_choice_file(env).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("model"), str):
        return None
    if not isinstance(data.get("settings"), dict):
        return None
    return Kept(data["model"], data["settings"])


def still_valid(kept: Kept | None, env: Mapping[str, str] = os.environ) -> LocalModel | None:
    """KEPT's model when it is still on this machine and was chosen under the same settings, else None."""
    if kept is None or settings_changed(kept, env):
        return None
    try:
        return locate(kept.model, registry.load(env), env)  # on disk only: never the network
    except LlamacliError:
        return None


def settings_changed(kept: Kept, env: Mapping[str, str] = os.environ) -> bool:
    """Whether the picker's settings differ from those KEPT was chosen under."""
    return kept.settings != _settings(env)


def keep(model: str, env: Mapping[str, str] = os.environ) -> None:
    """Remember MODEL as the choice under the current settings (best effort, atomic)."""
    target = paths.auto_choice_file(env)
    with contextlib.suppress(OSError):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"model": model, "settings": _settings(env)}, f)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
