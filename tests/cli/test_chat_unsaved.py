"""A chat whose history cannot be written goes on: a full disk or a damaged database costs the saving,
never the conversation, and never a traceback. Real `llamacli` processes, real sqlite, a real pty."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pexpect
import pytest

from tests.cli.test_chat import GREEDY, PROMPT, STATS
from tests.support.cli import LLAMACLI, run_cli
from tests.system.test_disk_full import file_size_limit

pytestmark = pytest.mark.slow

NOT_SAVED = b"warning: this conversation was not saved"


def test_a_full_disk_on_a_terminal_chat_costs_the_saving_not_the_chat(isolated: Path) -> None:
    """Files may not grow past 10 kB: the history cannot be created and the typed-lines file (already
    larger) cannot take a line. Both messages are answered, the problem is said once, /bye exits 0."""
    typed = isolated / "chat-input-history"
    typed.parent.mkdir(parents=True, exist_ok=True)
    typed.write_text("\n# earlier\n+an old message\n" * 800)
    log = io.BytesIO()
    child = pexpect.spawn(
        LLAMACLI,
        ["chat", *GREEDY, "-n", "16"],
        env={**os.environ, "TERM": "xterm-256color", "PROMPT_TOOLKIT_NO_CPR": "1"},
        dimensions=(40, 100),
        timeout=120,
        preexec_fn=file_size_limit(10_000),
    )
    child.logfile_read = log
    try:
        child.expect_exact(PROMPT)
        for message in ("What is 2+2?", "And 3+3?"):
            child.send(message + "\r")
            child.expect(STATS)
            child.expect_exact(PROMPT)
        child.send("/bye\r")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    shown = log.getvalue()
    assert child.exitstatus == 0, shown[-2000:]
    assert b"Traceback" not in shown
    assert shown.count(b"warning: cannot use the conversation history") == 1
    assert b"free some disk space" in shown and NOT_SAVED in shown
    assert len(STATS.findall(shown.decode("utf-8", "replace"))) == 2


def test_a_damaged_history_is_reported_in_one_line_and_left_as_it_was(isolated: Path) -> None:
    damaged = isolated / "history.db"
    garbage = os.urandom(64 * 1024)
    isolated.mkdir(parents=True, exist_ok=True)
    damaged.write_bytes(garbage)
    chat = run_cli("chat", *GREEDY, "-n", "12", input="What is 2+2?\n")
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.strip() and b"Traceback" not in chat.stderr
    assert b"file is not a database" in chat.stderr and NOT_SAVED in chat.stderr
    for args in (("history",), ("history", "show", "1"), ("chat", "--continue")):
        result = run_cli(*args)
        assert result.returncode == 1, (args, result.stderr)
        [line] = result.stderr.splitlines()
        assert line.startswith(b"llamacli: error: cannot use the conversation history") and b"aside" in line
    assert damaged.read_bytes() == garbage  # never overwritten: the person decides what to do with it
    damaged.rename(damaged.with_suffix(".bad"))
    assert run_cli("chat", *GREEDY, "-n", "8", input="Hi\n").returncode == 0  # a new one is started
    assert run_cli("history").returncode == 0
    assert subprocess.run([LLAMACLI, "history", "--json"], capture_output=True, check=True).stdout.count(b'"id"') == 1
