"""The history's writes, as statements on an open connection; `History` wraps each in its transaction
and its error reporting. A message keeps the model that wrote it; a name labels one conversation."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from llamacli.errors import ConversationNotFound, NameTaken
from llamacli.history.records import Entry


def _stats_json(stats: dict[str, Any] | None) -> str | None:
    return json.dumps(stats) if stats else None


def new_conversation(db: sqlite3.Connection, model: str, system: str | None, output_format: str | None = None) -> int:
    """Insert a conversation; its id."""
    now = time.time()
    cursor = db.execute(
        "INSERT INTO conversations (model, system, output_format, created, updated) VALUES (?, ?, ?, ?, ?)",
        (model, system, output_format, now, now),
    )
    return int(cursor.lastrowid or 0)


def insert_message(
    db: sqlite3.Connection,
    conversation_id: int,
    role: str,
    content: str,
    now: float,
    interrupted: bool,
    model: str | None,
) -> int:
    """Insert a message and touch its conversation (inside the caller's transaction)."""
    cursor = db.execute(
        "INSERT INTO messages (conversation_id, role, content, created, interrupted, model) VALUES (?, ?, ?, ?, ?, ?)",
        (conversation_id, role, content, now, int(interrupted), model),
    )
    db.execute(
        "UPDATE conversations SET updated = ?, model = COALESCE(?, model) WHERE id = ?",
        (now, model, conversation_id),
    )
    return int(cursor.lastrowid or 0)


def update_message(
    db: sqlite3.Connection, message_id: int, content: str, interrupted: bool, stats: dict[str, Any] | None
) -> None:
    """Rewrite a message's text, whether it was cut short, and its stats."""
    db.execute(
        "UPDATE messages SET content = ?, interrupted = ?, stats = ? WHERE id = ?",
        (content, int(interrupted), _stats_json(stats), message_id),
    )


def set_name(db: sqlite3.Connection, conversation_id: int, name: str) -> str | None:
    """Name conversation CONVERSATION_ID NAME; its name before. NAME on another one is NameTaken."""
    with db:
        db.execute("BEGIN IMMEDIATE")  # the check and the change in one go: two chats may race
        holder = db.execute("SELECT id FROM conversations WHERE name = ?", (name,)).fetchone()
        if holder is not None and holder[0] != conversation_id:
            count = db.execute("SELECT COUNT(*) FROM messages WHERE conversation_id = ?", holder).fetchone()
            raise NameTaken(name, int(holder[0]), int(count[0]))
        row = db.execute("SELECT name FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise ConversationNotFound(str(conversation_id))
        db.execute("UPDATE conversations SET name = ? WHERE id = ?", (name, conversation_id))
    return row[0] if row[0] is not None else None


def catch_up(
    db: sqlite3.Connection,
    conversation_id: int | None,
    model: str,
    system: str | None,
    entries: Sequence[Entry],
    dropped: Sequence[int],
    output_format: str | None = None,
) -> tuple[int, list[int]]:
    """Write what a chat is behind on, in one transaction (see `History.catch_up`)."""
    with db:
        db.execute("BEGIN")
        exists = (
            conversation_id is not None
            and db.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        )
        if exists:
            db.execute(
                "UPDATE conversations SET model = ?, system = ?, output_format = ?, updated = ? WHERE id = ?",
                (model, system, output_format, time.time(), conversation_id),
            )
        else:
            conversation_id = new_conversation(db, model, system, output_format)
        assert conversation_id is not None
        for row in dropped:
            db.execute("DELETE FROM messages WHERE id = ? AND conversation_id = ?", (row, conversation_id))
        rows = [_write_entry(db, conversation_id, entry) for entry in entries]
    return conversation_id, rows


def _write_entry(db: sqlite3.Connection, conversation_id: int, entry: Entry) -> int:
    """ENTRY's row: brought up to date when it is in the conversation, else appended (in the caller's
    transaction). Its model is never rewritten: a message keeps the model that wrote it."""
    if entry.row:
        cursor = db.execute(
            "UPDATE messages SET content = ?, interrupted = ?, stats = ? WHERE id = ? AND conversation_id = ?",
            (entry.content, int(entry.interrupted), _stats_json(entry.stats), entry.row, conversation_id),
        )
        if cursor.rowcount:
            return entry.row
    return _insert_whole(db, conversation_id, entry)


def _insert_whole(db: sqlite3.Connection, conversation_id: int, m: Entry) -> int:
    """Insert a message with its own time, stats and model (catching up); its id."""
    cursor = db.execute(
        "INSERT INTO messages (conversation_id, role, content, created, interrupted, stats, model) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (conversation_id, m.role, m.content, m.created, int(m.interrupted), _stats_json(m.stats), m.model),
    )
    return int(cursor.lastrowid or 0)
