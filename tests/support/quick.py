"""What keeps `pytest -m "not slow"` an honest quick pass: no test outside `slow` loads the model,
requantizes it or calibrates the machine, in this process or through a `llamacli` subprocess.

Three checks, all on the test side (llamacli itself never asks whether it is under a test):
- collection: a test not marked slow may not request a fixture that loads, requantizes or calibrates;
- in process: a test not marked slow may not compute with llama.cpp (a generation, a calibration); loading
  its library to read the build's CPU features is fine;
- subprocesses: `run_cli` refuses a model-loading command that a quick test lets succeed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence

import pytest

# Fixtures whose setup loads the model, requantizes it or calibrates this machine (their closure counts:
# a fixture that requests one of these is heavy too, and pytest lists it in the test's fixturenames).
# `hub_server` and `hub` serve the requantized files; `calibrated` and `calibration_file` calibrate;
# `served` and `llama_server` load it in a server process.
HEAVY_FIXTURES = frozenset(
    {
        "model",
        "quantized",
        "hub_server",
        "hub",
        "calibration_file",
        "calibrated",
        "served",
        "f16_source",
        "llama_server",
    }
)

# Set by the `isolated` fixture while a test not marked slow runs; read only here, never by llamacli.
QUICK_ENV = "LLAMACLI_TEST_QUICK"

# Commands that load the model (or calibrate, which loads it, or quantize it) on their way to exit 0.
LOADING_COMMANDS = frozenset({"run", "chat", "recommend", "hw", "quantize", "guard"})
# Commands that load the model whatever their exit code (`doctor` runs the bundled model offline).
ALWAYS_LOADING_COMMANDS = frozenset({"doctor"})


MARK_IT = "mark it @pytest.mark.slow (or pytestmark = pytest.mark.slow for a whole file)"


def is_slow(item: pytest.Item) -> bool:
    return item.get_closest_marker("slow") is not None


def heavy_quick_tests(items: Iterable[pytest.Item]) -> list[str]:
    """One line per test not marked slow that requests a heavy fixture, naming the fixtures."""
    lines = []
    for item in items:
        heavy = sorted(set(getattr(item, "fixturenames", ())) & HEAVY_FIXTURES)
        if heavy and not is_slow(item):
            lines.append(f"  {item.nodeid} uses {', '.join(heavy)}")
    return lines


def computed_natively() -> bool:
    """Whether llama.cpp has computed in this process (its engine records it before every decode)."""
    native = sys.modules.get("llamacli.engine.native")
    return native is not None and native.threads_started()


def command_of(args: Sequence[str]) -> str | None:
    """The subcommand of a `llamacli` argument list (the first argument that is not an option)."""
    return next((a for a in args if not a.startswith("-")), None)


def check_quick_subprocess(args: Sequence[str], returncode: int | None = None) -> None:
    """Refuse (AssertionError) what a quick test may not run: call before (no code) and after the process.

    A quick test may run `run`, `chat` or `recommend` only to see them refused before anything is loaded
    (a non-zero exit); `--help` is always fine.
    """
    if not os.environ.get(QUICK_ENV) or "--help" in args or "-h" in args:
        return
    command = command_of(args)
    if "--remote" in args or "-r" in args:  # run/chat/list on a remote engine load no model here
        return
    if command in ALWAYS_LOADING_COMMANDS:
        raise AssertionError(f"`llamacli {command}` loads the model: a test that runs it is slow; {MARK_IT}")
    if command in LOADING_COMMANDS and returncode == 0:
        raise AssertionError(
            f"`llamacli {command}` succeeded, so it loaded the model (or calibrated): this test is slow; {MARK_IT}"
        )
