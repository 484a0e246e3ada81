"""The model store: manifests are atomic, shared blobs survive rm, imports are never deleted."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from llamacli.store import Manifest, Store, hub_key, import_key


def test_remove_keeps_a_blob_another_manifest_uses(tmp_path: Path) -> None:
    store = Store(tmp_path / "models")
    store.blobs.mkdir(parents=True)
    blob = store.blob_path("a" * 64)
    blob.write_bytes(b"x" * 10)
    rel = str(blob.relative_to(store.root))
    one = store.put(Manifest(key=hub_key("o/r", "f.gguf"), path=rel, size=10, sha256="a" * 64, repo="o/r"))
    two = store.put(Manifest(key=hub_key("o/mirror", "f.gguf"), path=rel, size=10, sha256="a" * 64, repo="o/mirror"))
    assert store.remove(one) == 0 and blob.exists()
    assert store.remove(two) == 10 and not blob.exists()
    assert store.all() == []


def test_imported_files_are_forgotten_not_deleted(tmp_path: Path) -> None:
    mine = tmp_path / "mine.gguf"
    mine.write_bytes(b"gguf")
    store = Store(tmp_path / "models")
    manifest = store.put(Manifest(key=import_key("mine:local"), path=str(mine), size=4, name="mine:local"))
    assert store.file_of(manifest) == mine and manifest.imported
    assert store.get(import_key("mine:local")) == manifest
    assert store.remove(manifest) == 0
    assert mine.exists() and store.get(import_key("mine:local")) is None


def test_unreadable_manifests_are_ignored(tmp_path: Path) -> None:
    store = Store(tmp_path / "models")
    store.manifests.mkdir(parents=True)
    (store.manifests / "junk.json").write_text("{not json")
    (store.manifests / "other.json").write_text('{"unexpected": 1}')
    assert store.all() == []


def test_relative_blob_paths_follow_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "a")
    manifest = Manifest(key="k", path="blobs/sha256-x.gguf", size=1)
    assert store.file_of(manifest) == tmp_path / "a" / "blobs" / "sha256-x.gguf"
    assert Store(tmp_path / "b").file_of(manifest) == tmp_path / "b" / "blobs" / "sha256-x.gguf"


def _pulled(store: Store, name: str, data: bytes) -> Manifest:
    """A blob and its manifest, as a pull leaves them."""
    sha = hashlib.sha256(data).hexdigest()
    store.blobs.mkdir(parents=True, exist_ok=True)
    store.blob_path(sha).write_bytes(data)
    rel = str(store.blob_path(sha).relative_to(store.root))
    return store.put(Manifest(key=hub_key("o/r", name), path=rel, size=len(data), sha256=sha, repo="o/r"))


def test_sweep_deletes_what_killed_commands_left_and_nothing_else(tmp_path: Path) -> None:
    store = Store(tmp_path / "models")
    kept = _pulled(store, "kept.gguf", b"kept")
    orphan = _pulled(store, "orphan.gguf", b"orphan")  # a pull killed before recording: blob, no manifest
    store._manifest_file(orphan.key).unlink()
    dangling = _pulled(store, "dangling.gguf", b"dangling")  # an rm killed between its steps: manifest, no blob
    store.file_of(dangling).unlink()
    dead_tmp = store.manifests / f"x.json.{2**22 + 12345}.tmp"  # above pid_max's default: no such process
    live_tmp = store.manifests / f"y.json.{os.getpid()}.tmp"  # a put in progress in a live process
    dead_tmp.write_text("{")
    live_tmp.write_text("{")
    assert store.sweep() == len(b"orphan")
    assert store.all() == [kept] and store.file_of(kept).read_bytes() == b"kept"
    assert not store.file_of(orphan).exists() and not dead_tmp.exists() and live_tmp.exists()


def test_sweep_skips_a_blob_another_process_holds(tmp_path: Path) -> None:
    store = Store(tmp_path / "models")
    orphan = _pulled(store, "orphan.gguf", b"being recorded")
    store._manifest_file(orphan.key).unlink()
    assert orphan.sha256 is not None
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(store.partials / f"sha256-{orphan.sha256}.lock")],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        assert store.sweep() == 0 and store.file_of(orphan).exists()  # a pull between rename and manifest
    finally:
        holder.kill()
        holder.wait()
    assert store.sweep() == len(b"being recorded") and not store.file_of(orphan).exists()


HOLD = """
import sys, time
from filelock import FileLock
lock = FileLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
time.sleep(60)
"""
