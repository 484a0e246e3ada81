"""Resumable download of one file into a persistent partial file, hashed as it is written.

huggingface_hub retries a dropped connection inside one process, but its partial file is private to
the process and deleted on failure, and it checks only the size. Here the partial file survives a
dropped connection, Ctrl-C or kill -9; the next attempt (in this process or the next) re-hashes what is
there and asks for the rest with a Range request. The finished file must hash to the expected sha256.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

CHUNK = 1 << 20
READ_SIZE = 1 << 20  # bytes per socket read
RETRIES = 5


class Progress(Protocol):
    """What a download reports as it goes (the CLI draws it; tests may record it)."""

    def start(self, total: int, done: int) -> None:
        """The transfer begins with DONE of TOTAL bytes already on disk."""

    def advance(self, n: int) -> None:
        """N more bytes were written."""

    def retry(self, reason: str) -> None:
        """The connection dropped; resuming."""


class Silent:
    """A Progress that shows nothing."""

    def start(self, total: int, done: int) -> None:
        """Nothing."""

    def advance(self, n: int) -> None:
        """Nothing."""

    def retry(self, reason: str) -> None:
        """Nothing."""


class TransferFailed(Exception):
    """The server or the connection failed for good (reason in the message)."""


class DigestMismatch(Exception):
    """The complete file does not hash to what was expected; the partial file was deleted."""

    def __init__(self, actual: str) -> None:
        super().__init__(actual)
        self.actual = actual


@dataclass(frozen=True)
class Request:
    """Where to GET the bytes and what they must be."""

    url: str
    headers: dict[str, str]
    size: int
    sha256: str


def _hash_existing(partial: Path, size: int) -> tuple[Any, int]:
    """The hash state and length of what is already in PARTIAL (emptied if longer than SIZE)."""
    digest = hashlib.sha256()
    if not partial.exists():
        return digest, 0
    if partial.stat().st_size > size:
        partial.unlink()
        return digest, 0
    have = 0
    with partial.open("rb") as f:
        while block := f.read(CHUNK * 8):
            digest.update(block)
            have += len(block)
    return digest, have


class _Sink:
    """Writes and hashes on a worker thread, so reading the network never waits for the disk or sha256.

    One thread writes sequentially, so what is on disk is always a prefix of the file (safe to resume
    after kill -9). A second thread asks the disk to catch up (fdatasync) after every SYNC_EVERY bytes,
    so writing a gigabyte to disk overlaps the download instead of following it, and the final fsync
    is short; it runs apart from the writer because it blocks for as long as the disk takes.
    """

    SYNC_EVERY = 32 << 20

    def __init__(self, path: Path, digest: Any) -> None:
        self.file = path.open("ab")
        self.fd = self.file.fileno()
        self.digest = digest
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=32)  # MB in flight
        self.error: OSError | None = None
        self.unsynced = 0
        self.sync_due = threading.Event()
        self.closing = False
        self.thread = threading.Thread(target=self._write, name="llamacli-download-writer", daemon=True)
        self.syncer = threading.Thread(target=self._sync, name="llamacli-download-sync", daemon=True)
        self.thread.start()
        self.syncer.start()

    def put(self, chunk: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(chunk)

    def _write(self) -> None:
        while (chunk := self.queue.get()) is not None:
            if self.error is not None:
                continue  # keep draining so put() never blocks forever
            try:
                self.file.write(chunk)
                self.digest.update(chunk)
            except OSError as e:
                self.error = e
                continue
            self.unsynced += len(chunk)
            if self.unsynced >= self.SYNC_EVERY:
                self.unsynced = 0
                self.sync_due.set()

    def _sync(self) -> None:
        while True:
            self.sync_due.wait()
            self.sync_due.clear()
            if self.closing:
                return
            try:
                os.fdatasync(self.fd)  # what Python still buffers is at most one small write: close() syncs it
            except OSError as e:
                if self.error is None:
                    self.error = e

    def close(self) -> None:
        """Finish writing what was received, make it durable, and close; raises a write error."""
        self.queue.put(None)
        self.thread.join()
        self.closing = True
        self.sync_due.set()
        self.syncer.join()
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
        finally:
            self.file.close()
        if self.error is not None:
            raise self.error


def _read_socket_in_large_pieces() -> None:
    """Let httpcore read the socket up to 1 MiB at a time instead of 64 KiB.

    Each read becomes one pass through h11's parser and httpx's iterators in Python; on a fast link that
    per-read work, not the network, limits a multi-gigabyte download (measured on loopback: 64 KiB reads
    took twice as long as 1 MiB reads). It is a class setting meant for tuning; this process's only HTTP
    traffic is ours, and an httpcore without it keeps its default.
    """
    with contextlib.suppress(ImportError, AttributeError):
        import httpcore2

        connection = httpcore2.HTTP11Connection
        connection.READ_NUM_BYTES = max(connection.READ_NUM_BYTES, READ_SIZE)


def fetch(client: Any, request: Request, partial: Path, progress: Progress, retries: int = RETRIES) -> None:
    """Complete PARTIAL from REQUEST.url with an httpx-style CLIENT; verify its sha256.

    TransferFailed after RETRIES failed attempts in a row (what was written stays for the next run);
    DigestMismatch when the bytes are wrong (the partial file is then deleted).
    """
    import httpx2

    _read_socket_in_large_pieces()
    partial.parent.mkdir(parents=True, exist_ok=True)
    digest, have = _hash_existing(partial, request.size)
    progress.start(request.size, have)
    failures = 0
    while have < request.size:
        headers = dict(request.headers)
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            with client.stream("GET", request.url, headers=headers, follow_redirects=True, timeout=30) as response:
                if response.status_code == 200 and have:  # the server ignored Range: start over
                    digest, have = hashlib.sha256(), 0
                    partial.unlink(missing_ok=True)
                elif response.status_code not in (200, 206):
                    raise TransferFailed(f"the server answered HTTP {response.status_code}")
                elif response.status_code == 206 and not response.headers.get("Content-Range", "").startswith(
                    f"bytes {have}-"
                ):
                    raise TransferFailed("the server answered a different range than asked")
                sink = _Sink(partial, digest)
                pending: list[bytes] = []  # handed to the writer ~1 MB at a time: fewer queue and progress calls
                pending_size = 0
                try:
                    for chunk in response.iter_bytes():  # as received: a drop loses nothing
                        if have + len(chunk) > request.size:
                            raise TransferFailed(f"the server sent more than the {request.size} bytes announced")
                        pending.append(chunk)
                        pending_size += len(chunk)
                        have += len(chunk)
                        if pending_size >= CHUNK:
                            sink.put(b"".join(pending))
                            progress.advance(pending_size)
                            pending, pending_size, failures = [], 0, 0
                finally:
                    if pending:  # bytes received before a drop are good: keep them
                        sink.put(b"".join(pending))
                        progress.advance(pending_size)
                    sink.close()
            if have < request.size:
                raise httpx2.RemoteProtocolError("the connection closed early")
        except httpx2.TransportError as e:
            failures += 1
            if failures >= retries:
                raise TransferFailed(f"the connection keeps failing ({e or type(e).__name__})") from e
            progress.retry(str(e) or type(e).__name__)
            time.sleep(min(0.2 * 2**failures, 5))
    actual = digest.hexdigest()
    if actual != request.sha256:
        partial.unlink(missing_ok=True)
        raise DigestMismatch(actual)
