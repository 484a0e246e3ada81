"""Facts about this machine that the engine and the picker need."""

from __future__ import annotations

import os

import psutil


def physical_cores() -> int:
    """Physical cores: llama.cpp's generation speed scales with these, not with hyper-threads."""
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1
