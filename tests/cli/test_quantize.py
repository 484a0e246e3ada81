"""`quantize` as a user runs it: an F16 source to Q8_0 and Q2_K that then answer, a requantize on request,
Ctrl-C mid-way leaving nothing, and the refusals, one line each."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli import LLAMACLI, run_cli
from tests.support.quantize import to_f16


@pytest.fixture(scope="module")
def f16_source(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled model as an F16 GGUF (what a user's own conversion gives): made once per module."""
    return to_f16(smollm2_path, tmp_path_factory.mktemp("f16"))


def listed() -> dict[str, dict[str, object]]:
    result = run_cli("list", "--json")
    assert result.returncode == 0, result.stderr
    return {e["name"]: e for e in json.loads(result.stdout)}


def store_files(home: Path) -> list[str]:
    directory = home / "models" / "quantized"
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def workers_of(home: Path) -> list[int]:
    """Quantizer workers of this test's commands still running (they inherit LLAMACLI_HOME=HOME)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            command = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"llamacli.engine.quantizer" in command and f"LLAMACLI_HOME={home}".encode() in environ:
            found.append(int(proc.name))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("quant", ["Q8_0", "Q2_K"])
def test_an_f16_model_quantized_is_listed_and_answers(quant: str, f16_source: Path, isolated: Path) -> None:
    result = run_cli("quantize", str(f16_source), "--to", quant.lower(), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    name = f"smollm2-135m-instruct-f16-{quant.lower()}:local"
    assert report["name"] == name and report["quant"] == quant
    assert report["source_size"] == f16_source.stat().st_size and report["seconds"] > 0
    made = Path(report["path"])
    assert made.is_file() and made.stat().st_size == report["size"] < report["source_size"]
    assert made.parent == isolated / "models" / "quantized" and store_files(isolated) == [made.name]
    assert b"272/272 tensors" in result.stderr and b"warning" not in result.stderr
    entry = listed()[name]
    assert entry["quant"] == quant and entry["source"] == "quantized" and entry["size"] == report["size"]
    answer = run_cli("run", name, "Say hi", "-n", "8", "--temperature", "0")
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip()


@pytest.mark.slow
def test_a_quantized_source_needs_the_flag_and_gets_a_warning(isolated: Path) -> None:
    refused = run_cli("quantize", "smollm2:135m", "--to", "Q8_0")
    assert refused.returncode == 1
    assert refused.stderr.decode().count("\n") == 1 and b"--allow-requantize" in refused.stderr
    assert store_files(isolated) == []
    result = run_cli("quantize", "smollm2:135m", "--to", "Q8_0", "--allow-requantize")
    assert result.returncode == 0, result.stderr
    assert b"warning: smollm2:135m is already quantized (Q4_1)" in result.stderr
    assert result.stdout == b""  # the report is for a person: stderr
    answer = run_cli("run", "smollm2:135m-q8_0", "Say hi", "-n", "8", "--temperature", "0")
    assert answer.returncode == 0 and answer.stdout.strip(), answer.stderr
    again = run_cli("quantize", "smollm2:135m", "--to", "Q8_0", "--allow-requantize")
    assert again.returncode == 1 and b"'smollm2:135m-q8_0' already names" in again.stderr
    removed = run_cli("rm", "smollm2:135m-q8_0")
    assert removed.returncode == 0 and b"deleted smollm2:135m-q8_0" in removed.stderr
    assert store_files(isolated) == [] and "smollm2:135m-q8_0" not in listed()


@pytest.mark.slow
def test_ctrl_c_mid_way_leaves_no_file_no_model_and_no_worker(f16_source: Path, isolated: Path) -> None:
    command = [LLAMACLI, "quantize", str(f16_source), "--to", "Q4_K_M", "--threads", "1"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    seen = b""
    while b"10% (" not in seen:  # a tensor line: the worker is writing the part file
        chunk = proc.stderr.read1(256)
        assert chunk, seen
        seen += chunk
    assert any(name.endswith(".part") for name in store_files(isolated))
    assert len(workers_of(isolated)) == 1  # what the check below would miss, were it blind
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(timeout=30) == 130, seen + rest
    assert b"interrupted: the partial file is deleted" in rest and b"Traceback" not in rest
    assert b"100%" not in seen + rest  # stopped mid-way, not after the end
    assert store_files(isolated) == []
    assert [n for n in listed() if n != "smollm2:135m"] == []
    deadline = time.monotonic() + 5
    while workers_of(isolated) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert workers_of(isolated) == []


@pytest.mark.slow
def test_progress_bar_on_a_terminal(f16_source: Path) -> None:
    import pexpect

    child = pexpect.spawn(LLAMACLI, ["quantize", str(f16_source), "--to", "Q8_0"], env=dict(os.environ), timeout=120)
    child.expect("272/272")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_refusals_are_one_line_and_leave_nothing(isolated: Path, smollm2_path: Path) -> None:
    cases = [
        (["smollm2:135m", "--to", "Q9_K"], b"cannot quantize to 'Q9_K' (choose one of"),
        (["smollm2:135m", "--to", "Q8_0"], b"already quantized (Q4_1)"),
        (["smollm2:135m", "--to", "Q2_K", "--allow-requantize", "--name", "llama3.2:1b"], b"is a registry name"),
        (["smollm2:135m", "--to", "Q2_K", "--allow-requantize", "--name", "nocolon"], b"is not a model name"),
        ([str(isolated / "missing.gguf"), "--to", "Q8_0"], b"missing.gguf"),
        (["nosuchmodel:7b", "--to", "Q8_0"], b"nosuchmodel:7b"),
    ]
    for args, words in cases:
        result = run_cli("quantize", *args)
        assert result.returncode == 1, (args, result.stderr)
        assert result.stderr.count(b"\n") == 1 and words in result.stderr, result.stderr
        assert b"Traceback" not in result.stderr and result.stdout == b""
    assert run_cli("quantize", "smollm2:135m").returncode == 2  # --to is required
    assert store_files(isolated) == []
    assert workers_of(isolated) == []  # the worker started ahead of the checks was stopped


@pytest.mark.slow
def test_a_failure_of_llama_cpp_s_quantizer_is_one_line_and_keeps_nothing(
    smollm2_path: Path, tmp_path: Path, isolated: Path
) -> None:
    from tests.support.gguf_factory import copy_gguf

    # Its header says F16, so the plan lets it through; llama.cpp finds Q4_1 tensors and refuses to requantize.
    liar = copy_gguf(smollm2_path, tmp_path / "claims-f16.gguf", {"general.file_type": 1})
    result = run_cli("quantize", str(liar), "--to", "Q8_0")
    assert result.returncode == 3, result.stderr
    [line] = result.stderr.decode().splitlines()[-1:]
    assert line.startswith("llamacli: error: llama.cpp could not quantize") and "q4_1" in line, line
    assert b"Traceback" not in result.stderr and result.stdout == b""
    assert store_files(isolated) == [] and [n for n in listed() if n != "smollm2:135m"] == []
