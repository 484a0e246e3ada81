"""The inference engine: llama.cpp behind a small, terminal-free API.

Importing this package does not load llama.cpp (that happens when a Model is opened), but it does
import Jinja2, so the CLI imports it only inside commands that generate.
"""

from llamacli.engine.events import Completion, Event, Finished, FinishReason, Stats, TextDelta
from llamacli.engine.model import Model
from llamacli.engine.params import GenerationParams, LoadParams

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
