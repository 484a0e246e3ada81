"""The timings line's words: a single token is `1 token`, with no rate."""

from __future__ import annotations

from llamacli.cli import timings
from llamacli.engine.events import Stats


def stats(generated: int, seconds: float) -> Stats:
    return Stats(30, 0, generated, 0.1, seconds, 0.1, 0.2)


def test_the_words_say_one_token_without_a_rate() -> None:
    assert timings.generated(stats(1, 0.001)) == "1 token"
    assert timings.generated(stats(16, 0.5)) == "16 tokens, 32.0 tok/s"
    assert timings.generated(stats(16, 0.5), " · ") == "16 tokens · 32.0 tok/s"
