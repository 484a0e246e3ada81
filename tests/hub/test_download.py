"""The resumable download against the loopback server's CDN, through huggingface_hub's HTTP client."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from llamacli.hub import download
from llamacli.hub import metadata as hub_api
from tests.support.hubserver import LLAMA_1B_REPO, HubServer


class Recorder:
    def __init__(self) -> None:
        self.starts: list[tuple[int, int]] = []
        self.bytes = 0
        self.retries: list[str] = []

    def start(self, total: int, done: int) -> None:
        self.starts.append((total, done))

    def advance(self, n: int) -> None:
        self.bytes += n

    def retry(self, reason: str) -> None:
        self.retries.append(reason)


def request(quant: str = "Q2_K") -> download.Request:
    remote = hub_api.resolve(LLAMA_1B_REPO, f"Llama-3.2-1B-Instruct-{quant}.gguf")
    return download.Request(remote.url, remote.headers, remote.size, remote.sha256)


def test_a_partial_file_is_completed_with_a_range_request(
    hub: HubServer, quantized: dict[str, Path], tmp_path: Path
) -> None:
    data = quantized["Q2_K"].read_bytes()
    partial = tmp_path / "x.part"
    partial.write_bytes(data[:1234567])
    progress = Recorder()
    download.fetch(hub_api.client(), request(), partial, progress)
    assert partial.read_bytes() == data
    assert progress.starts == [(len(data), 1234567)] and progress.bytes == len(data) - 1234567
    assert [r.range for r in hub.requests("/cdn/")] == ["bytes=1234567-"]


def test_a_server_ignoring_range_restarts_from_zero(hub: HubServer, quantized: dict[str, Path], tmp_path: Path) -> None:
    data = quantized["Q2_K"].read_bytes()
    partial = tmp_path / "x.part"
    partial.write_bytes(b"\xff" * 1000)  # wrong bytes: must not survive a restart
    hub.faults.ignore_range = True
    download.fetch(hub_api.client(), request(), partial, Recorder())
    assert hashlib.sha256(partial.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()


def test_wrong_existing_bytes_fail_the_digest_and_are_deleted(
    hub: HubServer, quantized: dict[str, Path], tmp_path: Path
) -> None:
    partial = tmp_path / "x.part"
    partial.write_bytes(b"\xff" * 1000)
    with pytest.raises(download.DigestMismatch):
        download.fetch(hub_api.client(), request(), partial, Recorder())
    assert not partial.exists()


def test_repeated_drops_without_progress_give_up(hub: HubServer, quantized: dict[str, Path], tmp_path: Path) -> None:
    hub.faults.cut_at = 100_000
    partial = tmp_path / "x.part"
    progress = Recorder()
    with pytest.raises(download.TransferFailed, match="keeps failing"):
        download.fetch(hub_api.client(), request(), partial, progress, retries=3)
    assert partial.stat().st_size == 100_000
    assert len(progress.retries) == 2
