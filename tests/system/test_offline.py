"""Offline is offline: commands on local models make zero connection attempts (sockets are blocked)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.cli import run_cli

NETGUARD = Path(__file__).resolve().parents[1] / "support" / "netguard"


def run_guarded(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[bytes], str]:
    log = tmp_path / "net.log"
    log.touch()
    result = run_cli(*args, env={"PYTHONPATH": str(NETGUARD), "LLAMACLI_TEST_NETLOG": str(log), **(env or {})})
    return result, log.read_text()


def test_the_guard_catches_connections(tmp_path: Path) -> None:
    """The guard itself works: a process that does connect is caught (so a clean log means something)."""
    import sys

    log = tmp_path / "net.log"
    code = "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 9))\nexcept OSError as e:\n    print(e)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(NETGUARD), "LLAMACLI_TEST_NETLOG": str(log)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "network blocked by the test" in result.stdout
    assert "127.0.0.1" in log.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("flags", [["--offline"], []])
def test_run_on_a_local_model_makes_no_connection(tmp_path: Path, flags: list[str]) -> None:
    result, attempts = run_guarded(tmp_path, "run", "smollm2:135m", "Hi", "-n", "4", *flags)
    assert result.returncode == 0, result.stderr
    assert attempts == ""


def test_help_and_errors_make_no_connection(tmp_path: Path) -> None:
    for args in (["--help"], ["run", "no-such:model", "hi"]):
        _, attempts = run_guarded(tmp_path, *args)
        assert attempts == ""


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["models"],
        ["show", "smollm2:135m"],
        ["run", "--offline", "llama3.2:1b", "hi"],  # not downloaded: refused without trying the network
        ["pull", "hf.co/../x:Q4_K_M"],  # malformed: refused before anything
    ],
)
def test_model_commands_on_local_data_make_no_connection(tmp_path: Path, args: list[str]) -> None:
    _, attempts = run_guarded(tmp_path, *args)
    assert attempts == ""


def test_offline_pull_and_show_make_no_connection(tmp_path: Path) -> None:
    for args in (["pull", "llama3.2:1b"], ["show", "llama3.2:1b"]):
        result, attempts = run_guarded(tmp_path, *args, env={"HF_HUB_OFFLINE": "1"})
        assert result.returncode == 1, result.stderr
        assert attempts == ""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("flags", "env"), [(["--offline"], {}), ([], {"HF_HUB_OFFLINE": "1"}), ([], {})], ids=["flag", "env", "plain"]
)
def test_chat_on_a_terminal_makes_no_connection(tmp_path: Path, env: dict[str, str], flags: list[str]) -> None:
    from tests.cli.test_chat import Chat

    log = tmp_path / "net.log"
    log.touch()
    guard = {"PYTHONPATH": str(NETGUARD), "LLAMACLI_TEST_NETLOG": str(log), **env}
    chat = Chat("smollm2:135m", "-n", "4", "--temperature", "0", *flags, env=guard)
    chat.ask("Hello")
    assert chat.bye() == 0
    assert log.read_text() == ""
    assert Path(f"{log}.guarded").read_text().strip()  # the guard was loaded in the pty's process


@pytest.mark.slow
@pytest.mark.parametrize("env", [{"HF_HUB_OFFLINE": "1"}, {}], ids=["HF_HUB_OFFLINE", "plain"])
def test_recommend_hw_and_models_make_no_connection(tmp_path: Path, calibrated: Path, env: dict[str, str]) -> None:
    """Calibration is local (the session's is in the cache); the registry is data shipped in the package."""
    for args in (["recommend"], ["recommend", "--json"], ["hw"], ["hw", "--json"], ["models", "--json"]):
        result, attempts = run_guarded(tmp_path, *args, env=env)
        assert result.returncode == 0, result.stderr
        assert attempts == "", args
