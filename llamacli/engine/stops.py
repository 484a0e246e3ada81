"""Incremental stop-sequence matching for streamed text.

Checking the whole completion for stop strings on every token (what llama-cpp-python's streaming
completion does) costs O(n^2) over a long answer. This matcher looks only at the text it is holding
back, which is never longer than the longest stop string, so each token costs O(stop length).
"""

from __future__ import annotations

from collections.abc import Sequence


class StopMatcher:
    """Feed text deltas; get back the part safe to show, and whether a stop string was reached."""

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """Return (text to emit now, stopped). After a stop, the stop string and the rest are dropped."""
        if not self._stops:
            return text, False
        buffer = self._held + text
        first = min((i for i in (buffer.find(s) for s in self._stops) if i >= 0), default=-1)
        if first >= 0:
            self._held = ""
            return buffer[:first], True
        keep = self._longest_partial_stop(buffer)
        self._held = buffer[len(buffer) - keep :] if keep else ""
        return buffer[: len(buffer) - keep], False

    def flush(self) -> str:
        """Text still held back when generation ended without reaching a stop."""
        held, self._held = self._held, ""
        return held

    def _longest_partial_stop(self, buffer: str) -> int:
        """Length of the longest suffix of BUFFER that is a proper prefix of some stop string."""
        best = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(buffer)), best, -1):
                if buffer.endswith(stop[:n]):
                    best = n
                    break
        return best
