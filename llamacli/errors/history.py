"""Saved conversations."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from llamacli.errors.base import LlamacliError


class ConversationNotFound(LlamacliError):
    """No conversation in the history has that id or saved name."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class HistoryProblem(StrEnum):
    """What went wrong with the history database, read from sqlite's error code (not its message)."""

    FULL = "full"  # no room left (or an I/O error, which is most often that)
    DAMAGED = "damaged"  # not a database, or a corrupt one
    LOCKED = "locked"  # another process holds the write lock past the timeout
    CHANGED = "changed"  # a constraint broke: another program changed the rows under us
    UNWRITABLE = "unwritable"  # anything else: permissions, a read-only file, a missing directory


class HistoryUnavailable(LlamacliError):
    """The conversation history cannot be read or written: a full disk, a damaged or locked database.

    REASON is sqlite's (or the OS's) own words, for the person; PROBLEM what kind of failure it is.
    """

    def __init__(self, path: Path, reason: str, problem: HistoryProblem = HistoryProblem.UNWRITABLE) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason
        self.problem = problem


class HistoryBehind(LlamacliError):
    """Told, not raised: the history failed (CAUSE); a chat goes on, and is saved when writing works again."""

    def __init__(self, cause: HistoryUnavailable) -> None:
        super().__init__(cause)
        self.cause = cause


class NameTaken(LlamacliError):
    """A conversation name is already on another conversation (names are never moved or deleted)."""

    def __init__(self, name: str, conversation_id: int, message_count: int) -> None:
        super().__init__(name, conversation_id, message_count)
        self.name = name
        self.conversation_id = conversation_id
        self.message_count = message_count


class NotSaved(LlamacliError):
    """`/save` in chat while the history is failing (CAUSE), or before anything was written (CAUSE None)."""

    def __init__(self, cause: HistoryUnavailable | None) -> None:
        super().__init__(cause)
        self.cause = cause


class LoadWithoutName(LlamacliError):
    """`/load` in chat with no conversation named."""
