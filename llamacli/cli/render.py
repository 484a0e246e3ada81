"""Streaming Markdown on a terminal: text is rendered as it arrives, without flicker or repeated lines.

Rich's `Live` redraws its whole renderable, and once that is taller than the screen it can no longer
move the cursor back over it, so long answers come out duplicated. Here the answer is split at block
boundaries (a blank line outside a code fence, followed by an unindented line): finished blocks are
rendered once and printed for good, and only the block still being written is redrawn, in a small
region at the bottom (capped below the screen height; what scrolls above it is committed). Redraws are
throttled so rendering takes a small, bounded share of the time (the tokens keep coming meanwhile).
"""

from __future__ import annotations

import io
import math
import re
import shutil
import time
from typing import TextIO

from rich.cells import cell_len
from rich.console import Console
from rich.markdown import Markdown

MIN_INTERVAL = 0.05  # at most 20 redraws a second
RENDER_SHARE = 0.03  # and rendering takes at most ~3% of the time: the next redraw waits ~33x the last one
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


class BlockSplitter:
    """Finds where the finished Markdown blocks end, scanning each line once."""

    def __init__(self) -> None:
        self.text = ""
        self._scanned = 0  # start of the first line not scanned yet
        self._fence: str | None = None
        self._after_blank = False
        self.boundary = 0  # text[:boundary] is finished blocks; the rest may still change

    def feed(self, text: str) -> None:
        """Add streamed text and move the boundary past any block that is now complete."""
        self.text += text
        while (end := self.text.find("\n", self._scanned)) >= 0:
            self._line(self.text[self._scanned : end], self._scanned)
            self._scanned = end + 1

    def _line(self, line: str, start: int) -> None:
        fence = _FENCE.match(line)
        if self._fence is not None:
            if fence and fence.group(1)[0] == self._fence[0] and len(fence.group(1)) >= len(self._fence):
                self._fence = None
            return
        if not line.strip():
            self._after_blank = True
            return
        if self._after_blank and not line[0].isspace():
            self.boundary = start  # an unindented line after a blank one starts a new block
        self._after_blank = False
        if fence:
            self._fence = fence.group(1)


class MarkdownStream:
    """Feed answer text; it appears on the terminal rendered as Markdown, committed block by block."""

    def __init__(
        self,
        file: TextIO,
        *,
        color_system: str | None,
        no_color: bool,
        code_theme: str = "monokai",
        min_interval: float = MIN_INTERVAL,
        render_share: float = RENDER_SHARE,
    ) -> None:
        self.file = file
        self._min_interval, self._render_share = min_interval, render_share
        self._color_system = color_system
        self._no_color = no_color
        self._code_theme = code_theme
        self._blocks = BlockSplitter()
        self._committed_to = 0  # text[:_committed_to] is printed for good
        self._open_printed = 0  # lines of the open block already printed (it was taller than the screen)
        self._printed_any = False
        self._live: list[int] = []  # cell widths of the lines in the live region, to erase them
        self._next_render = 0.0

    # -- public -------------------------------------------------------------------------------

    def feed(self, text: str) -> None:
        """Add text; redraw if the throttle allows."""
        self._blocks.feed(text)
        now = time.perf_counter()
        if now >= self._next_render:
            self._refresh(final=False)
            cost = time.perf_counter() - now
            self._next_render = now + max(self._min_interval, cost / self._render_share)

    def finish(self) -> None:
        """Render what is left and leave the cursor on a fresh line (also after an interruption)."""
        self._refresh(final=True)

    # -- rendering ----------------------------------------------------------------------------

    def _size(self) -> tuple[int, int]:
        size = shutil.get_terminal_size()
        return max(size.columns, 20), max(size.lines, 6)

    def _render(self, source: str, width: int) -> list[str]:
        """SOURCE as Markdown, one ANSI string per line, without leading or trailing blank lines."""
        console = Console(
            file=io.StringIO(),
            width=width,
            force_terminal=True,
            color_system=self._color_system,  # type: ignore[arg-type]
            no_color=self._no_color,
            legacy_windows=False,
            emoji=False,
            highlight=False,
        )
        console.print(Markdown(source, code_theme=self._code_theme, hyperlinks=False))
        file = console.file
        assert isinstance(file, io.StringIO)
        lines = [line.rstrip() for line in file.getvalue().split("\n")]
        while lines and not _visible(lines[-1]).strip():
            lines.pop()
        while lines and not _visible(lines[0]).strip():
            lines.pop(0)
        return lines

    def _refresh(self, *, final: bool) -> None:
        width, height = self._size()
        text, boundary = self._blocks.text, self._blocks.boundary
        out: list[str] = [self._erase(width)]
        if boundary > self._committed_to or (final and len(text) > self._committed_to):
            end = len(text) if final else boundary
            done = self._render(text[self._committed_to : end], width)[self._open_printed :]
            out.append(self._commit(done, gap=self._open_printed == 0))
            self._committed_to, self._open_printed = end, 0
        live: list[str] = []
        if not final and len(text) > self._committed_to:
            lines = self._render(text[self._committed_to :], width)[self._open_printed :]
            room = max(3, height - 3)
            if len(lines) > room:  # taller than the screen: print the top for good, redraw only the rest
                out.append(self._commit(lines[:-room], gap=self._open_printed == 0))
                self._open_printed += len(lines) - room
                lines = lines[-room:]
            if lines and not self._open_printed and self._printed_any:
                lines.insert(0, "")
            live = lines
        out.extend(line + "\n" for line in live)
        self._live = [cell_len(_visible(line)) for line in live]
        if final:
            out.append("\x1b[0m")
        self.file.write("".join(out))
        self.file.flush()

    def _commit(self, lines: list[str], *, gap: bool) -> str:
        if not lines:
            return ""
        prefix = "\n" if gap and self._printed_any else ""
        self._printed_any = True
        return prefix + "".join(line + "\n" for line in lines)

    def _erase(self, width: int) -> str:
        """Move back to the top of the live region and clear it (rows re-counted at today's width)."""
        rows = sum(max(1, math.ceil(cells / width)) for cells in self._live)
        self._live = []
        return f"\x1b[{rows}F\x1b[J" if rows else ""


def _visible(line: str) -> str:
    return _ANSI.sub("", line)
