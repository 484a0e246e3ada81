"""The model store: manifests are atomic, shared blobs survive rm, imports are never deleted.

And confinement: whatever is edited or replaced on disk (a manifest's fields, a blob or a directory made a
symlink, a FIFO), nothing outside the store is read as a model, followed, or deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llamacli.errors import OutsideStore
from llamacli.models.store import Manifest, Store, hub_key, import_key


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


SHA = "a" * 64


def pulled(store: Store, sha: str = SHA, content: bytes = b"x" * 10) -> Manifest:
    """A pulled model in STORE: a blob and its manifest."""
    store.blobs.mkdir(parents=True, exist_ok=True)
    blob = store.blob_path(sha)
    blob.write_bytes(content)
    rel = str(blob.relative_to(store.root))
    return store.put(Manifest(key=hub_key("o/r", "f.gguf"), path=rel, size=len(content), sha256=sha, repo="o/r"))


def edit(store: Store, manifest: Manifest, **changes: object) -> Path:
    """Rewrite MANIFEST's file on disk with CHANGES, as a hand (or a hostile tool) might."""
    [file] = store.manifests.glob("*.json")
    data = json.loads(file.read_text())
    data.update(changes)
    file.write_text(json.dumps(data))
    return file


@pytest.fixture
def precious(tmp_path: Path) -> Path:
    """The user's own file, outside the store: nothing the store does may touch it."""
    path = tmp_path / "precious.gguf"
    path.write_bytes(b"the user's own data")
    return path


@pytest.mark.parametrize(
    "changes",
    [
        {"path": 123},
        {"size": "ten"},
        {"size": None},
        {"size": True},
        {"created": "yesterday"},
        {"parameters": [1, 2]},
        {"sha256": 64},
    ],
)
def test_manifests_with_wrong_types_are_ignored(tmp_path: Path, changes: dict[str, object]) -> None:
    store = Store(tmp_path / "models")
    edit(store, pulled(store), **changes)
    assert store.all() == [] and store.get(hub_key("o/r", "f.gguf")) is None


def test_a_manifest_that_is_not_an_object_is_ignored(tmp_path: Path) -> None:
    store = Store(tmp_path / "models")
    pulled(store)
    [file] = store.manifests.glob("*.json")
    for text in ("[]", "null", '"x"', "1e999"):
        file.write_text(text)
        assert store.all() == []


@pytest.mark.parametrize("where", ["absolute", "dotdot", "other-blob-name", "digest-traversal", "digest-newline"])
def test_a_pulled_manifest_edited_to_point_outside_is_ignored(tmp_path: Path, precious: Path, where: str) -> None:
    store = Store(tmp_path / "models")
    manifest = pulled(store)
    changes: dict[str, object] = {
        "absolute": {"path": str(precious)},
        "dotdot": {"path": "../precious.gguf"},
        "other-blob-name": {"path": "blobs/../../precious.gguf"},
        "digest-traversal": {"sha256": "../../precious", "path": "blobs/sha256-../../precious.gguf"},
        "digest-newline": {"sha256": SHA + "\n", "path": f"blobs/sha256-{SHA}\n.gguf"},
    }[where]
    edit(store, manifest, **changes)
    assert store.all() == []  # not listed, so never run...
    assert store.get(manifest.key) is None  # ...and never found by rm
    assert precious.read_bytes() == b"the user's own data"


def test_an_imported_manifest_edited_to_point_elsewhere_is_only_forgotten(tmp_path: Path, precious: Path) -> None:
    store = Store(tmp_path / "models")
    mine = tmp_path / "mine.gguf"
    mine.write_bytes(b"gguf")
    manifest = store.put(Manifest(key=import_key("mine:local"), path=str(mine), size=4, name="mine:local"))
    for target in (str(precious), "../precious.gguf"):
        edit(store, manifest, path=target)
        [found] = store.all()
        assert store.remove(found) == 0
        assert precious.read_bytes() == b"the user's own data" and mine.exists()
        store.put(manifest)


