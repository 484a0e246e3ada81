"""The history file's schema: opening a connection (WAL journal, foreign keys) and the migrations that
bring an older file up to date, once each, in one transaction."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from llamacli.errors import HistoryProblem
from llamacli.history.problems import problem_of


def _m001_initial(db: sqlite3.Connection) -> None:
    # One statement at a time, not executescript: that commits first, so the migration would not be one
    # transaction and a second process could see half a schema.
    db.execute(
        """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            model TEXT NOT NULL,
            system TEXT,
            name TEXT UNIQUE,
            created REAL NOT NULL,
            updated REAL NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            created REAL NOT NULL,
            interrupted INTEGER NOT NULL DEFAULT 0,
            stats TEXT
        )
        """
    )
    db.execute("CREATE INDEX messages_by_conversation ON messages(conversation_id, id)")


def _m002_message_model(db: sqlite3.Connection) -> None:
    # Which model wrote each answer (a chat can switch with /model). Answers already recorded keep NULL:
    # the conversation's model was overwritten by every switch, so it cannot tell which one wrote them.
    # Nullable, so an adapter or a remote server can be recorded the same way later.
    db.execute("ALTER TABLE messages ADD COLUMN model TEXT")


def _m003_conversation_format(db: sqlite3.Connection) -> None:
    # The format every answer is held to (`--format json`, `--schema`, `/set format`), as JSON: {"label":
    # "json"|"schema", "schema": {...}}; NULL for prose. So `chat --continue` answers as the chat did.
    db.execute("ALTER TABLE conversations ADD COLUMN output_format TEXT")


# Applied once each, in order; the database's user_version counts how many ran (as in simonw/llm).
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _m001_initial,
    _m002_message_model,
    _m003_conversation_format,
)


def connect(path: Path, timeout: float) -> sqlite3.Connection:
    """An autocommit connection to PATH (created if need be) in WAL mode, its schema up to date.

    Autocommit, so each write is durable; TIMEOUT is how long a write waits for another process's.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        _use_wal(db, timeout)
        db.execute("PRAGMA foreign_keys=ON")
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db


def _use_wal(db: sqlite3.Connection, timeout: float) -> None:
    """Switch to the WAL journal (it stays set in the file). On a new file that another process is
    switching too, sqlite answers "locked" at once instead of waiting, so the waiting is done here."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if problem_of(e) is not HistoryProblem.LOCKED or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def migrate(db: sqlite3.Connection) -> None:
    """Bring the schema up to date, all in one transaction under the write lock: two processes
    starting at once (a chat and `history`) neither both migrate nor see half a schema."""
    if int(db.execute("PRAGMA user_version").fetchone()[0]) >= len(MIGRATIONS):
        return
    with db:
        db.execute("BEGIN IMMEDIATE")
        done = int(db.execute("PRAGMA user_version").fetchone()[0])  # again, now that no one else can write
        for number, migration in enumerate(MIGRATIONS[done:], start=done + 1):
            migration(db)
            db.execute(f"PRAGMA user_version = {number}")
