"""An on-disk store of prompt prefix states (llama.cpp KV cells), bounded, shared between processes.

One entry is one file named by its key, a digest of everything that determines the state (the model
file, context and batch sizes, KV type, the llama.cpp build, the prefix tokens: `state_key`). A file
starts with a fixed header (magic, format version, key, payload length, payload sha256), so a
truncated, corrupted, foreign or older-format file is recognised, ignored and removed, never trusted.

Safe without locks: a writer writes a private temporary file and renames it over the entry
(`os.replace` is atomic), so a reader sees the old file or the new one, never half of one, and two
writers of the same key both succeed. A full disk, a quota or a read-only directory only means that
nothing is cached: every OSError while writing skips the entry. Least recently used entries (the file's
mtime, touched on every hit) go first when the store grows past its cap.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import tempfile
import time
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llamacli.base import paths
from llamacli.engine.params import DEFAULT_PROMPT_CACHE_BYTES

MAGIC = b"LLCLI-KV"
FORMAT_VERSION = 1
SUFFIX = ".kv"
_TEMP_PREFIX = ".tmp-"
_STALE_TEMP_SECONDS = 3600.0  # a temporary file this old belongs to a writer that died
# magic, format version, key digest, payload length, payload sha256, length of the JSON info that follows
_HEADER = struct.Struct("<8sI32sQ32sI")
MIN_PREFIX_TOKENS = 64  # a chat header alone is not worth a file: prefixes shorter than this are not cached


def default_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Where prompt states are kept: under the user cache directory, since all of it can be rebuilt."""
    return paths.cache_dir(env) / "prompts"


