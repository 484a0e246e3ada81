"""What kind of failure a database error is, from sqlite's result code or the OS's errno (never their words)."""

from __future__ import annotations

import errno
import sqlite3

from llamacli.errors import HistoryProblem

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
    """What kind of failure ERROR is."""
    if isinstance(error, OSError):
        return HistoryProblem.FULL if error.errno in (errno.ENOSPC, errno.EDQUOT) else HistoryProblem.UNWRITABLE
    return _PROBLEMS.get(_primary_code(error), HistoryProblem.UNWRITABLE)


def _primary_code(error: sqlite3.Error) -> int:
    """sqlite's primary result code of ERROR (its low byte: extended codes add detail above it), or -1
    for errors Python's sqlite3 raises itself (a closed connection, a bad parameter)."""
    code = getattr(error, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else -1
