"""What a one-shot that names its model imports: not the recommender, not importlib.metadata (each costs
start-up time every `llamacli run` pays)."""

from __future__ import annotations

import subprocess
import sys

from llamacli.engine import runtime
from llamacli.services import auto_choice, recommend


def test_the_picker_s_settings_are_the_recommender_s() -> None:
    assert recommend.MIN_SPEED_ENV in auto_choice.SETTINGS  # spelled out there, to spare the import


def test_the_build_id_reads_llama_cpp_python_s_version_without_importlib_metadata() -> None:
    from importlib import metadata

    assert runtime.build_id().split("|")[0] == metadata.version("llama-cpp-python")


def test_loading_a_named_model_does_not_import_the_recommender() -> None:
    code = (
        "import sys; from llamacli.services import loading, run; from llamacli.engine import runtime\n"
        "runtime.build_id()\n"
        "print(sorted(m for m in ('llamacli.services.recommend', 'llamacli.sizing.calibrate') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
