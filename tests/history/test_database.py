"""The history database: real sqlite3 files in the test's LLAMACLI_HOME."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from llamacli.errors import ConversationNotFound, HistoryProblem, HistoryUnavailable, NameTaken
from llamacli.history.database import MIGRATIONS, Entry, History, database_file


def test_database_lives_under_llamacli_home(isolated: Path) -> None:
    with History.open() as history:
        assert history.path == database_file() == isolated / "history.db"
        assert not history.path.exists()  # opened at the first use: `chat --help` creates nothing
        assert history.list() == []
    assert sqlite3.connect(isolated / "history.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_messages_are_visible_to_another_connection_at_once(tmp_path: Path) -> None:
    writer = History(tmp_path / "h.db")
    cid = writer.new_conversation("smollm2:135m", "Be brief.")
    writer.add_message(cid, "user", "hello")
    row = writer.add_message(cid, "assistant", "", interrupted=True)
    writer.update_message(row, "partial answ", interrupted=True)
    with History(tmp_path / "h.db") as reader:  # what a new process would see after a kill
        found = reader.get(str(cid))
    assert [(m.role, m.content, m.interrupted) for m in found.messages] == [
        ("user", "hello", False),
        ("assistant", "partial answ", True),
    ]
    assert found.system == "Be brief." and found.first_message == "hello"
    writer.close()


def test_list_latest_and_names(tmp_path: Path) -> None:
    with History(tmp_path / "h.db") as history:
        empty = history.new_conversation("m", None)
        first = history.new_conversation("m", None)
        history.add_message(first, "user", "one")
        history.update_message(history.add_message(first, "assistant", "1"), "1", stats={"generated_tokens": 1})
        assert history.set_name(first, "ideas") is None
        assert history.set_name(first, "ideas") == "ideas"  # the name it has: nothing to do
        assert history.get("ideas").id == first and history.get("ideas").messages[1].stats == {"generated_tokens": 1}
        assert history.latest() is not None and history.latest().id == first  # type: ignore[union-attr]
        listed = {c.id: c for c in history.list()}
        assert set(listed) == {empty, first}
        assert listed[first].message_count == 2 and listed[first].name == "ideas"
        assert history.set_name(first, "plans") == "ideas"  # renamed: one name per conversation
        assert history.find("ideas") is None and history.get("plans").id == first
        with pytest.raises(ConversationNotFound):
            history.get("nope")


def test_a_name_is_never_taken_from_another_conversation(tmp_path: Path) -> None:
    """Issue 12 item 2: a second `/save rome` from another chat deleted the first `rome` and its messages."""
    with History(tmp_path / "h.db") as history:
        rome, _ = history.start_conversation("m", None, "About Rome")
        history.add_message(rome, "assistant", "Rome is old.", model="m")
        assert history.set_name(rome, "rome") is None
        other, _ = history.start_conversation("m", None, "About Paris")
        with pytest.raises(NameTaken) as taken:
            history.set_name(other, "rome")
        assert (taken.value.conversation_id, taken.value.message_count) == (rome, 2)
        assert taken.value.name == "rome"
        kept = history.get("rome")
        assert kept.id == rome and [m.content for m in kept.messages] == ["About Rome", "Rome is old."]
        assert history.get(str(other)).name is None and len(history.list()) == 2


def test_racing_names_one_wins_and_nothing_is_lost(tmp_path: Path) -> None:
    """Chats in other processes naming their conversations the same at once (separate connections lock
    like processes): one gets the name, the others are told, every conversation stays whole."""
    path = tmp_path / "h.db"
    with History(path) as history:
        ids = [history.start_conversation("m", None, f"chat {i}")[0] for i in range(4)]
    for round_ in range(10):
        start = threading.Barrier(len(ids))
        outcomes: dict[int, object] = {}
        threads = [
            threading.Thread(target=_name_at_once, args=(path, cid, f"race{round_}", start, outcomes)) for cid in ids
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [cid for cid, outcome in outcomes.items() if not isinstance(outcome, NameTaken)]
        assert len(outcomes) == len(ids) and len(winners) == 1, outcomes
        with History(path) as history:
            assert history.get(f"race{round_}").id == winners[0]
            assert [c.message_count for c in history.list()] == [1] * len(ids)


def _name_at_once(path: Path, cid: int, name: str, start: threading.Barrier, outcomes: dict[int, object]) -> None:
    """Wait for the others, then try to name conversation CID; what happened goes in OUTCOMES."""
    start.wait()
    with History(path) as history:
        try:
            outcomes[cid] = history.set_name(cid, name)
        except NameTaken as e:
            outcomes[cid] = e


def test_each_answer_keeps_the_model_that_wrote_it(tmp_path: Path) -> None:
    """Issue 12 item 3: after a model switch every earlier answer was listed as the new model."""
    with History(tmp_path / "h.db") as history:
        cid, _ = history.start_conversation("smollm2:135m", None, "Hi")
        history.add_message(cid, "assistant", "Hello", model="smollm2:135m")
        history.update_conversation(cid, model="llama3.2:1b", system=None)  # /model
        history.add_message(cid, "user", "Again")
        history.add_message(cid, "assistant", "Hello again", model="llama3.2:1b")
        found = history.get(str(cid))
        assert [m.model for m in found.messages] == [None, "smollm2:135m", None, "llama3.2:1b"]
        assert found.models == ("smollm2:135m", "llama3.2:1b") and found.model == "llama3.2:1b"
        assert history.list()[0].models == found.models
        assert [m["model"] for m in found.to_dict()["messages"]] == [None, "smollm2:135m", None, "llama3.2:1b"]


def test_a_history_from_before_per_message_models_is_migrated(tmp_path: Path) -> None:
    """A database written by the previous version (schema 1, with conversations in it) gains the column;
    what it held reads back unchanged, its answers with no model (which one wrote them is not known)."""
    path = tmp_path / "h.db"
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("PRAGMA journal_mode=WAL")
    MIGRATIONS[0](old)
    old.execute("PRAGMA user_version = 1")
    old.execute("INSERT INTO conversations (model, system, name, created, updated) VALUES ('m', 'sys', 'old', 1, 2)")
    old.execute("INSERT INTO messages (conversation_id, role, content, created) VALUES (1, 'user', 'hi', 1)")
    old.execute(
        "INSERT INTO messages (conversation_id, role, content, created, stats) VALUES (1, 'assistant', 'yo', 2, '{}')"
    )
    old.close()
    with History(path) as history:
        found = history.get("old")
        assert [(m.role, m.content, m.model) for m in found.messages] == [
            ("user", "hi", None),
            ("assistant", "yo", None),
        ]
        assert (found.model, found.system, found.models, found.output_format) == ("m", "sys", (), None)
        history.add_message(found.id, "assistant", "new", model="n")
        assert history.get("old").models == ("n",)
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 3
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_broken_constraint_is_a_history_error_not_a_crash(tmp_path: Path) -> None:
    """Issue 12 item 1's traceback: a message for a conversation that is gone raised sqlite3.IntegrityError."""
    with History(tmp_path / "h.db") as history:
        with pytest.raises(HistoryUnavailable, match="FOREIGN KEY constraint failed") as caught:
            history.add_message(999, "user", "hello")
        assert caught.value.problem is HistoryProblem.CHANGED
        assert history.list() == []  # and the next call works on a new connection


