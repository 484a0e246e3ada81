"""Showing a structured answer: the whole document once it has closed, never a part of one as if whole.

The answer is collected, not streamed (a spinner on stderr meanwhile, on a terminal): a program reading
stdout can use only a whole document, an indented one can be laid out only once it is whole, and an
answer cut by -n must leave stdout empty. It is then printed once, by `Output.document`: indented on a
terminal, one line in a pipe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from llamacli.cli.output import Output

if TYPE_CHECKING:
    from llamacli.engine import Finished


def collect(
    out: Output, events: Iterator[Any], status: str = "Writing JSON…", other: Callable[[Any], None] | None = None
) -> tuple[str, Finished]:
    """The answer's text and its Finished event; OTHER gets any other event (a chat's notices)."""
    from llamacli.engine import Finished, TextDelta

    pieces: list[str] = []
    finished: Finished | None = None
    try:
        with out.status(status):
            for event in events:
                if isinstance(event, TextDelta):
                    pieces.append(event.text)
                elif isinstance(event, Finished):
                    finished = event
                elif other is not None:
                    other(event)
    finally:
        events.close()  # type: ignore[attr-defined]
    if finished is None:  # pragma: no cover - every stream ends with Finished
        raise RuntimeError("the answer ended without a Finished event")
    return "".join(pieces), finished


def value_of(text: str, finished: Finished) -> Any:
    """The document's value; DocumentCut when the answer ended before it closed."""
    from llamacli.services import structured

    return structured.finish(text, finished.reason, finished.stats.generated_tokens)
