"""The on-disk prompt cache store, without a model: format checks, LRU cap, concurrency, full disks."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from llamacli.engine.prompt_cache import MAGIC, CacheEntry, PromptCache, default_dir, state_key

SETUP = ("model=sha256:abc", "n_ctx=2048", "n_batch=512", "kv=1/1", "build=0.3.36")
PAYLOAD = bytes(range(256)) * 400  # 100 KiB, every byte value


def key(n: int = 1) -> str:
    return state_key(SETUP, list(range(n * 100)))


def stored(tmp_path: Path, payload: bytes = PAYLOAD, n: int = 1) -> tuple[PromptCache, Path]:
    cache = PromptCache(tmp_path / "prompts")
    assert cache.put(key(n), payload, {"tokens": n * 100, "model": "m.gguf"})
    return cache, cache.directory / f"{key(n)}.kv"


def test_a_stored_state_comes_back_byte_for_byte(tmp_path: Path) -> None:
    cache, path = stored(tmp_path)
    assert cache.get(key()) == PAYLOAD
    assert cache.get(key(2)) is None
    assert [e.key for e in cache.entries()] == [key()]
    entry = cache.entries()[0]
    assert (entry.tokens, entry.model, entry.size) == (100, "m.gguf", path.stat().st_size)
    assert cache.size() == path.stat().st_size > len(PAYLOAD)
    assert [p.name for p in cache.directory.iterdir()] == [path.name]  # no temporary file left behind


def test_the_key_covers_every_part_of_the_setup_and_each_token() -> None:
    tokens = list(range(100))
    keys = {state_key(SETUP, tokens), state_key(SETUP, tokens[:-1]), state_key(SETUP, [*tokens[:-1], 7])}
    for i in range(len(SETUP)):
        keys.add(state_key((*SETUP[:i], SETUP[i] + "0", *SETUP[i + 1 :]), tokens))
    assert len(keys) == 3 + len(SETUP)
    assert state_key(SETUP, tokens) == state_key(list(SETUP), tuple(tokens))  # stable, whatever the containers
    assert state_key(("a", "bc"), tokens) != state_key(("ab", "c"), tokens)  # parts cannot run into each other


def test_it_lives_under_the_user_cache_directory(tmp_path: Path) -> None:
    assert default_dir({"LLAMACLI_HOME": str(tmp_path)}) == tmp_path / "cache" / "prompts"


@pytest.mark.parametrize(
    "damage",
    [
        "flip a payload byte",
        "truncate the payload",
        "truncate the header",
        "append garbage",
        "empty file",
        "wrong magic",
        "older format",
        "another key's entry",
    ],
)
def test_damaged_or_foreign_files_are_ignored_and_removed(tmp_path: Path, damage: str) -> None:
    cache, path = stored(tmp_path)
    data = bytearray(path.read_bytes())
    if damage == "flip a payload byte":
        data[-1000] ^= 0x40
    elif damage == "truncate the payload":
        data = data[:-1]
    elif damage == "truncate the header":
        data = data[:20]
    elif damage == "append garbage":
        data += b"\0"
    elif damage == "empty file":
        data = bytearray()
    elif damage == "wrong magic":
        data[: len(MAGIC)] = b"GGUF\x03\x00\x00\x00"
    elif damage == "older format":
        data[len(MAGIC) : len(MAGIC) + 4] = struct.pack("<I", 0)
    elif damage == "another key's entry":
        _, other = stored(tmp_path, n=2)
        data = bytearray(other.read_bytes())
    path.write_bytes(bytes(data))
    assert cache.get(key()) is None
    assert not path.exists()
    assert cache.put(key(), PAYLOAD)  # and the key can be stored again
    assert cache.get(key()) == PAYLOAD


def test_listing_skips_and_removes_files_with_a_bad_header(tmp_path: Path) -> None:
    cache, path = stored(tmp_path)
    bad = cache.directory / f"{key(3)}.kv"
    bad.write_bytes(b"not a cache entry at all")
    unrelated = cache.directory / "notes.txt"
    unrelated.write_text("mine")
    assert [e.path for e in cache.entries()] == [path]
    assert not bad.exists() and unrelated.exists()  # only our own kind of file is ever removed
    assert cache.clear() == 1
    assert cache.entries() == [] and cache.size() == 0 and unrelated.exists()


def test_least_recently_used_entries_go_first_when_over_the_cap(tmp_path: Path) -> None:
    one_entry = len(PAYLOAD) + 1000
    cache = PromptCache(tmp_path / "prompts", max_bytes=3 * one_entry)
    for n in (1, 2, 3):
        assert cache.put(key(n), PAYLOAD)
        past = time.time() - 100 + n  # distinct times, oldest first, whatever the file system's resolution
        os.utime(cache.directory / f"{key(n)}.kv", (past, past))
    assert cache.get(key(1)) is not None  # a hit makes entry 1 the most recently used
    assert cache.put(key(4), PAYLOAD)
    assert {e.key for e in cache.entries()} == {key(1), key(3), key(4)}  # entry 2 went
    assert cache.size() <= cache.max_bytes
    assert isinstance(cache.entries()[0], CacheEntry) and cache.entries()[0].key == key(4)


def test_an_entry_larger_than_the_cap_is_not_stored(tmp_path: Path) -> None:
    cache = PromptCache(tmp_path / "prompts", max_bytes=len(PAYLOAD))
    assert not cache.put(key(), PAYLOAD)
    assert cache.entries() == []


def test_an_unwritable_place_means_no_caching_not_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    cache = PromptCache(blocker / "prompts")  # its parent is a file: mkdir fails with ENOTDIR
    assert not cache.put(key(), PAYLOAD)
    assert cache.get(key()) is None and cache.entries() == [] and cache.size() == 0 and cache.clear() == 0


def test_leftovers_of_a_dead_writer_are_cleaned_up(tmp_path: Path) -> None:
    cache, _ = stored(tmp_path)
    dead = cache.directory / ".tmp-dead.kv"
    dead.write_bytes(b"half an entry")
    old = time.time() - 2 * 3600
    os.utime(dead, (old, old))
    live = cache.directory / ".tmp-live.kv"
    live.write_bytes(b"being written")
    assert cache.put(key(2), PAYLOAD)
    assert not dead.exists() and live.exists()  # a recent one may belong to a writer at work
    assert len(cache.entries()) == 2


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from llamacli.engine.prompt_cache import PromptCache
    cache = PromptCache(Path(sys.argv[1]))
    key, fill, rounds = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    payload = bytes([fill]) * 3_000_000
    ok = 0
    for _ in range(rounds):
        ok += cache.put(key, payload)
        got = cache.get(key)
        assert got is None or got in (bytes([1]) * 3_000_000, bytes([2]) * 3_000_000), "a partial file was read"
    print(ok)
    """
)


