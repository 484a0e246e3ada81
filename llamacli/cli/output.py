"""Where text goes: the answer and data to stdout, everything else to stderr.

When stdout is not a terminal it carries exactly the answer (no ANSI, no spinner); progress and
diagnostics go to stderr, and Rich is imported only when stderr is a terminal that wants it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TextIO

import typer

from llamacli.errors import ExitCode

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # all but newline and tab
_CONTROL_OR_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def inert(text: str, keep_lines: bool = True) -> str:
    """TEXT with control characters shown as escapes, so text from a model file cannot drive the terminal.

    A GGUF's name, license or template is written by whoever made the file: an ESC in it could move the
    cursor, retitle the window or hide what follows. Newlines and tabs stay unless KEEP_LINES is false.
    """
    pattern = _CONTROL if keep_lines else _CONTROL_OR_LINE
    return pattern.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class Output:
    """The process's two streams, with what each is connected to."""

    def __init__(
        self, stdout: TextIO | None = None, stderr: TextIO | None = None, env: Mapping[str, str] = os.environ
    ) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.stdout_tty = self.stdout.isatty()
        self.stderr_tty = self.stderr.isatty()
        self.color = "NO_COLOR" not in env and env.get("TERM") != "dumb"

    def answer(self, text: str) -> None:
        """Model text, raw and at once (no markup interpretation of [brackets])."""
        with self._reader_may_leave():
            self.stdout.write(text)
            self.stdout.flush()

    def data(self, value: Any) -> None:
        """One JSON document on stdout."""
        with self._reader_may_leave():
            self.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
            self.stdout.flush()

    def document(self, value: Any) -> None:
        """A structured answer on stdout: indented for a person at a terminal, one line for a program."""
        with self._reader_may_leave():
            self.stdout.write(json.dumps(value, ensure_ascii=False, indent=2 if self.stdout_tty else None) + "\n")
            self.stdout.flush()

    @contextlib.contextmanager
    def _reader_may_leave(self) -> Iterator[None]:
        """`llamacli ... | head`: the reader closed stdout, so stop quietly with the documented exit code
        (Click would exit 1), whichever command was writing."""
        try:
            yield
        except BrokenPipeError:
            self.silence_stdout()
            raise typer.Exit(ExitCode.STDOUT_CLOSED) from None

    def notice(self, text: str) -> None:
        """A line for the person, on stderr."""
        self.stderr.write(text + "\n")
        self.stderr.flush()

    def dim(self, text: str) -> None:
        """A secondary line (stats) on stderr, dimmed on a colour terminal."""
        if self.stderr_tty and self.color:
            text = f"\x1b[2m{text}\x1b[0m"
        self.notice(text)

    def error(self, message: str, hint: str | None) -> None:
        """The one-line error report."""
        line = f"llamacli: error: {message}"
        if hint:
            line += f" ({hint})"
        with contextlib.suppress(OSError):
            self.notice(line)

    @contextlib.contextmanager
    def status(self, text: str) -> Iterator[None]:
        """A transient spinner on stderr while something slow happens; nothing when not a TTY."""
        if not self.stderr_tty or os.environ.get("TERM") == "dumb":
            yield
            return
        from rich.console import Console

        console = Console(file=self.stderr, no_color=not self.color)
        with console.status(text, spinner="dots"):
            yield

    def silence_stdout(self) -> None:
        """After the reader went away (EPIPE): point stdout at /dev/null so exit does not complain."""
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stdout.fileno())


def table(rows: Sequence[Sequence[str]], header: Sequence[str], right: Sequence[int] = ()) -> str:
    """Plain aligned columns, those numbered in RIGHT aligned right (numbers); no escape codes, so a pipe reads it."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *rows]
    ]
    return "".join(line.rstrip() + "\n" for line in lines)


def moe_note(models: list[tuple[str, int | None]]) -> str:
    """The line under a table that names its mixtures of experts and how they are sized, or nothing."""
    from llamacli.base.sizes import format_parameters

    moe = [f"{name} ({format_parameters(active)} active)" for name, active in models if active]
    if not moe:
        return ""
    return (
        f"Mixture of experts: {', '.join(moe)}: MEMORY holds every expert (the whole file); "
        "speed follows the parameters active per token.\n"
    )
