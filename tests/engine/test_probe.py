"""Files that make llama.cpp abort() are reported as load errors instead of killing the process."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from llamacli.engine import Model
from llamacli.engine.probe import ensure_loadable
from llamacli.errors import ModelLoadError
from tests.conftest import run_cli
from tests.gguf_factory import copy_gguf

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
        ensure_loadable(abort_gguf, tmp_path)
    assert "LLAMA_MAX_LAYERS" in caught.value.reason
    assert not (tmp_path / "loadable").exists()  # a bad verdict is never cached
    with pytest.raises(ModelLoadError, match="SIGABRT"):
        Model(abort_gguf)


def test_good_files_are_probed_once(smollm2_path: Path, tmp_path: Path) -> None:
    ensure_loadable(smollm2_path, tmp_path)
    verdicts = list((tmp_path / "loadable").iterdir())
    assert len(verdicts) == 1
    ensure_loadable(smollm2_path, tmp_path)
    assert list((tmp_path / "loadable").iterdir()) == verdicts


def test_run_reports_the_abort_with_exit_3(abort_gguf: Path) -> None:
    result = run_cli("run", str(abort_gguf), "hi")
    assert result.returncode == 3
    assert b"Traceback" not in result.stderr
    assert result.stderr.startswith(b"llamacli: error: cannot load model")
    assert b"SIGABRT" in result.stderr and result.stderr.count(b"\n") == 1
