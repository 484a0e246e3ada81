"""Memory sizes as people type them: 16G, 16GB, 16GiB, 512M, or plain bytes (binary units, as RAM is counted)."""

from __future__ import annotations

import re

from llamacli.errors import InvalidValue

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(I?B?)\s*$", re.IGNORECASE)


def parse_size(text: str, what: str = "--memory") -> int:
    """Bytes for TEXT; InvalidValue naming WHAT when it is not a positive size."""
    match = _SIZE.match(text)
    if not match:
        raise InvalidValue(f"{what} must be a size such as 8G, 16GiB or 512M, got {text!r}")
    number, unit = float(match.group(1)), match.group(2).upper()
    size = int(number * 1024 ** "BKMGT".index(unit or "B"))
    if size <= 0:
        raise InvalidValue(f"{what} must be more than zero, got {text!r}")
    return size
