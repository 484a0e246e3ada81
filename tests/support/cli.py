"""Running the installed `llamacli` as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LLAMACLI = str(BIN / "llamacli")


def run_cli(
    *args: str,
    input: bytes | str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[bytes]:
    """Run the installed `llamacli` as a subprocess, bytes in and out (so ANSI codes can be checked)."""
    data = input.encode() if isinstance(input, str) else input
    return subprocess.run(
        [LLAMACLI, *args],
        input=data,
        stdin=None if data is not None else subprocess.DEVNULL,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )
