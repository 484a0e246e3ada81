"""The ranking: given memory and speed budgets, the expected pick; ties; nothing fits; explanations."""

from __future__ import annotations

from dataclasses import replace

import pytest

from llamacli.sizing.estimate import MemoryEstimate, SpeedEstimate
from llamacli.sizing.picker import Budget, Candidate, Fit, best_local, explain, fit, pick, rank

GIB = 2**30


def candidate(name: str, billions: float, bits: float, need_gib: float, tok_s: float) -> Candidate:
    parameters = int(billions * 1e9)
    return Candidate(
        name=name,
        parameters=parameters,
        quant=name.rsplit("-", 1)[-1].upper(),
        file_size=int(parameters * bits / 8),
        memory=MemoryEstimate(weights=int(need_gib * GIB), kv_cache=0, compute=0, overhead=0),
        speed=SpeedEstimate(generation=tok_s, prompt=10 * tok_s),
    )


CATALOG = [
    candidate("1b-q2_k", 1.2, 3.0, 0.8, 40),
    candidate("1b-q4_k_m", 1.2, 4.9, 1.0, 30),
    candidate("1b-q8_0", 1.2, 8.5, 1.5, 20),
    candidate("3b-q2_k", 3.2, 3.0, 1.9, 14),
    candidate("3b-q4_k_m", 3.2, 4.9, 2.5, 10),
    candidate("3b-q8_0", 3.2, 8.5, 3.9, 6),
    candidate("8b-q2_k", 8.0, 3.0, 3.7, 5),
    candidate("8b-q4_k_m", 8.0, 4.9, 5.3, 4),
    candidate("8b-q8_0", 8.0, 8.5, 8.7, 2),
]


def picked(memory_gib: float, min_speed: float) -> str | None:
    chosen = pick(CATALOG, Budget(int(memory_gib * GIB), min_speed))
    return chosen.name if chosen else None


def test_headroom_is_ten_percent_or_512_mib() -> None:
    assert Budget(16 * GIB).usable == 16 * GIB - int(16 * GIB * 0.1)
    assert Budget(2 * GIB).usable == 2 * GIB - 512 * 2**20
    assert Budget(100).usable == 0


def test_big_machine_without_a_speed_floor_gets_8b_at_the_best_quant() -> None:
    assert picked(32, 0) == "8b-q8_0"
    assert picked(8, 0) == "8b-q4_k_m"  # Q8_0 needs 8.7 GiB > 7.2 usable


def test_speed_floor_steps_down_a_size() -> None:
    assert picked(32, 8) == "3b-q4_k_m"  # every 8B is below 8 tok/s; 3B Q8_0 too (6)
    assert picked(32, 12) == "3b-q2_k"
    assert picked(32, 25) == "1b-q4_k_m"


def test_small_memory_steps_down() -> None:
    assert picked(2, 0) == "1b-q8_0"  # 1.5 GiB usable: 3B Q2_K (1.9) does not fit
    assert picked(1.6, 0) == "1b-q4_k_m"  # 1.1 usable


def test_nothing_fits() -> None:
    budget = Budget(1 * GIB, 8)
    assert pick(CATALOG, budget) is None
    assert rank(CATALOG, budget) == []
    assert explain(None, CATALOG, budget) == (
        "Nothing fits: the smallest, 1b-q2_k, needs 819 MiB but 512 MiB of 1.0 GiB is usable; "
        "it takes a budget of at least 1.3 GiB."
    )
    too_slow = Budget(64 * GIB, 100)
    assert "too slow" in explain(None, CATALOG, too_slow)
    assert explain(None, [], too_slow) == "No model is known to choose from."


def test_ties_go_to_less_memory_then_registry_order() -> None:
    a = candidate("a-q4", 1.0, 4.0, 1.2, 50)
    b = candidate("b-q4", 1.0, 4.0, 1.0, 50)
    c = candidate("c-q4", 1.0, 4.0, 1.0, 50)
    assert [x.name for x in rank([a, b, c], Budget(8 * GIB, 8))] == ["b-q4", "c-q4", "a-q4"]


def test_fit_reasons_name_the_binding_number() -> None:
    budget = Budget(4 * GIB, 8)
    assert fit(CATALOG[-1], budget) == Fit(False, "needs 8.7 GiB, 3.5 GiB usable of 4.0 GiB")
    assert fit(CATALOG[6], Budget(64 * GIB, 8)).reason == "5.0 tok/s is below the 8 tok/s floor"
    assert fit(CATALOG[0], budget).fits


def test_explanation_of_a_pick_names_the_next_size_up() -> None:
    budget = Budget(32 * GIB, 8)
    chosen = pick(CATALOG, budget)
    sentence = explain(chosen, CATALOG, budget)
    assert sentence.startswith("3b-q4_k_m is the largest model that fits: it needs 2.5 GiB of 28.8 GiB usable")
    assert "the next size up, 8b-q2_k, 5.0 tok/s is below the 8 tok/s floor" in sentence


def test_best_local_takes_the_best_ranked_model_on_disk() -> None:
    budget = Budget(32 * GIB, 0)
    on_disk = {"1b-q2_k", "3b-q2_k"}
    chosen = best_local(CATALOG, budget, lambda c: c.name in on_disk)
    assert chosen is not None and chosen.name == "3b-q2_k"
    assert best_local(CATALOG, budget, lambda c: False) is None
    assert best_local(CATALOG, Budget(1 * GIB, 0), lambda c: c.name in on_disk) is None


