"""The memory-fit check used before downloads and loads (pure estimate over a budget)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from llamacli.errors import InvalidValue
from llamacli.models import registry
from llamacli.models.gguf_info import GGUFInfo
from llamacli.sizing import calibration, fit
from llamacli.sizing.calibration import Calibration, QuantMeasurement
from llamacli.sizing.estimate import DEFAULT_OVERHEAD, ModelShape, QuantSpeed
from llamacli.sizing.picker import Budget

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


# --- Issue 13, item 2: one answer, and a default context shrunk (as llama.cpp's --fit does) before giving up ---

ONE_B = registry.load({}).get("llama3.2:1b")  # Q4_K_M: by the formula 1.03 GiB at 4096 tokens, 1020 MiB at 3072
GIB = 2**30


def formula(memory: float) -> fit.Sizer:
    """A sizer with no calibration (the formula) and a budget of MEMORY GiB."""
    return fit.Sizer(Budget(int(memory * GIB), 0.0))


def test_contexts_tried_go_down_in_steps_of_256_to_the_floor_and_never_up() -> None:
    assert fit.contexts(4096) == list(range(4096, 1023, -256))
    assert fit.contexts(3000)[:3] == [3000, 2816, 2560] and fit.contexts(3000)[-1] == 1024
    assert fit.contexts(1024) == [1024]
    assert fit.contexts(512) == [512]  # a model trained on less than the floor is never shrunk
    assert fit.contexts(4096, floor=4096) == [4096]


def test_a_default_context_that_does_not_fit_is_shrunk_to_the_largest_that_does() -> None:
    verdict = formula(1.5).entry(ONE_B.entry, ONE_B.file)
    assert verdict.fits and verdict.shrunk
    assert (verdict.default_ctx, verdict.n_ctx) == (4096, 3072)
    assert (
        verdict.need
        <= verdict.usable
        < formula(1.5).need(fit.shape_of_entry(ONE_B.entry), ONE_B.file.size, 3072 + 256, ONE_B.file.quant).total
    )
    assert verdict.reason.startswith("fits at a 3072-token context, not at its default 4096: needs ")
    roomy = formula(4).entry(ONE_B.entry, ONE_B.file)
    assert roomy.fits and not roomy.shrunk and roomy.n_ctx == 4096


def test_a_context_the_user_chose_is_never_shrunk() -> None:
    verdict = formula(1.5).entry(ONE_B.entry, ONE_B.file, n_ctx=4096)
    assert not verdict.fits and verdict.n_ctx == verdict.default_ctx == verdict.least_ctx == 4096


def test_when_even_the_floor_does_not_fit_the_verdict_is_at_the_default_with_the_least_need() -> None:
    verdict = formula(1.2).entry(ONE_B.entry, ONE_B.file)
    assert not verdict.fits and not verdict.shrunk and verdict.n_ctx == 4096
    assert verdict.least_ctx == fit.MIN_CTX and verdict.least < verdict.need
    assert "does not fit: needs 1.0 GiB at a 4096-token context (956 MiB at 1024)" in verdict.reason


MEASURED = {"Q4_K_M": QuantMeasurement("Q4_K_M", 4.9, 60.0, 900.0, QuantSpeed(6e9, 1e11, 1e12), 50.0, 0.5)}
CALIBRATED = Calibration("this machine", 0.0, 200 * 2**20, MEASURED)


def test_a_calibration_makes_the_estimate_the_measured_one() -> None:
    shape = fit.shape_of_entry(ONE_B.entry)
    plain = formula(8).need(shape, ONE_B.file.size, 4096, "Q4_K_M")
    measured = fit.Sizer(Budget(8 * GIB), CALIBRATED).need(shape, ONE_B.file.size, 4096, "Q4_K_M")
    assert measured.repacked == ONE_B.file.size // 2 and plain.repacked == 0
    assert measured.overhead - plain.overhead == 200 * 2**20 - DEFAULT_OVERHEAD
    # So the same budget can fit by the formula and shrink, or not fit, once calibrated
    assert formula(1.5).entry(ONE_B.entry, ONE_B.file).fits
    calibrated = fit.Sizer(Budget(int(1.5 * GIB)), CALIBRATED).entry(ONE_B.entry, ONE_B.file)
    assert not calibrated.fits and calibrated.calibrated


def test_this_machine_is_sized_with_its_calibration_once_there_is_one(isolated: Path) -> None:
    env = {"LLAMACLI_HOME": str(isolated), "LLAMACLI_MEMORY": "1.5G"}
    assert fit.Sizer.here(env) == formula(1.5)  # nothing measured yet: the formula
    calibration.save(replace(CALIBRATED, machine=calibration.machine_key()), env)
    here = fit.Sizer.here(env)
    assert here.calibration is not None and here.calibration.runtime_overhead == 200 * 2**20
    local = fit.check_local(isolated / "nowhere.gguf", None, None, env)
    assert local is None  # a file that cannot be read is left to the loader
    assert fit.check(fit.shape_of_entry(ONE_B.entry), ONE_B.file.size, 131_072, None, env, "Q4_K_M") == (
        here.entry(ONE_B.entry, ONE_B.file)
    )


def test_the_memory_budget_is_the_environment_else_what_the_caller_probed() -> None:
    assert fit.memory_budget({"LLAMACLI_MEMORY": "2G"}, available=5) == 2 * GIB
    assert fit.memory_budget({}, available=5) == 5
