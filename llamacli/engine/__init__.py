"""The inference engine: llama.cpp behind a small, terminal-free API.

Importing this package is cheap: `Model` (and with it Jinja2 for chat templates) is imported on first
use, and llama.cpp itself only when a Model is opened. So `llamacli.engine.params` can be used by
commands that never generate (`models`, `pull`) without slowing their start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llamacli.engine.events import Completion, Event, Finished, FinishReason, Stats, TextDelta
from llamacli.engine.params import GenerationParams, LoadParams

if TYPE_CHECKING:
    from llamacli.engine.model import Model

__all__ = [
    "Completion",
    "Event",
    "FinishReason",
    "Finished",
    "GenerationParams",
    "LoadParams",
    "Model",
    "Stats",
    "TextDelta",
]


def __getattr__(name: str) -> Any:
    if name == "Model":
        from llamacli.engine.model import Model

        return Model
    raise AttributeError(f"module 'llamacli.engine' has no attribute {name!r}")
