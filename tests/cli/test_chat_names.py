"""Saved names and the model of each answer, through the installed `llamacli` (pipes and a pty).

Issue 12, items 1-3: continuing a saved conversation and saving it again ended in a traceback and
deleted it; a second `/save NAME` elsewhere deleted the first; a model switch re-attributed every answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_chat import GREEDY, Chat, history
from tests.support.cli import run_cli

pytestmark = pytest.mark.slow

# One thread: on two cores shared with other work, two llama.cpp threads mostly wait on each other.
FAST = [*GREEDY, "-n", "4", "-t", "1"]


def chat(*args: str, lines: str) -> bytes:
    """`llamacli chat ARGS` reading LINES from a pipe; it must end well. Its stderr."""
    result = run_cli("chat", *args, *FAST, input=lines)
    assert result.returncode == 0 and b"Traceback" not in result.stderr, result.stderr.decode()
    return result.stderr


def test_continuing_a_saved_name_and_saving_it_again_through_a_pipe() -> None:
    chat(lines="Tell me about Rome.\n/save rome\n")
    said = chat("--continue", "rome", lines="/save rome\nAnd then?\n")
    assert b"already saved as 'rome'" in said
    rome = history("rome")
    assert rome["id"] == 1 and [m["content"] for m in rome["messages"] if m["role"] == "user"] == [
        "Tell me about Rome.",
        "And then?",
    ]


def test_continuing_a_saved_name_and_saving_it_again_on_a_terminal() -> None:
    chat(lines="Tell me about Rome.\n/save rome\n")
    terminal = Chat("--continue", "rome", *FAST)
    assert "continuing conversation 1" in terminal.log.getvalue().decode("utf-8", "replace")
    terminal.command("/save rome", "already saved as 'rome'")
    terminal.ask("And then?")
    assert terminal.bye() == 0
    assert b"Traceback" not in terminal.log.getvalue()
    assert history("rome")["id"] == 1 and len(history("rome")["messages"]) == 4


def test_a_name_is_never_taken_from_another_chat_and_load_and_continue_agree() -> None:
    chat(lines="Tell me about Rome.\n/save rome\n")
    said = chat(lines="Tell me about Paris.\n/save rome\n/load rome\nMore about Rome.\n")
    assert b"'rome' already names conversation 1 (2 messages), which is kept" in said
    assert b"Loaded 'rome' (conversation 1, 2 messages)" in said
    chat("--continue", "rome", lines="Last one.\n")
    rome = history("rome")
    users = [m["content"] for m in rome["messages"] if m["role"] == "user"]
    assert rome["id"] == 1 and users == ["Tell me about Rome.", "More about Rome.", "Last one."]
    paris = history("2")
    assert paris["name"] is None and paris["messages"][0]["content"] == "Tell me about Paris."
    listed = json.loads(run_cli("history", "--json").stdout)
    assert sorted((c["id"], c["message_count"]) for c in listed) == [(1, 6), (2, 2)]


def test_history_shows_the_model_of_each_answer(smollm2_path: Path) -> None:
    chat(lines=f"Hi!\n/model {smollm2_path}\nHi again!\n")  # the same file under another name: its path
    shown = history("1")
    assert [m["model"] for m in shown["messages"]] == [None, "smollm2:135m", None, str(smollm2_path)]
    assert shown["models"] == ["smollm2:135m", str(smollm2_path)]
    text = run_cli("history", "show", "1").stdout.decode()
    assert "[assistant · smollm2:135m]" in text and f"[assistant · {smollm2_path}]" in text
    listing = run_cli("history").stdout.decode().splitlines()
    assert listing[1].split()[3:6] == ["smollm2:135m,", str(smollm2_path), "4"]  # models, then 4 messages
