"""`list`, `rm`, `show`, `import` and `models` as a user runs them (subprocesses, loopback Hub)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.hubserver import LLAMA_1B_REPO, HubServer


def local(*extra: str) -> list[dict[str, object]]:
    result = run_cli("list", "--json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_list_shows_the_bundled_model_and_pulled_ones(hub: HubServer, quantized: dict[str, Path]) -> None:
    assert run_cli("pull", "llama3.2:1b-q8_0").returncode == 0
    entries = {e["name"]: e for e in local()}
    assert set(entries) == {"smollm2:135m", "llama3.2:1b-q8_0"}
    pulled = entries["llama3.2:1b-q8_0"]
    assert pulled["quant"] == "Q8_0"
    assert pulled["size"] == quantized["Q8_0"].stat().st_size
    assert pulled["parameters"] == 134_515_008
    assert pulled["source"] == f"hf.co/{LLAMA_1B_REPO}"
    table = run_cli("ls")
    assert table.returncode == 0
    lines = table.stdout.decode().splitlines()
    assert lines[0].split() == ["NAME", "QUANT", "SIZE", "PARAMS", "MODIFIED"]
    assert any(line.startswith("llama3.2:1b-q8_0") and "Q8_0" in line and "135M" in line for line in lines)
    assert b"\x1b" not in table.stdout


@pytest.mark.slow
def test_rm_deletes_that_model_and_nothing_else(hub: HubServer, isolated: Path) -> None:
    assert run_cli("pull", "llama3.2:1b").returncode == 0
    assert run_cli("pull", "llama3.2:1b-q2_k").returncode == 0
    blobs = sorted((isolated / "models" / "blobs").iterdir())
    assert len(blobs) == 2
    result = run_cli("rm", "llama3.2:1b")
    assert result.returncode == 0, result.stderr
    assert b"deleted llama3.2:1b" in result.stderr and b"MiB freed" in result.stderr
    remaining = sorted((isolated / "models" / "blobs").iterdir())
    assert len(remaining) == 1
    assert [e["name"] for e in local() if e["source"] != "bundled"] == ["llama3.2:1b-q2_k"]
    again = run_cli("rm", "llama3.2:1b")
    assert again.returncode == 1 and b"is not on this machine" in again.stderr


@pytest.mark.slow
def test_rm_by_hub_reference_and_refusals(hub: HubServer) -> None:
    assert run_cli("pull", f"hf.co/{LLAMA_1B_REPO}:Q8_0").returncode == 0
    assert run_cli("rm", f"hf.co/{LLAMA_1B_REPO}:q8_0").returncode == 0
    assert [e for e in local() if e["source"] != "bundled"] == []
    bundled = run_cli("rm", "smollm2:135m")
    assert bundled.returncode == 1 and b"pip uninstall" in bundled.stderr
    unknown = run_cli("rm", "llama9:1b")
    assert unknown.returncode == 1 and b"unknown model" in unknown.stderr


@pytest.mark.slow
def test_import_registers_without_copying(isolated: Path, quantized: dict[str, Path]) -> None:
    source = quantized["Q2_K"]
    result = run_cli("import", str(source), "--name", "tiny:q2", "--json")
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stdout)
    assert entry["path"] == str(source) and entry["name"] == "tiny:q2" and entry["quant"] == "Q2_K"
    assert not (isolated / "models" / "blobs").exists()  # not copied
    assert [e["name"] for e in local() if e["source"] == "imported"] == ["tiny:q2"]
    shown = run_cli("show", "tiny:q2", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["path"] == str(source)
    assert run_cli("rm", "tiny:q2").returncode == 0
    assert source.is_file()  # the user's own file stays
    assert [e for e in local() if e["source"] == "imported"] == []


@pytest.mark.slow
def test_import_default_name_and_refusals(tmp_path: Path, quantized: dict[str, Path]) -> None:
    result = run_cli("import", str(quantized["Q8_0"]), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "smollm2-135m-instruct-q8_0:local"
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"\x00" * 1000)
    bad = run_cli("import", str(junk))
    assert bad.returncode == 3 and b"not a valid GGUF" in bad.stderr
    missing = run_cli("import", str(tmp_path / "nope.gguf"))
    assert missing.returncode == 1 and b"no such file" in missing.stderr
    clash = run_cli("import", str(quantized["Q8_0"]), "--name", "llama3.2:1b")
    assert clash.returncode == 1 and b"registry name" in clash.stderr


@pytest.mark.slow
def test_imported_model_runs_by_name(quantized: dict[str, Path]) -> None:
    assert run_cli("import", str(quantized["Q8_0"]), "--name", "tiny:q8").returncode == 0
    result = run_cli("run", "tiny:q8", "Say hi", "-n", "4", "--temperature", "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


@pytest.mark.slow
def test_pull_then_run_the_registry_name(hub: HubServer) -> None:
    assert run_cli("pull", "llama3.2:1b").returncode == 0
    hub.reset()
    result = run_cli("run", "llama3.2:1b", "Say hi", "-n", "4", "--temperature", "0", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model"] == "llama3.2:1b" and data["text"]
    assert hub.requests() == []  # a local model needs no network


def test_show_reads_the_local_header(smollm2_path: Path) -> None:
    result = run_cli("show", "smollm2:135m", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["architecture"] == "llama"
    assert info["parameters"] == 134_515_008
    assert info["file_type"] == "Q4_1"
    assert (info["context_length"], info["layers"], info["heads"], info["kv_heads"]) == (8192, 30, 9, 3)
    assert (info["embedding_size"], info["vocab_size"], info["license"]) == (576, 49152, "apache-2.0")
    assert info["special_tokens"]["eos"] == {"id": 2, "text": "<|im_end|>"}
    assert info["chat_template"].startswith("{% for message in messages %}")
    text = run_cli("show", str(smollm2_path))
    assert text.returncode == 0
    assert b"architecture     llama" in text.stdout and b"kv heads         3" in text.stdout
    template = run_cli("show", "smollm2:135m", "--template")
    assert template.stdout.decode().strip() == info["chat_template"].strip()


@pytest.mark.slow
def test_show_a_model_on_the_hub_reads_only_its_header(hub: HubServer, quantized: dict[str, Path]) -> None:
    result = run_cli("show", "llama3.2:1b-q8_0", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["path"] is None
    assert info["file_type"] == "Q8_0" and info["parameters"] == 134_515_008
    assert info["file_size"] == quantized["Q8_0"].stat().st_size
    assert 0 < hub.body_bytes() < 4_000_000  # the header, not the 145 MB file


@pytest.mark.slow
def test_show_offline_refuses_a_model_not_on_disk(hub: HubServer) -> None:
    result = run_cli("show", "llama3.2:1b", env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 1 and b"not downloaded" in result.stderr
    assert hub.requests() == []


def test_show_a_corrupt_file_is_exit_3(tmp_path: Path, smollm2_path: Path) -> None:
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(smollm2_path.read_bytes()[:500_000])
    result = run_cli("show", str(truncated))
    assert result.returncode == 3
    assert b"not a valid GGUF" in result.stderr and b"Traceback" not in result.stderr


@pytest.mark.slow
def test_models_catalog_marks_what_is_local(hub: HubServer) -> None:
    before = {r["name"]: r for r in json.loads(run_cli("models", "--json").stdout)}
    assert before["smollm2:135m"]["local"] is True
    assert before["llama3.2:1b"]["local"] is False and before["llama3.2:1b"]["quant"] == "Q4_K_M"
    assert {"llama3.2:1b-q2_k", "llama3.2:3b-q8_0", "llama3.1:8b", "llama3.1:8b-q8_0"} <= set(before)
    assert run_cli("pull", "llama3.2:1b").returncode == 0
    after = {r["name"]: r for r in json.loads(run_cli("models", "--json").stdout)}
    assert after["llama3.2:1b"]["local"] is True and after["llama3.2:1b-q8_0"]["local"] is False
    table = run_cli("models").stdout.decode().splitlines()
    assert table[0].split() == ["NAME", "QUANT", "SIZE", "PARAMS", "LICENSE", "LOCAL", "CTX", "MEMORY"]
    assert any(line.startswith("llama3.2:1b *") and "yes" in line.split() for line in table)


@pytest.mark.slow
def test_rm_deletes_a_partial_download(hub: HubServer, isolated: Path) -> None:
    hub.faults.cut_at = 2_000_000
    assert run_cli("pull", "llama3.2:1b").returncode == 4
    partial_dir = isolated / "models" / "partial"
    assert [p.stat().st_size for p in partial_dir.glob("*.part")] == [2_000_000]
    other = run_cli("rm", "llama3.2:1b-q8_0")
    assert other.returncode == 1  # another model's partial file is not touched
    result = run_cli("rm", "llama3.2:1b")
    assert result.returncode == 0, result.stderr
    assert b"partial download" in result.stderr and b"2 MiB freed" in result.stderr  # 2,000,000 bytes: 1.9 MiB
    assert list(partial_dir.glob("*.part")) == [] and list(partial_dir.glob("*.json")) == []


def test_show_never_sends_a_models_control_characters_to_the_terminal(tmp_path: Path) -> None:
    """A model's own text (name, license, template) is written by strangers: an ESC stays inert."""
    from tests.support.gguf_factory import copy_gguf, small_gguf

    hostile = copy_gguf(
        small_gguf(tmp_path / "base.gguf"),
        tmp_path / "hostile.gguf",
        {
            "general.name": "nice\x1b]0;pwned\x07\x1b[2J\nEVIL: line",
            "tokenizer.chat_template": "{{ '\x1b[31m' }}",
        },
    )
    shown = run_cli("show", str(hostile))
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout.decode()
    assert "\x1b" not in text and "\x07" not in text
    assert "name             nice\\x1b]0;pwned\\x07\\x1b[2J\\x0aEVIL: line\n" in text  # shown, not obeyed
    raw = run_cli("show", str(hostile), "--template")  # into a pipe: the template's exact text
    assert raw.stdout == b"{{ '\x1b[31m' }}\n"
    data = json.loads(run_cli("show", str(hostile), "--json").stdout)  # JSON escapes it by itself
    assert data["name"] == "nice\x1b]0;pwned\x07\x1b[2J\nEVIL: line"


