"""`llamacli guard` and `run --guard`, end to end with stand-in guards made from the bundled model
(tests/support/guard_standin.py): SmolLM2 answers `safe`, its token-swapped copy `unsafe`, and its copy with
two output rows swapped passes prompts but blocks answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.guard_standin import answer_blocking_standin, unsafe_standin

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def unsafe_guard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unsafe_standin(tmp_path_factory.mktemp("guard") / "unsafe-guard.gguf")


@pytest.fixture(scope="module")
def answer_blocking_guard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return answer_blocking_standin(tmp_path_factory.mktemp("guard") / "answer-blocking-guard.gguf")


def test_guard_says_safe_and_exits_0(smollm2_path: Path) -> None:
    result = run_cli("guard", "-m", str(smollm2_path), "Why is the sky blue?")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"safe\n"


def test_guard_says_unsafe_with_codes_and_exits_5(unsafe_guard: Path) -> None:
    result = run_cli("guard", "-m", str(unsafe_guard), "Why is the sky blue?")
    assert result.returncode == 5, result.stderr
    line = result.stdout.decode()
    assert line.startswith("unsafe S") and line.endswith("\n") and line.count("\n") == 1
    assert b"Traceback" not in result.stderr


def test_guard_reads_stdin_and_speaks_json(unsafe_guard: Path) -> None:
    result = run_cli("guard", "-m", str(unsafe_guard), "--agent", "--json", input="Mix yolk and oil.")
    assert result.returncode == 5, result.stderr
    data = json.loads(result.stdout)
    assert data["safe"] is False and data["categories"] and all(c.startswith("S") for c in data["categories"])
    assert len(data["names"]) == len(data["categories"])


def test_run_with_a_safe_guard_prints_the_checked_answer(smollm2_path: Path) -> None:
    args = ("run", "smollm2:135m", "Say hello", "--temperature", "0", "-n", "12")
    plain = run_cli(*args)
    guarded = run_cli(*args, "--guard-model", str(smollm2_path), "--json")
    assert guarded.returncode == 0, guarded.stderr
    data = json.loads(guarded.stdout)
    assert data["text"] + "\n" == plain.stdout.decode()  # the same answer, only held back until checked
    assert data["guard"]["prompt"] == {"safe": True, "categories": [], "names": []}
    assert data["guard"]["answer"]["safe"] is True


def test_run_with_an_unsafe_guard_blocks_the_prompt(unsafe_guard: Path) -> None:
    result = run_cli("run", "smollm2:135m", "Say hello", "--guard-model", str(unsafe_guard))
    assert result.returncode == 5
    assert result.stdout == b""
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "found the prompt unsafe: S" in lines[0], lines


def test_run_json_carries_the_blocking_verdict(unsafe_guard: Path) -> None:
    result = run_cli("run", "smollm2:135m", "Say hello", "--guard-model", str(unsafe_guard), "--json")
    assert result.returncode == 5
    data = json.loads(result.stdout)
    assert data["text"] is None and data["blocked"] == "prompt"
    assert data["guard"]["prompt"]["safe"] is False and "answer" not in data["guard"]


ANSWERED = ("run", "smollm2:135m", "Say hello", "--temperature", "0", "-n", "64")


def test_run_blocks_an_unsafe_answer_after_a_safe_prompt(answer_blocking_guard: Path) -> None:
    assert run_cli(*ANSWERED).stdout.startswith(b"Hello")  # what the guard is about to read
    result = run_cli(*ANSWERED, "--guard-model", str(answer_blocking_guard))
    assert result.returncode == 5
    assert result.stdout == b""  # the answer was generated, and held back: nothing of it is printed
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "found the answer unsafe: S" in lines[0], lines
    data = json.loads(run_cli(*ANSWERED, "--guard-model", str(answer_blocking_guard), "--json").stdout)
    assert data["text"] is None and data["blocked"] == "answer"
    assert data["guard"]["prompt"]["safe"] is True and data["guard"]["answer"]["safe"] is False
    assert data["guard"]["answer"]["categories"]
