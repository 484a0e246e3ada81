"""`llamacli history` as a person and a script read it: aligned columns, and a list without messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llamacli.history.database import History
from tests.support.cli import run_cli

pytestmark = pytest.mark.slow


def fill(conversations: int) -> None:
    """CONVERSATIONS conversations of different shapes: ids of one and two digits, names or none, two models."""
    with History.open() as store:
        for i in range(conversations):
            cid, _ = store.start_conversation("smollm2:135m", None, f"Question number {i}")
            for _ in range(i % 3):
                store.add_message(cid, "assistant", "An answer.", model="llama3.2:1b" if i % 2 else "smollm2:135m")
                store.add_message(cid, "user", "And then?")
            if i % 4 == 0:
                store.set_name(cid, f"name{'x' * i}")


def test_history_columns_are_aligned() -> None:
    fill(11)
    result = run_cli("history")
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    assert lines[0].split() == ["ID", "UPDATED", "MODELS", "MESSAGES", "NAME", "FIRST", "MESSAGE"]
    assert len(lines) == 12
    header, rows = lines[0], lines[1:]
    for name in ("UPDATED", "MODELS", "NAME", "FIRST MESSAGE"):  # left-aligned: each starts where its header does
        start = header.index(name)
        assert all(row[start - 1] == " " and row[start] != " " for row in rows), (name, lines)
    end = header.index("MESSAGES") + len("MESSAGES")  # numbers: aligned right
    assert all(row[end - 1].isdigit() and row[end] == " " for row in rows), lines
    assert all(row[1].isdigit() for row in rows) and rows[0].startswith("11") and rows[-1].startswith(" 1  "), lines


def test_history_json_lists_conversations_without_their_messages() -> None:
    fill(2)
    listed = json.loads(run_cli("history", "--json").stdout)
    assert [c["id"] for c in listed] == [2, 1]
    assert all("messages" not in c for c in listed)
    assert listed[0]["message_count"] == 3 and listed[0]["first_message"] == "Question number 1"
    shown = json.loads(run_cli("history", "show", "2", "--json").stdout)
    assert len(shown["messages"]) == 3  # the messages are where they are asked for


def test_history_with_no_conversations(isolated: Path) -> None:
    result = run_cli("history")
    assert result.returncode == 0 and not result.stdout
    assert b"No conversations yet" in result.stderr


def test_a_reader_that_leaves_early_gets_exit_141_and_no_noise() -> None:
    import subprocess

    from tests.support.cli import LLAMACLI

    with History.open() as store:
        cid, _ = store.start_conversation("smollm2:135m", None, "A long one")
        for _ in range(200):
            store.add_message(cid, "assistant", "words " * 400, model="smollm2:135m")  # ~500 KB: beyond a pipe's buffer
    process = subprocess.Popen([LLAMACLI, "history", "show", str(cid)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(10)  # `| head -c 10`
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == 141, stderr
    assert stderr == b""
