"""Everything a user types or a server answers stays confined to the model store (subprocesses, loopback Hub).

References given to `pull`, `rm`, `show`, `import` and `run`; file names in a repository listing; the commit
and ETags of a file; manifests edited by hand and store entries replaced by symlinks: none of them makes
llamacli request, write, follow or delete anything outside the store (nor crash).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from llamacli.models.store import Manifest, Store, hub_key
from tests.support.cli import run_cli
from tests.support.hubserver import LLAMA_1B_REPO, HubServer

PRECIOUS = b"the user's own data, not a model"


@pytest.fixture
def precious(tmp_path: Path) -> Path:
    """A file of the user's, outside the store, that nothing may read as a model, follow or delete."""
    path = tmp_path / "precious.gguf"
    path.write_bytes(PRECIOUS)
    return path


def tree(root: Path, besides: Path | None = None) -> list[tuple[str, int]]:
    """Every path under ROOT (but not under BESIDES) with its size: to prove that a command wrote nothing."""
    paths = (p for p in root.rglob("*") if besides is None or not p.is_relative_to(besides))
    return sorted((str(p), p.lstat().st_size) for p in paths)


def clean(result: object) -> None:
    """No traceback and no control characters from a hostile name reached the terminal."""
    err = result.stderr  # type: ignore[attr-defined]
    assert b"Traceback" not in err and b"\x1b" not in err and b"\x00" not in err


# Every variant is checked in tests/test_references.py; here one of each kind, through every command.
HOSTILE_REFS = [
    "hf.co/owner/repo/C:..\\..\\x.gguf",  # a Windows drive and separators
    "hf.co/owner/\uff0e\uff0e/\uff0e\uff0e\uff0fx.gguf",  # fullwidth dots and slash
    "hf.co/owner/repo/\u212a.gguf",  # the Kelvin sign, a look-alike of K
    "\uff4c\uff4c\uff41\uff4d\uff41:1b",  # fullwidth letters
]
# Paths of the user's (Windows-style, fullwidth) that do not exist: never sent to the Hub, and
# nothing is created or deleted.
PATHLIKE = ["C:\\Users\\me\\..\\x.gguf", "\uff0e\uff0e\uff0f\uff0e\uff0e\uff0fx.gguf"]


@pytest.mark.parametrize("command", ["pull", "rm", "show", "run", "import"])
@pytest.mark.slow
def test_hostile_references_are_refused_by_every_command(
    hub: HubServer, tmp_path: Path, command: str, quantized: dict[str, Path]
) -> None:
    before = tree(tmp_path)
    for ref in HOSTILE_REFS + PATHLIKE:
        args = {
            "run": ["run", "-m", ref, "hi", "-n", "1"],
            "import": ["import", str(quantized["Q2_K"]), "--name", ref],
        }.get(command, [command, ref])
        result = run_cli(*args)
        assert result.returncode == 1, (ref, result.stderr)
        clean(result)
        if ref in HOSTILE_REFS and command != "import":
            assert b"malformed model reference" in result.stderr, (ref, result.stderr)
    assert hub.requests() == []
    assert tree(tmp_path) == before


HOSTILE_SIBLINGS = [
    "../../../escape-Q4_K_M.gguf",
    "/tmp/escape-Q4_K_M.gguf",
    "C:\\escape-Q4_K_M.gguf",
    "sub\\..\\..\\escape-Q4_K_M.gguf",
    "\uff0e\uff0e\uff0fescape-Q4_K_M.gguf",
    "\x1b]0;owned\x07escape-Q4_K_M.gguf",
    "escape\x00-Q4_K_M.gguf",
    "../Good-Q2_K.gguf",  # same quant as the good file: without the filter, "2 files match"
]


