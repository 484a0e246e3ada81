"""The exit codes, the base classes, and errors in what a person typed."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes; their meanings, per command, are in `llamacli.cli.exit_codes`."""

    OK = 0
    USER_ERROR = 1
    USAGE = 2
    MODEL_LOAD = 3
    NETWORK = 4
    BLOCKED = 5  # the guard (--guard, `llamacli guard`) found the prompt or the answer unsafe
    INTERRUPTED = 130
    STDOUT_CLOSED = 141  # what a shell reports for a writer killed by SIGPIPE, e.g. `llamacli run ... | head -c 5`


class LlamacliError(Exception):
    """Base of every error the user should see as a one-line message."""


class WordedError(LlamacliError):
    """An error raised with its MESSAGE and HINT: a value or line of input refused where it is checked."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(WordedError):
    """The command line is incomplete or contradictory."""


class InvalidValue(WordedError):
    """A flag or setting has a value out of its range."""


class ConfigError(WordedError):
    """The user's config.toml is malformed."""


class ChatCommandError(WordedError):
    """A slash command in chat is unknown or has a bad argument; shown in the chat, which goes on."""


class NoPrompt(LlamacliError):
    """`run` got no prompt: neither arguments nor text on stdin."""
