"""Token ids in, displayable text out: whole UTF-8 characters, stop strings held back and cut.

A character can be split across tokens (emoji, CJK in byte-level vocabularies); an incremental
decoder keeps the partial bytes until the character is complete, so no U+FFFD reaches the user.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence

from llamacli.engine.stops import StopMatcher


class TextAssembler:
    """Feed generated tokens one by one; get back the text that is safe to show."""

    def __init__(self, piece: Callable[[int], bytes], stops: Sequence[str] = ()) -> None:
        self._piece = piece
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")
        self._stops = StopMatcher(stops) if stops else None
        self.stopped = False

    def push(self, token: int) -> str:
        """Text completed by TOKEN (maybe empty); sets `stopped` when a stop string is reached."""
        text: str = self._utf8.decode(self._piece(token))
        if text and self._stops is not None:
            text, self.stopped = self._stops.feed(text)
        return text

    def finish(self) -> str:
        """What is still held back at the end of generation (nothing after a stop string)."""
        text: str = self._utf8.decode(b"", final=True)
        if self._stops is not None:
            if self.stopped:
                return ""
            text, self.stopped = self._stops.feed(text)
            if not self.stopped:
                text += self._stops.flush()
        return text
