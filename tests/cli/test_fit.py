"""Fit before download and before load: `models` MEMORY column, `pull` refusing (or --force), `run` warning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.hubserver import HubServer

pytestmark = pytest.mark.slow


def test_models_shows_the_memory_need_and_whether_it_fits() -> None:
    result = run_cli("models", env={"LLAMACLI_MEMORY": "3G"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0].split()[-1] == "MEMORY"
    smollm2 = next(line for line in lines if line.startswith("smollm2:135m"))
    big = next(line for line in lines if line.startswith("llama3.1:8b-q8_0"))
    assert "✓" in smollm2 and "✗" in big


def test_pull_refuses_a_model_that_cannot_fit_before_downloading(hub: HubServer, isolated: Path) -> None:
    refused = run_cli("pull", "llama3.2:1b-q8_0", env={"LLAMACLI_MEMORY": "600M"})
    assert refused.returncode == 1, refused.stderr
    assert b"does not fit" in refused.stderr and b"--force" in refused.stderr
    assert b"Traceback" not in refused.stderr
    assert not list((isolated / "models").rglob("*.gguf")) if (isolated / "models").exists() else True
    forced = run_cli("pull", "llama3.2:1b-q8_0", "--force", "--json", env={"LLAMACLI_MEMORY": "600M"})
    assert forced.returncode == 0, forced.stderr
    assert b"downloading anyway" in forced.stderr
    assert json.loads(forced.stdout)["downloaded"] > 0


def test_pull_goes_ahead_when_it_fits(hub: HubServer) -> None:
    result = run_cli("pull", "llama3.2:1b-q2_k", env={"LLAMACLI_MEMORY": "16G"})
    assert result.returncode == 0, result.stderr
    assert b"does not fit" not in result.stderr


def test_run_warns_before_loading_a_model_that_will_not_fit() -> None:
    tight = run_cli("run", "smollm2:135m", "Hi", "-n", "2", env={"LLAMACLI_MEMORY": "100M"})
    assert tight.returncode == 0, tight.stderr
    assert tight.stderr.startswith(b"warning: smollm2:135m does not fit")
    roomy = run_cli("run", "smollm2:135m", "Hi", "-n", "2", env={"LLAMACLI_MEMORY": "16G"})
    assert roomy.stderr == b""


def test_pull_of_a_hub_file_reads_only_its_header_before_refusing(hub: HubServer, quantized: dict[str, Path]) -> None:
    ref = "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q8_0"  # not a registry name: sized from its GGUF header
    refused = run_cli("pull", ref, env={"LLAMACLI_MEMORY": "600M"})
    assert refused.returncode == 1, refused.stderr
    assert b"does not fit" in refused.stderr
    assert 0 < hub.body_bytes() < quantized["Q8_0"].stat().st_size / 10  # the header, not the file
