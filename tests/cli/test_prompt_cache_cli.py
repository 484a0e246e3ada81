"""The prompt cache through real `llamacli` processes: on by default, the ways to turn it off, `cache`,
damaged entries, a cap below one entry, and `chat --continue` restoring its conversation."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_cli

pytestmark = pytest.mark.slow

SYSTEM = "You are the support assistant of a small hardware shop. " + " ".join(
    f"Rule {i}: when asked about product line {i}, quote the price in euros and keep it short." for i in range(8)
)
GREEDY = ("--temperature", "0", "-n", "12", "-t", "2", "--ctx", "1024")


def one_shot(question: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`run --json` under SYSTEM: the parsed result (asserting success and a quiet stderr)."""
    result = run_cli("run", "smollm2:135m", "-s", SYSTEM, question, "--json", *GREEDY, *args, env=env)
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def entries() -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = json.loads(run_cli("cache", "--json").stdout)["entries"]
    return listed


def test_a_second_run_under_the_same_system_prompt_restores_it_and_answers_byte_identically(isolated: Path) -> None:
    plain = [one_shot(q, "--no-cache") for q in ("Do you sell hammers?", "Do you sell glue?")]
    assert entries() == []
    first = one_shot("Do you sell hammers?")
    saved = first["stats"]["saved_prompt_tokens"]
    assert saved >= 64 and first["stats"]["restored_prompt_tokens"] == 0
    second = one_shot("Do you sell glue?")
    assert second["stats"]["restored_prompt_tokens"] == saved and second["stats"]["saved_prompt_tokens"] == 0
    assert [first["text"], second["text"]] == [p["text"] for p in plain]
    (entry,) = entries()
    assert (entry["tokens"], entry["kind"], entry["model"]) == (saved, "prefix", "SmolLM2-135M-Instruct.Q4_1.gguf")
    verbose = run_cli("run", "smollm2:135m", "-s", SYSTEM, "Do you sell nails?", *GREEDY, "-v")
    assert f"({saved} from the prompt cache)" in verbose.stderr.decode()
    cleared = json.loads(run_cli("cache", "clear", "--json").stdout)
    assert cleared["removed"] == 1 and cleared["freed_bytes"] == entry["size_bytes"]
    assert entries() == []
    assert one_shot("Do you sell glue?")["stats"]["restored_prompt_tokens"] == 0


@pytest.mark.parametrize("how", ["flag", "environment", "config"])
def test_each_way_of_turning_the_cache_off_writes_nothing(isolated: Path, how: str) -> None:
    args = ("--no-cache",) if how == "flag" else ()
    env = {"LLAMACLI_PROMPT_CACHE": "0"} if how == "environment" else None
    if how == "config":
        isolated.mkdir(parents=True, exist_ok=True)
        (isolated / "config.toml").write_text("prompt_cache = false\n")
    for question in ("Do you sell hammers?", "Do you sell glue?"):
        stats = one_shot(question, *args, env=env)["stats"]
        assert (stats["saved_prompt_tokens"], stats["restored_prompt_tokens"]) == (0, 0)
    assert not (isolated / "cache" / "prompts").exists() or entries() == []


def test_a_damaged_entry_is_ignored_and_the_answer_is_the_same(isolated: Path) -> None:
    expected = one_shot("Do you sell ladders?")
    (entry,) = entries()
    path = isolated / "cache" / "prompts" / f"{entry['key']}.kv"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    again = one_shot("Do you sell ladders?")
    assert again["text"] == expected["text"]
    assert again["stats"]["restored_prompt_tokens"] == 0
    assert again["stats"]["saved_prompt_tokens"] == expected["stats"]["saved_prompt_tokens"]  # written anew
    path.write_bytes(b"not a state at all")
    assert one_shot("Do you sell ladders?")["text"] == expected["text"]


def test_a_cap_smaller_than_one_entry_keeps_nothing_and_the_run_still_answers(isolated: Path) -> None:
    expected = one_shot("Do you sell saws?", "--no-cache")
    small = {"LLAMACLI_PROMPT_CACHE_MAX": "100K"}  # one state of this prefix is a few MiB
    for _ in range(2):
        result = one_shot("Do you sell saws?", env=small)
        assert result["text"] == expected["text"] and result["stats"]["restored_prompt_tokens"] == 0
    assert entries() == []


def chat(*args: str, lines: str, home: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {"LLAMACLI_HOME": str(home)} if home else None
    result = run_cli(
        "chat", "smollm2:135m", *args, "--temperature", "0", "-n", "16", "--ctx", "1024", input=lines, env=env
    )
    assert result.returncode == 0, result.stderr
    return result


def last_stats(home: Path | None = None) -> dict[str, Any]:
    env = {"LLAMACLI_HOME": str(home)} if home else None
    shown = json.loads(run_cli("history", "show", "1", "--json", env=env).stdout)
    stats: dict[str, Any] = shown["messages"][-1]["stats"]
    return stats


def test_chat_continue_restores_the_conversation_and_answers_as_the_chat_would_have_gone_on(
    isolated: Path, tmp_path: Path
) -> None:
    questions = ("Name a fruit.", "And a vegetable?", "And a tool?")
    in_one_go = chat("-s", SYSTEM, lines="\n".join(questions) + "\n", home=tmp_path / "one-go")
    chat("-s", SYSTEM, lines=questions[0] + "\n")
    kinds = sorted(e["kind"] for e in entries())
    assert kinds == ["conversation", "prefix"]  # the system prompt's, and the conversation after the answer
    continued = [chat("--continue", lines=q + "\n") for q in questions[1:]]
    stats = last_stats()
    assert stats["restored_prompt_tokens"] > 0 and stats["cached_prompt_tokens"] == stats["restored_prompt_tokens"]
    assert f"({stats['restored_prompt_tokens']} from the prompt cache)" in continued[-1].stderr.decode()
    assert [e["kind"] for e in entries()].count("conversation") == 1  # each answer's state replaces the last
    answers = b"".join(c.stdout for c in continued)
    assert in_one_go.stdout.endswith(answers)  # the same turns, as one process would have answered them
    shutil.rmtree(isolated / "cache" / "prompts")  # evaluated again without it: still an answer, nothing restored
    chat("--continue", lines="And a colour?\n")
    assert last_stats()["restored_prompt_tokens"] == 0
