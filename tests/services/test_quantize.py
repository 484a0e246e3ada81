"""The quantize use case's checks before any work: types, names, the disk space (given, not patched)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamacli.errors import NotEnoughDisk, UnknownQuantType
from llamacli.services import quantize
from llamacli.sizing.estimate import QUANT_BITS


def test_target_types_are_canonical_with_llama_quantize_s_aliases() -> None:
    assert quantize.target_type("q4_k_m") == "Q4_K_M"
    assert quantize.target_type("Q4_K") == "Q4_K_M" and quantize.target_type("q5_k") == "Q5_K_M"
    with pytest.raises(UnknownQuantType) as refused:
        quantize.target_type("Q4_K_X")
    assert "Q4_K_M" in refused.value.choices
    assert set(QUANT_BITS) <= set(quantize.FTYPES)  # every type offered has a llama_ftype


def test_default_names() -> None:
    assert quantize.default_name("smollm2:135m", "Q4_K_M") == "smollm2:135m-q4_k_m"
    assert quantize.default_name("/m/Llama-3.2-1B-F16.gguf", "Q8_0") == "llama-3.2-1b-f16-q8_0:local"
    assert quantize.default_name("hf.co/o/Repo-GGUF:Q8_0", "Q2_K") == "repo-gguf-q8_0-q2_k:local"


def test_a_plan_names_its_output_in_the_store_and_estimates_its_size(isolated: Path) -> None:
    job = quantize.plan("smollm2:135m", "Q8_0", allow_requantize=True, free_space=1 << 40)
    assert job.requantize and job.source_type == "Q4_1" and job.tensors == 272
    assert job.name == "smollm2:135m-q8_0"
    assert job.path == isolated / "models" / "quantized" / "smollm2-135m-q8_0.gguf"
    assert 140_000_000 < job.estimated_size < 150_000_000  # llama.cpp writes 144,811,072 bytes


def test_not_enough_disk_is_refused_before_any_work(isolated: Path) -> None:
    with pytest.raises(NotEnoughDisk) as refused:
        quantize.plan("smollm2:135m", "Q8_0", allow_requantize=True, free_space=100 << 20)
    assert refused.value.free == 100 << 20 and refused.value.purpose == "quantized file"
    assert refused.value.needed > 140_000_000
    assert not (isolated / "models" / "quantized").exists()


def test_a_second_file_of_the_same_stem_gets_its_own_name(isolated: Path) -> None:
    directory = isolated / "models" / "quantized"
    directory.mkdir(parents=True)
    (directory / "smollm2-135m-q8_0.gguf").write_bytes(b"another model's")
    job = quantize.plan("smollm2:135m", "Q8_0", allow_requantize=True, free_space=1 << 40)
    assert job.path.name == "smollm2-135m-q8_0-2.gguf"
