"""Conversation history: a stdlib sqlite3 database under the data directory, written turn by turn.

Every message is committed as it happens (WAL journal, so a reader never blocks the writer and a
killed process loses at most the answer text since its last flush), so `kill -9` loses nothing typed.
Nothing here deletes a conversation: a saved name (`/save NAME`) is a label on one conversation, and
continuing it (by name or id) appends to that conversation. Each answer records the model that wrote it.
Whatever sqlite reports (a full disk, a damaged or locked file, a broken constraint) comes out as
HistoryUnavailable, and the next call starts from a new connection, so a chat can carry on and write what
it is behind on (`catch_up`) once the disk has room again.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from llamacli.base import paths
from llamacli.errors import ConversationNotFound, HistoryProblem, HistoryUnavailable, NameTaken


@dataclass(frozen=True)
class StoredMessage:
    """One turn as stored: role, text, and for answers whether they were cut short and which model wrote them."""

    id: int
    role: str
    content: str
    created: float
    interrupted: bool = False
    stats: dict[str, Any] | None = None
    model: str | None = None  # None for the user's messages, and for answers recorded before migration 2


@dataclass(frozen=True)
class Conversation:
    """A conversation's header and, when read in full, its messages.

    `model` is the one it continues with (the last answer's, or the last /model); `models` are those that
    wrote its answers, in the order they first did.
    """

    id: int
    model: str
    system: str | None
    name: str | None
    created: float
    updated: float
    message_count: int = 0
    first_message: str = ""
    messages: tuple[StoredMessage, ...] = field(default_factory=tuple)
    models: tuple[str, ...] = ()

    def to_dict(self, *, messages: bool = True) -> dict[str, Any]:
        """Plain data for --json; without MESSAGES, the header alone (a listing reads no messages)."""
        header = {
            "id": self.id,
            "name": self.name,
            "model": self.model,
            "models": list(self.models),
            "system": self.system,
            "created": self.created,
            "updated": self.updated,
            "message_count": self.message_count,
        }
        if not messages:
            return header
        return header | {
            "messages": [
                {
                    "role": m.role,
                    "content": m.content,
                    "created": m.created,
                    "interrupted": m.interrupted,
                    "model": m.model,
                }
                | ({"stats": m.stats} if m.stats else {})
                for m in self.messages
            ],
        }


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


# Applied once each, in order; the database's user_version counts how many ran (as in simonw/llm).
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_m001_initial, _m002_message_model)


def database_file(env: Mapping[str, str] = os.environ) -> Path:
    """Where the history lives."""
    return paths.history_file(env)


P = ParamSpec("P")
R = TypeVar("R")


def _reported(method: Callable[Concatenate[History, P], R]) -> Callable[Concatenate[History, P], R]:
    """Turn sqlite's failures into HistoryUnavailable, and drop the connection so the next call retries.

    Every one, a broken constraint included: the history must never end a chat with a traceback (a
    conversation that another program deleted under a chat is written again at its next turn).
    """

    @functools.wraps(method)
    def wrapper(self: History, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.Error, OSError) as e:
            self.close()
            raise HistoryUnavailable(self.path, str(e) or type(e).__name__, problem_of(e)) from e

    return wrapper


# sqlite's primary result codes (https://sqlite.org/rescode.html), by what the person can do about them.
_PROBLEMS = {
    sqlite3.SQLITE_FULL: HistoryProblem.FULL,
    sqlite3.SQLITE_IOERR: HistoryProblem.FULL,
    sqlite3.SQLITE_CORRUPT: HistoryProblem.DAMAGED,
    sqlite3.SQLITE_NOTADB: HistoryProblem.DAMAGED,
    sqlite3.SQLITE_BUSY: HistoryProblem.LOCKED,
    sqlite3.SQLITE_LOCKED: HistoryProblem.LOCKED,
    sqlite3.SQLITE_CONSTRAINT: HistoryProblem.CHANGED,
}


def problem_of(error: sqlite3.Error | OSError) -> HistoryProblem:
    """What kind of failure ERROR is, from sqlite's result code or the OS's errno (never their words)."""
    if isinstance(error, OSError):
        return HistoryProblem.FULL if error.errno in (errno.ENOSPC, errno.EDQUOT) else HistoryProblem.UNWRITABLE
    return _PROBLEMS.get(_primary_code(error), HistoryProblem.UNWRITABLE)


def _primary_code(error: sqlite3.Error) -> int:
    """sqlite's primary result code of ERROR (its low byte: extended codes add detail above it), or -1
    for errors Python's sqlite3 raises itself (a closed connection, a bad parameter)."""
    code = getattr(error, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else -1


@dataclass(frozen=True)
class Entry:
    """A message as `catch_up` takes them: ROW is its id when it was written before (else 0)."""

    role: str
    content: str
    created: float
    interrupted: bool = False
    stats: dict[str, Any] | None = None
    model: str | None = None
    row: int = 0


class History:
    """The history database; open one per process and close it (or use it as a context manager).

    The file is opened at the first read or write, and again after a failure.
    """

    def __init__(self, path: Path, timeout: float = 10) -> None:
        self.path = path
        self.timeout = timeout  # how long a write waits for another process's
        self._connection: sqlite3.Connection | None = None

    @classmethod
    def open(cls, env: Mapping[str, str] = os.environ) -> History:
        """The user's history database."""
        return cls(database_file(env))

    @property
    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit: each write is durable
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            try:
                self._use_wal(db)
                db.execute("PRAGMA foreign_keys=ON")
                self._migrate(db)
            except BaseException:
                db.close()
                raise
            self._connection = db
        return self._connection

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._connection is not None:
            with contextlib.suppress(sqlite3.Error):
                self._connection.close()
            self._connection = None

    def __enter__(self) -> History:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _use_wal(self, db: sqlite3.Connection) -> None:
        """Switch to the WAL journal (it stays set in the file). On a new file that another process is
        switching too, sqlite answers "locked" at once instead of waiting, so the waiting is done here."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if problem_of(e) is not HistoryProblem.LOCKED or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
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

    # -- writing ------------------------------------------------------------------------------

    @_reported
    def new_conversation(self, model: str, system: str | None) -> int:
        """Start a conversation; returns its id."""
        return self._new_conversation(model, system)

    def _new_conversation(self, model: str, system: str | None) -> int:
        now = time.time()
        cursor = self._db.execute(
            "INSERT INTO conversations (model, system, created, updated) VALUES (?, ?, ?, ?)",
            (model, system, now, now),
        )
        return int(cursor.lastrowid or 0)

    @_reported
    def start_conversation(self, model: str, system: str | None, first_message: str) -> tuple[int, int]:
        """Create a conversation with its first user message in one transaction; (conversation id, message id).

        One transaction, so a kill between the two never leaves a conversation without its message.
        """
        with self._db:
            self._db.execute("BEGIN")
            conversation_id = self._new_conversation(model, system)
            message_id = self._insert_message(conversation_id, "user", first_message, time.time(), False, None)
        return conversation_id, message_id

    @_reported
    def update_conversation(self, conversation_id: int, *, model: str, system: str | None) -> None:
        """Record a model switch or a new system prompt (the messages keep the model that wrote them)."""
        self._db.execute(
            "UPDATE conversations SET model = ?, system = ?, updated = ? WHERE id = ?",
            (model, system, time.time(), conversation_id),
        )

    @_reported
    def add_message(
        self, conversation_id: int, role: str, content: str, *, interrupted: bool = False, model: str | None = None
    ) -> int:
        """Append a message (an answer with the MODEL that writes it); returns its id."""
        with self._db:
            self._db.execute("BEGIN")
            return self._insert_message(conversation_id, role, content, time.time(), interrupted, model)

    def _insert_message(
        self, conversation_id: int, role: str, content: str, now: float, interrupted: bool, model: str | None
    ) -> int:
        """Insert a message and touch its conversation (inside the caller's transaction)."""
        cursor = self._db.execute(
            "INSERT INTO messages (conversation_id, role, content, created, interrupted, model) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (conversation_id, role, content, now, int(interrupted), model),
        )
        self._db.execute(
            "UPDATE conversations SET updated = ?, model = COALESCE(?, model) WHERE id = ?",
            (now, model, conversation_id),
        )
        return int(cursor.lastrowid or 0)

    def _insert_whole(self, conversation_id: int, m: Entry) -> int:
        """Insert a message with its own time, stats and model (catching up); its id."""
        cursor = self._db.execute(
            "INSERT INTO messages (conversation_id, role, content, created, interrupted, stats, model) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                conversation_id,
                m.role,
                m.content,
                m.created,
                int(m.interrupted),
                json.dumps(m.stats) if m.stats else None,
                m.model,
            ),
        )
        return int(cursor.lastrowid or 0)

    @_reported
    def update_message(
        self, message_id: int, content: str, *, interrupted: bool = False, stats: dict[str, Any] | None = None
    ) -> None:
        """Rewrite a message as it grows (a streamed answer), and finally with its stats."""
        self._db.execute(
            "UPDATE messages SET content = ?, interrupted = ?, stats = ? WHERE id = ?",
            (content, int(interrupted), json.dumps(stats) if stats else None, message_id),
        )

    @_reported
    def delete_message(self, message_id: int) -> None:
        """Drop a message (the answer /retry replaces)."""
        self._db.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    @_reported
    def set_name(self, conversation_id: int, name: str) -> str | None:
        """Name conversation CONVERSATION_ID NAME; its name before (NAME itself when it had it already).

        A name labels one conversation: NAME on another one is never moved or deleted (NameTaken).
        """
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")  # the check and the change in one go: two chats may race
            holder = self._db.execute("SELECT id FROM conversations WHERE name = ?", (name,)).fetchone()
            if holder is not None and holder[0] != conversation_id:
                count = self._db.execute("SELECT COUNT(*) FROM messages WHERE conversation_id = ?", holder).fetchone()
                raise NameTaken(name, int(holder[0]), int(count[0]))
            row = self._db.execute("SELECT name FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            if row is None:
                raise ConversationNotFound(str(conversation_id))
            self._db.execute("UPDATE conversations SET name = ? WHERE id = ?", (name, conversation_id))
        return row[0] if row[0] is not None else None

    @_reported
    def catch_up(
        self,
        conversation_id: int | None,
        model: str,
        system: str | None,
        entries: Sequence[Entry],
        dropped: Sequence[int] = (),
    ) -> tuple[int, list[int]]:
        """Write what a chat is behind on, in one transaction; (conversation id, message ids of ENTRIES).

        How a chat whose writes failed (a full disk) is saved once writing works again: an entry already
        written (its row is in the conversation) is brought up to date, any other is appended, and the
        rows /retry replaced meanwhile (DROPPED) are deleted. Nothing else is touched: messages another
        process added to the conversation stay. A conversation that is gone is started again.
        """
        with self._db:
            self._db.execute("BEGIN")
            exists = (
                conversation_id is not None
                and self._db.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            )
            if exists:
                self._db.execute(
                    "UPDATE conversations SET model = ?, system = ?, updated = ? WHERE id = ?",
                    (model, system, time.time(), conversation_id),
                )
            else:
                conversation_id = self._new_conversation(model, system)
            assert conversation_id is not None
            for row in dropped:
                self._db.execute("DELETE FROM messages WHERE id = ? AND conversation_id = ?", (row, conversation_id))
            rows = [self._write_entry(conversation_id, entry) for entry in entries]
        return conversation_id, rows

    def _write_entry(self, conversation_id: int, entry: Entry) -> int:
        """ENTRY's row: brought up to date when it is in the conversation, else appended (in the caller's
        transaction). Its model is never rewritten: a message keeps the model that wrote it."""
        if entry.row:
            cursor = self._db.execute(
                "UPDATE messages SET content = ?, interrupted = ?, stats = ? WHERE id = ? AND conversation_id = ?",
                (
                    entry.content,
                    int(entry.interrupted),
                    json.dumps(entry.stats) if entry.stats else None,
                    entry.row,
                    conversation_id,
                ),
            )
            if cursor.rowcount:
                return entry.row
        return self._insert_whole(conversation_id, entry)

    # -- reading ------------------------------------------------------------------------------

    @_reported
    def list(self, limit: int | None = None) -> list[Conversation]:
        """Conversations, most recently updated first, with their message count, first message and models."""
        rows = self._db.execute(
            """
            SELECT c.id, c.model, c.system, c.name, c.created, c.updated,
                   (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id),
                   COALESCE((SELECT content FROM messages m WHERE m.conversation_id = c.id AND m.role = 'user'
                             ORDER BY m.id LIMIT 1), '')
            FROM conversations c ORDER BY c.updated DESC, c.id DESC LIMIT ?
            """,
            (-1 if limit is None else limit,),
        ).fetchall()
        return [
            Conversation(cid, model, system, name, created, updated, count, first, models=self._models(cid))
            for cid, model, system, name, created, updated, count, first in rows
        ]

    def _models(self, conversation_id: int) -> tuple[str, ...]:
        """The models that wrote the conversation's answers, in the order they first did."""
        rows = self._db.execute(
            "SELECT model FROM messages WHERE conversation_id = ? AND model IS NOT NULL "
            "GROUP BY model ORDER BY MIN(id)",
            (conversation_id,),
        )
        return tuple(model for (model,) in rows)

    @_reported
    def latest(self) -> Conversation | None:
        """The most recently updated conversation that has messages (named or not), in full."""
        row = self._db.execute(
            "SELECT c.id FROM conversations c WHERE EXISTS "
            "(SELECT 1 FROM messages m WHERE m.conversation_id = c.id) ORDER BY c.updated DESC, c.id DESC LIMIT 1"
        ).fetchone()
        return self.get(str(row[0])) if row else None

    @_reported
    def find(self, key: str) -> Conversation | None:
        """A conversation by id or by saved name, in full; None when there is none."""
        column = "id" if key.isdigit() else "name"
        row = self._db.execute(
            f"SELECT id, model, system, name, created, updated FROM conversations WHERE {column} = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        messages = tuple(
            StoredMessage(mid, role, content, created, bool(interrupted), json.loads(stats) if stats else None, model)
            for mid, role, content, created, interrupted, stats, model in self._db.execute(
                "SELECT id, role, content, created, interrupted, stats, model FROM messages "
                "WHERE conversation_id = ? ORDER BY id",
                (row[0],),
            )
        )
        first = next((m.content for m in messages if m.role == "user"), "")
        models = tuple(dict.fromkeys(m.model for m in messages if m.model is not None))
        cid, model, system, name, created, updated = row
        return Conversation(cid, model, system, name, created, updated, len(messages), first, messages, models)

    def get(self, key: str) -> Conversation:
        """Like `find`, but a missing conversation is an error for the user."""
        found = self.find(key)
        if found is None:
            raise ConversationNotFound(key)
        return found
