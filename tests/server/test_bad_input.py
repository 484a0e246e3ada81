"""Every bad request gets an OpenAI-shaped error that the official client raises as the right class, one log
line, and never a traceback (a server with no model: all of these are refused before one would load)."""

from __future__ import annotations

import json
import re

import httpx
import openai
import pytest

from tests.server.conftest import MODEL
from tests.support.serving import Served

HELLO = [{"role": "user", "content": "hi"}]
MINIMUM = {"type": "integer", "minimum": 1}  # a keyword no grammar enforces


def client(served: Served, key: str = "sekrit") -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url("/v1"), api_key=key, max_retries=0, timeout=60)


def body(**fields: object) -> bytes:
    return json.dumps({"model": MODEL, "messages": HELLO, **fields}).encode()


def logged(served: Served, start: int, pattern: str) -> str:
    """The one log line of a refused request, and no traceback anywhere since START."""
    line = served.wait_for_line(pattern, start)
    assert not any("Traceback" in seen for seen in served.log_since(start)), served.log_since(start)
    return line


@pytest.mark.parametrize(
    ("content", "param", "words"),
    [
        (b"{bad", None, "not valid JSON"),
        (b'"a string"', None, "must be a JSON object"),
        (b"[1, 2]", None, "must be a JSON object"),
        (b"\xff\xfe", None, "not valid JSON"),
        (body(messages="hi"), "messages", "valid list"),
        (body(temperature="hot"), "temperature", "valid number"),
        (body(temperature=3), "temperature", "less than or equal to 2"),
        (body(max_tokens=0), "max_tokens", "greater than or equal to 1"),
        (body(n=2), "n", "only n = 1"),
        (body(messages=[]), "messages", "at least 1"),
        (body(messages=[{"role": "wizard", "content": "hi"}]), "messages.0.role", "'system'"),
        (body(stop=["x"] * 17), "stop", "at most 16"),
        (body(stream="yes please"), "stream", "valid boolean"),
        (json.dumps({"messages": HELLO}).encode(), "model", "Field required"),
        (body(response_format={"type": "yaml"}), "response_format", "text, json_object or json_schema"),
        (
            body(
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "n", "schema": {"type": "integer", "minimum": 1}},
                }
            ),
            "response_format",
            "'minimum'",
        ),
    ],
)
def test_a_bad_chat_body_is_a_400_the_client_raises_as_bad_request(
    bare_served: Served, content: bytes, param: str | None, words: str
) -> None:
    start = len(bare_served.lines)
    with pytest.raises(openai.BadRequestError) as refused:
        client(bare_served).post("/chat/completions", cast_to=httpx.Response, content=content)
    error = refused.value
    assert error.status_code == 400 and error.param == param and error.type == "invalid_request_error"
    assert words in error.message
    line = logged(bare_served, start, r"^POST /v1/chat/completions 400 ")
    assert words in line and "\n" not in line


def test_the_typed_client_gets_bad_request_for_values_it_lets_through(bare_served: Served) -> None:
    with pytest.raises(openai.BadRequestError, match="only n = 1"):
        client(bare_served).chat.completions.create(model=MODEL, messages=HELLO, n=2)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        client(bare_served).completions.create(model=MODEL, prompt="hi", max_tokens=0)


def test_an_unknown_model_is_a_404_not_found(bare_served: Served) -> None:
    start = len(bare_served.lines)
    with pytest.raises(openai.NotFoundError) as refused:
        client(bare_served).chat.completions.create(model="no-such-model", messages=HELLO)  # type: ignore[arg-type]
    assert refused.value.code == "model_not_found" and refused.value.param == "model"
    logged(bare_served, start, r"^POST /v1/chat/completions 404 model=no-such-model error=")


def test_an_unknown_route_is_a_404_and_a_wrong_method_a_405(bare_served: Served) -> None:
    start = len(bare_served.lines)
    with pytest.raises(openai.NotFoundError) as missing:
        client(bare_served).get("/embeddings", cast_to=httpx.Response)
    assert missing.value.code == "not_found"
    with pytest.raises(openai.APIStatusError) as wrong:
        client(bare_served).get("/chat/completions", cast_to=httpx.Response)
    assert wrong.value.status_code == 405 and wrong.value.code == "method_not_allowed"
    logged(bare_served, start, r"^GET /v1/embeddings 404 error=")
    logged(bare_served, start, r"^GET /v1/chat/completions 405 error=")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_8_mib_is_a_413(bare_served: Served, chunked: bool) -> None:
    """Refused by its declared length, or as it arrives when no length is declared."""
    big = b'{"model": "x", "prompt": "' + b"a" * (9 * 1024 * 1024) + b'"}'
    content = iter([big[i : i + 65536] for i in range(0, len(big), 65536)]) if chunked else big
    start = len(bare_served.lines)
    with pytest.raises(openai.APIStatusError) as refused:
        client(bare_served).post("/completions", cast_to=httpx.Response, content=content)
    assert refused.value.status_code == 413 and refused.value.code == "body_too_large"
    logged(bare_served, start, r"^POST /v1/completions 413 error=")


def test_a_body_just_under_the_limit_is_read(bare_served: Served) -> None:
    """The limit is 8 MiB, not less: a 7 MiB body reaches validation (and fails it there, for its n)."""
    content = json.dumps({"model": MODEL, "prompt": "a" * (7 * 1024 * 1024), "n": 3}).encode()
    with pytest.raises(openai.BadRequestError, match="only n = 1"):
        client(bare_served).post("/completions", cast_to=httpx.Response, content=content)


@pytest.mark.slow
def test_a_prompt_longer_than_the_context_is_a_400_context_length_exceeded(served: Served) -> None:
    start = len(served.lines)
    long = [{"role": "user", "content": "word " * 3000}]  # the served context is 2048 tokens
    with pytest.raises(openai.BadRequestError) as refused:
        client(served, "none").chat.completions.create(model=MODEL, messages=long)  # type: ignore[arg-type]
    assert refused.value.code == "context_length_exceeded"
    assert re.search(r"\b2048\b", refused.value.message), refused.value.message
    logged(served, start, r"^POST /v1/chat/completions 400 model=smollm2:135m error=")
