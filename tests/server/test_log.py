"""The request log: one line per request on stderr with what an operator needs; `--json-log` for machines."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.server.conftest import MODEL
from tests.support.serving import Served, start_serve

OFFLINE = {"HF_HUB_OFFLINE": "1", "LLAMACLI_MODEL": "", "LLAMACLI_API_KEY": ""}
HELLO = [{"role": "user", "content": "Say hello."}]
FIELDS = (
    r"model=smollm2:135m prompt_tokens=(\d+) generated_tokens=(\d+) tokens_per_second=[\d.]+ ttft_ms=\d+"
    r" seconds=[\d.]+$"
)


def client(served: Served) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url("/v1"), api_key="none", max_retries=0, timeout=120)


@pytest.fixture
def json_served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Served]:
    """`serve --json-log`, with the bundled model when the test is slow."""
    model = [MODEL] if request.node.get_closest_marker("slow") else []
    server = start_serve(*model, "--json-log", env=OFFLINE, home=tmp_path)
    yield server
    assert server.stop() == 0


@pytest.mark.slow
def test_a_line_per_request_with_model_tokens_speed_and_ttft(served: Served) -> None:
    start = len(served.lines)
    whole = client(served).chat.completions.create(model=MODEL, messages=HELLO, temperature=0, max_tokens=6)  # type: ignore[arg-type]
    line = served.wait_for_line(r"^POST /v1/chat/completions 200 ", start)
    found = re.search(FIELDS, line)
    assert found, line
    assert whole.usage is not None
    assert (int(found[1]), int(found[2])) == (whole.usage.prompt_tokens, whole.usage.completion_tokens)
    start = len(served.lines)
    stream = client(served).completions.create(model=MODEL, prompt="Once", temperature=0, max_tokens=6, stream=True)
    assert len([chunk for chunk in stream]) >= 1
    line = served.wait_for_line(r"^POST /v1/completions 200 ", start)
    assert re.search(FIELDS, line) and "generated_tokens=6 " in line, line
    assert len([seen for seen in served.log_since(start) if seen.startswith("POST ")]) == 1


@pytest.mark.slow
def test_a_client_that_hangs_up_is_logged_as_cut(served: Served) -> None:
    start = len(served.lines)
    long = {"ignore_eos": True}
    stream = client(served).chat.completions.create(
        model=MODEL,
        messages=HELLO,
        max_tokens=500,
        stream=True,
        extra_body=long,  # type: ignore[arg-type]
    )
    for n, _chunk in enumerate(stream):
        if n == 3:
            break
    stream.close()
    line = served.wait_for_line(r"^POST /v1/chat/completions ", start)
    assert "cut=True" in line and "model=smollm2:135m" in line, line


def test_json_log_lines_are_json_objects(json_served: Served) -> None:
    httpx.post(json_served.url("/v1/chat/completions"), content=b"{bad", timeout=30)
    httpx.get(json_served.url("/nowhere"), timeout=30)
    json_served.wait_for_line(r'"path": "/nowhere"')
    records = [json.loads(line) for line in json_served.lines]
    assert records[0]["url"] == json_served.base_url
    bad, missing = records[1:3]
    assert (bad["method"], bad["path"], bad["status"]) == ("POST", "/v1/chat/completions", 400)
    assert bad["error"].startswith("the body is not valid JSON") and bad["seconds"] >= 0
    assert (missing["path"], missing["status"]) == ("/nowhere", 404)


@pytest.mark.slow
def test_json_log_has_the_generation_fields(json_served: Served) -> None:
    answer = client(json_served).chat.completions.create(model=MODEL, messages=HELLO, temperature=0, max_tokens=6)  # type: ignore[arg-type]
    json_served.wait_for_line(r'"path": "/v1/chat/completions"')
    record = [json.loads(line) for line in json_served.lines][-1]
    assert answer.usage is not None
    assert record["model"] == MODEL and record["status"] == 200
    assert (record["prompt_tokens"], record["generated_tokens"]) == (
        answer.usage.prompt_tokens,
        answer.usage.completion_tokens,
    )
    assert record["tokens_per_second"] > 0 and record["ttft_ms"] > 0 and record["seconds"] > 0
