"""`serve MODEL --lora FILE`: the adapter on the models named, not on the others; a misfit refused at start."""

from __future__ import annotations

import subprocess
from pathlib import Path

import openai
import pytest

from tests.server.conftest import MODEL
from tests.support.cli import LLAMACLI
from tests.support.lora_factory import write_adapter
from tests.support.serving import start_serve

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "Name three colours."}]


def ask(base_url: str, model: str) -> str:
    client = openai.OpenAI(base_url=base_url + "/v1", api_key="none", max_retries=0, timeout=120)
    answer = client.chat.completions.create(model=model, messages=QUESTION, temperature=0, max_tokens=16)  # type: ignore[call-overload]
    return str(answer.choices[0].message.content)


def test_the_adapter_goes_on_the_model_named_only(tmp_path: Path, smollm2_path: Path) -> None:
    adapter = write_adapter(tmp_path / "pirate.gguf", smollm2_path, b_scale=1.0)
    server = start_serve(MODEL, "--lora", str(adapter), "--parallel", "1", "--ctx", "512", "-t", "1", home=tmp_path)
    try:
        adapted = ask(server.base_url, MODEL)
        plain = ask(server.base_url, str(smollm2_path))  # the same file by another name: no adapter
        assert adapted != plain
        assert ask(server.base_url, MODEL) == adapted
    finally:
        assert server.stop() == 0


def test_a_misfit_adapter_stops_the_server_before_it_listens(tmp_path: Path, smollm2_path: Path) -> None:
    gemma = write_adapter(tmp_path / "gemma.gguf", smollm2_path, architecture="gemma3")
    result = subprocess.run(
        [LLAMACLI, "serve", MODEL, "--port", "0", "--lora", str(gemma)],
        capture_output=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert "listening" not in stderr and "Traceback" not in stderr
    assert "LoRA adapter gemma.gguf does not fit smollm2:135m" in stderr.strip().splitlines()[-1]
