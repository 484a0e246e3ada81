"""Conversation history: a stdlib sqlite3 database under the data directory, written turn by turn.

Every message is committed as it happens (WAL journal, so a reader never blocks the writer and a
killed process loses at most the answer text since its last flush), so `kill -9` loses nothing typed.
Saved snapshots (`/save NAME`) are conversations with a name; loading one copies it, so the snapshot
stays as it was saved. Whatever sqlite reports (a full disk, a damaged or locked file) comes out as
HistoryUnavailable, and the next call starts from a new connection, so a chat can carry on and write
itself whole (`rewrite`) once the disk has room again.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from llamacli import paths
from llamacli.errors import ConversationNotFound, HistoryUnavailable


@dataclass(frozen=True)
class StoredMessage:
    """One turn as stored: role, text, and for answers whether they were cut short."""

    id: int
    role: str
    content: str
    created: float
    interrupted: bool = False
    stats: dict[str, Any] | None = None


@dataclass(frozen=True)
class Conversation:
    """A conversation's header and, when read in full, its messages."""

    id: int
    model: str
    system: str | None
    name: str | None
    created: float
    updated: float
    message_count: int = 0
    first_message: str = ""
    messages: tuple[StoredMessage, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for --json."""
        return {
            "id": self.id,
            "name": self.name,
            "model": self.model,
            "system": self.system,
            "created": self.created,
            "updated": self.updated,
            "message_count": self.message_count,
            "messages": [
                {"role": m.role, "content": m.content, "created": m.created, "interrupted": m.interrupted}
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


# Applied once each, in order; the database's user_version counts how many ran (as in simonw/llm).
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_m001_initial,)


def database_file(env: Mapping[str, str] = os.environ) -> Path:
    """Where the history lives."""
    return paths.data_dir(env) / "history.db"


P = ParamSpec("P")
R = TypeVar("R")


def _reported(method: Callable[Concatenate[History, P], R]) -> Callable[Concatenate[History, P], R]:
    """Turn sqlite's failures into HistoryUnavailable, and drop the connection so the next call retries.

    Integrity and programming errors are bugs, not the disk's state: they stay as they are.
    """

    @functools.wraps(method)
    def wrapper(self: History, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
            raise
        except (sqlite3.DatabaseError, OSError) as e:
            self.close()
            raise HistoryUnavailable(self.path, str(e) or type(e).__name__) from e

    return wrapper


@dataclass(frozen=True)
class Entry:
    """A message to write, as `rewrite` takes them."""

    role: str
    content: str
    created: float
    interrupted: bool = False
    stats: dict[str, Any] | None = None


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
                if "locked" not in str(e) or time.monotonic() > deadline:
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
    def new_conversation(self, model: str, system: str | None, name: str | None = None) -> int:
        """Start a conversation; returns its id."""
        return self._new_conversation(model, system, name)

    def _new_conversation(self, model: str, system: str | None, name: str | None = None) -> int:
        now = time.time()
        cursor = self._db.execute(
            "INSERT INTO conversations (model, system, name, created, updated) VALUES (?, ?, ?, ?, ?)",
            (model, system, name, now, now),
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
            message_id = self._insert_message(conversation_id, "user", first_message, time.time(), False)
        return conversation_id, message_id

    @_reported
    def update_conversation(self, conversation_id: int, *, model: str, system: str | None) -> None:
        """Record a model switch or a new system prompt."""
        self._db.execute(
            "UPDATE conversations SET model = ?, system = ?, updated = ? WHERE id = ?",
            (model, system, time.time(), conversation_id),
        )

    @_reported
    def add_message(self, conversation_id: int, role: str, content: str, *, interrupted: bool = False) -> int:
        """Append a message; returns its id."""
        with self._db:
            self._db.execute("BEGIN")
            return self._insert_message(conversation_id, role, content, time.time(), interrupted)

    def _insert_message(self, conversation_id: int, role: str, content: str, now: float, interrupted: bool) -> int:
        """Insert a message and touch its conversation (inside the caller's transaction)."""
        cursor = self._db.execute(
            "INSERT INTO messages (conversation_id, role, content, created, interrupted) VALUES (?, ?, ?, ?, ?)",
            (conversation_id, role, content, now, int(interrupted)),
        )
        self._db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
        return int(cursor.lastrowid or 0)

    def _insert_whole(self, conversation_id: int, m: Entry | StoredMessage) -> int:
        """Insert a message with its own time and stats (a copy, a rewrite); its id."""
        cursor = self._db.execute(
            "INSERT INTO messages (conversation_id, role, content, created, interrupted, stats) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                conversation_id,
                m.role,
                m.content,
                m.created,
                int(m.interrupted),
                json.dumps(m.stats) if m.stats else None,
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
    def copy(self, source_id: int, name: str | None = None) -> int:
        """Copy conversation SOURCE_ID, named NAME (replacing an older copy of that name) or unnamed."""
        source = self.get(str(source_id))
        with self._db:
            self._db.execute("BEGIN")
            if name is not None:
                self._db.execute("DELETE FROM conversations WHERE name = ?", (name,))
            new_id = self._new_conversation(source.model, source.system, name)
            for message in source.messages:
                self._insert_whole(new_id, message)
        return new_id

    @_reported
    def rewrite(
        self, conversation_id: int | None, model: str, system: str | None, entries: Sequence[Entry]
    ) -> tuple[int, list[int]]:
        """Make CONVERSATION_ID hold exactly ENTRIES (creating it when None or gone), in one transaction.

        How a chat whose writes failed (a full disk) is saved whole once writing works again;
        (conversation id, message ids in order).
        """
        with self._db:
            self._db.execute("BEGIN")
            exists = (
                conversation_id is not None
                and self._db.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            )
            if exists:
                self._db.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
                self._db.execute(
                    "UPDATE conversations SET model = ?, system = ?, updated = ? WHERE id = ?",
                    (model, system, time.time(), conversation_id),
                )
            else:
                conversation_id = self._new_conversation(model, system)
            assert conversation_id is not None
            rows = [self._insert_whole(conversation_id, entry) for entry in entries]
        return conversation_id, rows

    # -- reading ------------------------------------------------------------------------------

    @_reported
    def list(self, limit: int | None = None) -> list[Conversation]:
        """Conversations, most recently updated first, with their message count and first message."""
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
        return [Conversation(*row) for row in rows]

    @_reported
    def latest(self) -> Conversation | None:
        """The most recently updated unnamed conversation that has messages, in full."""
        row = self._db.execute(
            "SELECT c.id FROM conversations c WHERE c.name IS NULL AND EXISTS "
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
            StoredMessage(mid, role, content, created, bool(interrupted), json.loads(stats) if stats else None)
            for mid, role, content, created, interrupted, stats in self._db.execute(
                "SELECT id, role, content, created, interrupted, stats FROM messages "
                "WHERE conversation_id = ? ORDER BY id",
                (row[0],),
            )
        )
        first = next((m.content for m in messages if m.role == "user"), "")
        cid, model, system, name, created, updated = row
        return Conversation(cid, model, system, name, created, updated, len(messages), first, messages)

    def get(self, key: str) -> Conversation:
        """Like `find`, but a missing conversation is an error for the user."""
        found = self.find(key)
        if found is None:
            raise ConversationNotFound(key)
        return found
