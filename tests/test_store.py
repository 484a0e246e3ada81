"""The model store: manifests are atomic, shared blobs survive rm, imports are never deleted."""

from __future__ import annotations

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
