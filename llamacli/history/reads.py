"""The history's reads, as queries on an open connection: the listing (headers only) and one
conversation in full."""

from __future__ import annotations

import json
import sqlite3

from llamacli.history.records import Conversation, StoredMessage


def list_conversations(db: sqlite3.Connection, limit: int | None) -> list[Conversation]:
    """Conversations, most recently updated first, with their message count, first message and models."""
    rows = db.execute(
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
        Conversation(cid, model, system, name, created, updated, count, first, models=_models(db, cid))
        for cid, model, system, name, created, updated, count, first in rows
    ]


def _models(db: sqlite3.Connection, conversation_id: int) -> tuple[str, ...]:
    """The models that wrote the conversation's answers, in the order they first did."""
    rows = db.execute(
        "SELECT model FROM messages WHERE conversation_id = ? AND model IS NOT NULL GROUP BY model ORDER BY MIN(id)",
        (conversation_id,),
    )
    return tuple(model for (model,) in rows)


def latest_id(db: sqlite3.Connection) -> int | None:
    """The id of the most recently updated conversation that has messages (named or not)."""
    row = db.execute(
        "SELECT c.id FROM conversations c WHERE EXISTS "
        "(SELECT 1 FROM messages m WHERE m.conversation_id = c.id) ORDER BY c.updated DESC, c.id DESC LIMIT 1"
    ).fetchone()
    return int(row[0]) if row else None


def find(db: sqlite3.Connection, key: str) -> Conversation | None:
    """A conversation by id or by saved name, in full; None when there is none."""
    column = "id" if key.isdigit() else "name"
    row = db.execute(
        f"SELECT id, model, system, name, created, updated, output_format FROM conversations WHERE {column} = ?",
        (key,),
    ).fetchone()
    if row is None:
        return None
    messages = tuple(
        StoredMessage(mid, role, content, created, bool(interrupted), json.loads(stats) if stats else None, model)
        for mid, role, content, created, interrupted, stats, model in db.execute(
            "SELECT id, role, content, created, interrupted, stats, model FROM messages "
            "WHERE conversation_id = ? ORDER BY id",
            (row[0],),
        )
    )
    first = next((m.content for m in messages if m.role == "user"), "")
    models = tuple(dict.fromkeys(m.model for m in messages if m.model is not None))
    cid, model, system, name, created, updated, output_format = row
    return Conversation(
        cid, model, system, name, created, updated, len(messages), first, messages, models, output_format
    )
