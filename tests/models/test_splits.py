"""Models split into parts: llama.cpp's naming, the parts' headers taken as one, and the store's record."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from llamacli.errors import MissingPart
from llamacli.models import gguf_info, splits
from llamacli.models.manifest import Manifest, Part, from_json
from llamacli.models.store import Store, hub_key
from tests.support.guard_standin import bundled
from tests.support.split_factory import split_gguf


def test_names_follow_llama_cpp_split_path() -> None:
    # llama_split_path: "%s-%05d-of-%05d.gguf", numbered from 1 (llama.cpp's src/llama.cpp)
    assert splits.split_name("dir/Model-Q8_0", 2, 3) == "dir/Model-Q8_0-00002-of-00003.gguf"
    assert splits.parse("dir/Model-Q8_0-00002-of-00003.gguf") == ("dir/Model-Q8_0", 2, 3)
    assert splits.part_names("d/M-00001-of-00003.gguf") == [
        "d/M-00001-of-00003.gguf",
        "d/M-00002-of-00003.gguf",
        "d/M-00003-of-00003.gguf",
    ]
    assert splits.part_names("M-Q4_K_M.gguf") == ["M-Q4_K_M.gguf"]  # a single file stands alone
    assert splits.is_first("M-00001-of-00002.gguf") and not splits.is_first("M-00002-of-00002.gguf")
    assert not splits.is_first("M-00001-of-00001.gguf")  # one part is one file
    for odd in ("M-00000-of-00002.gguf", "M-00003-of-00002.gguf", "M-1-of-2.gguf", "M-00001-of-00002.bin"):
        assert splits.parse(odd) is None


def test_parts_are_found_next_to_the_first_and_a_missing_one_is_named(tmp_path: Path) -> None:
    names = splits.part_names("M-00001-of-00003.gguf")
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    assert splits.local_parts(tmp_path / names[0]) == tuple(tmp_path / name for name in names)
    assert splits.local_parts(tmp_path / "single.gguf") == ()
    (tmp_path / names[1]).unlink()
    with pytest.raises(MissingPart) as caught:
        splits.local_parts(tmp_path / names[0])
    assert (caught.value.path, caught.value.no, caught.value.count) == (tmp_path / names[1], 2, 3)


def test_the_parts_headers_add_up_to_the_whole_files(tmp_path: Path) -> None:
    whole = gguf_info.read(bundled())
    parts = split_gguf(bundled(), tmp_path, "Smol", 3)
    infos = [gguf_info.read(part) for part in parts]
    assert infos[0].tensors < whole.tensors and infos[1].architecture == "unknown"  # only split.* keys there
    combined = splits.combined(infos)
    assert (combined.parameters, combined.tensors, combined.parts) == (whole.parameters, whole.tensors, 3)
    assert combined.file_size == sum(part.stat().st_size for part in parts)
    assert (combined.architecture, combined.layers, combined.chat_template) == (
        whole.architecture,
        whole.layers,
        whole.chat_template,
    )


def _blob(store: Store, data: bytes) -> Part:
    sha = hashlib.sha256(data).hexdigest()
    store.blobs.mkdir(parents=True, exist_ok=True)
    store.blob_path(sha).write_bytes(data)
    return Part(str(store.blob_path(sha).relative_to(store.root)), len(data), sha)


def _split(store: Store, name: str, *datas: bytes) -> Manifest:
    parts = tuple(_blob(store, data) for data in datas)
    first = parts[0]
    key = hub_key("o/r", f"{name}-00001-of-0000{len(parts)}.gguf")
    size = sum(part.size for part in parts)
    return store.put(Manifest(key, first.path, size, first.sha256, "o/r", key, parts=parts))


def test_a_split_manifest_round_trips_and_old_manifests_still_load(tmp_path: Path) -> None:
    store = Store(tmp_path / "models")
    split = _split(store, "m", b"one", b"two", b"three")
    assert store.get(split.key) == split and store.intact(split)
    assert store.files_of(split) == tuple(store.root / part.path for part in split.parts)
    old = json.loads(store._manifest_file(split.key).read_text())
    del old["parts"]  # a manifest from before parts existed: one file
    single = from_json({**old, "size": 3})
    assert single is not None and single.parts == () and single.files == (Part(old["path"], 3, old["sha256"]),)


@pytest.mark.parametrize(
    "parts",
    [
        "not a list",
        [{"path": "blobs/x.gguf", "size": "3"}],
        [{"path": "blobs/x.gguf", "size": 3, "extra": 1}],
        ["blobs/x.gguf"],
    ],
)
def test_manifests_with_malformed_parts_are_ignored(tmp_path: Path, parts: object) -> None:
    store = Store(tmp_path / "models")
    split = _split(store, "m", b"one", b"two")
    file = store._manifest_file(split.key)
    file.write_text(json.dumps({**json.loads(file.read_text()), "parts": parts}))
    assert store.all() == []


def test_a_part_edited_to_point_outside_the_store_is_ignored(tmp_path: Path) -> None:
    store = Store(tmp_path / "models")
    split = _split(store, "m", b"one", b"two")
    file = store._manifest_file(split.key)
    data = json.loads(file.read_text())
    data["parts"][1]["path"] = "../../precious.gguf"
    file.write_text(json.dumps(data))
    assert store.all() == []


def test_a_missing_or_cut_part_makes_the_model_absent_and_rm_deletes_the_rest(tmp_path: Path) -> None:
    store = Store(tmp_path / "models")
    split = _split(store, "m", b"one", b"two", b"three")
    files = store.files_of(split)
    files[1].write_bytes(b"tw")  # cut short
    assert not store.intact(split) and store.changed_file(split) == files[1]
    assert store.remove(split) == len(b"one") + len(b"tw") + len(b"three")
    assert not any(f.exists() for f in files) and store.all() == []


def test_rm_keeps_a_part_another_model_uses(tmp_path: Path) -> None:
    store = Store(tmp_path / "models")
    one = _split(store, "a", b"shared", b"mine")
    two = _split(store, "b", b"shared", b"theirs")
    assert store.remove(one) == len(b"mine")
    assert store.intact(two)


def test_sweep_deletes_orphan_parts_and_a_model_missing_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "models")
    kept = _split(store, "kept", b"k1", b"k2")
    orphan = _split(store, "orphan", b"o1", b"o2")  # a pull killed before recording: parts, no manifest
    store._manifest_file(orphan.key).unlink()
    broken = _split(store, "broken", b"b1", b"b2")  # an rm killed between its parts: one part left
    store.files_of(broken)[0].unlink()
    assert store.sweep() == len(b"o1o2b2")
    assert store.all() == [kept] and all(f.exists() for f in store.files_of(kept))


def test_the_registry_names_a_split_model_by_its_first_part(tmp_path: Path) -> None:
    from llamacli.errors import RegistryError
    from llamacli.models import registry

    entry = (
        '[models."big:1b"]\nrepo = "o/r"\nparameters = 1\nlayers = 1\nkv_heads = 1\nhead_dim = 1\n'
        'context_length = 1\ndefault_quant = "Q8_0"\nquants.Q8_0 = {{ file = "{}", size = 1 }}\n'
    )
    [parsed] = registry.parse(entry.format("Big-Q8_0/Big-Q8_0-00001-of-00002.gguf"), tmp_path / "models.toml")
    assert parsed.quants[0].file == "Big-Q8_0/Big-Q8_0-00001-of-00002.gguf"
    for wrong in ("Big-Q8_0/Big-Q8_0-00002-of-00002.gguf", "a/b/Big.gguf", "../Big.gguf"):
        with pytest.raises(RegistryError):
            registry.parse(entry.format(wrong), tmp_path / "models.toml")
