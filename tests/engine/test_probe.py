"""Native crashes never reach the user: files that make llama.cpp abort() are load errors, and kernels that
crash on this CPU are stepped around by the self-test (runtime.LADDER), remembered per build and CPU."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from llamacli.engine import GenerationParams, LoadParams, Model, native, probe, runtime
from llamacli.engine.probe import CRASH_SWITCH, ensure_runs
from llamacli.errors import EngineCrash, ModelLoadError
from tests.support.cli import run_cli
from tests.support.gguf_factory import copy_gguf

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def abort_gguf(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("hostile") / "layers600.gguf"
    return copy_gguf(smollm2_path, target, {"llama.block_count": 600}, with_tensors=False)


def test_the_file_really_aborts_llama_cpp(abort_gguf: Path) -> None:
    """Without the probe, llama.cpp kills the process: the test file is what it claims to be."""
    code = (
        "import sys; from llamacli.engine import native; ll = native.lib(); "
        "ll.llama_model_load_from_file(sys.argv[1].encode(), ll.llama_model_default_params())"
    )
    import sys

    result = subprocess.run(
        [sys.executable, "-c", code, str(abort_gguf)], capture_output=True, env={"GGML_NO_BACKTRACE": "1"}, check=False
    )
    assert result.returncode == -6  # SIGABRT


def test_probe_turns_the_abort_into_a_load_error(abort_gguf: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="SIGABRT") as caught:
        ensure_runs(abort_gguf, tmp_path)
    assert "LLAMA_MAX_LAYERS" in caught.value.reason
    assert not list(tmp_path.iterdir())  # a bad verdict is never cached, and the machine learnt nothing
    with pytest.raises(ModelLoadError, match="SIGABRT"):
        Model(abort_gguf)


def _file_verdicts(cache: Path) -> list[Path]:
    return [p for d in cache.glob("runs-*") for p in d.iterdir()]


def test_good_files_are_tested_once(smollm2_path: Path, tmp_path: Path) -> None:
    first = ensure_runs(smollm2_path, tmp_path)
    assert first.fresh and first.config == runtime.LADDER[0] and not first.crashes
    assert runtime.recall_machine(tmp_path) == runtime.Verdict(runtime.LADDER[0])
    verdicts = _file_verdicts(tmp_path)
    assert len(verdicts) == 1
    again = ensure_runs(smollm2_path, tmp_path)
    assert not again.fresh and again.config == first.config
    assert _file_verdicts(tmp_path) == verdicts


def test_the_self_test_on_this_cpu(smollm2_path: Path, tmp_path: Path) -> None:
    """The real path, whatever the CPU: an AMX build on an AMX CPU falls back; any other runs as it is."""
    verdict = ensure_runs(smollm2_path, tmp_path)
    amx_build = "AMX_INT8 = 1" in native.system_info()
    if amx_build and runtime.cpu_has_amx():  # llama-cpp-python 0.3.36's AMX kernels: SIGILL
        assert not verdict.config.extra_buffers and "SIGILL" in verdict.crashes[0]
    else:
        assert verdict.config == runtime.LADDER[0] and not verdict.crashes


def test_a_crash_while_running_falls_back_and_the_model_still_answers(
    smollm2_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CRASH_SWITCH, "extra-buffers")  # the child dies by SIGILL, as on an AMX CPU
    verdict = ensure_runs(smollm2_path, tmp_path)
    assert verdict.config.name == "no-extra-buffers"
    assert verdict.crashes == ("default: SIGILL while running",)
    assert runtime.recall_machine(tmp_path) == runtime.Verdict(verdict.config, verdict.crashes)
    with Model(smollm2_path, LoadParams(n_ctx=256, probe_cache=tmp_path)) as model:
        assert not model.runtime.fresh and model.runtime.config.name == "no-extra-buffers"
        text = model.generate([], GenerationParams(temperature=0, max_tokens=8)).text
    assert text.strip()


def test_a_crash_in_every_configuration_is_one_error(
    smollm2_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CRASH_SWITCH, "always")
    with pytest.raises(EngineCrash) as caught:
        ensure_runs(smollm2_path, tmp_path)
    assert len(caught.value.crashes) == len(runtime.LADDER)
    assert runtime.recall_machine(tmp_path) is None


def test_another_build_or_cpu_tests_again(smollm2_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CRASH_SWITCH, "extra-buffers")
    ensure_runs(smollm2_path, tmp_path)
    monkeypatch.delenv(CRASH_SWITCH)
    # The same verdicts, recorded under another llama.cpp build: stale, so the self-test runs again.
    monkeypatch.setattr(runtime, "build_id", lambda: "llama-cpp-python 9.9.9|libllama.so:1:2")
    again = ensure_runs(smollm2_path, tmp_path)
    assert again.fresh and again.config == runtime.LADDER[0]


def test_the_machine_is_tested_on_the_reference_model(
    smollm2_path: Path, quantized: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CRASH_SWITCH, "extra-buffers")
    verdict = ensure_runs(quantized["Q8_0"], tmp_path, reference=smollm2_path)
    machine = runtime.recall_machine(tmp_path)
    assert machine is not None and machine.config.name == "no-extra-buffers"
    # The user's file started from the machine's configuration and carries its reason.
    assert verdict.config.name == "no-extra-buffers" and verdict.crashes == machine.crashes
    assert len(_file_verdicts(tmp_path)) == 1  # the reference's own verdict is the machine's


def test_after_generating_the_child_is_a_fresh_interpreter(smollm2_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """libgomp's worker pool does not survive fork: a process that generated spawns its self-test child."""
    monkeypatch.setattr(native, "_threads_started", True)
    ok = probe._try(smollm2_path, runtime.LADDER[0], header=True, parts=())
    assert ok.signal is None and ok.code == 0 and ok.header_ok and ok.weights_ok
    monkeypatch.setenv(CRASH_SWITCH, "always")
    crashed = probe._try(smollm2_path, runtime.LADDER[0], header=True, parts=())
    assert crashed.signal == "SIGILL" and crashed.weights_ok


def test_run_reports_the_abort_with_exit_3(abort_gguf: Path) -> None:
    result = run_cli("run", str(abort_gguf), "hi")
    assert result.returncode == 3
    assert b"Traceback" not in result.stderr
    assert result.stderr.startswith(b"llamacli: error: cannot load model")
    assert b"SIGABRT" in result.stderr and result.stderr.count(b"\n") == 1


def test_run_falls_back_says_why_under_verbose_and_tests_only_once(smollm2_path: Path) -> None:
    switch = {CRASH_SWITCH: "extra-buffers"}
    first = run_cli("run", "smollm2:135m", "Say hi", "-n", "8", "--temperature", "0", "-v", env=switch)
    assert first.returncode == 0 and first.stdout.strip()
    assert b"default crashed (SIGILL while running)" in first.stderr
    assert b"found by the self-test just now" in first.stderr
    second = run_cli("run", "smollm2:135m", "Say hi", "-n", "8", "--temperature", "0", "-v", env=switch)
    assert second.returncode == 0 and second.stdout == first.stdout
    assert b"remembered from the self-test" in second.stderr
    assert b"default crashed (SIGILL while running)" in second.stderr


def test_run_that_crashes_in_every_configuration_is_exit_3(smollm2_path: Path) -> None:
    result = run_cli("run", "smollm2:135m", "Say hi", "-n", "8", env={CRASH_SWITCH: "always"})
    assert result.returncode == 3 and not result.stdout
    assert result.stderr.startswith(b"llamacli: error: llama.cpp crashes running")
    assert result.stderr.count(b"\n") == 1 and b"Traceback" not in result.stderr
