"""ollama's /api/pull and /api/delete on a real `llamacli serve`, through the official `ollama` client.

The quick tests pull a small GGUF (a real header, padded to a few MiB, not loadable) from the loopback Hub;
the slow ones pull SmolLM2 under the registry's `llama3.2:1b` name, chat with it, and delete it loaded.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import ollama
import pytest

from tests.support.cli import run_cli
from tests.support.gguf_factory import copy_gguf, small_gguf
from tests.support.hubserver import HubServer
from tests.support.serving import Served, start_serve

REPO = "llamacli-test/Tiny-GGUF"
FILE = "Tiny-Q8_0.gguf"
TINY = f"hf.co/{REPO}:Q8_0"  # the name a pull of it is listed under
PADDING = 6 << 20  # bytes of tensor data: several progress lines when the Hub is slowed down


def client(served: Served, key: str | None = None) -> ollama.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else None
    return ollama.Client(host=served.base_url, headers=headers)


def serve_env(home: Path, hub: HubServer) -> dict[str, str]:
    """A server's own homes, the loopback Hub as HF_ENDPOINT, online."""
    return {
        "LLAMACLI_HOME": str(home / "llamacli-home"),
        "HF_HOME": str(home / "hf-home"),
        "HF_ENDPOINT": hub.endpoint,
        "HF_HUB_OFFLINE": "",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "NO_COLOR": "1",
        "LLAMACLI_MODEL": "",
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small GGUF with a real header and PADDING bytes of tensor data."""
    folder = tmp_path_factory.mktemp("tiny")
    pad = np.zeros(PADDING // 4, dtype=np.float32).reshape(-1, 1024)
    import gguf

    return copy_gguf(
        small_gguf(folder / "small.gguf"),
        folder / FILE,
        {},
        extra_tensors={"pad": (pad, gguf.GGMLQuantizationType.F32)},
    )


@pytest.fixture(scope="module")
def online(bare_hub_server: HubServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`llamacli serve` with no model loaded, online against the bare loopback Hub."""
    server = start_serve(env=serve_env(tmp_path_factory.mktemp("online"), bare_hub_server), timeout=60)
    yield server
    server.stop()


@pytest.fixture
def published(bare_hub: HubServer, tiny: Path, online: Served) -> HubServer:
    """The tiny model on the Hub, and not (or no longer) on the server."""
    bare_hub.add(REPO, {FILE: tiny})
    httpx.request("DELETE", online.url("/api/delete"), json={"model": TINY}, timeout=30)
    return bare_hub


def store(served: Served) -> Path:
    return Path(served.env["LLAMACLI_HOME"]) / "models"


def listed(served: Served) -> list[str]:
    result = run_cli("list", "--json", env=served.env)
    assert result.returncode == 0, result.stderr
    return [entry["name"] for entry in json.loads(result.stdout)]


def progress_of(parts: list[ollama.ProgressResponse]) -> list[ollama.ProgressResponse]:
    return [part for part in parts if part.digest]


def test_a_streamed_pull_reports_progress_as_ollama_does(published: HubServer, online: Served, tiny: Path) -> None:
    published.faults.delay = 0.01  # about 1 s for the file: a few throttled lines
    parts = list(client(online).pull(TINY, stream=True))
    statuses = [part.status for part in parts]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    sha = hashlib.sha256(tiny.read_bytes()).hexdigest()
    lines = progress_of(parts)
    assert len(lines) >= 3 and len(lines) == len(parts) - 4  # nothing else in between
    assert all(p.status == f"pulling {sha[:12]}" and p.digest == f"sha256:{sha}" for p in lines)
    assert all(p.total == tiny.stat().st_size for p in lines)
    done = [p.completed or 0 for p in lines]
    assert done == sorted(done) and done[-1] == tiny.stat().st_size and done[-2] < done[-1]
    assert len(lines) <= 2 + 4 * 3  # throttled: a few a second (the transfer takes about 1 s, allow 3)
    assert TINY in [m.model for m in client(online).list().models] and TINY in listed(online)


def test_a_pull_of_a_model_already_here_downloads_nothing(published: HubServer, online: Served, tiny: Path) -> None:
    client(online).pull(TINY)
    published.reset()
    parts = list(client(online).pull(TINY, stream=True))
    assert [p.status for p in parts][-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    [whole] = progress_of(parts)  # its one layer, complete
    assert whole.completed == whole.total == tiny.stat().st_size
    assert published.requests("/cdn/") == []


def test_a_pull_not_streamed_answers_once(published: HubServer, online: Served) -> None:
    answer = httpx.post(online.url("/api/pull"), json={"name": TINY, "stream": False}, timeout=60)  # older field
    assert answer.status_code == 200 and answer.json() == {"status": "success"}
    assert TINY in listed(online)


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
@pytest.mark.parametrize(
    ("name", "status", "words"),
    [
        ("nosuchfamily:1b", 404, "unknown model 'nosuchfamily:1b'"),
        (f"hf.co/{REPO}:Q2_K", 404, "Q2_K"),
        ("hf.co/a/b:c:d", 400, ""),
        ("./model.gguf", 400, "llamacli import"),
    ],
)
def test_a_pull_refused_before_any_byte_keeps_its_status(
    published: HubServer, online: Served, stream: bool, name: str, status: int, words: str
) -> None:
    with pytest.raises(ollama.ResponseError) as refused:
        result = client(online).pull(name, stream=stream)
        list(result) if stream else None  # type: ignore[call-overload]
    assert refused.value.status_code == status and words in refused.value.error
    assert "\n" not in refused.value.error and "Traceback" not in refused.value.error


def test_a_failure_mid_stream_is_an_error_line(published: HubServer, online: Served) -> None:
    published.faults.flip_byte = 5 << 20  # the bytes arrive, then the digest is wrong
    published.faults.delay = 0.02  # past the first wait: the stream has started
    with pytest.raises(ollama.ResponseError) as failed:
        list(client(online).pull(TINY, stream=True))
    assert failed.value.status_code == -1  # raised from a line of a 200 stream, as ollama's client does
    assert "sha256" in failed.value.error and "\n" not in failed.value.error
    assert TINY not in listed(online)


def test_a_client_that_leaves_stops_the_download_and_the_next_pull_resumes(
    published: HubServer, online: Served, tiny: Path
) -> None:
    published.faults.delay = 0.05  # about 5 s for the file
    with httpx.stream("POST", online.url("/api/pull"), json={"model": TINY}, timeout=30) as response:
        for line in response.iter_lines():
            if json.loads(line).get("completed"):
                break  # the client goes away mid-download
    partial = next((store(online) / "partial").glob("*.part"))
    time.sleep(1)  # the download stops at its next piece
    kept = partial.stat().st_size
    time.sleep(1)
    assert 0 < kept == partial.stat().st_size < tiny.stat().st_size  # stopped, not finished in the background
    published.reset()
    parts = list(client(online).pull(TINY, stream=True))
    assert progress_of(parts)[0].completed == kept  # resumed where it stopped
    assert [r.range for r in published.requests("/cdn/")] == [f"bytes={kept}-"]
    assert TINY in listed(online)


def test_delete_removes_the_model_then_it_is_not_found(published: HubServer, online: Served) -> None:
    client(online).pull(TINY)
    blobs = sorted((store(online) / "blobs").iterdir())
    assert client(online).delete(TINY).status == "success"
    assert TINY not in [m.model for m in client(online).list().models] and TINY not in listed(online)
    assert all(not blob.exists() for blob in blobs)
    again = httpx.request("DELETE", online.url("/api/delete"), json={"model": TINY}, timeout=30)
    assert again.status_code == 404 and again.json() == {"error": f"model '{TINY}' not found"}
    with pytest.raises(ollama.ResponseError) as unknown:
        client(online).delete("nosuchfamily:1b")
    assert unknown.value.status_code == 404


def test_the_bundled_model_cannot_be_deleted_through_the_server(online: Served) -> None:
    with pytest.raises(ollama.ResponseError) as refused:
        client(online).delete("smollm2:135m")
    assert refused.value.status_code == 400 and "pip uninstall" in refused.value.error


def test_serve_offline_refuses_pulls_without_a_request(bare_hub: HubServer, tiny: Path, tmp_path: Path) -> None:
    bare_hub.add(REPO, {FILE: tiny})
    server = start_serve("--offline", env=serve_env(tmp_path, bare_hub), timeout=60)
    try:
        for stream in (True, False):
            with pytest.raises(ollama.ResponseError) as refused:
                result = client(server).pull(TINY, stream=stream)
                list(result) if stream else None  # type: ignore[call-overload]
            assert refused.value.status_code == 403 and "offline" in refused.value.error
    finally:
        server.stop()
    assert bare_hub.requests() == []


@pytest.mark.parametrize(("method", "path"), [("POST", "/api/pull"), ("DELETE", "/api/delete")])
def test_pull_and_delete_need_the_key_and_this_server_s_name(bare_served: Served, method: str, path: str) -> None:
    body = {"model": "smollm2:135m"}
    assert httpx.request(method, bare_served.url(path), json=body, timeout=30).status_code == 401
    foreign = {"Authorization": "Bearer sekrit", "Host": f"evil.example:{bare_served.port}"}
    assert httpx.request(method, bare_served.url(path), json=body, headers=foreign, timeout=30).status_code == 403


def test_a_pull_without_a_model_is_a_400(bare_served: Served, key_headers: dict[str, str]) -> None:
    answer = httpx.post(bare_served.url("/api/pull"), json={}, headers=key_headers, timeout=30)
    assert answer.status_code == 400 and answer.json() == {"error": "model is required"}


# -- a model that loads: SmolLM2 requantized, served by the loopback Hub under llama3.2:1b's files (slow) ----

FAMILY = "llama3.2:1b"


@pytest.fixture(scope="module")
def family(hub_server: HubServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`llamacli serve` with no model loaded, online against the loopback Hub of requantized files."""
    env = serve_env(tmp_path_factory.mktemp("family"), hub_server)
    server = start_serve("--parallel", "2", "--ctx", "1024", "--temperature", "0", env=env, timeout=60)
    yield server
    server.stop()


@pytest.mark.slow
def test_a_pulled_model_answers_and_deleting_it_unloads_it(family: Served, hub_server: HubServer) -> None:
    hub_server.reset()
    parts = list(client(family).pull(FAMILY, stream=True))
    assert parts[0].status == "pulling manifest" and parts[-1].status == "success"
    last = progress_of(parts)[-1]
    assert last.completed == last.total and hub_server.body_bytes() == last.total
    assert FAMILY in [m.model for m in client(family).list().models]
    answer = client(family).chat(FAMILY, messages=[{"role": "user", "content": "Say hi"}], options={"num_predict": 8})
    assert answer.done and answer.message.content
    assert [m.model for m in client(family).ps().models] == [FAMILY]  # loaded, idle for its keep-alive
    assert client(family).delete(FAMILY).status == "success"
    assert client(family).ps().models == []  # unloaded first
    assert FAMILY not in [m.model for m in client(family).list().models] and FAMILY not in listed(family)


@pytest.mark.slow
def test_a_model_that_is_generating_is_not_deleted(family: Served, hub_server: HubServer) -> None:
    client(family).pull(FAMILY)
    long = {"model": FAMILY, "prompt": "Once upon a time", "max_tokens": 900, "ignore_eos": True, "stream": True}
    with httpx.stream("POST", family.url("/v1/completions"), json=long, timeout=60) as streaming:
        lines = streaming.iter_lines()  # held: a dropped iterator would close the stream
        while not next(lines).startswith("data:"):
            pass  # it is generating
        refused = httpx.request("DELETE", family.url("/api/delete"), json={"model": FAMILY}, timeout=30)
    assert refused.status_code == 409, refused.text
    assert refused.json() == {
        "error": f"{FAMILY} is in use: a request is generating with it (delete it once they have finished)"
    }
    assert FAMILY in listed(family)
    deadline = time.monotonic() + 30  # the stream was closed: its slot is freed within a token
    while (
        gone := httpx.request("DELETE", family.url("/api/delete"), json={"model": FAMILY}, timeout=30)
    ).status_code == 409:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert gone.status_code == 200 and FAMILY not in listed(family)
