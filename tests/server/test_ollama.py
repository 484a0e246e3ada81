"""The official ollama client (and plain HTTP where the client hides the wire) against a real `llamacli serve`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import ollama
import openai
import pytest

from llamacli import __version__
from tests.server.conftest import MODEL
from tests.support.serving import Served, start_serve

GREEDY = {"temperature": 0, "seed": 1}
COLOUR = [{"role": "user", "content": "Name a colour."}]
COUNT = "Count: 1, 2, 3,"


def client(served: Served, key: str | None = None) -> ollama.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else None
    return ollama.Client(host=served.base_url, headers=headers)


# -- before any model is loaded (quick) --------------------------------------------------------------------


def test_version_and_the_probe_answer_as_ollama_does(bare_served: Served, key_headers: dict[str, str]) -> None:
    assert httpx.get(bare_served.url("/api/version"), headers=key_headers).json() == {"version": __version__}
    root = httpx.get(bare_served.url("/"), headers=key_headers)
    assert root.status_code == 200 and root.text == "llamacli is running"
    head = httpx.head(bare_served.url("/"), headers=key_headers)
    assert head.status_code == 200 and head.content == b""


def test_list_shows_the_bundled_model_with_its_details(bare_served: Served) -> None:
    models = {m.model: m for m in client(bare_served, "sekrit").list().models}
    model = models[MODEL]
    assert model.details is not None and model.details.format == "gguf" and model.details.family == "llama"
    assert model.details.parameter_size == "135M" and model.details.quantization_level == "Q4_1"
    assert model.size is not None and model.size > 50_000_000
    assert model.digest is not None and len(model.digest) == 64 and int(model.digest, 16) >= 0
    assert model.modified_at is not None and model.modified_at.tzinfo is not None


def test_show_reads_the_gguf_header_without_loading(bare_served: Served) -> None:
    shown = client(bare_served, "sekrit").show(MODEL)
    info = shown.modelinfo or {}
    assert info["general.architecture"] == "llama" and info["llama.context_length"] == 8192
    assert info["llama.block_count"] == 30 and info["general.parameter_count"] > 100_000_000
    assert "<|im_start|>" in (shown.template or "") and shown.capabilities == ["completion"]
    assert shown.details is not None and shown.details.family == "llama"
    assert "temperature" in (shown.parameters or "")
    assert client(bare_served, "sekrit").ps().models == []  # showing loads nothing


def test_show_takes_the_older_name_field(bare_served: Served, key_headers: dict[str, str]) -> None:
    answer = httpx.post(bare_served.url("/api/show"), json={"name": MODEL}, headers=key_headers)
    assert answer.status_code == 200 and answer.json()["details"]["family"] == "llama"


@pytest.mark.parametrize("call", ["chat", "generate", "show"])
def test_an_unknown_model_is_a_404_response_error(bare_served: Served, call: str) -> None:
    ollama_client = client(bare_served, "sekrit")
    with pytest.raises(ollama.ResponseError) as raised:
        if call == "chat":
            ollama_client.chat(model="no-such-model:1b", messages=COLOUR)
        elif call == "generate":
            ollama_client.generate(model="no-such-model:1b", prompt="Hi", stream=True).__next__()
        else:
            ollama_client.show("no-such-model:1b")
    assert raised.value.status_code == 404 and "no-such-model" in raised.value.error


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/chat", {"model": MODEL, "messages": COLOUR, "format": {"type": "integer", "minimum": 1}}, "minimum"),
        ("/api/generate", {"model": MODEL, "prompt": "x", "format": "yaml"}, "format"),
        ("/api/chat", {"model": MODEL, "messages": COLOUR, "tools": [{"type": "function"}]}, "tools"),
        ("/api/chat", {"model": MODEL, "messages": [{"role": "user", "content": "x", "images": ["aGk="]}]}, "images"),
        ("/api/chat", {"model": MODEL, "messages": [{"role": "tool", "content": "x"}]}, "role"),
        ("/api/chat", {"model": MODEL, "messages": COLOUR, "keep_alive": "soon"}, "keep_alive"),
        ("/api/chat", {"model": MODEL, "messages": COLOUR, "options": {"temperature": -1}}, "temperature"),
        ("/api/chat", {"model": MODEL, "messages": COLOUR, "options": {"stop": 3}}, "stop"),
        ("/api/generate", {"model": MODEL, "prompt": "x", "images": ["aGk="]}, "images"),
        ("/api/generate", {"model": MODEL, "prompt": "x", "raw": True, "system": "Be brief."}, "raw"),
        ("/api/generate", {"model": MODEL, "prompt": "x", "context": [1, 2]}, "context"),
        ("/api/generate", {"model": MODEL, "prompt": "x", "template": "{{ .Prompt }}"}, "template"),
        ("/api/show", {"model": 3}, "model"),
    ],
)
def test_what_cannot_be_done_is_a_one_line_400_in_ollamas_shape(
    bare_served: Served, key_headers: dict[str, str], path: str, body: dict[str, object], field: str
) -> None:
    answer = httpx.post(bare_served.url(path), json=body, headers=key_headers)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert isinstance(error, str) and field in error and "\n" not in error and "Traceback" not in error
    assert client(bare_served, "sekrit").ps().models == []  # refused before any model was loaded


def test_a_body_that_is_not_json_is_a_400(bare_served: Served, key_headers: dict[str, str]) -> None:
    answer = httpx.post(bare_served.url("/api/generate"), content=b"{not json", headers=key_headers)
    assert answer.status_code == 400 and answer.json()["error"].startswith("the body is not valid JSON")


def test_unloading_a_model_that_is_not_loaded_loads_nothing(bare_served: Served) -> None:
    answer = client(bare_served, "sekrit").chat(model=MODEL, keep_alive=0)
    assert answer.done and answer.done_reason == "unload" and answer.message.role == "assistant"
    assert client(bare_served, "sekrit").ps().models == []


# -- with the model (slow) ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_streamed_and_whole_chat_agree_and_count_as_the_openai_api_does(served: Served) -> None:
    options = {**GREEDY, "num_predict": 24}
    whole = client(served).chat(model=MODEL, messages=COLOUR, options=options)
    pieces = list(client(served).chat(model=MODEL, messages=COLOUR, options=options, stream=True))
    assert [p.done for p in pieces] == [False] * (len(pieces) - 1) + [True]
    text = "".join(p.message.content or "" for p in pieces)
    assert text == whole.message.content and text and whole.message.role == "assistant"
    last = pieces[-1]
    assert (last.eval_count, last.prompt_eval_count, last.done_reason) == (
        whole.eval_count,
        whole.prompt_eval_count,
        whole.done_reason,
    )
    same = openai.OpenAI(base_url=served.url("/v1"), api_key="none", max_retries=0).chat.completions.create(
        model=MODEL, messages=COLOUR, temperature=0, seed=1, max_tokens=24
    )
    assert same.usage is not None and same.choices[0].message.content == text
    assert whole.prompt_eval_count == same.usage.prompt_tokens
    assert whole.eval_count == same.usage.completion_tokens
    assert whole.done_reason == same.choices[0].finish_reason


@pytest.mark.slow
def test_the_final_object_carries_consistent_metrics(served: Served) -> None:
    started = time.perf_counter()
    answer = client(served).generate(model=MODEL, prompt="Say hi.", options={**GREEDY, "num_predict": 5})
    elapsed_ns = (time.perf_counter() - started) * 1e9
    assert answer.done and answer.done_reason == "length" and answer.eval_count == 5
    assert answer.prompt_eval_count is not None and answer.prompt_eval_count > 5  # the template's turn markers
    durations = [answer.load_duration, answer.prompt_eval_duration, answer.eval_duration, answer.total_duration]
    assert all(isinstance(d, int) and d >= 0 for d in durations)
    assert answer.eval_duration and answer.prompt_eval_duration and answer.total_duration
    assert answer.prompt_eval_duration + answer.eval_duration <= answer.total_duration <= elapsed_ns
    assert answer.created_at is not None and datetime.fromisoformat(answer.created_at).tzinfo is not None


@pytest.mark.slow
def test_num_predict_bounds_the_answer_and_raw_skips_the_template(served: Served) -> None:
    raw = client(served).generate(model=MODEL, prompt=COUNT, raw=True, options={**GREEDY, "num_predict": 3})
    templated = client(served).generate(model=MODEL, prompt=COUNT, options={**GREEDY, "num_predict": 3})
    assert raw.eval_count == 3 and raw.done_reason == "length"
    assert raw.prompt_eval_count is not None and templated.prompt_eval_count is not None
    assert raw.prompt_eval_count < templated.prompt_eval_count  # no system turn, no turn markers


@pytest.mark.slow
def test_stop_ends_the_answer_before_the_stop_text(served: Served) -> None:
    options = {**GREEDY, "num_predict": 16}
    free = client(served).generate(model=MODEL, prompt=COUNT, raw=True, options=options)
    assert free.response is not None and "6" in free.response
    stopped = client(served).generate(model=MODEL, prompt=COUNT, raw=True, options={**options, "stop": ["6"]})
    assert stopped.done_reason == "stop" and stopped.response == free.response.split("6")[0]


@pytest.mark.slow
def test_stream_is_the_default_as_ndjson(served: Served) -> None:
    body = {"model": MODEL, "prompt": COUNT, "raw": True, "options": {**GREEDY, "num_predict": 6}}
    with httpx.stream("POST", served.url("/api/generate"), json=body, timeout=120) as answer:
        assert answer.headers["content-type"].startswith("application/x-ndjson")
        objects = [json.loads(line) for line in answer.iter_lines() if line]
    assert len(objects) > 2 and objects[-1]["done"] and objects[-1]["eval_count"] == 6
    assert all(not o["done"] and o["model"] == MODEL for o in objects[:-1])


@pytest.mark.slow
def test_a_prompt_longer_than_the_window_is_a_400(served: Served) -> None:
    with pytest.raises(ollama.ResponseError) as raised:
        client(served).generate(model=MODEL, prompt="word " * 3000, raw=True)
    assert raised.value.status_code == 400


@pytest.mark.slow
def test_ps_shows_the_preloaded_model_kept_forever(served: Served) -> None:
    loaded = client(served).ps().models
    assert [m.model for m in loaded] == [MODEL]
    model = loaded[0]
    assert model.context_length == 2048 and model.size_vram == 0 and model.size and model.size > 50_000_000
    assert model.expires_at is not None and model.expires_at > datetime.now(UTC) + timedelta(days=365 * 50)
    assert model.details is not None and model.details.family == "llama"
    listed = {m.model: m.digest for m in client(served).list().models}
    assert listed[MODEL] == model.digest


@pytest.fixture
def unpreloaded(tmp_path: Path) -> Iterator[Served]:
    """A server of its own with nothing loaded at start (loading and unloading must not disturb `served`)."""
    env = {"HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "LLAMACLI_MODEL": ""}
    server = start_serve("--parallel", "1", "--ctx", "1024", env=env, home=tmp_path, timeout=60)
    yield server
    server.stop()


@pytest.mark.slow
def test_preload_keep_alive_and_unload(unpreloaded: Served) -> None:
    ollama_client = client(unpreloaded)
    loaded = ollama_client.generate(model=MODEL, keep_alive="10m")
    assert loaded.done and loaded.done_reason == "load" and loaded.response == ""
    (model,) = ollama_client.ps().models
    now = datetime.now(UTC)
    assert model.expires_at is not None and now + timedelta(minutes=9) < model.expires_at < now + timedelta(minutes=11)

    # Asked to unload while a request runs: it stays until that request ends, then goes.
    counting = {**GREEDY, "num_predict": 48}  # counting goes on: the request outlasts the unload request
    stream = ollama_client.generate(model=MODEL, prompt=COUNT, raw=True, options=counting, stream=True)
    first = next(stream)
    assert not first.done
    unloaded = ollama_client.generate(model=MODEL, keep_alive=0)
    assert unloaded.done_reason == "unload" and [m.model for m in ollama_client.ps().models] == [MODEL]
    assert list(stream)[-1].done
    assert _eventually_empty(ollama_client)

    answer = ollama_client.chat(model=MODEL, messages=COLOUR, options={**GREEDY, "num_predict": 2}, keep_alive=0)
    assert answer.eval_count == 2 and answer.load_duration and answer.load_duration > 10_000_000  # it loaded
    assert _eventually_empty(ollama_client)  # keep_alive 0 with a prompt: unloaded once answered


def _eventually_empty(ollama_client: ollama.Client, timeout: float = 5) -> bool:
    """Whether /api/ps is empty within TIMEOUT (the lease is returned just after the last line is sent)."""
    deadline = time.monotonic() + timeout
    while ollama_client.ps().models:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
