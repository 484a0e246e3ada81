"""The streaming Markdown renderer, replayed through a real terminal emulator (pyte)."""

from __future__ import annotations

import io

import pyte
import pytest

from llamacli.cli.render import BlockSplitter, MarkdownStream

ANSWER = (
    "Here is a list:\n\n- one **bold**\n- two\n- three\n\n"
    "| name | size |\n|---|---|\n| a | 1 |\n| bbb | 22 |\n\n"
    "```python\ndef f(x):\n    return x + 1\n"
    + "".join(f"print({i})\n" for i in range(30))
    + "```\n\n1. first\n2. second\n\n"
    "A closing paragraph long enough to wrap on a narrow terminal, so that wrapping is exercised too.\n"
)


def screen_after(data: str, columns: int, lines: int) -> list[str]:
    screen = pyte.HistoryScreen(columns, lines, history=10_000)
    pyte.Stream(screen).feed(data.replace("\n", "\r\n"))  # the pty's onlcr
    rows = [*screen.history.top, *[screen.buffer[y] for y in range(lines)]]
    text = ["".join(row[x].data for x in range(columns)).rstrip() for row in rows]
    # blank-line runs collapsed: block spacing may differ by a blank line where blocks were committed apart
    return [line for i, line in enumerate(text) if line or (i and text[i - 1])]


def stream(text: str, piece: int, **options: float) -> str:
    out = io.StringIO()
    renderer = MarkdownStream(out, color_system="256", no_color=False, **options)  # type: ignore[arg-type]
    for i in range(0, len(text), piece):
        renderer.feed(text[i : i + piece])
    renderer.finish()
    return out.getvalue()


@pytest.mark.parametrize(("columns", "lines"), [(60, 12), (100, 40), (24, 8)])
def test_streamed_answer_shows_every_line_once(monkeypatch: pytest.MonkeyPatch, columns: int, lines: int) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setenv("LINES", str(lines))
    at_once = screen_after(stream(ANSWER, len(ANSWER)), columns, lines)
    streamed = screen_after(stream(ANSWER, 5, min_interval=0, render_share=1.0), columns, lines)
    assert streamed == at_once
    assert sum("print(" in line for line in streamed) == 30  # the code block, taller than the screen, once
    assert any("•" in line and "bold" in line for line in streamed)  # Markdown, not raw text


def test_interrupted_stream_keeps_what_came(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    shown = screen_after(stream(ANSWER[:70], 5, min_interval=0, render_share=1.0), 60, 12)
    assert any("two" in line for line in shown)


def test_no_color_has_no_colour_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    out = io.StringIO()
    renderer = MarkdownStream(out, color_system="256", no_color=True)
    renderer.feed("```python\nx = 1\n```\n")
    renderer.finish()
    assert "38;5;" not in out.getvalue() and "x = 1" in out.getvalue().replace("\x1b[0m", "")


def test_block_boundaries_ignore_blank_lines_inside_code() -> None:
    blocks = BlockSplitter()
    blocks.feed("para\n\n```\ncode\n\nmore\n")
    assert blocks.boundary == len("para\n\n")
    blocks.feed("```\n\n- item\n  continued\n\n  indented\n")
    assert blocks.text[blocks.boundary :].startswith("- item")
    blocks.feed("\nnext\n")
    assert blocks.text[blocks.boundary :] == "next\n"
