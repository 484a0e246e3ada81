"""`run`, `chat` and `remotes` against llama.cpp's own `llama-server` (the peer most users point llamacli at).

A real llama-server process (tests/support/llama_server.py, built from the same llama.cpp llamacli runs on)
serves the bundled SmolLM2 on loopback with `-c 2048 -np 1`; every command is a real `llamacli` subprocess.
Same model, same llama.cpp, same chat template (llama-server renders the GGUF's own): a greedy answer over
HTTP is the local one byte for byte. Ctrl-C and cut streams are the fault server's tests (test_faults.py).
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_cli
from tests.support.llama_server import ALIAS, CONTEXT, LlamaServer

pytestmark = pytest.mark.slow
MODEL = ALIAS  # llama-server serves the file under this alias, the name a local run gives it


def slot(server: LlamaServer) -> dict[str, Any]:
    """Its one slot's state (GET /slots): the last task's id and the sampling settings it ran with."""
    with urllib.request.urlopen(server.base_url + "/slots", timeout=10) as response:
        (found,) = json.loads(response.read())
    return dict(found)


def remote(server: LlamaServer, *args: str) -> Any:
    return run_cli("run", "--remote", server.base_url, "-m", MODEL, *args)


@pytest.fixture
def configured(isolated: Path, llama_server: LlamaServer) -> str:
    isolated.mkdir(parents=True, exist_ok=True)
    (isolated / "config.toml").write_text(f'[remotes.cpp]\nurl = "{llama_server.base_url}"\n')
    return "cpp"


def test_the_probe_names_llama_cpp_and_its_context(llama_server: LlamaServer, configured: str) -> None:
    result = run_cli("remotes", "--json")
    (status,) = json.loads(result.stdout)
    assert result.returncode == 0 and status["answers"], result.stderr
    assert status["kind"].startswith("llama.cpp server ") and status["context"] == CONTEXT
    assert status["models"] == [MODEL]
    assert "llama.cpp server b" in run_cli("remotes").stdout.decode()


def test_a_greedy_answer_is_the_local_answer(llama_server: LlamaServer) -> None:
    args = ["--temperature", "0", "-n", "16", "Name a colour."]
    there, here = remote(llama_server, *args), run_cli("run", MODEL, *args)
    assert there.returncode == 0 and here.returncode == 0, there.stderr + here.stderr
    assert there.stdout == here.stdout and len(there.stdout.split()) > 5


def test_json_stats_come_from_its_usage_and_timings(llama_server: LlamaServer) -> None:
    args = ["--temperature", "0", "-n", "16", "--json", "Why is the sky blue?"]
    started = time.monotonic()
    there = json.loads(remote(llama_server, *args).stdout)
    wall = time.monotonic() - started
    here = json.loads(run_cli("run", MODEL, *args).stdout)
    stats = there["stats"]
    assert there["text"] == here["text"] and there["finish_reason"] == "length"
    assert stats["generated_tokens"] == 16 and stats["prompt_tokens"] == here["stats"]["prompt_tokens"]
    assert there["model"] == f"{MODEL}@{llama_server.base_url}" and there["path"] is None
    # llama-server's own clock: generation after the first token, all of it inside this command's wall time
    assert stats["time_to_first_token"] > 0 and 0 < stats["generation_seconds"] < wall
    assert stats["prompt_seconds"] <= stats["time_to_first_token"] + 0.05
    assert 0 < stats["generation_tokens_per_second"] < 5000  # a 135M model on this machine's CPU
    again = json.loads(remote(llama_server, *args).stdout)["stats"]  # its prompt cache: all but the last token
    assert again["cached_prompt_tokens"] == again["prompt_tokens"] - 1


def test_one_token_has_no_generation_rate(llama_server: LlamaServer) -> None:
    # llama-server's first token comes from the prompt's logits: it times no step, and its predicted_ms is
    # a 1 µs floor that used to read as 1,000,000 tok/s; one token has no rate (Stats)
    stats = json.loads(remote(llama_server, "--temperature", "0", "-n", "1", "--json", "Hi").stdout)["stats"]
    assert stats["generated_tokens"] == 1
    assert stats["generation_seconds"] < 0.001 and stats["generation_tokens_per_second"] == 0


def test_an_answer_that_ends_counts_the_end_of_turn_token(llama_server: LlamaServer) -> None:
    # llama-server's usage counts the end-of-turn token it sampled; a local run counts only the answer's
    args = ["--temperature", "0", "-n", "100", "--json", "Say hello in one word."]
    there, here = json.loads(remote(llama_server, *args).stdout), json.loads(run_cli("run", MODEL, *args).stdout)
    assert there["text"] == here["text"] and there["finish_reason"] == here["finish_reason"] == "stop"
    assert there["stats"]["generated_tokens"] == here["stats"]["generated_tokens"] + 1


def test_a_context_beyond_its_c_is_refused_before_sending(llama_server: LlamaServer) -> None:
    before = slot(llama_server)["id_task"]
    result = remote(llama_server, "--ctx", str(CONTEXT * 2), "Hi")
    lines = result.stderr.decode().strip().splitlines()
    assert result.returncode == 1 and result.stdout == b"" and len(lines) == 1
    assert f"its context is {CONTEXT} tokens" in lines[0] and "Traceback" not in lines[0]
    assert slot(llama_server)["id_task"] == before  # it never saw a request
    assert remote(llama_server, "--ctx", "1024", "-n", "4", "Hi").returncode == 0


def test_top_k_is_sent_and_honoured(llama_server: LlamaServer) -> None:
    greedy = remote(llama_server, "--temperature", "0", "-n", "16", "Write about the sea.")
    args = ["--temperature", "1", "--seed", "7", "-n", "16", "Write about the sea."]
    top1 = remote(llama_server, "--top-k", "1", *args)
    assert slot(llama_server)["params"]["top_k"] == 1
    sampled = remote(llama_server, "--top-k", "40", *args)
    assert slot(llama_server)["params"]["top_k"] == 40
    assert top1.stdout == greedy.stdout  # one candidate left: temperature 1 samples the greedy token
    assert sampled.stdout != greedy.stdout  # the same seed with 40 candidates does not: top_k made the difference


def test_a_schema_is_enforced_by_its_grammar(llama_server: LlamaServer) -> None:
    args = ["--schema", "name, age int", "--temperature", "0", "-n", "64", "John is 31 years old."]
    there, here = remote(llama_server, *args), run_cli("run", MODEL, *args)
    assert there.returncode == 0 and here.returncode == 0, there.stderr + here.stderr
    document = json.loads(there.stdout)
    assert set(document) == {"name", "age"} and isinstance(document["age"], int)
    assert there.stdout == here.stdout  # the very grammar a local run samples under


def test_a_piped_chat_answers_both_turns_and_is_recorded(llama_server: LlamaServer, configured: str) -> None:
    turns = "Hello!\nName a colour.\n/bye\n"
    there = run_cli("chat", f"{configured}/{MODEL}", "--temperature", "0", "-n", "12", input=turns)
    here = run_cli("chat", MODEL, "--temperature", "0", "-n", "12", input=turns)
    assert there.returncode == 0 and here.returncode == 0, there.stderr + here.stderr
    assert there.stdout == here.stdout  # both answers, each the local one
    listed = json.loads(run_cli("history", "--json").stdout)
    (conversation,) = [c for c in listed if c["model"] == f"{configured}/{MODEL}"]
    shown = json.loads(run_cli("history", "show", str(conversation["id"]), "--json").stdout)
    said = [(m["role"], m["model"]) for m in shown["messages"]]
    assert said == [("user", None), ("assistant", f"{configured}/{MODEL}")] * 2
    assert all(m["content"].strip() for m in shown["messages"])