@pytest.mark.slow
def test_a_gguf_cut_in_half_is_neither_imported_nor_shown(tmp_path: Path, smollm2_path: Path) -> None:
    """Issue 12, item 10: `import` said "imported" and `show` showed a normal model; `run` then failed."""
    half = tmp_path / "half.gguf"
    half.write_bytes(smollm2_path.read_bytes()[: smollm2_path.stat().st_size // 2])
    imported = run_cli("import", str(half), "--name", "half:q4")
    assert imported.returncode == 3, imported.stderr
    assert b"cut short" in imported.stderr and imported.stderr.count(b"\n") == 1
    assert [e for e in local() if e["source"] == "imported"] == []  # nothing registered
    shown = run_cli("show", str(half))
    assert shown.returncode == 3 and b"cut short" in shown.stderr and shown.stdout == b""


@pytest.mark.slow
def test_rm_of_an_imported_model_says_its_file_is_kept(quantized: dict[str, Path]) -> None:
    assert run_cli("import", str(quantized["Q2_K"]), "--name", "tiny:q2").returncode == 0
    result = run_cli("rm", "tiny:q2")
    assert result.returncode == 0, result.stderr
    assert result.stderr.decode() == f"forgotten tiny:q2; file kept: {quantized['Q2_K']}\n"
    assert quantized["Q2_K"].is_file()


@pytest.mark.slow
def test_import_onto_a_name_in_use_is_refused_unless_forced(quantized: dict[str, Path]) -> None:
    assert run_cli("import", str(quantized["Q2_K"]), "--name", "tiny:q").returncode == 0
    again = run_cli("import", str(quantized["Q2_K"]), "--name", "tiny:q")  # the same file: nothing changes
    assert again.returncode == 0, again.stderr
    clash = run_cli("import", str(quantized["Q8_0"]), "--name", "tiny:q")
    assert clash.returncode == 1 and b"'tiny:q' already names" in clash.stderr and b"--force" in clash.stderr
    assert [e["path"] for e in local() if e["name"] == "tiny:q"] == [str(quantized["Q2_K"])]
    forced = run_cli("import", str(quantized["Q8_0"]), "--name", "tiny:q", "--force")
    assert forced.returncode == 0, forced.stderr
    assert [e["path"] for e in local() if e["name"] == "tiny:q"] == [str(quantized["Q8_0"])]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "codes"),
    [
        ("list", ["0", "1", "2", "130"]),
        ("models", ["0", "1", "2", "130"]),
        ("rm", ["0", "1", "2", "130"]),
        ("show", ["0", "1", "2", "3", "4", "130"]),
        ("import", ["0", "1", "2", "3", "130"]),
        ("paths", ["0", "2"]),
        ("pull", ["0", "1", "2", "3", "4", "130"]),
        ("doctor", ["0", "1", "2", "130"]),
        ("recommend", ["0", "1", "2", "3", "130"]),
        ("chat", ["0", "1", "2", "3", "4", "130"]),
        ("run", ["0", "1", "2", "3", "4", "5", "130", "141"]),
    ],
)
def test_each_command_lists_the_exit_codes_it_can_return(command: str, codes: list[str]) -> None:
    text = run_cli(command, "--help").stdout.decode()
    listed = text.split("Exit codes:")[1].split()
    assert [word for word in listed if word.isdigit()] == codes


@pytest.mark.slow
def test_paths_says_where_every_file_lives(isolated: Path) -> None:
    result = run_cli("paths", "--json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["config"] == str(isolated / "config.toml")
    assert found["models"] == str(isolated / "models")
    assert found["history"] == str(isolated / "history.db")
    assert found["cache"] == str(isolated / "cache")
    assert {"data", "registry", "input_history", "auto_choice"} <= set(found)
    table = run_cli("paths").stdout.decode().splitlines()
    assert len(table) == len(found) and all(line.split()[-1] in found.values() for line in table)
    assert not isolated.exists()  # showing where files go creates none of them
