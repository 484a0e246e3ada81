"""The guard service on real models: the stand-ins' verdicts parse, and drive GuardBlocked both ways."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamacli.engine import LoadParams, Model
from llamacli.engine.chat_template import Message
from llamacli.errors import GuardBlocked
from llamacli.services.guard import Guard, classify
from tests.support.guard_standin import unsafe_standin

pytestmark = pytest.mark.slow


def test_the_bundled_model_as_guard_says_safe(smollm2_path: Path) -> None:
    with Model(smollm2_path, LoadParams(n_ctx=2048)) as model:
        screening = classify(model, "Why is the sky blue?")
        assert screening.verdict.safe and screening.text.strip() == "safe"
        guard = Guard("smollm2", model)
        guard.require_safe("Because of Rayleigh scattering.", "agent", [Message("user", "Why is the sky blue?")])


def test_the_swapped_copy_says_unsafe_and_blocks_an_answer(tmp_path: Path) -> None:
    path = unsafe_standin(tmp_path / "unsafe.gguf")
    with Model(path, LoadParams(n_ctx=2048)) as model:
        screening = classify(model, "Why is the sky blue?")
        assert not screening.verdict.safe and screening.verdict.categories
        assert screening.text.strip().startswith("unsafe\nS")
        with pytest.raises(GuardBlocked) as blocked:
            Guard("stand-in", model).require_safe("Rayleigh.", "agent", [Message("user", "Why is the sky blue?")])
    assert blocked.value.stage == "answer" and blocked.value.codes == screening.verdict.categories


def test_the_guard_is_loaded_without_the_main_models_adapters() -> None:
    from llamacli.base.lora import Lora
    from llamacli.services.guard import load_params

    main = LoadParams(n_ctx=4096, n_threads=1, adapters=(Lora(Path("/a/pirate.gguf")),))
    guard = load_params(main)
    assert guard.adapters == () and guard.n_threads == 1


def test_every_prompt_shares_the_task_and_categories_and_a_second_run_restores_them(
    smollm2_path: Path, tmp_path: Path
) -> None:
    """The shared start (about 190 of SmolLM2's 300 prompt tokens) is a boundary in every prompt about a user's
    words (and another in every prompt about an answer), so the prompt cache keeps it: a fresh process's next
    check restores it instead of evaluating it."""
    from llamacli.services.guard import prompt_tokens

    params = LoadParams(n_ctx=4096, prompt_cache_dir=tmp_path / "prompts")
    with Model(smollm2_path, params) as model:
        asked, (shared,) = prompt_tokens(model, "How do I bake bread?")
        assert prompt_tokens(model, "Is the moon made of cheese?")[1] == [shared] and shared > len(asked) // 2
        answer, (about_answers,) = prompt_tokens(model, "Knead.", "agent", [Message("user", "How do I bake bread?")])
        again = prompt_tokens(model, "No.", "agent", [Message("user", "Is it cheese?")])
        assert again[1] == [about_answers] and again[0][:about_answers] == answer[:about_answers]
        first = classify(model, "How do I bake bread?")
    assert first.stats is not None and first.stats.cached_prompt_tokens == 0
    with Model(smollm2_path, params) as model:
        second = classify(model, "Is the moon made of cheese?")
    assert second.stats is not None and second.stats.restored_prompt_tokens == shared
    with Model(smollm2_path, LoadParams(n_ctx=4096)) as model:  # no cache: the same answer
        assert classify(model, "Is the moon made of cheese?").text == second.text
