"""Start-up stays fast: help and argument parsing never load llama.cpp, gguf, the Hub client or Rich."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("llama_cpp", "gguf", "huggingface_hub", "numpy", "jinja2", "rich", "httpx")

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
    [
        ["--help"],
        ["run", "--help"],
        ["--version"],
        ["run", "--bogus"],
        ["pull", "--help"],
        ["show", "--help"],
        ["list"],  # listing reads manifests, not GGUF headers or the Hub client
        ["models"],
        ["pull", "hf.co/../x:Q4_K_M"],  # malformed references are refused before anything heavy loads
        ["chat", "--help"],
        ["history", "--help"],
        ["recommend", "--help"],
        ["hw", "--help"],
        ["help"],
        ["help", "pull"],
        ["paths", "--json"],
        ["remotes", "--help"],
        ["remotes"],  # none configured: nothing to ask, no HTTP client
    ],
)
def test_help_does_not_import_heavy_modules(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)], capture_output=True, text=True, check=False
    )
    assert "LOADED=\n" in result.stderr, result.stderr


def test_core_modules_import_no_terminal_library() -> None:
    code = (
        "import sys, llamacli.engine, llamacli.models.registry, llamacli.models.locate, llamacli.services.run,"
        " llamacli.services.models, llamacli.hub.metadata, llamacli.models.store, llamacli.hub.download,"
        " llamacli.models.gguf_info;"
        "print([m for m in ('rich', 'typer', 'llama_cpp', 'huggingface_hub', 'gguf') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_only_the_engine_loads_llama_cpp() -> None:
    """import-linter checks the other library rules (pyproject.toml); it cannot see importlib's loads."""
    import re
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "llamacli"
    native = {
        str(p.relative_to(package))
        for p in package.rglob("*.py")
        if re.search(r"^\s*(from|import) llama_cpp\b|import_module\(\"llama_cpp", p.read_text(), re.M)
    }
    assert native == {"engine/native.py"}


HTTP_STACK = ("starlette", "uvicorn", "pydantic", "anyio")  # `serve`'s, imported only when it serves


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["chat", "--help"], ["serve", "--help"]])
def test_help_does_not_import_the_http_stack(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args, heavy=HTTP_STACK)], capture_output=True, text=True, check=False
    )
    assert "LOADED=\n" in result.stderr, result.stderr