def test_two_processes_writing_the_same_key_both_succeed_and_leave_one_valid_entry(tmp_path: Path) -> None:
    directory = tmp_path / "prompts"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(directory), key(), str(fill), "15"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for fill in (1, 2)
    ]
    results = [w.communicate(timeout=300) for w in writers]
    for writer, (out, err) in zip(writers, results, strict=True):
        assert writer.returncode == 0, err.decode()
        assert out.strip() == b"15"  # every write succeeded
    cache = PromptCache(directory)
    assert cache.get(key()) in (bytes([1]) * 3_000_000, bytes([2]) * 3_000_000)
    assert [p.name for p in directory.iterdir()] == [f"{key()}.kv"]


FILLER = textwrap.dedent(
    """
    import resource, signal, sys
    from pathlib import Path
    from llamacli.engine.prompt_cache import PromptCache
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))
    cache = PromptCache(Path(sys.argv[1]))
    print(cache.put(sys.argv[2], bytes(3_000_000)), cache.put(sys.argv[3], bytes(1000)))
    """
)


def test_a_disk_that_fills_up_mid_write_leaves_no_entry_and_no_failure(tmp_path: Path) -> None:
    directory = tmp_path / "prompts"
    result = subprocess.run(
        [sys.executable, "-c", FILLER, str(directory), key(1), key(2)], capture_output=True, timeout=120
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.split() == [b"False", b"True"]  # the big one was skipped, a small one still fits
    assert sorted(p.name for p in directory.iterdir()) == [f"{key(2)}.kv"]
    assert PromptCache(directory).get(key(1)) is None
