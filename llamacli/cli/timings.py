"""How the timings after an answer are worded, in `run -v` and in chat."""

from __future__ import annotations

from llamacli.engine.events import Stats


def generated(stats: Stats, separator: str = ", ") -> str:
    """`N tokens, X tok/s`; a single token has no rate (it comes with the prompt's evaluation): `1 token`."""
    if stats.generated_tokens == 1:
        return "1 token"
    return f"{stats.generated_tokens} tokens{separator}{stats.generation_tokens_per_second:.1f} tok/s"