def test_a_damaged_file_is_told_apart_from_a_locked_one_by_sqlite_s_error_code(tmp_path: Path) -> None:
    """The kind of failure comes from sqlite's result code, never from matching its message."""
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"not a database " * 1000)
    with History(damaged) as history, pytest.raises(HistoryUnavailable) as caught:
        history.list()
    assert caught.value.problem is HistoryProblem.DAMAGED and caught.value.path == damaged

    locked = tmp_path / "locked.db"
    with History(locked) as first:
        first.new_conversation("m", None)
    blocker = sqlite3.connect(locked, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with History(locked, timeout=0.05) as second, pytest.raises(HistoryUnavailable) as caught:
            second.new_conversation("m", None)
        assert caught.value.problem is HistoryProblem.LOCKED
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()

    (tmp_path / "a-file").write_text("")
    with History(tmp_path / "a-file" / "h.db") as history, pytest.raises(HistoryUnavailable) as caught:
        history.list()  # its directory cannot be made: the history cannot be written at all
    assert caught.value.problem is HistoryProblem.UNWRITABLE


def test_catching_up_keeps_what_another_process_wrote(tmp_path: Path) -> None:
    """A chat that fell behind writes only its own messages: those another chat added to the same
    conversation meanwhile stay, and no message changes model."""
    path = tmp_path / "h.db"
    with History(path) as mine, History(path) as theirs:
        cid, first = mine.start_conversation("a", None, "mine 1")
        answer = mine.add_message(cid, "assistant", "part", interrupted=True, model="a")
        theirs.add_message(cid, "user", "theirs")
        theirs.add_message(cid, "assistant", "their answer", model="b")
        entries = [
            Entry("user", "mine 1", 1.0, row=first),
            Entry("assistant", "whole answer", 2.0, stats={"generated_tokens": 2}, model="a", row=answer),
            Entry("user", "mine 2", 3.0),
        ]
        same, rows = mine.catch_up(cid, "a", None, entries)
        assert same == cid and rows[:2] == [first, answer] and rows[2] > answer
        stored = [(m.role, m.content, m.model) for m in theirs.get(str(cid)).messages]
        assert stored == [
            ("user", "mine 1", None),
            ("assistant", "whole answer", "a"),
            ("user", "theirs", None),
            ("assistant", "their answer", "b"),
            ("user", "mine 2", None),
        ]


def test_a_conversation_keeps_its_answers_format(tmp_path: Path) -> None:
    """The format every answer is held to is the conversation's (`chat --continue` answers as it did): written
    with the first message, changed with the model or the system prompt, and by a catch-up."""
    fmt = '{"label": "json", "schema": {"type": "object"}}'
    with History(tmp_path / "h.db") as history:
        cid, _ = history.start_conversation("m", None, "hi", fmt)
        assert history.get(str(cid)).output_format == fmt
        history.update_conversation(cid, model="m", system=None)
        assert history.get(str(cid)).output_format is None  # prose again
        history.catch_up(cid, "m", None, [Entry("user", "hi", 1.0)], (), fmt)
        assert history.get(str(cid)).output_format == fmt
        assert history.get(str(history.new_conversation("m", None))).output_format is None


def test_migrations_run_once(tmp_path: Path) -> None:
    for _ in range(2):  # a second open must not re-create tables
        with History(tmp_path / "h.db") as history:
            history.new_conversation("m", None)
    version = sqlite3.connect(tmp_path / "h.db").execute("PRAGMA user_version").fetchone()[0]
    assert version == len(MIGRATIONS)


def test_processes_opening_a_new_history_at_once_migrate_it_once(tmp_path: Path) -> None:
    """A chat and `llamacli history` started together on a fresh directory: one creates the schema, in one
    transaction; the others wait for it and find it whole (separate connections lock like processes)."""
    for round_ in range(15):
        path = tmp_path / f"h{round_}.db"
        start = threading.Barrier(4)
        errors: list[BaseException] = []

        def open_and_read(path: Path = path, start: threading.Barrier = start, errors: list = errors) -> None:  # type: ignore[type-arg]
            start.wait()
            try:
                with History(path) as history:
                    history.new_conversation("m", None)
                    assert history.list()
            except BaseException as e:  # reported below, with the round
                errors.append(e)

        threads = [threading.Thread(target=open_and_read) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [], (round_, errors)
        with History(path) as history:
            assert len(history.list()) == 4
