"""`run` and `chat` get their model the same way: a missing model is pulled then answered, `--offline`
refuses it with the same error and exit code and no connection, a model changed on disk is pulled again.

`chat` here reads piped stdin (the plain reader): `echo hi | llamacli chat MODEL`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.hubserver import HubServer
from tests.system.test_offline import run_guarded

SMALL = "llama3.2:1b-q2_k"  # served by the loopback Hub: SmolLM2 requantized to Q2_K
GREEDY = ("-n", "4", "--temperature", "0")


def ask(command: str, model: str, *flags: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """One question to MODEL through `run` (as the prompt) or `chat` (a piped line)."""
    if command == "run":
        return run_cli("run", model, "Say hi", *GREEDY, *flags, env=env)
    return run_cli("chat", model, *GREEDY, *flags, input="Say hi\n", env=env)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["run", "chat"])
def test_a_missing_model_is_pulled_then_answered(hub: HubServer, command: str) -> None:
    result = ask(command, SMALL)
    assert result.returncode == 0, result.stderr
    assert f"{SMALL} is not downloaded yet: pulling it first".encode() in result.stderr
    assert result.stdout.strip()
    assert hub.body_bytes() > 0


@pytest.mark.slow
@pytest.mark.parametrize("how", ["flag", "env"])
def test_offline_refuses_a_missing_model_the_same_way_without_a_connection(
    hub: HubServer, tmp_path: Path, how: str
) -> None:
    flags, env = (["--offline"], {}) if how == "flag" else ([], {"HF_HUB_OFFLINE": "1"})
    ran, run_attempts = run_guarded(tmp_path, "run", SMALL, "hi", *flags, env=env)
    chat, chat_attempts = run_guarded(tmp_path, "chat", SMALL, *flags, env=env)
    assert ran.returncode == chat.returncode == 1
    assert (
        ran.stderr
        == chat.stderr
        == f"llamacli: error: model '{SMALL}' is not downloaded (download it with: llamacli pull {SMALL})\n".encode()
    )
    assert ran.stdout == chat.stdout == b""
    assert run_attempts == chat_attempts == ""
    assert hub.requests() == []


@pytest.mark.slow
def test_a_model_changed_on_disk_is_refused_offline_and_pulled_again_online(hub: HubServer, isolated: Path) -> None:
    assert run_cli("pull", SMALL).returncode == 0
    [blob] = (isolated / "models" / "blobs").iterdir()
    for command in ("run", "chat"):
        os.truncate(blob, blob.stat().st_size // 2)
        refused = ask(command, SMALL, "--offline")
        assert refused.returncode == 1 and not refused.stdout
        assert b"changed on disk since it was verified" in refused.stderr, command
        result = ask(command, SMALL)
        assert result.returncode == 0, result.stderr
        assert f"{SMALL} changed on disk since it was verified: pulling it first".encode() in result.stderr
        assert result.stdout.strip(), command
