"""`run`, `chat`, `list --remote` and `remotes` against a real `llamacli serve` on loopback (the SmolLM2 model)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.serving import Served, start_serve

pytestmark = pytest.mark.slow
MODEL = "smollm2:135m"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = start_serve(MODEL, home=tmp_path_factory.mktemp("serve"))
    yield server
    server.stop()


@pytest.fixture
def configured(isolated: Path, served: Served) -> str:
    isolated.mkdir(parents=True, exist_ok=True)
    (isolated / "config.toml").write_text(f'[remotes.box]\nurl = "{served.base_url}"\n')
    return "box"


def test_a_greedy_remote_answer_is_the_local_answer(served: Served) -> None:
    args = ["--temperature", "0", "-n", "16", "Name a colour."]
    remote = run_cli("run", "--remote", served.base_url, "-m", MODEL, *args)
    local = run_cli("run", MODEL, *args)
    assert remote.returncode == 0 and local.returncode == 0, remote.stderr + local.stderr
    assert remote.stdout == local.stdout and remote.stdout.strip()


def test_json_has_the_same_fields_as_a_local_run(served: Served) -> None:
    result = run_cli("run", "--remote", served.base_url, "-m", MODEL, "Hi", "-n", "8", "--temperature", "0", "--json")
    data = json.loads(result.stdout)
    assert {"model", "path", "text", "finish_reason", "stats"} <= set(data)
    assert data["finish_reason"] == "length" and data["stats"]["generated_tokens"] == 8
    assert data["stats"]["prompt_tokens"] > 0 and data["stats"]["generation_tokens_per_second"] > 0


def test_list_remote_and_remotes(served: Served, configured: str) -> None:
    listed = run_cli("list", "--remote", configured)
    assert listed.returncode == 0 and f"box/{MODEL}" in listed.stdout.decode()
    (status,) = json.loads(run_cli("remotes", "--json").stdout)
    assert status["answers"] and status["kind"].startswith("llamacli serve") and MODEL in status["models"]


def test_a_remote_chat_is_recorded_with_its_remote_model(served: Served, configured: str) -> None:
    result = run_cli("chat", f"box/{MODEL}", "-n", "8", input="Hello\n/show\n/bye\n", env={"LLAMACLI_REMOTE": ""})
    assert result.returncode == 0, result.stderr
    assert f"model: box/{MODEL}" in result.stderr.decode() and f"remote: {served.base_url}" in result.stderr.decode()
    (conversation,) = json.loads(run_cli("history", "--json").stdout)
    assert conversation["model"] == f"box/{MODEL}"


def test_a_structured_remote_answer_is_the_local_one(served: Served) -> None:
    args = ["--schema", "name, age int", "--temperature", "0", "-n", "64", "John is 31 years old."]
    remote = run_cli("run", "--remote", served.base_url, "-m", MODEL, *args)
    local = run_cli("run", MODEL, *args)
    assert remote.returncode == 0 and local.returncode == 0, remote.stderr + local.stderr
    assert remote.stdout == local.stdout
    assert set(json.loads(remote.stdout)) == {"name", "age"}
