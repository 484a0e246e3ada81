"""The history database: real sqlite3 files in the test's LLAMACLI_HOME."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from llamacli.errors import ConversationNotFound
from llamacli.history import MIGRATIONS, History, database_file


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


def test_list_latest_copy_and_names(tmp_path: Path) -> None:
    with History(tmp_path / "h.db") as history:
        empty = history.new_conversation("m", None)
        first = history.new_conversation("m", None)
        history.add_message(first, "user", "one")
        history.update_message(history.add_message(first, "assistant", "1"), "1", stats={"generated_tokens": 1})
        saved = history.copy(first, "ideas")
        again = history.copy(first, "ideas")  # same name: replaces the older copy
        assert history.find(str(saved)) is None
        assert history.get("ideas").id == again
        assert history.get("ideas").messages[1].stats == {"generated_tokens": 1}
        assert history.latest() is not None and history.latest().id == first  # type: ignore[union-attr]
        listed = {c.id: c for c in history.list()}
        assert set(listed) == {empty, first, again}
        assert listed[first].message_count == 2 and listed[again].name == "ideas"
        with pytest.raises(ConversationNotFound):
            history.get("nope")


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
