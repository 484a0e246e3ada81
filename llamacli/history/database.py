"""Conversation history: a stdlib sqlite3 database under the data directory, written turn by turn.

Every message is committed as it happens (WAL journal, so a reader never blocks the writer and a
killed process loses at most the answer text since its last flush), so `kill -9` loses nothing typed.
Nothing here deletes a conversation: a saved name (`/save NAME`) is a label on one conversation, and
continuing it (by name or id) appends to that conversation. Each answer records the model that wrote it.
Whatever sqlite reports (a full disk, a damaged or locked file, a broken constraint) comes out as
HistoryUnavailable, and the next call starts from a new connection, so a chat can carry on and write what
it is behind on (`catch_up`) once the disk has room again.

`History` is the one door; the schema, the records, the writes and the reads live beside it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from llamacli.base import paths
from llamacli.errors import ConversationNotFound, HistoryUnavailable
from llamacli.history import reads, schema, writes
from llamacli.history.problems import problem_of
from llamacli.history.records import Conversation, Entry, StoredMessage
from llamacli.history.schema import MIGRATIONS

__all__ = ["MIGRATIONS", "Conversation", "Entry", "History", "StoredMessage", "database_file"]


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
            self._connection = schema.connect(self.path, self.timeout)
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

    # -- writing ------------------------------------------------------------------------------

    @_reported
    def new_conversation(self, model: str, system: str | None, output_format: str | None = None) -> int:
        """Start a conversation; returns its id."""
        return writes.new_conversation(self._db, model, system, output_format)

    @_reported
    def start_conversation(
        self, model: str, system: str | None, first_message: str, output_format: str | None = None
    ) -> tuple[int, int]:
        """Create a conversation with its first user message in one transaction; (conversation id, message id).

        One transaction, so a kill between the two never leaves a conversation without its message.
        """
        db = self._db
        with db:
            db.execute("BEGIN")
            conversation_id = writes.new_conversation(db, model, system, output_format)
            message_id = writes.insert_message(db, conversation_id, "user", first_message, time.time(), False, None)
        return conversation_id, message_id

    @_reported
    def update_conversation(
        self, conversation_id: int, *, model: str, system: str | None, output_format: str | None = None
    ) -> None:
        """Record a model switch, a new system prompt or a new answer format (the messages keep the model that
        wrote them)."""
        self._db.execute(
            "UPDATE conversations SET model = ?, system = ?, output_format = ?, updated = ? WHERE id = ?",
            (model, system, output_format, time.time(), conversation_id),
        )

    @_reported
    def add_message(
        self, conversation_id: int, role: str, content: str, *, interrupted: bool = False, model: str | None = None
    ) -> int:
        """Append a message (an answer with the MODEL that writes it); returns its id."""
        db = self._db
        with db:
            db.execute("BEGIN")
            return writes.insert_message(db, conversation_id, role, content, time.time(), interrupted, model)

    @_reported
    def update_message(
        self, message_id: int, content: str, *, interrupted: bool = False, stats: dict[str, Any] | None = None
    ) -> None:
        """Rewrite a message as it grows (a streamed answer), and finally with its stats."""
        writes.update_message(self._db, message_id, content, interrupted, stats)

    @_reported
    def delete_message(self, message_id: int) -> None:
        """Drop a message (the answer /retry replaces)."""
        self._db.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    @_reported
    def set_name(self, conversation_id: int, name: str) -> str | None:
        """Name conversation CONVERSATION_ID NAME; its name before (NAME itself when it had it already).

        A name labels one conversation: NAME on another one is never moved or deleted (NameTaken).
        """
        return writes.set_name(self._db, conversation_id, name)

    @_reported
    def catch_up(
        self,
        conversation_id: int | None,
        model: str,
        system: str | None,
        entries: Sequence[Entry],
        dropped: Sequence[int] = (),
        output_format: str | None = None,
    ) -> tuple[int, list[int]]:
        """Write what a chat is behind on, in one transaction; (conversation id, message ids of ENTRIES).

        How a chat whose writes failed (a full disk) is saved once writing works again: an entry already
        written (its row is in the conversation) is brought up to date, any other is appended, and the
        rows /retry replaced meanwhile (DROPPED) are deleted. Nothing else is touched: messages another
        process added to the conversation stay. A conversation that is gone is started again.
        """
        return writes.catch_up(self._db, conversation_id, model, system, entries, dropped, output_format)

    # -- reading ------------------------------------------------------------------------------

    @_reported
    def list(self, limit: int | None = None) -> list[Conversation]:
        """Conversations, most recently updated first, with their message count, first message and models."""
        return reads.list_conversations(self._db, limit)

    @_reported
    def latest(self) -> Conversation | None:
        """The most recently updated conversation that has messages (named or not), in full."""
        found = reads.latest_id(self._db)
        return self.get(str(found)) if found is not None else None

    @_reported
    def find(self, key: str) -> Conversation | None:
        """A conversation by id or by saved name, in full; None when there is none."""
        return reads.find(self._db, key)

    def get(self, key: str) -> Conversation:
        """Like `find`, but a missing conversation is an error for the user."""
        found = self.find(key)
        if found is None:
            raise ConversationNotFound(key)
        return found
