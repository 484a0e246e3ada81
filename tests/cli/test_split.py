"""Models the Hub publishes in parts (`NAME-00001-of-0000N.gguf` in a folder, as bartowski does): pull, list,
show, run, rm, import, quantize, against the loopback Hub and the real llama.cpp.

The bundled SmolLM2 is split into three parts with the `gguf` package (tests/support/split_factory.py)
and published under a user registry entry, as the registry's Llama 3.3 70B Q8_0 is.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from llamacli.base.sizes import format_size
from tests.support.cli import run_cli
from tests.support.guard_standin import bundled
from tests.support.hubserver import HubServer
from tests.support.split_factory import split_gguf

REPO = "test/SmolLM2-135M-Instruct-GGUF"
STEM = "SmolLM2-135M-Instruct-Q4_1"
FIRST = f"{STEM}/{STEM}-00001-of-00003.gguf"
NAME = "smolsplit:135m"
GREEDY = ("--temperature", "0", "--seed", "7", "-t", "1", "-n", "24")
PROMPT = "Name three colours."


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The bundled model in three parts, as llama.cpp's gguf-split names them (once per module)."""
    return split_gguf(bundled(), tmp_path_factory.mktemp("split") / STEM, STEM, 3)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def published(bare_hub: HubServer, isolated: Path, parts: list[Path]) -> HubServer:
    """The parts on the loopback Hub in a folder, and a user registry entry naming the first part."""
    bare_hub.add(REPO, {f"{STEM}/{part.name}": part for part in parts})
    total = sum(part.stat().st_size for part in parts)
    isolated.mkdir(parents=True, exist_ok=True)
    (isolated / "models.toml").write_text(
        f'[models."{NAME}"]\nrepo = "{REPO}"\nparameters = 134_515_008\nlayers = 30\nkv_heads = 3\n'
        f'head_dim = 64\ncontext_length = 8192\ndefault_quant = "Q4_1"\n'
        f'quants.Q4_1 = {{ file = "{FIRST}", size = {total} }}\n'
    )
    return bare_hub


def blobs(home: Path) -> list[Path]:
    root = home / "models" / "blobs"
    return sorted(root.glob("*.gguf")) if root.exists() else []


def listed() -> list[dict[str, object]]:
    result = run_cli("list", "--json")
    assert result.returncode == 0, result.stderr
    return [e for e in json.loads(result.stdout) if e["source"] != "bundled"]