def test_a_budget_below_every_model_is_said_plainly() -> None:
    """`--memory 8` once meant 8 bytes and read "0 MiB usable": a budget that is all headroom says so."""
    sentence = explain(None, CATALOG, Budget(100 * 2**20, 8))
    assert sentence == (
        "Nothing fits: a budget of 100 MiB is all headroom (at least 512 MiB is kept free), so no model can "
        "run in it; the smallest, 1b-q2_k, needs 819 MiB, which takes a budget of at least 1.3 GiB."
    )
    from llamacli.sizing.picker import smallest_budget

    least = smallest_budget(CATALOG[0].memory.total)
    assert Budget(least).holds(CATALOG[0].memory.total) and not Budget(least - 2**20).holds(CATALOG[0].memory.total)


def test_a_speed_is_never_shown_rounded_across_the_floor() -> None:
    """Not "8.0 tok/s is below the 8 tok/s floor": the number shown agrees with the decision."""
    almost = candidate("1b-q8_0", 1.2, 8.5, 1.5, 7.96)
    verdict = fit(almost, Budget(32 * GIB, 8))
    assert not verdict.fits and verdict.reason == "7.96 tok/s is below the 8 tok/s floor"
    assert fit(candidate("1b-q8_0", 1.2, 8.5, 1.5, 7.9999), Budget(32 * GIB, 8)).reason.startswith("7.9999 tok/s")
    just = fit(candidate("1b-q8_0", 1.2, 8.5, 1.5, 8.04), Budget(32 * GIB, 8.04))
    assert just.fits and just.reason.endswith(", 8.04 tok/s")  # not "8.0 tok/s" against a floor of 8.04
    from llamacli.sizing.picker import format_speed

    assert format_speed(7.96) == "8.0" and format_speed(7.96, 8) == "7.96" and format_speed(12.25, 8) == "12.2"


def test_a_pick_without_a_speed_floor_says_its_real_speed() -> None:
    """Not "should generate 0 tok/s (floor 0)"."""
    slow = [candidate("8b-q8_0", 8.0, 8.5, 8.7, 0.4)]
    sentence = explain(slow[0], slow, Budget(32 * GIB, 0))
    assert "should generate 0.40 tok/s (no speed floor)" in sentence
    from llamacli.sizing.picker import format_speed

    assert format_speed(0.04) == "0.040" and format_speed(0) == "0.0"


def shrunk(c: Candidate, n_ctx: int) -> Candidate:
    """C sized at N_CTX instead of its default 4096 (what the fit check does when only that fits)."""
    return replace(c, n_ctx=n_ctx, default_ctx=4096, least=c.memory.total, least_ctx=1024)


def test_a_bigger_model_at_a_smaller_context_beats_a_much_smaller_model() -> None:
    """Issue 13, item 2: 1.5 GB must give the 1B at a smaller context, not the 135M model."""
    tiny = replace(candidate("135m-q4_1", 0.135, 4.5, 0.25, 50), n_ctx=4096, default_ctx=4096)
    one_b = shrunk(candidate("1b-q4_k_m", 1.2, 4.9, 0.95, 20), 2048)
    budget = Budget(int(1.5 * GIB), 0)
    assert [c.name for c in rank([tiny, one_b], budget)] == ["1b-q4_k_m", "135m-q4_1"]
    sentence = explain(one_b, [tiny, one_b], budget)
    assert sentence.startswith(
        "1b-q4_k_m is the largest model that fits at a 2048-token context (its default 4096 does not fit): "
    )
    assert fit(one_b, budget).reason.startswith("needs 973 MiB of 1.0 GiB usable at a 2048-token context")


def test_within_one_model_size_the_default_context_beats_more_bits() -> None:
    coarse = replace(candidate("1b-q2_k", 1.2, 3.0, 0.8, 40), n_ctx=4096, default_ctx=4096)
    fine = shrunk(candidate("1b-q8_0", 1.2, 8.5, 0.9, 20), 1024)
    assert [c.name for c in rank([fine, coarse], Budget(2 * GIB, 0))] == ["1b-q2_k", "1b-q8_0"]
    both_shrunk = [shrunk(coarse, 2048), fine]
    assert rank(both_shrunk, Budget(2 * GIB, 0))[0].name == "1b-q8_0"  # then bits decide, as before


def test_too_small_a_budget_names_the_least_need_at_the_smallest_context() -> None:
    one_b = replace(candidate("1b-q2_k", 1.2, 3.0, 1.0, 40), n_ctx=4096, default_ctx=4096, least=int(0.8 * GIB))
    one_b = replace(one_b, least_ctx=1024)
    sentence = explain(None, [one_b], Budget(1 * GIB, 0))
    assert sentence == (
        "Nothing fits: the smallest, 1b-q2_k, needs 819 MiB (at a 1024-token context) but 512 MiB of 1.0 GiB "
        "is usable; it takes a budget of at least 1.3 GiB."
    )
    assert fit(one_b, Budget(1 * GIB, 0)).reason == "needs 1.0 GiB (819 MiB at 1024), 512 MiB usable of 1.0 GiB"


def test_a_mixture_of_experts_ranks_by_its_dense_equivalent_size() -> None:
    """108B with 17B active ranks as sqrt(108 × 17) ≈ 43B: below a dense 70B, above a dense 8B."""
    scout = replace(candidate("scout-q2_k", 108, 2.9, 38, 12), active_parameters=17_000_000_000)
    dense_70b = candidate("70b-q2_k", 70.6, 3.0, 26, 3)
    assert scout.size_rank == pytest.approx((108e9 * 17e9) ** 0.5)
    both = [*CATALOG, scout, dense_70b]
    assert [c.name for c in rank(both, Budget(64 * GIB, 0))[:2]] == ["70b-q2_k", "scout-q2_k"]
    assert [c.name for c in rank(both, Budget(64 * GIB, 10))[:1]] == ["scout-q2_k"]  # the 70B is too slow
