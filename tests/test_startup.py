"""Start-up stays fast: help and argument parsing never load llama.cpp, gguf, the Hub client or Rich."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("llama_cpp", "gguf", "huggingface_hub", "numpy", "jinja2", "rich")

PROBE = """
import sys
from llamacli.cli.app import main
sys.argv = ["llamacli", *{args!r}]
try:
    main()
except SystemExit:
    pass
heavy = [m for m in {heavy!r} if m in sys.modules]
sys.stderr.write("LOADED=" + ",".join(heavy) + "\\n")
"""


@pytest.mark.parametrize(
    "args",
    [["--help"], ["run", "--help"], ["recommend", "--help"], ["hw", "--help"], ["--version"], ["run", "--bogus"]],
)
def test_help_does_not_import_heavy_modules(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)], capture_output=True, text=True, check=False
    )
    assert "LOADED=\n" in result.stderr, result.stderr


def test_core_modules_import_no_terminal_library() -> None:
    code = (
        "import sys, llamacli.engine, llamacli.registry, llamacli.locate, llamacli.services.run;"
        "print([m for m in ('rich', 'typer', 'llama_cpp') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
