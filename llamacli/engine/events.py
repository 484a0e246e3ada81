"""What `Model.stream` yields: text as it is produced, then one Finished with the numbers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer, always whole UTF-8 characters."""

    text: str


@dataclass(frozen=True)
class Stats:
    """Timings of one generation, in seconds and tokens per second."""

    prompt_tokens: int
    cached_prompt_tokens: int  # not evaluated again: kept from the previous turn, or restored from disk
    generated_tokens: int
    prompt_seconds: float
    generation_seconds: float
    time_to_first_token: float
    load_seconds: float
    restored_prompt_tokens: int = 0  # of the cached ones, those read from the on-disk prompt cache
    saved_prompt_tokens: int = 0  # a prefix of this length was written to the on-disk prompt cache
    grammar_resamples: int = 0  # structured output: sampled tokens the grammar refused, sampled again under it

    @property
    def prompt_tokens_per_second(self) -> float:
        """Evaluated prompt tokens per second."""
        evaluated = self.prompt_tokens - self.cached_prompt_tokens
        return evaluated / self.prompt_seconds if self.prompt_seconds > 0 else 0.0

    @property
    def generation_tokens_per_second(self) -> float:
        """Generated tokens per second, after the prompt was evaluated; 0 (no rate) for a single token, which
        comes from the prompt's own evaluation: its "generation" is one sampling, and a rate from it would
        read in the thousands (llama.cpp's server times it as its 1 µs floor)."""
        if self.generated_tokens <= 1 or self.generation_seconds <= 0:
            return 0.0
        return self.generated_tokens / self.generation_seconds

    def to_dict(self) -> dict[str, float | int]:
        """Plain data for --json, the rates included."""
        data: dict[str, float | int] = dict(asdict(self))
        data["prompt_tokens_per_second"] = round(self.prompt_tokens_per_second, 2)
        data["generation_tokens_per_second"] = round(self.generation_tokens_per_second, 2)
        return data


@dataclass(frozen=True)
class Finished:
    """The last event: why generation stopped, and its stats."""

    reason: FinishReason
    stats: Stats


Event = TextDelta | Finished


@dataclass(frozen=True)
class Completion:
    """A whole answer: what `Model.generate` returns."""

    text: str
    reason: FinishReason
    stats: Stats


def collect(events: Iterable[Event]) -> Completion:
    """The whole answer of a stream of EVENTS (TextDeltas, then a Finished): what `generate` returns."""
    pieces: list[str] = []
    for event in events:
        if isinstance(event, TextDelta):
            pieces.append(event.text)
        else:
            return Completion("".join(pieces), event.reason, event.stats)
    raise AssertionError("stream ended without Finished")  # pragma: no cover
