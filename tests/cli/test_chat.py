"""`llamacli chat` driven through a real pseudo-terminal (pexpect) with the real SmolLM2 model."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pyte
import pytest

from tests.support.cli import LLAMACLI, run_cli

pytestmark = pytest.mark.slow

ROWS, COLS = 14, 80
PROMPT = ">>>"  # prompt_toolkit draws the trailing space as a cursor move
STATS = re.compile(r"(\d+) tokens · [\d.]+ tok/s · first token [\d.]+ s")
GREEDY = ["--temperature", "0", "--seed", "1"]


class Chat:
    """A running `llamacli chat` on a pty, and everything it wrote."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.log = io.BytesIO()
        self.child = pexpect.spawn(
            LLAMACLI,
            ["chat", *args],
            env={**os.environ, "TERM": "xterm-256color", "PROMPT_TOOLKIT_NO_CPR": "1", **(env or {})},
            dimensions=(ROWS, COLS),
            timeout=120,
        )
        self.child.logfile_read = self.log
        self.child.expect_exact(PROMPT)

    def send(self, line: str) -> None:
        """Type LINE and press Enter."""
        self.child.send(line + "\r")

    def ask(self, line: str) -> str:
        """Send a message and wait for the stats line and the next prompt; returns what came between."""
        self.send(line)
        self.child.expect(STATS)
        before = self.child.before.decode("utf-8", "replace")
        self.child.expect_exact(PROMPT)
        return before

    def command(self, line: str, expected: str) -> str:
        """Send a slash command and wait for EXPECTED in its reply, then the prompt."""
        self.send(line)
        self.child.expect_exact(expected)
        reply = self.child.before + self.child.after
        self.child.expect_exact(PROMPT)
        return (reply + self.child.before).decode("utf-8", "replace")

    def bye(self) -> int:
        """Leave with /bye; the exit status."""
        self.send("/bye")
        self.child.expect(pexpect.EOF)
        self.child.close()
        return int(self.child.exitstatus or 0)

    def screen(self) -> list[str]:
        """What a terminal of this size shows after replaying the output: scrollback, then the screen."""
        screen = pyte.HistoryScreen(COLS, ROWS, history=10_000)
        pyte.ByteStream(screen).feed(self.log.getvalue())
        rows = [*screen.history.top, *[screen.buffer[y] for y in range(ROWS)]]
        return ["".join(row[x].data for x in range(COLS)).rstrip() for row in rows]


@pytest.fixture
def chat() -> Iterator[Chat]:
    session = Chat(*GREEDY, "-n", "24")
    yield session
    if session.child.isalive():
        session.child.terminate(force=True)


def recorded_answer(min_chars: int) -> str:
    """Wait until the answer being streamed is in the history database with at least MIN_CHARS."""
    db = Path(os.environ["LLAMACLI_HOME"]) / "history.db"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if db.exists():
            with contextlib.suppress(sqlite3.OperationalError), sqlite3.connect(db) as connection:
                # the file exists a moment before its schema is committed: "no such table" until then
                row = connection.execute("SELECT content FROM messages WHERE role = 'assistant'").fetchone()
                if row and len(row[0]) >= min_chars:
                    return str(row[0])
        time.sleep(0.1)
    raise AssertionError("the streaming answer never reached the history")


