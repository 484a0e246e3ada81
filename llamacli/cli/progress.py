"""Download progress on stderr: a Rich bar on a terminal, one plain line otherwise (logs, CI, pipes)."""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from llamacli.base.sizes import format_size
from llamacli.cli.output import Output

if TYPE_CHECKING:
    from llamacli.services.models import PullResult


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
                    f"done, {format_size(self.fetched)} in {seconds:.1f} s ({format_size(self.fetched / seconds)}/s)\n"
                )
            else:
                self.out.stderr.write("interrupted\n" if interrupted else "failed\n")
            self.out.stderr.flush()
        if interrupted and self.started:  # the partial file stays in the store (download.py): say what it is for
            self.out.notice(
                f"interrupted: the {format_size(self.done + self.fetched)} downloaded are kept; "
                f"'llamacli pull {self.label}' resumes from there"
            )

    def file(self, name: str, sha256: str) -> None:
        """Nothing: the bar is labelled with the model's name, which the person typed."""

    def start(self, total: int, done: int) -> None:
        """Begin drawing (a bar on a terminal; the start of the one line otherwise)."""
        self.started, self.total, self.done = time.monotonic(), total, done
        if self.out.stderr_tty:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

            console = Console(file=self.out.stderr, no_color=not self.out.color)
            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(binary_units=True),  # MiB and GiB, as every size llamacli shows
                _speed_column(),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=total, completed=done)
        else:
            resumed = f", resuming at {format_size(done)}" if done else ""
            self.out.stderr.write(f"pulling {self.label} ({format_size(total)}{resumed})… ")
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


def _speed_column() -> Any:
    """Rich's transfer speed in binary units (its own TransferSpeedColumn shows decimal MB/s only)."""
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class BinarySpeed(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{format_size(speed)}/s" if speed else "?", style="progress.data.speed")

    return BinarySpeed()


def pull_with_progress(out: Output, model: str, force: bool = False) -> PullResult:
    """Pull MODEL with a progress display on stderr; the service's PullResult."""
    from llamacli.services import models

    with PullProgress(out, model) as progress:
        return models.pull(model, progress, out.notice, force=force)
