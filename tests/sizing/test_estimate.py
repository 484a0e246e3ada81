"""The estimate formulas against hand-computed cases and llama.cpp's own reported buffer sizes."""

from __future__ import annotations

import pytest

from llamacli.sizing.estimate import (
    ModelShape,
    QuantSpeed,
    attention_work,
    bits_per_weight,
    compute_bytes,
    kv_cache_bytes,
    memory_need,
    predict_speed,
)

LLAMA31_8B = ModelShape(layers=32, kv_heads=8, head_dim=128, parameters=8_030_261_248, n_embd=4096, n_ff=14336)
SMOLLM2 = ModelShape(30, 3, 64, 134_515_008, n_vocab=49152, n_embd=576, n_ff=1536)
GEMMA3_270M = ModelShape(18, 1, 256, 268_098_176, n_vocab=262_144, n_embd=640, n_ff=2048)
MIB = 2**20


def test_llama_8b_kv_cache_at_8k_is_one_gib() -> None:
    # 2 (K, V) × 32 layers × 8192 positions × 8 KV heads × 128 × 2 bytes
    assert kv_cache_bytes(LLAMA31_8B, 8192) == 2 * 32 * 8192 * 8 * 128 * 2 == 2**30


@pytest.mark.parametrize(
    ("shape", "n_ctx", "llama_cpp_mib"),
    [(SMOLLM2, 2048, 45.0), (SMOLLM2, 8192, 180.0), (GEMMA3_270M, 2048, 6.0 + 30.0), (GEMMA3_270M, 8192, 24.0 + 120.0)],
)
def test_kv_cache_matches_what_llama_cpp_allocates(shape: ModelShape, n_ctx: int, llama_cpp_mib: float) -> None:
    # The sizes llama.cpp logs ("llama_kv_cache: size = ..."); Gemma 3's sliding-window layers are full-size.
    assert kv_cache_bytes(shape, n_ctx) == llama_cpp_mib * MIB


def test_kv_cache_grows_linearly_with_context() -> None:
    assert kv_cache_bytes(LLAMA31_8B, 16384) == 2 * kv_cache_bytes(LLAMA31_8B, 8192)
    assert kv_cache_bytes(LLAMA31_8B, 8192, bytes_per_element=1) == 2**29  # q8_0-ish cache halves it


def test_memory_need_adds_up_its_parts() -> None:
    need = memory_need(LLAMA31_8B, file_size=4_920_739_232, n_ctx=8192, runtime_overhead=50 * MIB)
    assert need.weights == 4_920_739_232
    assert need.kv_cache == 2**30
    assert need.compute == 512 * 4 * (4 * 4096 + 3 * 14336) == compute_bytes(LLAMA31_8B)
    assert need.overhead == 50 * MIB + 160 * 128_256 + 4 * 128_256
    assert need.total == need.weights + need.kv_cache + need.compute + need.overhead
    assert need.to_dict()["total"] == need.total
    # Q4_K_M 8B at 8K: about 6.3 GB, as people report for llama.cpp on CPU
    assert 5.9e9 < need.total < 6.6e9
    repacked = memory_need(LLAMA31_8B, 4_920_739_232, 8192, 50 * MIB, repacked_per_byte=0.25)
    assert repacked.repacked == 4_920_739_232 // 4 and repacked.total == need.total + repacked.repacked


def test_unknown_width_is_solved_from_parameters() -> None:
    registry_like = ModelShape(layers=16, kv_heads=8, head_dim=64, parameters=1_235_814_400)
    # Llama 3.2 1B really has n_embd 2048: the dense-transformer approximation lands within 10 %
    assert 0.9 * 2048 < registry_like.embedding_width < 1.1 * 2048
    assert registry_like.feed_forward_width == 4 * registry_like.embedding_width
    assert registry_like.non_embedding_parameters == 1_235_814_400 - 128_256 * registry_like.embedding_width


def test_speed_prediction() -> None:
    speed = QuantSpeed(generation_bytes_per_second=10e9, prompt_parameter_tokens_per_second=20e9)
    predicted = predict_speed(SMOLLM2, file_size=100_000_000, speed=speed)
    assert predicted.generation == pytest.approx(100.0)  # 10 GB/s over 100 MB per token
    assert predicted.prompt == pytest.approx(20e9 / (134_515_008 - 49152 * 576))
    later = predict_speed(SMOLLM2, file_size=100_000_000, speed=speed, context_used=4096)
    assert later.generation == pytest.approx(10e9 / (100_000_000 + kv_cache_bytes(SMOLLM2, 4096)))  # A unknown
    measured = QuantSpeed(10e9, 20e9, attention_per_second=30 * 576 * 1000 * 50)  # 1,000 positions: 20 ms
    deep = predict_speed(SMOLLM2, file_size=100_000_000, speed=measured, context_used=1000)
    assert deep.generation == pytest.approx(1 / (0.01 + 0.02))  # 10 ms of weights + 20 ms of attention


def test_attention_width_is_query_heads_times_head_size() -> None:
    gemma_like = ModelShape(layers=18, kv_heads=1, head_dim=256, parameters=268_098_176, n_embd=640, heads=4)
    assert gemma_like.attention_width == 1024  # wider than n_embd
    assert SMOLLM2.attention_width == SMOLLM2.embedding_width  # heads unknown: n_embd
    assert attention_work(gemma_like, 100) == 18 * 1024 * 100


