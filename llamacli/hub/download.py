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
    """What a download reports as it goes (the CLI draws it, `serve` streams it; tests may record it).

    A Progress may raise from `start` or `advance` to stop the transfer (as Ctrl-C does): what was received
    stays in the partial file, for the next pull to resume.
    """

    def file(self, name: str, sha256: str) -> None:
        """The next transfer is the file NAME, whose content hashes to SHA256 (ollama names it by digest)."""

    def start(self, total: int, done: int) -> None:
        """The transfer begins with DONE of TOTAL bytes already on disk."""

    def advance(self, n: int) -> None:
        """N more bytes were written."""

    def retry(self, reason: str) -> None:
        """The connection dropped; resuming."""


class Silent:
    """A Progress that shows nothing."""

    def file(self, name: str, sha256: str) -> None:
        """Nothing."""

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
    """Writes and hashes on worker threads, so reading the network never waits for the disk or sha256.

    Three threads, each blocking outside the GIL: one writes sequentially, so what is on disk is always
    a prefix of the file (safe to resume after kill -9); one hashes the same pieces in the same order
    (sha256 costs about as much CPU as the copy into the page cache, and on a fast link one thread doing
    both fell behind the network); one asks the disk to catch up (fdatasync) after every SYNC_EVERY
    bytes, so writing a gigabyte to disk overlaps the download instead of following it, and the final
    fsync is short.
    """

    SYNC_EVERY = 32 << 20
    IN_FLIGHT = 32  # pieces of about 1 MB queued per worker

    def __init__(self, path: Path, digest: Any) -> None:
        self.file = path.open("ab")
        self.fd = self.file.fileno()
        self.digest = digest
        self.to_write: queue.Queue[list[bytes] | None] = queue.Queue(maxsize=self.IN_FLIGHT)
        self.to_hash: queue.Queue[list[bytes] | None] = queue.Queue(maxsize=self.IN_FLIGHT)
        self.error: OSError | None = None
        self.unsynced = 0
        self.sync_due = threading.Event()
        self.closing = False
        self.workers = [
            threading.Thread(target=self._write, name="llamacli-download-writer", daemon=True),
            threading.Thread(target=self._hash, name="llamacli-download-hasher", daemon=True),
        ]
        self.syncer = threading.Thread(target=self._sync, name="llamacli-download-sync", daemon=True)
        for thread in [*self.workers, self.syncer]:
            thread.start()

    def put(self, pieces: list[bytes]) -> None:
        """Hand over PIECES (received in order); raises the first write error."""
        if self.error is not None:
            raise self.error
        self.to_write.put(pieces)
        self.to_hash.put(pieces)

    def _write(self) -> None:
        while (pieces := self.to_write.get()) is not None:
            if self.error is not None:
                continue  # keep draining so put() never blocks forever
            try:
                for piece in pieces:
                    self.file.write(piece)
                    self.unsynced += len(piece)
            except OSError as e:
                self.error = e
                continue
            if self.unsynced >= self.SYNC_EVERY:
                self.unsynced = 0
                self.sync_due.set()

    def _hash(self) -> None:
        while (pieces := self.to_hash.get()) is not None:
            for piece in pieces:
                self.digest.update(piece)

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
        """Finish writing and hashing what was received, make it durable, and close; raises a write error."""
        self.to_write.put(None)
        self.to_hash.put(None)
        for thread in self.workers:
            thread.join()
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


def fetch(
    client: Any, request: Request, partial: Path, progress: Progress, retries: int = RETRIES, prefix: bytes = b""
) -> None:
    """Complete PARTIAL from REQUEST.url with an httpx-style CLIENT; verify its sha256.

    PREFIX is the file's first bytes when this run already fetched them (the GGUF header read before a
    pull): a new partial file starts with them instead of asking for them again.
    TransferFailed after RETRIES failed attempts in a row (what was written stays for the next run);
    DigestMismatch when the bytes are wrong (the partial file is then deleted).
    """
    import httpx2

    _read_socket_in_large_pieces()
    partial.parent.mkdir(parents=True, exist_ok=True)
    digest, have = _hash_existing(partial, request.size)
    progress.start(request.size, have)
    if not have and prefix:
        prefix = prefix[: request.size]
        partial.write_bytes(prefix)  # made durable with the rest, by the final fsync
        digest.update(prefix)
        have = len(prefix)
        progress.advance(have)
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
                pending: list[bytes] = []  # handed over ~1 MB at a time: fewer queue and progress calls, no copy
                pending_size = 0
                try:
                    for chunk in response.iter_bytes():  # as received: a drop loses nothing
                        if have + len(chunk) > request.size:
                            raise TransferFailed(f"the server sent more than the {request.size} bytes announced")
                        pending.append(chunk)
                        pending_size += len(chunk)
                        have += len(chunk)
                        if pending_size >= CHUNK:
                            sink.put(pending)
                            written, pending, pending_size, failures = pending_size, [], 0, 0
                            progress.advance(written)  # may raise to stop: these bytes are handed over once
                finally:
                    try:
                        if pending:  # bytes received before a drop are good: keep them
                            sink.put(pending)
                            progress.advance(pending_size)
                    finally:
                        sink.close()  # whatever a Progress raised: what was received is on disk
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
