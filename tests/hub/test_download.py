"""The resumable download against the loopback server's CDN, through huggingface_hub's HTTP client.

The bytes need not be a model (the download never reads them as one): 3 MB of noise, so these stay quick.
"""

from __future__ import annotations

import hashlib
import os
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

    def file(self, name: str, sha256: str) -> None:
        """Not called by fetch (the pull names the file before it)."""

    def start(self, total: int, done: int) -> None:
        self.starts.append((total, done))

    def advance(self, n: int) -> None:
        self.bytes += n

    def retry(self, reason: str) -> None:
        self.retries.append(reason)


FILE = "Llama-3.2-1B-Instruct-Q2_K.gguf"


@pytest.fixture
def data(bare_hub: HubServer, tmp_path: Path) -> bytes:
    """The served file's bytes, published under the registry's repo and file name."""
    served = tmp_path / "served.gguf"
    served.write_bytes(os.urandom(3_000_000))
    bare_hub.add(LLAMA_1B_REPO, {FILE: served})
    return served.read_bytes()


def request() -> download.Request:
    remote = hub_api.resolve(LLAMA_1B_REPO, FILE)
    return download.Request(remote.url, remote.headers, remote.size, remote.sha256)


def test_a_partial_file_is_completed_with_a_range_request(bare_hub: HubServer, data: bytes, tmp_path: Path) -> None:
    partial = tmp_path / "x.part"
    partial.write_bytes(data[:1234567])
    progress = Recorder()
    download.fetch(hub_api.client(), request(), partial, progress)
    assert partial.read_bytes() == data
    assert progress.starts == [(len(data), 1234567)] and progress.bytes == len(data) - 1234567
    assert [r.range for r in bare_hub.requests("/cdn/")] == ["bytes=1234567-"]


def test_a_server_ignoring_range_restarts_from_zero(bare_hub: HubServer, data: bytes, tmp_path: Path) -> None:
    partial = tmp_path / "x.part"
    partial.write_bytes(b"\xff" * 1000)  # wrong bytes: must not survive a restart
    bare_hub.faults.ignore_range = True
    download.fetch(hub_api.client(), request(), partial, Recorder())
    assert hashlib.sha256(partial.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()


def test_wrong_existing_bytes_fail_the_digest_and_are_deleted(data: bytes, tmp_path: Path) -> None:
    partial = tmp_path / "x.part"
    partial.write_bytes(b"\xff" * 1000)
    with pytest.raises(download.DigestMismatch):
        download.fetch(hub_api.client(), request(), partial, Recorder())
    assert not partial.exists()


def test_repeated_drops_without_progress_give_up(bare_hub: HubServer, data: bytes, tmp_path: Path) -> None:
    bare_hub.faults.cut_at = 100_000
    partial = tmp_path / "x.part"
    progress = Recorder()
    with pytest.raises(download.TransferFailed, match="keeps failing"):
        download.fetch(hub_api.client(), request(), partial, progress, retries=3)
    assert partial.stat().st_size == 100_000
    assert len(progress.retries) == 2


class Stopper(Recorder):
    """Stops the transfer from `advance` once AFTER bytes arrived (as `serve` does when its client left)."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def advance(self, n: int) -> None:
        super().advance(n)
        if self.bytes >= self.after:
            raise KeyboardInterrupt("stop")


def test_a_progress_that_stops_the_transfer_leaves_a_prefix_to_resume(data: bytes, tmp_path: Path) -> None:
    partial = tmp_path / "x.part"
    with pytest.raises(KeyboardInterrupt):
        download.fetch(hub_api.client(), request(), partial, Stopper(after=1))
    kept = partial.read_bytes()
    assert 0 < len(kept) < len(data) and data.startswith(kept)  # every byte once, in order: no piece twice
    progress = Recorder()
    download.fetch(hub_api.client(), request(), partial, progress)
    assert partial.read_bytes() == data and progress.starts == [(len(data), len(kept))]
