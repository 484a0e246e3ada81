"""Running the installed `llamacli` as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.support.quick import check_quick_subprocess

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LLAMACLI = str(BIN / "llamacli")


def run_cli(
    *args: str,
    input: bytes | str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[bytes]:
    """Run the installed `llamacli` as a subprocess, bytes in and out (so ANSI codes can be checked).

    In a test not marked slow, a command that loads the model is refused (tests/support/quick.py).
    """
    check_quick_subprocess(args)
    data = input.encode() if isinstance(input, str) else input
    result = subprocess.run(
        [LLAMACLI, *args],
        input=data,
        stdin=None if data is not None else subprocess.DEVNULL,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )
    check_quick_subprocess(args, result.returncode)
    return result