@pytest.fixture(scope="module")
def hostile_repo(hub_server: HubServer, quantized: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> str:
    """A repository whose only Q4_K_M files have hostile names, next to one good Q2_K file."""
    junk = tmp_path_factory.mktemp("hostile") / "never-served.gguf"
    junk.write_bytes(b"never requested")
    files = {name: junk for name in HOSTILE_SIBLINGS}
    hub_server.add("evil/Hostile-GGUF", {**files, "Good-Q2_K.gguf": quantized["Q2_K"]})
    return "evil/Hostile-GGUF"


@pytest.mark.parametrize("command", ["pull", "show"])
@pytest.mark.slow
def test_hostile_file_names_in_a_listing_are_never_requested(
    hub: HubServer, hostile_repo: str, tmp_path: Path, command: str
) -> None:
    before = tree(tmp_path)
    result = run_cli(command, f"hf.co/{hostile_repo}:Q4_K_M")
    assert result.returncode == 1, result.stderr
    assert b"no Q4_K_M .gguf file" in result.stderr and b"available quantizations: Q2_K" in result.stderr
    clean(result)
    assert [r.path for r in hub.requests() if "/resolve/" in r.path] == []
    assert tree(tmp_path) == before


@pytest.mark.slow
def test_the_good_file_next_to_hostile_names_is_pulled(hub: HubServer, hostile_repo: str, isolated: Path) -> None:
    result = run_cli("pull", f"hf.co/{hostile_repo}:Q2_K", "--json")
    assert result.returncode == 0, result.stderr
    assert Path(json.loads(result.stdout)["path"]).parent == isolated / "models" / "blobs"
    [manifest] = Store(isolated / "models").all()
    assert manifest.file == "Good-Q2_K.gguf"


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        ({"commit": "/tmp/" + "0" * 35}, b"invalid commit id"),
        ({"commit": "C:\\" + "0" * 37}, b"invalid commit id"),
        ({"commit": "0" * 40 + "/../../x"}, b"invalid commit id"),
        ({"etag": "/tmp/" + "a" * 59}, b"no valid sha256"),
        ({"etag": "a" * 64 + "\\..\\x"}, b"no valid sha256"),
        ({"no_linked_etag": True, "plain_etag": "../../blobs/x"}, b"no valid sha256"),
    ],
)
@pytest.mark.slow
def test_hostile_commit_and_etags_are_refused_before_writing(
    hub: HubServer, tmp_path: Path, faults: dict[str, object], message: bytes
) -> None:
    for name, value in faults.items():
        setattr(hub.faults, name, value)
    before = tree(tmp_path)  # LLAMACLI_HOME and HF_HOME both live here
    for args in (["pull", "llama3.2:1b-q2_k"], ["show", "llama3.2:1b-q2_k"]):
        result = run_cli(*args)
        assert result.returncode == 4, result.stderr
        assert message in result.stderr
        clean(result)
    assert hub.body_bytes() == 0
    assert tree(tmp_path) == before


@pytest.mark.slow
def test_run_refuses_a_hostile_commit_when_it_pulls(hub: HubServer, tmp_path: Path) -> None:
    hub.faults.commit = "../../../" + "0" * 31
    before = tree(tmp_path)
    result = run_cli("run", "llama3.2:1b-q2_k", "hi", "-n", "1")
    assert result.returncode == 4 and b"invalid commit id" in result.stderr
    assert tree(tmp_path) == before


def fake_pull(home: Path, content: bytes = b"GGUF" + b"\x00" * 60) -> tuple[Store, Manifest]:
    """A pulled model as the store records it (list and rm read only the manifest and the blob's name)."""
    import hashlib

    store = Store(home / "models")
    sha = hashlib.sha256(content).hexdigest()
    store.blobs.mkdir(parents=True)
    store.blob_path(sha).write_bytes(content)
    file = "Llama-3.2-1B-Instruct-Q2_K.gguf"
    rel = str(store.blob_path(sha).relative_to(store.root))
    manifest = Manifest(hub_key(LLAMA_1B_REPO, file), rel, len(content), sha, LLAMA_1B_REPO, file, "Q2_K")
    return store, store.put(manifest)


def listed_names() -> list[str]:
    result = run_cli("list", "--json")
    assert result.returncode == 0, result.stderr
    return [e["name"] for e in json.loads(result.stdout) if e["source"] != "bundled"]


@pytest.mark.slow
def test_rm_of_a_blob_replaced_by_a_symlink_deletes_only_the_link(
    hub: HubServer, isolated: Path, precious: Path
) -> None:
    assert run_cli("pull", "llama3.2:1b-q2_k").returncode == 0
    [blob] = (isolated / "models" / "blobs").iterdir()
    blob.unlink()
    blob.symlink_to(precious)
    assert listed_names() == []  # not the verified file any more: not listed (and no crash)
    result = run_cli("rm", "llama3.2:1b-q2_k")
    assert result.returncode == 0, result.stderr
    assert b"freed" not in result.stderr  # a link frees nothing; the target's size is not claimed
    assert not blob.is_symlink() and precious.read_bytes() == PRECIOUS
    assert listed_names() == []