def history(*args: str) -> dict:  # type: ignore[type-arg]
    result = run_cli("history", "show", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_a_message_gets_a_streamed_answer_with_stats(chat: Chat) -> None:
    chat.ask("What is the capital of France?")
    assert chat.command("/stats", "Stats line off.")
    chat.send("Thanks!")
    chat.child.expect_exact(PROMPT)
    assert not STATS.search(chat.child.before.decode())  # the toggle took effect
    assert chat.bye() == 0
    messages = history("1")["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[1]["stats"]["generated_tokens"] > 0
    first_words = " ".join(messages[1]["content"].split()[:3])
    assert first_words and first_words in "\n".join(chat.screen())  # the recorded answer is what was shown


def test_slash_commands(chat: Chat, smollm2_path: Path) -> None:
    help_text = chat.command("/help", "/model REF")
    for name in ("/bye", "/clear", "/system", "/set", "/show", "/stats", "/retry", "/save", "/load"):
        assert name in help_text
    assert "did you mean /system?" in chat.command("/sytem Be brief.", "unknown command /sytem")
    chat.command("/set temperature 11", "temperature must be between 0 and 10, got 11")
    chat.command("/set top_k many", "top_k must be a whole number, got 'many'")
    chat.command("/set top_p 0.5", "top_p = 0.5")
    chat.command("/system You are a pirate.", "System prompt set.")
    shown = chat.command("/show", "stats: on")
    assert "smollm2:135m" in shown and "top_p=0.5" in shown and "You are a pirate." in shown
    chat.command("/retry", "nothing to retry yet")
    first = chat.ask("Say hello.")
    again = chat.ask("/retry")
    assert first.strip() and again.strip()
    chat.command(f"/model {smollm2_path}", "Now talking to")
    chat.ask("Say goodbye.")
    chat.command("/save pirates", "Saved as 'pirates'")
    chat.command("/clear", "New conversation")
    chat.command("/load pirates", "Loaded 'pirates' (conversation 1, 4 messages)")  # /retry replaced an answer
    chat.ask("And again?")
    assert chat.bye() == 0
    saved = history("pirates")
    assert saved["system"] == "You are a pirate." and len(saved["messages"]) == 6  # the named conversation went on
    listed = json.loads(run_cli("history", "--json").stdout)
    assert [c["id"] for c in listed] == [1]  # /clear then /load started no other conversation


def test_ctrl_c_stops_the_answer_keeps_it_and_the_chat_goes_on() -> None:
    chat = Chat(*GREEDY, "-n", "3000")
    chat.send("Write a long story about a dragon who learns to cook.")
    recorded_answer(20)  # the answer is streaming
    chat.child.sendintr()
    chat.child.expect_exact("(interrupted")
    chat.child.expect_exact(PROMPT)
    chat.command("/set max_tokens 16", "max_tokens = 16")
    chat.ask("Now say OK.")
    assert chat.bye() == 0
    messages = history("1")["messages"]
    partial = messages[1]
    assert partial["interrupted"] is True and len(partial["content"]) >= 20
    assert messages[3]["interrupted"] is False and messages[3]["content"]


def test_keys_at_the_prompt(chat: Chat) -> None:
    chat.child.send("this line is abandoned")
    chat.child.sendintr()  # Ctrl-C at the prompt clears the line
    chat.child.expect_exact(PROMPT)
    chat.command("/show", "stats: on")  # had the line survived, this would be a message, not a command
    chat.child.send('"""\r')
    chat.child.send("first line\r")
    chat.child.send('second line"""\r')
    chat.child.expect(STATS)
    chat.child.expect_exact(PROMPT)
    chat.child.send("\x1b[200~pasted one\npasted two\npasted three\x1b[201~")  # a bracketed paste
    chat.child.send("\r")
    chat.child.expect(STATS)
    chat.child.expect_exact(PROMPT)
    chat.child.sendeof()  # Ctrl-D leaves
    chat.child.expect(pexpect.EOF)
    chat.child.close()
    assert chat.child.exitstatus == 0
    users = [m["content"] for m in history("1")["messages"] if m["role"] == "user"]
    assert users == ["first line\nsecond line", "pasted one\npasted two\npasted three"]
    assert (Path(os.environ["LLAMACLI_HOME"]) / "chat-input-history").read_text().count("pasted two") == 1


def test_continue_after_the_process_was_killed() -> None:
    chat = Chat(*GREEDY, "-n", "24")
    first = chat.ask("My name is Ada. What is 2 + 2?")
    chat.child.kill(signal.SIGKILL)
    chat.child.close()
    again = Chat("--continue", *GREEDY, "-n", "24")
    again.child.expect_exact("")
    welcome = again.log.getvalue().decode("utf-8", "replace")
    assert "continuing conversation 1" in welcome and "2 earlier messages" in welcome
    assert first.strip().splitlines()[-1].strip()[:20] in welcome.replace("\r", "")
    again.ask("What is my name?")
    assert again.bye() == 0
    assert len(history("1")["messages"]) == 4
    third = Chat("--continue", "1", *GREEDY, "-n", "8")
    assert third.bye() == 0


def test_history_survives_kill_9_mid_answer() -> None:
    chat = Chat(*GREEDY, "-n", "400")
    chat.send("Write a long story about a dragon who learns to cook.")
    seen = recorded_answer(40)
    chat.child.kill(signal.SIGKILL)
    chat.child.close()
    db = Path(os.environ["LLAMACLI_HOME"]) / "history.db"
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    messages = history("1")["messages"]
    assert messages[0]["content"] == "Write a long story about a dragon who learns to cook."
    assert messages[1]["interrupted"] is True and messages[1]["content"].startswith(seen)


def test_overflowing_a_small_context_drops_old_turns_with_a_notice() -> None:
    chat = Chat(*GREEDY, "-n", "40", "--ctx", "256", "--system", "Be brief.")
    notices = ""
    for i in range(7):
        notices += chat.ask(f"Tell me fact {i} about the sea.")
    assert "no longer fits the 256-token context" in notices.replace("\r\n", " ")
    chat.command("/show", "dropped from the context")
    chat.ask("Still there?")
    assert chat.bye() == 0
    assert len(history("1")["messages"]) == 16  # nothing lost from the record


def test_long_markdown_answer_is_shown_once_on_a_small_screen() -> None:
    chat = Chat(*GREEDY, "-n", "160")
    chat.ask("Write a numbered list of 25 different animals, one per line, with a short description each.")
    assert chat.bye() == 0
    answer = history("1")["messages"][1]["content"]
    screen = "\n".join(chat.screen())
    words = re.compile(r"[A-Za-z]{5,}")
    on_screen = Counter(words.findall(screen))
    in_answer = Counter(words.findall(answer))
    elsewhere = Counter(
        words.findall(
            "Write a numbered list of 25 different animals, one per line, with a short "
            "description each. Chatting with smollm2:135m context tokens commands leave "
            "tokens first token prompt cached"
        )
    )
    assert answer.count("\n") > ROWS  # longer than the screen
    for word, count in in_answer.items():
        assert on_screen[word] <= count + elsewhere[word], word  # nothing drawn twice
    assert sum(min(on_screen[w], c) for w, c in in_answer.items()) >= 0.9 * sum(in_answer.values())


def test_run_without_a_prompt_on_a_terminal_opens_a_chat() -> None:
    child = pexpect.spawn(
        LLAMACLI,
        ["run", "smollm2:135m", *GREEDY, "-n", "8"],
        env={**os.environ, "TERM": "xterm-256color", "PROMPT_TOOLKIT_NO_CPR": "1"},
        dimensions=(ROWS, COLS),
        timeout=120,
    )
    child.expect_exact(PROMPT)
    child.send("Hi!\r")
    child.expect(STATS)
    child.expect_exact(PROMPT)
    child.send("/bye\r")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_piped_chat_reads_one_message_per_line() -> None:
    result = run_cli("chat", *GREEDY, "-n", "12", input='What is 2+2?\n/bogus\n"""\nTwo\nlines\n"""\n')
    assert result.returncode == 0, result.stderr
    assert b"\x1b[" not in result.stdout and result.stdout.strip()
    assert b"unknown command /bogus" in result.stderr
    users = [m["content"] for m in history("1")["messages"] if m["role"] == "user"]
    assert users == ["What is 2+2?", "Two\nlines"]


def test_chat_has_runs_model_min_p_repeat_penalty_and_stop_options(smollm2_path: Path) -> None:
    lines = "/show\n/bye\n"
    args = ["-m", "smollm2:135m", "--min-p", "0.2", "--repeat-penalty", "1.3", "--stop", "END", "--stop", "\\n"]
    result = run_cli("chat", *args, "-t", "1", input=lines)
    assert result.returncode == 0, result.stderr.decode()
    shown = result.stderr.decode()
    assert "model: smollm2:135m" in shown and "min_p=0.2 " in shown and "repeat_penalty=1.3 " in shown
    assert "stop=['END', '\\\\n']" in shown
    run_cli("chat", "-t", "1", "-n", "2", input="Hi\n/bye\n")
    resumed = run_cli("chat", "-m", str(smollm2_path), "--continue", "1", "-t", "1", input=lines)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert f"model: {smollm2_path}" in resumed.stderr.decode() and "conversation: 1" in resumed.stderr.decode()
    both = run_cli("chat", "-m", "smollm2:135m", "smollm2:135m", input=lines)
    assert both.returncode == 2 and b"two models given" in both.stderr


def test_chat_verbose_is_the_engine_line_and_debug_is_llama_cpp_log() -> None:
    verbose = run_cli("chat", "smollm2:135m", "-v", "-t", "1", input="/bye\n")
    debug = run_cli("chat", "smollm2:135m", "--debug", "-t", "1", input="/bye\n")
    assert verbose.returncode == debug.returncode == 0, debug.stderr.decode()
    assert verbose.stderr.decode().startswith("llama.cpp: ") and verbose.stderr.count(b"\n") == 1
    assert b"llama_model_loader" in debug.stderr


def test_continue_shows_the_last_answer_wrapped_at_word_boundaries() -> None:
    from llamacli.history.database import History

    words = [f"w{i:02d}abcdefg" for i in range(30)]  # 10 letters and a space: column 80 falls inside a word
    with History.open() as store:
        conversation, _ = store.start_conversation("smollm2:135m", None, "Say thirty words.")
        store.add_message(conversation, "assistant", " ".join(words), model="smollm2:135m")
    chat = Chat("--continue", "-t", "1", env={"COLUMNS": ""})  # the pty's width, as a terminal has it
    assert chat.bye() == 0
    screen = chat.screen()
    start = next(i for i, row in enumerate(screen) if "the last answer was:" in row) + 1
    shown = [row for row in screen[start:] if row.strip() and not row.startswith(PROMPT)]
    assert " ".join(shown).split() == words, shown  # every word whole, in order
