"""Showing a chat answer: streamed Markdown on a capable terminal, raw text elsewhere; then the stats line."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from llamacli.cli import timings
from llamacli.cli.output import Output

if TYPE_CHECKING:
    from llamacli.cli.render import MarkdownStream
    from llamacli.engine import Stats
    from llamacli.services.chat import ChatEvent, Trimmed
    from llamacli.services.structured import OutputFormat


def markdown_stream(out: Output) -> MarkdownStream | None:
    """A Markdown renderer for stdout, or None when stdout is not a terminal that can redraw."""
    if not out.stdout_tty or os.environ.get("TERM") in ("dumb", "unknown", ""):
        return None
    from rich.console import Console

    from llamacli.cli.render import MarkdownStream

    detected = Console(file=out.stdout)
    return MarkdownStream(out.stdout, color_system=detected.color_system, no_color=not out.color)


def show_answer(out: Output, events: Iterator[ChatEvent], *, stats: bool, output: OutputFormat | None = None) -> None:
    """Stream EVENTS (a JSON document in OUTPUT's format: shown once whole); Ctrl-C stops the answer (what
    came is kept) and returns to the prompt."""
    from llamacli.engine import Finished, TextDelta

    if output is not None:
        _show_document(out, events, stats=stats)
        return
    renderer = markdown_stream(out)
    wrote_text = ended_line = False
    try:
        with out.status("Thinking…") if out.stderr_tty and renderer is not None else contextlib.nullcontext():
            first = next(events, None)
        event = first
        while event is not None:
            if isinstance(event, TextDelta):
                if renderer is not None:
                    renderer.feed(event.text)
                else:
                    out.answer(event.text)
                wrote_text = True
                ended_line = event.text.endswith("\n")
            elif isinstance(event, Finished):
                _end(out, renderer, wrote_text, ended_line)
                renderer = None
                wrote_text = False
                if stats:
                    out.dim(stats_line(event.stats))
            else:
                _trimmed(out, event)
            event = next(events, None)
    except KeyboardInterrupt:
        events.close()  # type: ignore[attr-defined]
        _end(out, renderer, wrote_text, ended_line)
        out.notice("(interrupted: the partial answer is kept in the conversation)")


def _trimmed(out: Output, event: Trimmed) -> None:
    out.notice(
        f"(the conversation no longer fits the {event.n_ctx}-token context: the oldest "
        f"{event.messages} messages are left out from now on; they stay in the history)"
    )


def _show_document(out: Output, events: Iterator[ChatEvent], *, stats: bool) -> None:
    """A structured answer: the document once whole, or the line that says it was cut; the chat goes on."""
    from llamacli.cli import messages, structured_view
    from llamacli.errors import DocumentCut

    try:
        text, finished = structured_view.collect(out, events, "Thinking…", other=lambda e: _trimmed(out, e))
    except KeyboardInterrupt:
        out.notice("(interrupted: the partial answer is kept in the conversation)")
        return
    try:
        out.document(structured_view.value_of(text, finished))
    except DocumentCut as e:
        out.notice(messages.describe(e).line())
    if stats:
        out.dim(stats_line(finished.stats))


def _end(out: Output, renderer: MarkdownStream | None, wrote_text: bool, ended_line: bool) -> None:
    if renderer is not None:
        renderer.finish()
    elif wrote_text and not ended_line:
        out.answer("\n")


def stats_line(stats: Stats) -> str:
    """The dim line after an answer: tokens, speed, time to first token (and what the cache saved)."""
    evaluated = stats.prompt_tokens - stats.cached_prompt_tokens
    return (
        f"{timings.generated(stats, ' · ')} · "
        f"first token {stats.time_to_first_token:.2f} s · prompt {evaluated} new + "
        f"{stats.cached_prompt_tokens} cached tokens"
        + (f" ({stats.restored_prompt_tokens} from the prompt cache)" if stats.restored_prompt_tokens else "")
    )