def test_pull_stores_each_part_as_a_blob_and_lists_one_model(
    published: HubServer, isolated: Path, parts: list[Path]
) -> None:
    result = run_cli("pull", NAME, "--json")
    assert result.returncode == 0, result.stderr
    total = sum(part.stat().st_size for part in parts)
    data = json.loads(result.stdout)
    assert (data["size"], data["downloaded"], data["sha256"]) == (total, total, sha256(parts[0]))
    assert {blob.name for blob in blobs(isolated)} == {f"sha256-{sha256(part)}.gguf" for part in parts}
    [entry] = listed()
    assert (entry["name"], entry["size"], entry["parts"], entry["quant"]) == (NAME, total, 3, "Q4_1")
    assert entry["parameters"] == 134_515_008  # every part's tensors, not only the first's
    table = run_cli("list").stdout.decode()
    assert f"{NAME}" in table and "in 3 parts" in table
    [manifest] = (isolated / "models" / "manifests").glob("*.json")
    recorded = json.loads(manifest.read_text())["parts"]
    assert [part["sha256"] for part in recorded] == [sha256(part) for part in parts]  # in order
    assert result.stderr.count(b"pulling") == 1  # one progress line for the whole model
    again = run_cli("pull", NAME, "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["downloaded"] == 0


def test_show_reads_the_first_part_and_adds_up_the_rest(published: HubServer, parts: list[Path]) -> None:
    remote = run_cli("show", NAME, "--json")  # not pulled: every part's header, read from the Hub
    assert remote.returncode == 0, remote.stderr
    assert run_cli("pull", NAME).returncode == 0
    local = run_cli("show", NAME, "--json")
    assert local.returncode == 0, local.stderr
    for info in (json.loads(remote.stdout), json.loads(local.stdout)):
        assert (info["parts"], info["architecture"], info["parameters"]) == (3, "llama", 134_515_008)
        assert info["file_size"] == sum(part.stat().st_size for part in parts)
        assert info["tensors"] == 272 and info["chat_template"]  # the metadata is the first part's
    assert "in 3 parts" in run_cli("show", NAME).stdout.decode()


def test_an_interrupted_pull_resumes_in_the_part_it_stopped_in(
    published: HubServer, isolated: Path, parts: list[Path]
) -> None:
    published.faults.only, published.faults.cut_at = sha256(parts[1]), 5_000_000
    failed = run_cli("pull", NAME)
    assert failed.returncode == 4, failed.stderr
    assert [blob.name for blob in blobs(isolated)] == [f"sha256-{sha256(parts[0])}.gguf"]  # part 1 is whole
    assert listed() == []  # nothing is listed until every part is in place
    published.reset()
    result = run_cli("pull", NAME, "--json")
    assert result.returncode == 0, result.stderr
    fetched = [(r.path.removeprefix("/cdn/"), r.range) for r in published.requests("/cdn/")]
    assert fetched == [(sha256(parts[1]), "bytes=5000000-"), (sha256(parts[2]), None)]  # part 1 not again
    assert json.loads(result.stdout)["downloaded"] == sum(p.stat().st_size for p in parts[1:]) - 5_000_000
    assert b"resuming" in result.stderr
    assert [entry["parts"] for entry in listed()] == [3]


def test_rm_deletes_every_part(published: HubServer, isolated: Path, parts: list[Path]) -> None:
    assert run_cli("pull", NAME).returncode == 0
    result = run_cli("rm", NAME)
    assert result.returncode == 0, result.stderr
    assert blobs(isolated) == [] and listed() == []
    assert f"({format_size(sum(part.stat().st_size for part in parts))} freed)" in result.stderr.decode()


def test_rm_of_an_interrupted_pull_deletes_its_parts(published: HubServer, isolated: Path, parts: list[Path]) -> None:
    published.faults.only, published.faults.cut_at = sha256(parts[1]), 5_000_000
    assert run_cli("pull", NAME).returncode == 4
    result = run_cli("rm", NAME)
    assert result.returncode == 0, result.stderr
    store = isolated / "models"
    assert [p for p in store.rglob("*") if p.suffix in (".gguf", ".part")] == []


@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_a_missing_or_changed_part_is_one_line_naming_it(
    published: HubServer, isolated: Path, parts: list[Path], damage: str
) -> None:
    assert run_cli("pull", NAME).returncode == 0
    blob = isolated / "models" / "blobs" / f"sha256-{sha256(parts[1])}.gguf"
    if damage == "delete":
        blob.unlink()
    else:
        with blob.open("r+b") as f:
            f.truncate(1000)
    result = run_cli("run", "--offline", NAME, PROMPT)
    assert result.returncode == 1, result.stderr
    assert result.stdout == b""
    error = result.stderr.decode()
    assert error.count("\n") == 1 and "Traceback" not in error  # one line, with its hint
    assert str(blob) in error and f"llamacli pull {NAME}" in error
    assert listed() == []


def test_import_of_a_first_part_registers_the_whole_model(tmp_path: Path, parts: list[Path]) -> None:
    folder = tmp_path / "mine"
    shutil.copytree(parts[0].parent, folder)
    result = run_cli("import", str(folder / parts[0].name), "--json")
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stdout)
    total = sum(part.stat().st_size for part in parts)
    assert (entry["name"], entry["size"], entry["parts"]) == ("smollm2-135m-instruct-q4_1:local", total, 3)
    assert [e["parts"] for e in listed()] == [3]
    refused = run_cli("quantize", "smollm2-135m-instruct-q4_1:local", "--to", "Q8_0", "--allow-requantize")
    assert refused.returncode == 1 and b"split into 3 files" in refused.stderr
    (folder / parts[2].name).unlink()  # a lost part: the model is not listed, and saying why names the part
    assert listed() == []
    missing = run_cli("run", "--offline", "smollm2-135m-instruct-q4_1:local", PROMPT)
    assert missing.returncode == 1 and b"part 3 of 3" in missing.stderr and parts[2].name.encode() in missing.stderr


def test_import_of_a_first_part_without_the_others_is_refused(tmp_path: Path, parts: list[Path]) -> None:
    folder = tmp_path / "lonely"
    folder.mkdir()
    shutil.copy(parts[0], folder / parts[0].name)
    result = run_cli("import", str(folder / parts[0].name))
    assert result.returncode == 1
    error = result.stderr.decode()
    assert error.count("\n") == 1 and "part 2 of 3" in error and parts[1].name in error
    assert listed() == []


@pytest.mark.slow
def test_a_pulled_split_answers_byte_for_byte_as_the_whole_file(
    published: HubServer, tmp_path: Path, parts: list[Path]
) -> None:
    whole = run_cli("run", "smollm2:135m", PROMPT, *GREEDY)
    assert whole.returncode == 0, whole.stderr
    assert run_cli("pull", NAME).returncode == 0
    split = run_cli("run", NAME, PROMPT, *GREEDY)  # llama_model_load_from_splits over the blobs
    assert split.returncode == 0, split.stderr
    assert split.stdout == whole.stdout and len(whole.stdout) > 10
    by_path = run_cli("run", str(parts[0]), PROMPT, *GREEDY)  # llama.cpp finds the others next to it
    assert by_path.returncode == 0, by_path.stderr
    assert by_path.stdout == whole.stdout
