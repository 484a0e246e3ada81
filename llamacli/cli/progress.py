"""Download progress on stderr: a Rich bar on a terminal, one plain line otherwise (logs, CI, pipes)."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from llamacli.cli.output import Output


def human_size(n: float) -> str:
    """Bytes as people read them (decimal units, as the Hub and ollama show sizes)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


class PullProgress:
    """A download.Progress for one file; use as a context manager around the pull."""

    def __init__(self, out: Output, label: str) -> None:
        self.out = out
        self.label = label
        self.bar: Any = None
        self.task: Any = None
        self.started = 0.0
        self.total = 0
        self.done = 0
        self.fetched = 0

    def __enter__(self) -> PullProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        interrupted = kind is not None and issubclass(kind, KeyboardInterrupt)
        if self.bar is not None:
            self.bar.stop()
        elif self.started:
            if kind is None:
                seconds = max(time.monotonic() - self.started, 1e-6)
                self.out.stderr.write(
                    f"done, {human_size(self.fetched)} in {seconds:.1f} s ({human_size(self.fetched / seconds)}/s)\n"
                )
            else:
                self.out.stderr.write("interrupted\n" if interrupted else "failed\n")
            self.out.stderr.flush()
        if interrupted and self.started:  # the partial file stays in the store (download.py): say what it is for
            self.out.notice(
                f"interrupted: the {human_size(self.done + self.fetched)} downloaded are kept; "
                f"'llamacli pull {self.label}' resumes from there"
            )

    def start(self, total: int, done: int) -> None:
        """Begin drawing (a bar on a terminal; the start of the one line otherwise)."""
        self.started, self.total, self.done = time.monotonic(), total, done
        if self.out.stderr_tty:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            console = Console(file=self.out.stderr, no_color=not self.out.color)
            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=total, completed=done)
        else:
            resumed = f", resuming at {human_size(done)}" if done else ""
            self.out.stderr.write(f"pulling {self.label} ({human_size(total)}{resumed})… ")
            self.out.stderr.flush()

    def advance(self, n: int) -> None:
        """N more bytes arrived."""
        self.fetched += n
        if self.bar is not None:
            self.bar.update(self.task, advance=n)

    def retry(self, reason: str) -> None:
        """The connection dropped and the download resumes."""
        if self.bar is not None:
            self.bar.console.print(f"connection dropped ({reason}); resuming")
