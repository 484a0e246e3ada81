"""The hardware probe, on this real machine with the real llama.cpp build."""

from __future__ import annotations

import os
from pathlib import Path

from llamacli.base import hardware
from llamacli.engine import native


def test_cpu_features_are_parsed_from_llama_cpp_system_info() -> None:
    info = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 0 | NEON = 0 | LLAMAFILE = 1 | "
    assert hardware.cpu_features(info) == ("SSE3", "AVX", "AVX2", "LLAMAFILE")
    assert hardware.cpu_features("") == ()


def test_probe_of_this_machine(isolated: Path) -> None:
    found = hardware.probe(native.system_info, native.gpu_offload)
    assert 0 < found.available_ram <= found.total_ram
    assert 1 <= found.physical_cores <= found.logical_cores == os.cpu_count()
    assert found.cpu_features == hardware.cpu_features(native.system_info())
    assert found.cpu_features, "llama.cpp always reports some CPU features"
    assert found.models_dir == str(isolated)  # LLAMACLI_HOME holds the models
    assert found.free_disk > 0  # measured on the nearest existing parent: the home does not exist yet
    assert found.gpu is None if not native.gpu_offload() else found.gpu
    assert found.to_dict()["cpu_features"] == list(found.cpu_features)