def test_rm_unlinks_a_symlinked_blob_never_its_target(tmp_path: Path, precious: Path) -> None:
    store = Store(tmp_path / "models")
    manifest = pulled(store)
    blob = store.blob_path(SHA)
    blob.unlink()
    blob.symlink_to(precious)
    assert [m.key for m in store.all()] == [manifest.key]  # listing does not crash
    assert store.remove(manifest) == 0  # a link frees nothing: the target's size is not counted
    assert not blob.is_symlink() and precious.read_bytes() == b"the user's own data"


def test_rm_refuses_a_blobs_directory_that_leads_outside(tmp_path: Path) -> None:
    store = Store(tmp_path / "models")
    manifest = pulled(store)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / store.blob_path(SHA).name  # a file that happens to have the blob's name
    victim.write_bytes(b"someone else's")
    shutil.rmtree(store.blobs)
    store.blobs.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OutsideStore) as refused:
        store.remove(manifest)
    assert refused.value.root == store.root and refused.value.path.parent == store.blobs
    assert victim.read_bytes() == b"someone else's"
    assert store.get(manifest.key) == manifest  # refused before anything changed


def test_a_symlinked_store_root_is_fine(tmp_path: Path) -> None:
    """A store moved to a larger disk and linked back is still the store: rm deletes inside it."""
    real = Store(tmp_path / "big-disk" / "models")
    manifest = pulled(real)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "models").symlink_to(real.root, target_is_directory=True)
    linked = Store(tmp_path / "home" / "models")
    assert linked.remove(manifest) == 10 and not real.blob_path(SHA).exists()


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory", "huge"])
def test_manifests_that_are_not_plain_files_are_not_followed(tmp_path: Path, precious: Path, kind: str) -> None:
    store = Store(tmp_path / "models")
    manifest = pulled(store)
    [file] = store.manifests.glob("*.json")
    copy = tmp_path / "precious.json"
    copy.write_bytes(file.read_bytes())  # a valid manifest: following the link would find it
    file.unlink()
    if kind == "symlink":
        file.symlink_to(copy)
    elif kind == "fifo":
        os.mkfifo(file)  # reading it would block `list` forever
    elif kind == "directory":
        file.mkdir()
    else:
        file.write_bytes(copy.read_bytes()[:-1] + b" " * (2 << 20) + b"}")
    assert store.all() == [] and store.get(manifest.key) is None
    assert copy.exists() and precious.exists()


def test_digests_are_never_paths(tmp_path: Path) -> None:
    store = Store(tmp_path / "models")
    for bad in ("../../x", SHA + "\n", SHA.upper(), "a" * 63, f"{'a' * 60}/../"):
        with pytest.raises(ValueError):
            store.blob_path(bad)
        with pytest.raises(ValueError):
            store.partial_path(bad)


def test_partial_records_with_odd_names_are_ignored(tmp_path: Path) -> None:
    store = Store(tmp_path / "models")
    store.partials.mkdir(parents=True)
    record = Manifest(key=hub_key("o/r", "f.gguf"), path="", size=10, sha256=SHA)
    store.mark_partial(SHA, record)
    store.partial_path(SHA).write_bytes(b"x" * 4)
    (store.partials / "sha256-..json").write_text(json.dumps(record.__dict__))
    (store.partials / "sha256-.part").write_bytes(b"x")
    assert [sha for sha, _ in store.pending()] == [SHA]
    assert store.remove_partial(SHA) == 4 and store.pending() == []


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


def test_a_quantized_file_is_deleted_by_rm_an_imported_one_only_forgotten(tmp_path: Path) -> None:
    store = Store(tmp_path / "models")
    store.quantized.mkdir(parents=True)
    made = store.quantized / "mine-q8_0.gguf"
    made.write_bytes(b"gguf" * 4)
    manifest = store.put(Manifest(key=import_key("mine:q8_0"), path=str(made), size=16, name="mine:q8_0"))
    assert store.made_here(manifest)
    assert store.remove(manifest) == 16 and not made.exists() and store.all() == []


def test_sweep_deletes_a_quantization_part_of_a_dead_process_only(tmp_path: Path) -> None:
    store = Store(tmp_path / "models")
    store.quantized.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = store.quantized / f"mine-q8_0.{dead.stdout.strip()}.part"
    live = store.quantized / f"mine-q2_k.{os.getpid()}.part"
    orphan.write_bytes(b"x")
    live.write_bytes(b"x")
    store.sweep()
    assert not orphan.exists() and live.exists()
