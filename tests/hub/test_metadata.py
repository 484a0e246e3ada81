"""llamacli.hub.metadata against the loopback Hub (real huggingface_hub), and its pure helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamacli.errors import AuthRequired, DownloadError, RemoteNotFound
from llamacli.hub import metadata as hub_api
from llamacli.models import gguf_info
from tests.support.hubserver import LLAMA_1B_REPO, HubServer


@pytest.mark.parametrize(
    ("file", "quant"),
    [
        ("Llama-3.2-1B-Instruct-Q4_K_M.gguf", "Q4_K_M"),
        ("Meta-Llama-3.1-8B-Instruct-Q8_0.gguf", "Q8_0"),
        ("smollm2-135m-instruct.q4_1.gguf", "Q4_1"),
        ("Qwen2.5-7B-Instruct-IQ4_XS.gguf", "IQ4_XS"),
        ("model-f16.gguf", "F16"),
        ("Llama-3.2-1B-Instruct.gguf", None),
    ],
)
def test_quant_of_file_names(file: str, quant: str | None) -> None:
    assert hub_api.quant_of(file) == quant


def test_pick_quant() -> None:
    files = ["M-Q2_K.gguf", "M-Q4_K_M.gguf", "M-Q8_0.gguf", "M-Q8_0-00001-of-00002.gguf", "README.md"]
    assert hub_api.pick_quant("o/r", files, "q8_0") == "M-Q8_0.gguf"
    assert hub_api.pick_quant("o/r", files, None) == "M-Q4_K_M.gguf"
    split = ["M-Q4_K_M.gguf", "M-Q8_0/M-Q8_0-00001-of-00002.gguf", "M-Q8_0/M-Q8_0-00002-of-00002.gguf"]
    assert hub_api.pick_quant("o/r", split, "Q8_0") == "M-Q8_0/M-Q8_0-00001-of-00002.gguf"  # a split: its first part
    with pytest.raises(RemoteNotFound, match="no Q5_K_M"):
        hub_api.pick_quant("o/r", files, "Q5_K_M")
    with pytest.raises(RemoteNotFound, match="2 files match"):
        hub_api.pick_quant("o/r", ["a-Q4_K_M.gguf", "b-Q4_K_M.gguf"], "Q4_K_M")


@pytest.mark.slow
def test_resolve_reads_validated_metadata(hub: HubServer, quantized: dict[str, Path]) -> None:
    remote = hub_api.resolve(LLAMA_1B_REPO, "Llama-3.2-1B-Instruct-Q8_0.gguf")
    assert remote.size == quantized["Q8_0"].stat().st_size
    assert len(remote.revision) == 40 and len(remote.sha256) == 64
    assert remote.url.startswith("http://localhost:")
    assert "authorization" not in {k.lower() for k in remote.headers}


@pytest.mark.slow
def test_gguf_files_lists_sizes_and_sha256(hub: HubServer, quantized: dict[str, Path]) -> None:
    files = hub_api.gguf_files(LLAMA_1B_REPO)
    assert set(files) == {f"Llama-3.2-1B-Instruct-{q}.gguf" for q in ("Q2_K", "Q4_K_M", "Q8_0")}
    size, sha = files["Llama-3.2-1B-Instruct-Q2_K.gguf"]
    assert size == quantized["Q2_K"].stat().st_size and sha is not None and len(sha) == 64


@pytest.mark.slow
def test_remote_header_equals_the_local_reader_and_reads_only_the_header(
    hub: HubServer, quantized: dict[str, Path]
) -> None:
    remote = hub_api.remote_header(LLAMA_1B_REPO, "Llama-3.2-1B-Instruct-Q4_K_M.gguf")
    assert remote == gguf_info.read(quantized["Q4_K_M"])
    served = hub.body_bytes()
    assert remote.header_bytes <= served < 4 * remote.header_bytes  # a few ranges, never the 100 MB body
    assert all(r.range and r.range.startswith("bytes=") for r in hub.requests("/cdn/"))


def test_errors_are_domain_errors(bare_hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "f.gguf"
    file.write_bytes(b"GGUF, not read")
    bare_hub.add(LLAMA_1B_REPO, {"Llama-3.2-1B-Instruct-Q8_0.gguf": file})
    bare_hub.add("meta/Gated-GGUF", {"Gated-Q8_0.gguf": file}, token="hf_secret_token_123456")
    with pytest.raises(AuthRequired):
        hub_api.resolve("meta/Gated-GGUF", "Gated-Q8_0.gguf")
    with pytest.raises(RemoteNotFound):
        hub_api.resolve(LLAMA_1B_REPO, "Absent-Q8_0.gguf")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(DownloadError):
        hub_api.resolve(LLAMA_1B_REPO, "Llama-3.2-1B-Instruct-Q8_0.gguf")


HOSTILE_NAMES = [
    "../../../escape-Q4_K_M.gguf",
    "sub/../../escape-Q4_K_M.gguf",
    "/tmp/escape-Q4_K_M.gguf",
    "C:\\escape-Q4_K_M.gguf",
    "C:escape-Q4_K_M.gguf",
    "sub\\..\\escape-Q4_K_M.gguf",
    "escape\x00-Q4_K_M.gguf",
    "\uff0e\uff0e\uff0fescape-Q4_K_M.gguf",  # fullwidth ../
    "\u212aescape-Q4_K_M.gguf",  # Kelvin sign
    "\x1b]0;owned\x07escape-Q4_K_M.gguf",  # a terminal escape sequence
    "escape-Q4_K_M.gguf\n",
    "./escape-Q4_K_M.gguf",
    "sub//escape-Q4_K_M.gguf",
    "",
]


@pytest.mark.parametrize(
    "name", ["Llama-3.2-1B-Instruct-Q4_K_M.gguf", "Q4_K_M/M-Q4_K_M-00001-of-00002.gguf", "a+b.gguf"]
)
def test_ordinary_hub_file_names_are_safe(name: str) -> None:
    assert hub_api.SAFE_FILE.match(name)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_file_names_are_refused_before_any_request(bare_hub: HubServer, name: str) -> None:
    assert not hub_api.SAFE_FILE.match(name)
    with pytest.raises(DownloadError, match="refusing the file name"):
        hub_api.resolve(LLAMA_1B_REPO, name)
    assert bare_hub.requests() == []


def test_hostile_names_in_a_listing_are_left_out(bare_hub: HubServer, tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"listed, never served")
    names = [*HOSTILE_NAMES, "Good-Q8_0.gguf", "sub/Nested-Q2_K.gguf"]
    bare_hub.add("evil/Hostile-Listing", dict.fromkeys(names, junk))
    assert set(hub_api.gguf_files("evil/Hostile-Listing")) == {"Good-Q8_0.gguf", "sub/Nested-Q2_K.gguf"}
