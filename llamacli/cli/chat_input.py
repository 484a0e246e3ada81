"""Reading what the person types in chat: line editing, persistent history, multi-line messages.

On a terminal this is prompt_toolkit: Emacs keys, up/down and Ctrl-R through a history kept per user,
bracketed paste (several pasted lines arrive as one message, never one message per line), and a
triple-quoted block (as in ollama) where Enter adds a line until the closing quotes. Ctrl-C clears the
line; Ctrl-D on an empty line ends the chat. When stdin is not a terminal, lines are read plainly.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TextIO

from llamacli.services.chat_commands import BLOCK, block_text, opens_block

PROMPT = ">>> "
CONTINUATION = "... "


def is_open_block(text: str) -> bool:
    """Whether TEXT is a triple-quoted message still waiting for its closing quotes."""
    lines = text.split("\n")
    if not opens_block(lines[0]):
        return False
    return not (len(lines) > 1 and lines[-1].rstrip().endswith(BLOCK))


def message_text(text: str) -> str:
    """The message in what was submitted (a triple-quoted block loses its quotes)."""
    if text.lstrip().startswith(BLOCK):
        return block_text(text.split("\n"))
    return text


class TerminalInput:
    """prompt_toolkit's PromptSession with our keys and a history file."""

    def __init__(self, history_file: Path) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory
        from prompt_toolkit.key_binding import KeyBindings
        from prompt_toolkit.key_binding.key_processor import KeyPressEvent

        history_file.parent.mkdir(parents=True, exist_ok=True)
        bindings = KeyBindings()

        @bindings.add("enter")
        def _enter(event: KeyPressEvent) -> None:
            buffer = event.current_buffer
            if is_open_block(buffer.document.text_before_cursor + buffer.document.text_after_cursor):
                buffer.insert_text("\n")
            else:
                buffer.validate_and_handle()

        def continuation(width: int, line_number: int, wrap_count: int) -> str:
            return CONTINUATION.rjust(width)

        class InputHistory(FileHistory):
            """The typed-lines file; a line it cannot take (a full disk) is still recalled in this chat."""

            def store_string(self, string: str) -> None:
                with contextlib.suppress(OSError):
                    super().store_string(string)

        self._session: PromptSession[str] = PromptSession(
            history=InputHistory(str(history_file)),
            key_bindings=bindings,
            multiline=True,  # our Enter binding decides when a message is complete
            prompt_continuation=continuation,
            enable_history_search=False,  # Ctrl-R searches; up/down walk the history
        )

    def read(self) -> str | None:
        """The next message or command; None at Ctrl-D. Ctrl-C clears the line and asks again."""
        while True:
            try:
                return message_text(self._session.prompt(PROMPT))
            except KeyboardInterrupt:
                continue
            except EOFError:
                return None


class PlainInput:
    """Lines from a pipe or file: one message a line, or a triple-quoted block."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdin

    def read(self) -> str | None:
        """The next message, or None at the end of the input."""
        line = self._stream.readline()
        if not line:
            return None
        text = line.rstrip("\n")
        while is_open_block(text):
            more = self._stream.readline()
            if not more:
                break
            text += "\n" + more.rstrip("\n")
        return message_text(text)
