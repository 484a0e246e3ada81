"""The official openai client against a real `llamacli serve` with the bundled model: what the API promises."""

from __future__ import annotations

import json

import openai
import pytest

from tests.server.conftest import MODEL
from tests.support.cli import run_cli
from tests.support.serving import Served

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "Name a colour."}]
STORY = [{"role": "user", "content": "Tell me a short story about a cat."}]


def client(served: Served) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url("/v1"), api_key="none", max_retries=0, timeout=120)


def chat(served: Served, messages: list[dict[str, str]], **kwargs: object) -> openai.types.chat.ChatCompletion:
    return client(served).chat.completions.create(model=MODEL, messages=messages, **kwargs)  # type: ignore[call-overload,no-any-return]


def test_models_lists_the_served_model(served: Served) -> None:
    ids = [model.id for model in client(served).models.list()]
    assert MODEL in ids


def test_completions_streamed_and_whole_give_the_same_greedy_text(served: Served) -> None:
    prompt = "The capital of France is"
    whole = client(served).completions.create(model=MODEL, prompt=prompt, temperature=0, max_tokens=12)
    stream = client(served).completions.create(
        model=MODEL, prompt=prompt, temperature=0, max_tokens=12, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert whole.object == "text_completion" and whole.choices[0].text == text and text.strip()
    assert len({c.id for c in chunks}) == 1
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert whole.usage is not None and whole.usage.total_tokens == whole.usage.prompt_tokens + 12
    assert whole.choices[0].finish_reason == "length"


def test_a_stream_without_include_usage_has_no_usage_chunk(served: Served) -> None:
    chunks = list(chat(served, QUESTION, temperature=0, max_tokens=4, stream=True))
    assert all(c.usage is None for c in chunks) and all(c.choices for c in chunks)


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_a_token_limit_ends_with_finish_reason_length(served: Served, field: str) -> None:
    answer = chat(served, STORY, temperature=0, **{field: 5})
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage is not None and answer.usage.completion_tokens == 5


def test_stop_as_a_string_and_as_a_list_cuts_the_answer_before_it(served: Served) -> None:
    free = chat(served, STORY, temperature=0, max_tokens=40).choices[0].message.content or ""
    words = free.split()
    assert len(words) > 8, free
    stop = " " + words[5]  # a word in the middle (with its space: the text before it is a prefix of `free`)
    expected = free[: free.index(stop)]
    one = chat(served, STORY, temperature=0, max_tokens=40, stop=stop)
    assert one.choices[0].message.content == expected and one.choices[0].finish_reason == "stop"
    several = chat(served, STORY, temperature=0, max_tokens=40, stop=["never-in-this-answer", stop])
    assert several.choices[0].message.content == expected and several.choices[0].finish_reason == "stop"


def test_temperature_zero_is_reproducible(served: Served) -> None:
    answers = {chat(served, STORY, temperature=0, max_tokens=24).choices[0].message.content for _ in range(2)}
    assert len(answers) == 1


def test_a_fixed_seed_reproduces_a_sampled_answer_and_another_seed_changes_it(served: Served) -> None:
    def sampled(seed: int) -> str | None:
        return chat(served, STORY, temperature=0.8, seed=seed, max_tokens=24).choices[0].message.content

    first = sampled(7)
    assert sampled(7) == first
    assert {sampled(8), sampled(9)} != {first}, "the seed changes nothing: it is not used"


def test_usage_equals_what_run_json_reports(served: Served) -> None:
    prompt = "Name a colour."
    result = run_cli("run", MODEL, "--json", "--temperature", "0", "-n", "24", prompt, env=served.env)
    assert result.returncode == 0, result.stderr.decode()
    stats = json.loads(result.stdout)["stats"]
    answer = chat(served, [{"role": "user", "content": prompt}], temperature=0, max_tokens=24)
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (
        stats["prompt_tokens"],
        stats["generated_tokens"],
    )
    assert answer.choices[0].message.content == json.loads(result.stdout)["text"]
