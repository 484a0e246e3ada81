"""`serve --guard-model` with the stand-in guards (tests/support/guard_standin.py), through the official
clients: the always-unsafe one refuses every request with 400 content_blocked naming the categories (openai:
BadRequestError; ollama: ResponseError 400), streamed or not; the always-safe one lets answers through."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ollama
import openai
import pytest

from tests.server.conftest import MODEL, _home
from tests.support.guard_standin import answer_blocking_standin, unsafe_standin
from tests.support.serving import Served, start_serve

pytestmark = pytest.mark.slow

ASK = [{"role": "user", "content": "Say hello"}]


def _guarded(tmp_path_factory: pytest.TempPathFactory, name: str, guard: Path) -> Served:
    env = _home(tmp_path_factory, name)
    return start_serve(MODEL, "--parallel", "2", "--ctx", "2048", "--guard-model", str(guard), env=env)


@pytest.fixture(scope="module")
def unsafe_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    guard = unsafe_standin(tmp_path_factory.mktemp("guard") / "unsafe-guard.gguf")
    server = _guarded(tmp_path_factory, "unsafe-served", guard)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def safe_served(tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path) -> Iterator[Served]:
    server = _guarded(tmp_path_factory, "safe-served", smollm2_path)
    yield server
    server.stop()


def test_openai_client_gets_content_blocked(unsafe_served: Served) -> None:
    client = openai.OpenAI(base_url=unsafe_served.url("/v1"), api_key="none", max_retries=0)
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as raised:
            client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=8, stream=stream)
        assert raised.value.code == "content_blocked"
        assert "found the prompt unsafe: S" in str(raised.value.message)
    with pytest.raises(openai.BadRequestError) as raised:
        client.completions.create(model=MODEL, prompt="Say hello", max_tokens=8)
    assert raised.value.code == "content_blocked"


def test_ollama_client_gets_400(unsafe_served: Served) -> None:
    client = ollama.Client(host=unsafe_served.base_url)
    for stream in (False, True):
        with pytest.raises(ollama.ResponseError) as raised:
            answer = client.chat(model=MODEL, messages=ASK, stream=stream, options={"num_predict": 8})
            if stream:
                list(answer)
        assert raised.value.status_code == 400
        assert "found the prompt unsafe: S" in raised.value.error
    with pytest.raises(ollama.ResponseError) as raised:
        client.generate(model=MODEL, prompt="Say hello", options={"num_predict": 8})
    assert raised.value.status_code == 400


def test_safe_guard_answers_as_usual(safe_served: Served) -> None:
    client = openai.OpenAI(base_url=safe_served.url("/v1"), api_key="none", max_retries=0)
    whole = client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=12, temperature=0)
    text = whole.choices[0].message.content or ""
    assert text and whole.choices[0].finish_reason in ("stop", "length")
    stream = client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=12, temperature=0, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == text  # held, then streamed
    ollama_client = ollama.Client(host=safe_served.base_url)
    answer = ollama_client.chat(model=MODEL, messages=ASK, options={"temperature": 0, "num_predict": 12})
    assert answer.message.content == text
    pieces = ollama_client.generate(model=MODEL, prompt="Say hello", stream=True, options={"num_predict": 12})
    assert "".join(piece.response for piece in pieces)


def test_a_blocked_answer_is_a_400_before_any_byte_of_it(tmp_path_factory: pytest.TempPathFactory) -> None:
    guard = answer_blocking_standin(tmp_path_factory.mktemp("guard") / "answer-blocking-guard.gguf")
    server = _guarded(tmp_path_factory, "answer-blocking-served", guard)
    try:
        client = openai.OpenAI(base_url=server.url("/v1"), api_key="none", max_retries=0)
        for stream in (False, True):
            with pytest.raises(openai.BadRequestError) as raised:
                answer = client.chat.completions.create(
                    model=MODEL, messages=ASK, max_tokens=64, temperature=0, stream=stream
                )
                if stream:
                    list(answer)
            assert raised.value.code == "content_blocked"
            assert "found the answer unsafe: S" in str(raised.value.message)
        with pytest.raises(ollama.ResponseError) as refused:
            ollama.Client(host=server.base_url).chat(
                model=MODEL, messages=ASK, options={"temperature": 0, "num_predict": 64}
            )
        assert refused.value.status_code == 400 and "found the answer unsafe" in refused.value.error
    finally:
        server.stop()
