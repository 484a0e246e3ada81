"""What the history database holds, as plain frozen data: conversations, stored messages, and the entries
a chat hands to `History.catch_up`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


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
    output_format: str | None = None  # JSON {"label", "schema"} of the format answers are held to; None: prose

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
            "format": json.loads(self.output_format) if self.output_format else None,
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
