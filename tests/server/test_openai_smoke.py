"""The official openai client against a real `llamacli serve` (the bundled model)."""

from __future__ import annotations

import openai
import pytest

from tests.server.conftest import MODEL
from tests.support.serving import Served

pytestmark = pytest.mark.slow


def client(served: Served) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url("/v1"), api_key="none", max_retries=0)


def test_streamed_and_whole_chat_give_the_same_greedy_answer(served: Served) -> None:
    messages = [{"role": "user", "content": "Name a colour."}]
    whole = client(served).chat.completions.create(model=MODEL, messages=messages, temperature=0, max_tokens=24)
    stream = client(served).chat.completions.create(
        model=MODEL,
        messages=messages,
        temperature=0,
        max_tokens=24,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content and text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
