"""`chat --guard`, piped, with the stand-in guards (tests/support/guard_standin.py): the always-unsafe one
blocks every message (one line each, nothing sent or kept, the chat goes on); the always-safe one lets the
answer through, the same as without a guard, only shown once checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.guard_standin import answer_blocking_standin, unsafe_standin

pytestmark = pytest.mark.slow

GREEDY = ("--temperature", "0", "--seed", "1", "-n", "12")


@pytest.fixture(scope="module")
def unsafe_guard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unsafe_standin(tmp_path_factory.mktemp("guard") / "unsafe-guard.gguf")


def test_unsafe_guard_blocks_each_message_and_the_chat_goes_on(unsafe_guard: Path) -> None:
    lines = "Say hello\nSay goodbye\n/show\n/bye\n"
    result = run_cli("chat", "smollm2:135m", *GREEDY, "--guard-model", str(unsafe_guard), input=lines)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""  # no answer: the messages never reached the model
    err = result.stderr.decode()
    blocks = [line for line in err.splitlines() if "found the message unsafe: S" in line]
    assert len(blocks) == 2, err  # one line per message, and the chat carried on to the next
    assert "messages: 0 " in err  # /show: neither message was kept in the conversation
    assert "Traceback" not in err
    listed = run_cli("history", "--json")
    assert json.loads(listed.stdout) == []  # nor in the history


def test_safe_guard_lets_the_answer_through_unchanged(smollm2_path: Path) -> None:
    plain = run_cli("chat", "smollm2:135m", *GREEDY, input="Say hello\n/bye\n")
    guarded = run_cli("chat", "smollm2:135m", *GREEDY, "--guard-model", str(smollm2_path), input="Say hello\n/bye\n")
    assert guarded.returncode == 0, guarded.stderr
    assert guarded.stdout and guarded.stdout == plain.stdout  # the same answer, held until checked
    assert b"unsafe" not in guarded.stderr
    conversations = json.loads(run_cli("history", "--json").stdout)
    assert len(conversations) == 2  # both chats kept their exchange


def test_a_blocked_answer_is_never_shown_nor_kept(tmp_path: Path) -> None:
    guard = answer_blocking_standin(tmp_path / "answer-blocking-guard.gguf")
    lines = "Say hello\n/show\n/bye\n"
    result = run_cli("chat", "smollm2:135m", "--temperature", "0", "-n", "64", "--guard-model", str(guard), input=lines)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""  # generated whole, then blocked before a word of it was shown
    err = result.stderr.decode()
    blocks = [line for line in err.splitlines() if "found the answer unsafe: S" in line]
    assert len(blocks) == 1, err
    assert "messages: 1 " in err  # the question stays (as after /retry's drop), the answer does not
    (conversation,) = json.loads(run_cli("history", "--json").stdout)
    shown = run_cli("history", "show", str(conversation["id"]), "--json")
    roles = [m["role"] for m in json.loads(shown.stdout)["messages"]]
    assert "assistant" not in roles, roles
