"""Sizes as people type and read them, in one unit family: binary (KiB, MiB, GiB), as RAM is counted.

Typed: 16G, 16GB, 16GiB, 512M, 100B; a bare number is GiB (`--memory 8` is 8 GiB, never 8 bytes).
Read: `format_size` for every size a table or message shows (files, memory, downloads), so one row never
mixes MB with MiB; `format_parameters` for parameter counts (a count, not a size: 1.2B, 135M).
"""

from __future__ import annotations

import re

from llamacli.errors import InvalidValue

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([KMGT]?)(I?B)|([KMGT]))?\s*$", re.IGNORECASE)
BARE_UNIT = "G"  # what a number without a unit means: nobody has a memory budget of 8 bytes


def parse_size(text: str, what: str = "--memory") -> int:
    """Bytes for TEXT; InvalidValue naming WHAT when it is not a positive size."""
    match = _SIZE.match(text)
    if not match:
        raise InvalidValue(f"{what} must be a size such as 8G, 16GiB or 512M, got {text!r}")
    number = float(match.group(1))
    # An explicit byte unit (B, KB, KiB, MB ...), else K, M, G, T alone, else nothing at all.
    unit = match.group(2).upper() if match.group(3) is not None else (match.group(4) or BARE_UNIT).upper()
    size = int(number * 1024 ** "BKMGT".index(unit or "B"))
    if size <= 0:
        raise InvalidValue(f"{what} must be more than zero, got {text!r}")
    return size


def format_size(n: float) -> str:
    """Bytes in binary units: GiB with one decimal, MiB and KiB whole, bytes below 1 KiB."""
    if abs(n) >= 2**30:
        return f"{n / 2**30:.1f} GiB"
    if abs(n) >= 2**20:
        return f"{n / 2**20:.0f} MiB"
    if abs(n) >= 2**10:
        return f"{n / 2**10:.0f} KiB"
    return f"{n:.0f} B"


def format_parameters(n: int | None) -> str:
    """A parameter count: 1.2B, 135M ('-' when unknown)."""
    if not n:
        return "-"
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


def format_active_parameters(total: int | None, active: int | None) -> str:
    """A parameter count that names a mixture of experts' active share: 108.0B (17.0B active)."""
    if not active or not total or active >= total:
        return format_parameters(total)
    return f"{format_parameters(total)} ({format_parameters(active)} active)"
