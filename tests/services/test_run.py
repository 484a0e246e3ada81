"""The run use case's pure parts: prompt composition and value validation."""

from __future__ import annotations

import pytest

from llamacli.engine.params import GenerationParams, LoadParams
from llamacli.errors import InvalidValue, NoPrompt
from llamacli.services import run


def test_prompt_then_blank_line_then_stdin() -> None:
    assert run.compose_prompt("Summarize:", "line one\nline two\n") == "Summarize:\n\nline one\nline two"


def test_stdin_alone_or_prompt_alone() -> None:
    assert run.compose_prompt("", "just stdin\n") == "just stdin"
    assert run.compose_prompt("just prompt", None) == "just prompt"
    assert run.compose_prompt("just prompt", "\n\n") == "just prompt"


def test_nothing_at_all_is_a_usage_error() -> None:
    with pytest.raises(NoPrompt):
        run.compose_prompt("  ", "")


def test_system_prompt_comes_first() -> None:
    messages = run.conversation("hi", "be terse")
    assert [(m.role, m.content) for m in messages] == [("system", "be terse"), ("user", "hi")]
    assert [m.role for m in run.conversation("hi", None)] == ["user"]


@pytest.mark.parametrize(
    ("load", "gen", "flag"),
    [
        (LoadParams(), GenerationParams(temperature=-0.1), "--temperature"),
        (LoadParams(), GenerationParams(top_p=1.5), "--top-p"),
        (LoadParams(), GenerationParams(min_p=float("nan")), "--min-p"),
        (LoadParams(), GenerationParams(max_tokens=0), "--max-tokens"),
        (LoadParams(), GenerationParams(seed=-2), "--seed"),  # -1 is random
        (LoadParams(n_ctx=8), GenerationParams(), "--ctx"),
        (LoadParams(n_threads=0), GenerationParams(), "--threads"),
    ],
)
def test_out_of_range_values_are_refused(load: LoadParams, gen: GenerationParams, flag: str) -> None:
    with pytest.raises(InvalidValue, match=flag):
        run.validate(load, gen)


def test_defaults_are_valid() -> None:
    run.validate(LoadParams(), GenerationParams())