@pytest.mark.parametrize("change", ["symlink", "cut short"])
@pytest.mark.slow
def test_a_changed_blob_is_never_loaded_and_pull_puts_the_verified_file_back(
    hub: HubServer, isolated: Path, quantized: dict[str, Path], smollm2_path: Path, change: str
) -> None:
    """A real model behind the link: following it would load and answer with a file nobody verified."""
    assert run_cli("pull", "llama3.2:1b-q2_k").returncode == 0
    [blob] = (isolated / "models" / "blobs").iterdir()
    if change == "symlink":
        blob.unlink()
        blob.symlink_to(smollm2_path)
    else:
        os.truncate(blob, blob.stat().st_size // 2)
    result = run_cli("run", "--offline", "llama3.2:1b-q2_k", "Hi", "-n", "4")
    assert result.returncode == 1, result.stderr
    assert b"changed on disk since it was verified" in result.stderr
    assert b"llamacli pull llama3.2:1b-q2_k" in result.stderr and not result.stdout
    clean(result)
    assert listed_names() == []
    if change == "symlink":
        pulled = run_cli("pull", "llama3.2:1b-q2_k", "--json")
        assert pulled.returncode == 0, pulled.stderr
        assert json.loads(pulled.stdout)["downloaded"] == quantized["Q2_K"].stat().st_size
    else:  # `run` online fetches it again first, and says why
        ran = run_cli("run", "llama3.2:1b-q2_k", "Hi", "-n", "4")
        assert ran.returncode == 0, ran.stderr
        assert b"changed on disk since it was verified: pulling it first" in ran.stderr and ran.stdout
    assert not blob.is_symlink() and blob.read_bytes() == quantized["Q2_K"].read_bytes()
    assert smollm2_path.stat().st_size > 90_000_000  # the link's target is untouched
    assert listed_names() == ["llama3.2:1b-q2_k"]


def test_rm_refuses_a_blobs_directory_that_leads_outside(isolated: Path, tmp_path: Path) -> None:
    store, manifest = fake_pull(isolated)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / store.blob_path(str(manifest.sha256)).name
    mine = PRECIOUS.ljust(manifest.size)  # the recorded size: as far as `list` can tell, the model is there
    victim.write_bytes(mine)
    shutil.rmtree(store.blobs)
    store.blobs.symlink_to(elsewhere, target_is_directory=True)
    assert listed_names() == ["llama3.2:1b-q2_k"]
    result = run_cli("rm", "llama3.2:1b-q2_k")
    assert result.returncode == 1
    assert b"refusing to delete" in result.stderr and b"outside the model store" in result.stderr
    clean(result)
    assert victim.read_bytes() == mine


@pytest.mark.parametrize("edit", ["absolute", "dotdot", "digest"])
def test_a_manifest_edited_to_point_outside_is_not_used(
    isolated: Path, precious: Path, tmp_path: Path, edit: str
) -> None:
    store, _ = fake_pull(isolated)
    [file] = store.manifests.glob("*.json")
    data = json.loads(file.read_text())
    data.update(
        {
            "absolute": {"path": str(precious)},
            "dotdot": {"path": os.path.relpath(precious, store.root)},
            "digest": {"sha256": "../../../precious", "path": "blobs/sha256-../../../precious.gguf"},
        }[edit]
    )
    file.write_text(json.dumps(data))
    before = tree(tmp_path, besides=store.root)  # inside, rm's sweep may drop the blob nothing points at
    assert listed_names() == []
    for args in (["rm", "llama3.2:1b-q2_k"], ["run", "--offline", "llama3.2:1b-q2_k", "hi"]):
        result = run_cli(*args)
        assert result.returncode == 1, result.stderr
        clean(result)
    assert precious.read_bytes() == PRECIOUS
    assert tree(tmp_path, besides=store.root) == before


@pytest.mark.parametrize("kind", ["symlink", "fifo", "wrong-types"])
def test_list_survives_a_manifest_that_is_not_ours(isolated: Path, tmp_path: Path, kind: str) -> None:
    store, _ = fake_pull(isolated)
    [file] = store.manifests.glob("*.json")
    copy = tmp_path / "precious.json"
    copy.write_bytes(file.read_bytes())
    file.unlink()
    if kind == "symlink":
        file.symlink_to(copy)  # a valid manifest behind the link: following it would list the model
    elif kind == "fifo":
        os.mkfifo(file)  # opening it for reading would block forever
    else:
        file.write_text(json.dumps({**json.loads(copy.read_text()), "path": 7, "created": "yesterday"}))
    for args in (["list"], ["models"], ["rm", "llama3.2:1b-q2_k"]):
        result = run_cli(*args, timeout=60)
        assert result.returncode in (0, 1), result.stderr
        clean(result)
    assert listed_names() == []
    assert copy.read_bytes() and (file.is_symlink() or file.exists())
