"""The engine on real llama.cpp with the real SmolLM2 GGUF."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llamacli.engine import Finished, GenerationParams, LoadParams, Model, TextDelta
from llamacli.engine.chat_template import Message
from llamacli.engine.text import TextAssembler
from llamacli.errors import ContextOverflow, ModelLoadError

pytestmark = pytest.mark.slow

GREEDY = GenerationParams(temperature=0, seed=42)
COUNT = [Message("user", "Count from 1 to 100, separated by commas.")]


def deltas_and_finish(model: Any, messages: list[Message], params: GenerationParams) -> tuple[list[str], Finished]:
    deltas, finished = [], None
    for event in model.stream(messages, params):
        if isinstance(event, TextDelta):
            assert finished is None, "no text after Finished"
            deltas.append(event.text)
        else:
            finished = event
    assert isinstance(finished, Finished)
    return deltas, finished


def test_greedy_output_is_identical_across_runs_and_models(model: Any, smollm2_path: Path) -> None:
    params = GenerationParams(temperature=0, seed=1, max_tokens=40)
    messages = [Message("user", "Name three colours.")]
    first = model.generate(messages, params)
    again = model.generate(messages, params)  # prompt reused from the KV cache
    with Model(smollm2_path, LoadParams(n_ctx=512)) as fresh:
        other = fresh.generate(messages, params)
    assert first.text and first.text == again.text == other.text
    assert again.stats.cached_prompt_tokens == again.stats.prompt_tokens - 1


def test_seeded_sampling_is_reproducible(model: Any) -> None:
    params = GenerationParams(temperature=1.0, seed=1234, max_tokens=30)
    messages = [Message("user", "Tell me a story.")]
    assert model.generate(messages, params).text == model.generate(messages, params).text


def test_streamed_deltas_concatenate_to_the_whole_text(model: Any) -> None:
    params = GenerationParams(temperature=0, max_tokens=60)
    deltas, finished = deltas_and_finish(model, COUNT, params)
    assert len(deltas) > 10
    assert "".join(deltas) == model.generate(COUNT, params).text
    assert finished.stats.generated_tokens == 60


def test_max_tokens_is_honoured(model: Any) -> None:
    result = model.generate(COUNT, GenerationParams(temperature=0, max_tokens=7))
    assert result.reason == "length"
    assert result.stats.generated_tokens == 7
    assert len(model.tokenize(result.text, add_special=False)) <= 8


def test_stop_sequence_cuts_the_answer(model: Any) -> None:
    full = model.generate(COUNT, GenerationParams(temperature=0, max_tokens=80)).text
    stop = full[30:34]
    assert stop.strip(), full
    cut = model.generate(COUNT, GenerationParams(temperature=0, max_tokens=80, stop=(stop,)))
    assert cut.reason == "stop"
    assert cut.text == full[: full.find(stop)]


def test_model_stops_by_itself_at_end_of_turn(model: Any) -> None:
    result = model.generate([Message("user", "Reply with just the word yes.")], GenerationParams(temperature=0))
    assert result.reason == "stop"
    assert 0 < result.stats.generated_tokens < 50


def test_stats_are_filled_in(model: Any) -> None:
    stats = model.generate(COUNT, GenerationParams(temperature=0, max_tokens=20)).stats
    assert stats.prompt_tokens > 10
    assert stats.generated_tokens == 20
    assert stats.generation_tokens_per_second > 1
    assert stats.prompt_seconds > 0 and stats.time_to_first_token >= stats.prompt_seconds
    assert stats.load_seconds > 0


def test_chat_template_from_the_gguf_is_used(model: Any) -> None:
    tokens = model.render([Message("user", "hi")])
    text = model.detokenize(tokens)  # special tokens render as nothing
    assert model.template is not None
    assert tokens.count(model.tokenize("<|im_start|>", add_special=False)[0]) == 3  # system, user, assistant
    assert "You are a helpful AI assistant named SmolLM" in text


def test_multibyte_characters_split_across_tokens_stream_whole(model: Any) -> None:
    text = "Party 🎉 你好世界 ça va 👩‍👩‍👧 Ελληνικά"
    tokens = model.tokenize(text, add_special=False)
    split = [t for t in tokens if not _is_utf8(model.piece(t))]
    assert split, "the test needs characters that span tokens"
    assembler = TextAssembler(model.piece)
    shown = [assembler.push(t) for t in tokens] + [assembler.finish()]
    assert "\ufffd" not in "".join(shown)
    assert "".join(shown) == text


def test_generated_cjk_and_emoji_have_no_replacement_characters(model: Any) -> None:
    messages = [Message("user", "Repeat exactly: 你好世界, こんにちは, 🎉🎉🎉")]
    deltas, _ = deltas_and_finish(model, messages, GenerationParams(temperature=0, max_tokens=40))
    assert all("\ufffd" not in d for d in deltas)
    assert any(ord(c) > 0x2E80 for c in "".join(deltas))


def test_tokens_longer_than_32_bytes_round_trip(model: Any) -> None:
    longest = max(range(2000, 49152), key=lambda t: len(model.piece(t)))
    piece = model.piece(longest)
    assert len(piece) > 32  # llama-cpp-python's detokenize buffer would return b"" here
    text = "before" + piece.decode() + "after"
    assert model.detokenize(model.tokenize(text, add_special=False)) == text


def test_prompt_longer_than_context_is_a_clear_error(smollm2_path: Path) -> None:
    with Model(smollm2_path, LoadParams(n_ctx=64)) as small:
        with pytest.raises(ContextOverflow) as caught:
            small.generate([Message("user", "word " * 600)], GREEDY)
        assert caught.value.n_ctx == small.n_ctx < 600
    assert caught.value.prompt_tokens > 600
    assert caught.value.prompt_tokens < caught.value.n_ctx_train  # so a larger window would take it


def test_generation_stops_cleanly_when_the_context_is_full(smollm2_path: Path) -> None:
    # End-of-turn banned: where the model would stop by itself depends on the CPU's arithmetic (on one
    # AVX-512 machine it ends its count at 20), and only a full context may end this answer.
    endless = GenerationParams(temperature=0, ignore_eos=True)
    with Model(smollm2_path, LoadParams(n_ctx=64)) as small:
        messages = [Message("user", "Count from 1 to 1000, separated by commas.")]
        result = small.generate(messages, endless)
        assert result.reason == "length"
        assert result.stats.prompt_tokens + result.stats.generated_tokens <= small.n_ctx + 1
        assert small.generate(messages, endless).text == result.text  # still usable afterwards


def test_kv_cache_is_reused_for_a_growing_conversation(model: Any) -> None:
    first = [Message("user", "Hello!")]
    answer = model.generate(first, GenerationParams(temperature=0, max_tokens=20))
    second = [*first, Message("assistant", answer.text), Message("user", "And again?")]
    stats = model.generate(second, GenerationParams(temperature=0, max_tokens=5)).stats
    assert stats.cached_prompt_tokens >= len(model.render(first))


@pytest.mark.parametrize("cut", [0, 4, 100, 10_000])
def test_truncated_files_fail_to_load_with_a_reason(smollm2_path: Path, tmp_path: Path, cut: int) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(smollm2_path.read_bytes()[:cut])
    with pytest.raises(ModelLoadError) as caught:
        Model(broken)
    assert caught.value.path == broken
    assert caught.value.reason


def test_random_bytes_fail_to_load(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(ModelLoadError, match="magic"):
        Model(junk)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_shape_accessors(model: Model) -> None:
    # SmolLM2-135M: 30 layers, 3 KV heads of 64, width 576, feed-forward 1536, vocabulary 49,152
    assert (model.n_layer, model.n_head_kv, model.head_dim, model.n_embd) == (30, 3, 64, 576)
    assert (model.n_ff, model.n_vocab, model.n_params) == (1536, 49152, 134_515_008)


def test_under_load_it_generates_on_the_free_cores_and_answers_the_same(smollm2_path: Path) -> None:
    """A busy loop on another core: the governor drops the thread it would wait for; greedy text is unchanged."""
    import subprocess
    import sys

    from llamacli.base import hardware

    messages = [Message("user", "List five fruits, one per line.")]
    params = GenerationParams(temperature=0, max_tokens=48, ignore_eos=True)
    most = hardware.physical_cores()
    with Model(smollm2_path, LoadParams(n_ctx=512, n_threads=most)) as fixed:
        reference = fixed.generate(messages, params).text
    loop = "import time\nend = time.time() + 60\nwhile time.time() < end: pass"
    busy = subprocess.Popen([sys.executable, "-c", loop])
    try:
        with Model(smollm2_path, LoadParams(n_ctx=512)) as model:
            assert model.governor is not None
            model.generate(messages, GenerationParams(temperature=0, max_tokens=4))  # a first reading, then:
            text = model.generate(messages, params).text
            assert model.governor.current == max(1, most - 1)
            assert model.governor.others >= 0.5
    finally:
        busy.kill()
        busy.wait()
    assert text == reference