def test_calibration_fit_recovers_the_rates() -> None:
    """Two depths, two unknowns: speeds made from known G per type and one A give them back."""
    from llamacli.sizing.calibrate import GENERATED_TOKENS, PROMPT_TOKENS, SHORT_PROMPT, FileRun, measurements

    a, size = 2e11, 100_000_000

    def speed_at(depth: int, g: float) -> float:
        return 1 / (size / g + attention_work(SMOLLM2, depth + GENERATED_TOKENS // 2) / a)

    runs = [
        FileRun(q, SMOLLM2, size, speed_at(SHORT_PROMPT, g), speed_at(PROMPT_TOKENS, g), 1000.0)
        for q, g in (("Q8_0", 5e9), ("Q4_K_M", 7e9), ("Q2_K", 6e9))
    ]
    noisy = FileRun("Q4_1", SMOLLM2, size, 50.0, 55.0, 1000.0)  # the deeper run was faster: no rate from it
    fitted = measurements([*runs, noisy])
    for run, g in zip(runs, (5e9, 7e9, 6e9), strict=True):
        assert fitted[run.quant].speed.generation_bytes_per_second == pytest.approx(g)
        assert fitted[run.quant].speed.attention_per_second == pytest.approx(a)
    assert fitted["Q4_1"].speed.attention_per_second == pytest.approx(a)  # the shared rate applies to it too
    assert fitted["Q4_1"].speed.prompt_parameter_tokens_per_second == 1000.0 * SMOLLM2.non_embedding_parameters
    alone = measurements([noisy])["Q4_1"].speed  # nothing to learn A from: the KV-bytes model stays
    assert alone.attention_per_second == 0 and alone.generation_bytes_per_second == pytest.approx(50 * size)


def test_bits_per_weight() -> None:
    assert bits_per_weight(1_000_000, 2_000_000) == 4.0
    assert bits_per_weight(8_540_770_880, 8_030_261_248) == pytest.approx(8.51, abs=0.01)  # Q8_0


# --- Issue 18: a mixture of experts holds every expert in memory but reads only the active ones per token ---

SCOUT_LIKE = ModelShape(48, 8, 128, 108_000_000_000, n_vocab=202_048, active_parameters=17_000_000_000)
DENSE_108B = ModelShape(48, 8, 128, 108_000_000_000, n_vocab=202_048)


def test_a_mixture_of_experts_needs_memory_for_every_expert() -> None:
    file_size = 39_650_000_000
    moe, dense = memory_need(SCOUT_LIKE, file_size, 4096), memory_need(DENSE_108B, file_size, 4096)
    assert moe.weights == dense.weights == file_size  # the whole file: any token may go to any expert
    assert moe.kv_cache == dense.kv_cache == kv_cache_bytes(DENSE_108B, 4096)  # attention is not routed


def test_a_mixture_of_experts_generates_at_the_speed_of_its_active_share() -> None:
    speed = QuantSpeed(generation_bytes_per_second=10e9, prompt_parameter_tokens_per_second=20e9)
    file_size = 39_650_000_000
    moe, dense = predict_speed(SCOUT_LIKE, file_size, speed), predict_speed(DENSE_108B, file_size, speed)
    assert SCOUT_LIKE.active_share == pytest.approx(17 / 108)
    assert moe.generation == pytest.approx(10e9 / (file_size * 17 / 108))  # the active share streamed per token
    assert moe.generation == pytest.approx(dense.generation * 108 / 17)
    assert moe.prompt == pytest.approx(20e9 / SCOUT_LIKE.non_embedding_parameters)
    assert SCOUT_LIKE.non_embedding_parameters == 17_000_000_000 - 202_048 * SCOUT_LIKE.embedding_width
    assert 5000 < SCOUT_LIKE.embedding_width < 5500  # solved from the active parameters (Scout's is 5120)
    assert DENSE_108B.active_share == 1.0 and DENSE_108B.active == DENSE_108B.parameters


def test_scout_against_70b_in_the_registry_more_memory_yet_faster() -> None:
    """Llama 4 Scout's file is bigger than Llama 3.3 70B's at Q2_K, so it needs more memory, yet only 17B of
    its parameters work per token, so at any calibration it generates faster than the dense 70B."""
    from llamacli.models import registry
    from llamacli.sizing.fit import need, shape_of_entry

    reg = registry.load({})
    scout, big = reg.get("llama4:scout"), reg.get("llama3.3:70b-q2_k")
    scout_shape, big_shape = shape_of_entry(scout.entry), shape_of_entry(big.entry)
    assert (
        need(scout_shape, scout.file.size, 4096, "Q2_K", None).total
        > need(big_shape, big.file.size, 4096, "Q2_K", None).total
    )
    for rates in (QuantSpeed(5e9, 10e9, 1e12), QuantSpeed(50e9, 100e9, 1e13)):
        fast = predict_speed(scout_shape, scout.file.size, rates, context_used=512).generation
        slow = predict_speed(big_shape, big.file.size, rates, context_used=512).generation
        assert fast > 2 * slow
