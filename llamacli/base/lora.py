"""A LoRA adapter as people name one: `FILE[:SCALE]`, on the command line (`--lora`) or in models.toml.

One small value type shared by the layers that meet adapters: the registry reads them from models.toml,
the loading service checks them against the model, the engine applies them. The scale is llama.cpp's:
the adapter's delta is multiplied by SCALE × alpha / rank (alpha and rank from the adapter's file), so
1 applies it as trained and 0 turns it off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from llamacli.errors import InvalidValue

DEFAULT_SCALE = 1.0
MAX_SCALE = 100.0  # far beyond any useful strength; a typo like 1e9 is refused rather than run


@dataclass(frozen=True)
class Lora:
    """An adapter file and the strength it is applied with."""

    path: Path
    scale: float = DEFAULT_SCALE

    @property
    def name(self) -> str:
        """How it is shown: the file's name."""
        return self.path.name

    def to_dict(self) -> dict[str, object]:
        """For --json: its name, path and scale."""
        return {"name": self.name, "path": str(self.path), "scale": self.scale}

    def label(self) -> str:
        """`name` or `name:scale` (the scale only when it is not the default), as in /show."""
        return self.name if self.scale == DEFAULT_SCALE else f"{self.name}:{self.scale:g}"


def parse(text: str, what: str = "--lora", relative_to: Path | None = None) -> Lora:
    """`FILE[:SCALE]` as a Lora; a relative FILE is taken from RELATIVE_TO (None: the working directory).

    A suffix after the last ':' that is not a number belongs to the file name (paths may hold ':').
    InvalidValue naming WHAT for an empty file or a scale out of range.
    """
    file, scale = text, DEFAULT_SCALE
    head, sep, tail = text.rpartition(":")
    if sep and head:
        try:
            scale = float(tail)
            file = head
        except ValueError:
            pass
    if not file.strip():
        raise InvalidValue(f"{what} needs a file: FILE or FILE:SCALE, got {text!r}")
    if not math.isfinite(scale) or abs(scale) > MAX_SCALE:
        raise InvalidValue(f"{what} scale must be a number between -{MAX_SCALE:g} and {MAX_SCALE:g}, got {tail!r}")
    path = Path(file).expanduser()
    if relative_to is not None and not path.is_absolute():
        path = relative_to / path
    return Lora(path, scale)
