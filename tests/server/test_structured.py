"""Structured output through the server: OpenAI's `response_format` and ollama's `format` constrain the answer
with the same grammar as `run --schema` (every answer validates)."""

from __future__ import annotations

import json

import jsonschema
import ollama
import openai
import pytest

from tests.server.conftest import MODEL
from tests.support.serving import Served

pytestmark = pytest.mark.slow

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
ASK = [{"role": "user", "content": "John is 31. Give his name and age as JSON."}]


def test_openai_json_schema_answers_validate_streamed_and_whole(served: Served) -> None:
    client = openai.OpenAI(base_url=served.url("/v1"), api_key="none", max_retries=0)
    response_format = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}}
    whole = client.chat.completions.create(
        model=MODEL, messages=ASK, temperature=0, max_tokens=64, response_format=response_format
    )
    text = whole.choices[0].message.content or ""
    jsonschema.validate(json.loads(text), PERSON)
    assert whole.choices[0].finish_reason == "stop"
    stream = client.chat.completions.create(
        model=MODEL, messages=ASK, temperature=0, max_tokens=64, response_format=response_format, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == text


def test_openai_json_object_gives_an_object(served: Served) -> None:
    client = openai.OpenAI(base_url=served.url("/v1"), api_key="none", max_retries=0)
    answer = client.chat.completions.create(
        model=MODEL, messages=ASK, temperature=0, max_tokens=64, response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(answer.choices[0].message.content or ""), dict)


def test_ollama_format_schema_and_json(served: Served) -> None:
    client = ollama.Client(host=served.base_url)
    answer = client.chat(model=MODEL, messages=ASK, format=PERSON, options={"temperature": 0, "num_predict": 64})
    jsonschema.validate(json.loads(answer.message.content or ""), PERSON)
    generated = client.generate(model=MODEL, prompt=ASK[0]["content"], format="json", options={"temperature": 0})
    assert isinstance(json.loads(generated.response), dict)
