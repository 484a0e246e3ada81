"""`pytest -m "not slow"` stays honest: the guards in tests/support/quick.py refuse a quick test that
loads the model, requantizes or calibrates (by its fixtures, a `llamacli` subprocess, or in process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import quick
from tests.support.cli import REPO, run_cli


def pytest_in(directory: Path, test_code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run pytest on one test file in DIRECTORY, with this suite's conftest (fixtures and hooks)."""
    (directory / "conftest.py").write_text("from tests.conftest import *  # noqa: F403\n")
    (directory / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: slow\n")
    (directory / "test_probe.py").write_text(test_code)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", *args],
        cwd=directory,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


HEAVY_TESTS = """
import pytest

def test_quick_but_heavy(hub):
    pass

@pytest.mark.slow
def test_slow_and_heavy(calibrated):
    pass

def test_quick(tmp_path):
    pass
"""


def test_a_quick_test_requesting_a_heavy_fixture_fails_collection(tmp_path: Path) -> None:
    result = pytest_in(tmp_path, HEAVY_TESTS, "--collect-only")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert "test_probe.py::test_quick_but_heavy uses hub, hub_server, quantized" in result.stderr
    assert "test_slow_and_heavy" not in result.stderr and "test_quick " not in result.stderr


def test_run_cli_refuses_model_loading_commands_in_a_quick_test() -> None:
    with pytest.raises(AssertionError, match="`llamacli doctor` loads the model"):
        run_cli("doctor")
    refused = run_cli("run", "-m", "no-such-model", "hi")  # refused before anything is loaded: fine
    assert refused.returncode == 1, refused.stderr
    assert run_cli("chat", "--help").returncode == 0
    with pytest.raises(AssertionError, match="`llamacli run` succeeded, so it loaded the model"):
        quick.check_quick_subprocess(["run", "-n", "4", "smollm2:135m", "hi"], 0)
    quick.check_quick_subprocess(["list"], 0)


@pytest.mark.slow
def test_a_quick_test_that_runs_a_model_in_process_fails(tmp_path: Path) -> None:
    code = """
from llamacli.engine import GenerationParams, LoadParams, Model
from llamacli.engine.chat_template import Message

def test_generates(smollm2_path):
    with Model(smollm2_path, LoadParams(n_ctx=256)) as model:
        model.generate([Message("user", "Hi")], GenerationParams(max_tokens=1))
"""
    result = pytest_in(tmp_path, code)
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    assert "this test ran a model with llama.cpp in process" in result.stdout
