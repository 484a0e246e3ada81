"""Durations as people and ollama write them: `5m`, `30s`, `1h30m`, `300` (seconds), `-1` (forever)."""

from __future__ import annotations

import re

from llamacli.errors import InvalidValue

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str | float | int, what: str = "duration") -> float:
    """Seconds for VALUE (a number of seconds, or Go-style `1h30m`); negative means forever.

    InvalidValue naming WHAT for anything else.
    """
    if isinstance(value, bool):
        raise InvalidValue(f"{what} must be a duration like 5m, 30s or -1, not {value!r}")
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    parts = _PART.findall(body)
    if not body or "".join(n + u for n, u in parts) != body:
        raise InvalidValue(f"{what} must be a duration like 5m, 30s, 1h or -1 (forever), not {value!r}")
    return sign * sum(float(n) * _UNITS[u] for n, u in parts)