def state_key(setup: Iterable[str], tokens: Sequence[int]) -> str:
    """The key of a prefix state: SETUP (model identity, n_ctx, n_batch, KV type, build...) and the tokens."""
    digest = hashlib.sha256()
    for part in setup:
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(b"tokens\0")
    digest.update(array("i", tokens).tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """One stored prefix state, for listings (`llamacli cache`)."""

    key: str
    path: Path
    size: int  # bytes on disk
    last_used: float  # seconds since the epoch
    tokens: int  # prefix length
    model: str  # a label for people (the model file's name)
    kind: str = "prefix"  # "prefix": shared messages of a batch-evaluated prompt; "conversation": a chat's end


class PromptCache:
    """A directory of prefix states, at most MAX_BYTES in total."""

    def __init__(
        self, directory: Path, max_bytes: int = DEFAULT_PROMPT_CACHE_BYTES, min_tokens: int = MIN_PREFIX_TOKENS
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.min_tokens = min_tokens

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}{SUFFIX}"

    # -- reading --------------------------------------------------------------------------------

    def get(self, key: str) -> bytearray | None:
        """The payload stored under KEY, verified, or None; a damaged or foreign file is removed."""
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                payload = _read_verified(f, st.st_size, key)
        except OSError:
            return None  # missing, unreadable: nothing to use (and nothing of ours to remove)
        if payload is None:
            _remove_if_same(path, st)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # least recently used goes first: a hit makes it the most recent
        return payload

    def discard(self, key: str) -> None:
        """Remove KEY's entry (llama.cpp refused its state)."""
        with contextlib.suppress(OSError):
            self._path(key).unlink()

    def entries(self) -> list[CacheEntry]:
        """The valid entries, most recently used first (files with a bad header are removed)."""
        found = []
        for path in self._files():
            try:
                with open(path, "rb") as f:
                    st = os.fstat(f.fileno())
                    header = _read_header(f, st.st_size, path.name.removesuffix(SUFFIX))
            except OSError:
                continue
            if header is None:
                _remove_if_same(path, st)
                continue
            info = header[2]
            tokens, model, kind = info.get("tokens"), info.get("model"), info.get("kind")
            found.append(
                CacheEntry(
                    key=path.name.removesuffix(SUFFIX),
                    path=path,
                    size=st.st_size,
                    last_used=st.st_mtime,
                    tokens=tokens if isinstance(tokens, int) else 0,
                    model=model if isinstance(model, str) else "",
                    kind=kind if isinstance(kind, str) else "prefix",
                )
            )
        return sorted(found, key=lambda e: e.last_used, reverse=True)

    def size(self) -> int:
        """Bytes the entries take on disk."""
        return sum(size for _, size, _ in self._stats())

    def clear(self) -> int:
        """Remove every entry and leftover temporary file; returns how many entries were removed."""
        removed = 0
        for path in self._files():
            with contextlib.suppress(OSError):  # gone already, or not ours to remove: the rest still goes
                path.unlink()
                removed += 1
        for path in self._temp_files():
            with contextlib.suppress(OSError):
                path.unlink()
        return removed

    # -- writing --------------------------------------------------------------------------------

    def put(self, key: str, payload: Any, info: Mapping[str, Any] | None = None) -> bool:
        """Store PAYLOAD (any buffer) under KEY atomically; False when it was not stored (too big, disk full...)."""
        data = memoryview(payload).cast("B")
        info_bytes = json.dumps(dict(info or {}), separators=(",", ":")).encode()
        header = _HEADER.pack(
            MAGIC, FORMAT_VERSION, bytes.fromhex(key), len(data), hashlib.sha256(data).digest(), len(info_bytes)
        )
        if len(header) + len(info_bytes) + len(data) > self.max_bytes:
            return False
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # the prompts are private
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=_TEMP_PREFIX, suffix=SUFFIX)
        except OSError:
            return False
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(header)
                f.write(info_bytes)
                f.write(data)
            os.replace(tmp, self._path(key))
        except OSError:  # ENOSPC, EFBIG (RLIMIT_FSIZE), EDQUOT, EACCES...: no caching, not a failure
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return False
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._evict(keep=self._path(key))
        return True

    def _evict(self, keep: Path) -> None:
        """Remove the least recently used entries until the store fits its cap, and dead writers' files."""
        now = time.time()
        for path in self._temp_files():
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > _STALE_TEMP_SECONDS:
                    path.unlink()
        stats = sorted(self._stats())
        total = sum(size for _, size, _ in stats)
        for _, size, path in stats:
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # another process may have removed it first: the space is free either way
            total -= size

    # -- listing --------------------------------------------------------------------------------

    def _files(self) -> list[Path]:
        try:
            return [p for p in self.directory.iterdir() if p.suffix == SUFFIX and not p.name.startswith(".")]
        except OSError:
            return []

    def _temp_files(self) -> list[Path]:
        try:
            return [p for p in self.directory.iterdir() if p.name.startswith(_TEMP_PREFIX)]
        except OSError:
            return []

    def _stats(self) -> list[tuple[float, int, Path]]:
        """(mtime, size, path) of each entry file still there."""
        found = []
        for path in self._files():
            with contextlib.suppress(OSError):
                st = path.stat()
                found.append((st.st_mtime, st.st_size, path))
        return found


def _read_header(f: Any, file_size: int, key: str) -> tuple[int, bytes, dict[str, Any]] | None:
    """(payload length, payload sha256, info) from an open entry, or None if it is not a whole entry for KEY."""
    raw = f.read(_HEADER.size)
    if len(raw) != _HEADER.size:
        return None
    magic, version, digest, length, checksum, info_length = _HEADER.unpack(raw)
    if magic != MAGIC or version != FORMAT_VERSION or digest.hex() != key:
        return None
    if file_size != _HEADER.size + info_length + length:
        return None  # truncated, or something appended
    try:
        info = json.loads(f.read(info_length))
    except ValueError:
        return None
    return (length, checksum, info) if isinstance(info, dict) else None


def _read_verified(f: Any, file_size: int, key: str) -> bytearray | None:
    """The payload of an open entry, or None if its header or checksum says it is not KEY's whole state."""
    header = _read_header(f, file_size, key)
    if header is None:
        return None
    length, checksum, _ = header
    payload = bytearray(length)
    if f.readinto(payload) != length or hashlib.sha256(payload).digest() != checksum:
        return None
    return payload


def _remove_if_same(path: Path, seen: os.stat_result) -> None:
    """Remove PATH if it is still the file that was read (a writer may have just replaced it with a good one)."""
    with contextlib.suppress(OSError):
        now = path.stat()
        if (now.st_ino, now.st_dev) == (seen.st_ino, seen.st_dev):
            path.unlink()
