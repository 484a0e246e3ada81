"""Server-sent events, parsed by hand: the few rules the OpenAI-style streams use (data lines, comments,
blank-line dispatch), strict about the rest so that a server speaking something else is one clear error.

https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

FIELDS = ("event", "id", "retry")  # fields the OpenAI streams may carry and we have no use for


@dataclass(frozen=True)
class Message:
    """One dispatched event: its data lines joined by newlines, and its type ("message" unless named)."""

    data: str
    event: str = "message"


class NotSSE(ValueError):
    """A line that is no field of an event stream (LINE)."""

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


def messages(lines: Iterable[str]) -> Iterator[Message]:
    """The events in LINES (without their line ends); NotSSE at a line that is not part of an event stream."""
    data: list[str] = []
    event = "message"
    for line in lines:
        if not line:
            if data:
                yield Message("\n".join(data), event)
            data, event = [], "message"
            continue
        if line.startswith(":"):
            continue  # a comment (keep-alive)
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "error":  # llama.cpp's server reports a failure inside a stream as an `error:` line
            yield Message(value, "error")
        elif name not in FIELDS:
            raise NotSSE(line)
    if data:  # a last event without its blank line: the stream was cut, but the data is whole lines
        yield Message("\n".join(data), event)
