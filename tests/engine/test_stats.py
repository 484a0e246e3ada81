"""The rates in Stats (what `--json` and `-v` show): a single token has none."""

from __future__ import annotations

from llamacli.engine.events import Stats


def stats(generated: int, seconds: float) -> Stats:
    return Stats(30, 0, generated, 0.1, seconds, 0.1, 0.2)


def test_a_rate_needs_two_tokens() -> None:
    # One token comes with the prompt's evaluation: its "generation" is one sampling (or llama-server's 1 µs
    # floor), which would read as thousands of tokens per second.
    assert stats(1, 0.000001).generation_tokens_per_second == 0.0
    assert stats(1, 0.001).to_dict()["generation_tokens_per_second"] == 0.0
    assert stats(16, 0.5).generation_tokens_per_second == 32.0
    assert stats(0, 0.0).generation_tokens_per_second == 0.0
