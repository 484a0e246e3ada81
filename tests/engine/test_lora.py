"""LoRA adapters in the engine, with the real SmolLM2 model: applied at run time, keyed in the prompt cache."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from llamacli.base.lora import Lora
from llamacli.engine import GenerationParams, LoadParams, Model
from llamacli.engine.chat_template import Message
from llamacli.errors import AdapterLoadError
from tests.support.lora_factory import write_adapter

pytestmark = pytest.mark.slow

GREEDY = GenerationParams(temperature=0, max_tokens=24)
QUESTION = [Message("user", "Name three colours.")]
SYSTEM = "You are a terse assistant for a hardware shop. " + " ".join(
    f"Rule {i}: when asked about item {i}, answer in one short sentence." for i in range(10)
)


@pytest.fixture(scope="module")
def adapters(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    where = tmp_path_factory.mktemp("adapters")
    return {
        "zero": write_adapter(where / "zero.gguf", smollm2_path, b_scale=0.0),
        "random": write_adapter(where / "random.gguf", smollm2_path, b_scale=1.0),
    }


def answer(path: Path, loras: Sequence[Lora] = (), messages: Sequence[Message] = QUESTION) -> str:
    with Model(path, LoadParams(n_ctx=512, n_threads=1, adapters=tuple(loras))) as model:
        return model.generate(messages, GREEDY).text


def test_a_zero_adapter_or_a_zero_scale_changes_nothing(smollm2_path: Path, adapters: dict[str, Path]) -> None:
    plain = answer(smollm2_path)
    assert plain.strip()
    assert answer(smollm2_path, [Lora(adapters["zero"])]) == plain  # B = 0: the delta B·A·x is exactly 0
    assert answer(smollm2_path, [Lora(adapters["random"], 0.0)]) == plain  # scale 0: llama.cpp leaves it out


def test_a_random_adapter_changes_the_answer_and_its_scale_matters(
    smollm2_path: Path, adapters: dict[str, Path]
) -> None:
    plain = answer(smollm2_path)
    full = answer(smollm2_path, [Lora(adapters["random"])])
    assert full != plain
    assert answer(smollm2_path, [Lora(adapters["random"])]) == full  # still greedy: the same each time
    assert answer(smollm2_path, [Lora(adapters["random"], 0.3)]) not in (plain, full)


def test_the_model_names_its_adapters(smollm2_path: Path, adapters: dict[str, Path]) -> None:
    loras = (Lora(adapters["zero"]), Lora(adapters["random"], 0.5))
    with Model(smollm2_path, LoadParams(n_ctx=256, adapters=loras)) as model:
        assert model.adapters == loras
    with Model(smollm2_path, LoadParams(n_ctx=256)) as model:
        assert model.adapters == ()


def test_llama_cpp_refusing_an_adapter_is_an_error_with_its_reason(smollm2_path: Path, tmp_path: Path) -> None:
    """The engine alone (no header check before it): llama.cpp's own refusal, in its words, never a crash."""
    wide = write_adapter(tmp_path / "wide.gguf", smollm2_path, grow=64)
    with pytest.raises(AdapterLoadError, match="incorrect shape") as caught:
        Model(smollm2_path, LoadParams(n_ctx=256, adapters=(Lora(wide),)))
    assert caught.value.adapter == wide


def test_a_cached_prompt_state_is_only_restored_with_the_same_adapters(
    smollm2_path: Path, adapters: dict[str, Path], tmp_path: Path
) -> None:
    cache = tmp_path / "prompts"
    messages = [Message("system", SYSTEM), Message("user", "Name a colour.")]

    def restored(loras: Sequence[Lora]) -> tuple[int, int, str]:
        params = LoadParams(n_ctx=1024, n_threads=1, prompt_cache_dir=cache, adapters=tuple(loras))
        with Model(smollm2_path, params) as model:
            result = model.generate(messages, GREEDY)
        return result.stats.restored_prompt_tokens, result.stats.saved_prompt_tokens, result.text

    random = Lora(adapters["random"])
    first = restored([random])
    assert first[:2] == (0, first[1]) and first[1] > 0  # saved with the adapter
    plain = restored([])
    assert plain[0] == 0 and plain[1] > 0  # not restored without it: saved anew, under its own key
    assert restored([Lora(adapters["random"], 0.5)])[0] == 0  # nor at another scale
    again = restored([random])
    assert again[0] == first[1] and again[2] == first[2]  # with the same adapter: restored, the same answer
