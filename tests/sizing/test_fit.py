"""The memory-fit check used before downloads and loads (pure estimate over a budget)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from llamacli.errors import InvalidValue
from llamacli.models import registry
from llamacli.models.gguf_info import GGUFInfo
from llamacli.sizing import fit
from llamacli.sizing.estimate import ModelShape

EIGHT_B = registry.load({}).get("llama3.1:8b-q8_0")


def test_budget_comes_from_the_environment_or_available_ram() -> None:
    assert fit.memory_budget({"LLAMACLI_MEMORY": "8G"}) == 8 * 2**30
    assert fit.memory_budget({}) > 0
    with pytest.raises(InvalidValue, match="LLAMACLI_MEMORY"):
        fit.memory_budget({"LLAMACLI_MEMORY": "lots"})


def test_an_8b_q8_does_not_fit_in_4g_but_fits_in_32g() -> None:
    shape = fit.shape_of_entry(EIGHT_B.entry)
    small = fit.check(shape, EIGHT_B.file.size, EIGHT_B.entry.context_length, None, {"LLAMACLI_MEMORY": "4G"})
    large = fit.check(shape, EIGHT_B.file.size, EIGHT_B.entry.context_length, None, {"LLAMACLI_MEMORY": "32G"})
    assert not small.fits and large.fits
    assert small.n_ctx == 4096  # the default window: trained context capped at 4096
    assert small.need > EIGHT_B.file.size  # weights plus KV cache, compute and overhead
    assert "does not fit" in small.reason and "4.0 GiB" in small.reason


def test_a_bigger_window_needs_more_memory() -> None:
    shape = ModelShape(32, 8, 128, 8_030_261_248)
    at_4k = fit.check(shape, 4_920_739_232, 131_072, 4096, {"LLAMACLI_MEMORY": "64G"})
    at_8k = fit.check(shape, 4_920_739_232, 131_072, 8192, {"LLAMACLI_MEMORY": "64G"})
    assert at_8k.need - at_4k.need == 2**29  # Llama 3.1 8B: 1 GiB of KV cache at 8K, half of it at 4K


def test_warning_only_when_it_does_not_fit() -> None:
    shape = fit.shape_of_entry(EIGHT_B.entry)
    verdict = fit.check(shape, EIGHT_B.file.size, 131_072, None, {"LLAMACLI_MEMORY": "1G"})
    assert fit.warning("big", verdict) is not None
    assert fit.warning("big", None) is None


SMALL = GGUFInfo("llama", None, 1_000_000, None, 2048, 2, 4, 2, 64, 16, 32, None, None, file_size=1_000_000)


@pytest.mark.parametrize(
    "changes",
    [
        {"layers": -1, "embedding_size": None},  # the width solver took sqrt of a negative number
        {"layers": -1},
        {"kv_heads": 0, "heads": 0},
        {"head_dim": -4},
        {"embedding_size": -64},
        {"vocab_size": -5, "embedding_size": None},
        {"parameters": 0, "embedding_size": None},
        {"context_length": -1},
    ],
)
def test_impossible_shapes_from_a_hostile_header_never_crash_the_check(changes: dict[str, int | None]) -> None:
    info = replace(SMALL, **changes)
    shape = fit.shape_of_info(info)
    if shape is None:
        return  # not sized: the loader decides
    assert min(shape.layers, shape.kv_heads, shape.head_dim, shape.n_vocab) > 0
    verdict = fit.check(shape, info.file_size, info.context_length, None, {"LLAMACLI_MEMORY": "8G"})
    assert verdict.need > 0 and verdict.n_ctx > 0
