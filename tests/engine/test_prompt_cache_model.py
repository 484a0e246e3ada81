"""The prompt cache with the real SmolLM2 model: hits, misses, partial hits, identical output, safety."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

from llamacli.engine import Completion, GenerationParams, LoadParams, Model
from llamacli.engine.chat_template import Message
from llamacli.engine.prompt_cache import PromptCache

pytestmark = pytest.mark.slow

SYSTEM = "You are a terse assistant for a hardware shop. " + " ".join(
    f"Rule {i}: when asked about item {i}, answer in one short sentence." for i in range(10)
)
GREEDY = GenerationParams(temperature=0, max_tokens=12)
QUESTIONS = ["What is the capital of France?", "Name a colour.", "What is two plus two?"]


def one_shot(question: str) -> list[Message]:
    return [Message("system", SYSTEM), Message("user", question)]


def load(path: Path, cache: Path | None, n_ctx: int = 1024, identity: str | None = None) -> Model:
    return Model(path, LoadParams(n_ctx=n_ctx, prompt_cache_dir=cache, model_identity=identity))


def fresh(model: Model, messages: Sequence[Message]) -> Completion:
    """Generate from an empty context, as a new process would."""
    model.reset()
    return model.generate(messages, GREEDY)


def test_a_miss_saves_the_system_prompt_and_later_questions_restore_it_with_identical_output(
    smollm2_path: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "prompts"
    with load(smollm2_path, None) as plain:
        expected = [fresh(plain, one_shot(q)).text for q in QUESTIONS]
        assert len(set(expected)) == len(QUESTIONS)
    with load(smollm2_path, cache) as cached:
        boundary = cached.boundaries(one_shot(QUESTIONS[0]), cached.render(one_shot(QUESTIONS[0])))[-1]
        assert boundary >= 64
        first, *others = (fresh(cached, one_shot(q)) for q in QUESTIONS)
    assert (first.stats.restored_prompt_tokens, first.stats.saved_prompt_tokens) == (0, boundary)
    for other in others:
        assert (other.stats.restored_prompt_tokens, other.stats.saved_prompt_tokens) == (boundary, 0)
        assert other.stats.cached_prompt_tokens == boundary
    assert [c.text for c in (first, *others)] == expected
    assert len(PromptCache(cache).entries()) == 1
    with load(smollm2_path, cache) as again:  # a new "process": every question, the first one too, hits
        results = [fresh(again, one_shot(q)) for q in QUESTIONS]
    assert [r.text for r in results] == expected
    assert all(r.stats.restored_prompt_tokens == boundary for r in results)


def test_a_conversation_restores_its_longest_shared_prefix_and_answers_the_same(
    smollm2_path: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "prompts"
    first = [*one_shot("Name a fruit."), Message("assistant", "An apple."), Message("user", "And a vegetable?")]
    second = [*first, Message("assistant", "A carrot."), Message("user", "And a tool?")]
    with load(smollm2_path, None) as plain:
        expected = [fresh(plain, conversation).text for conversation in (first, second)]
    with load(smollm2_path, cache) as cached:
        system_end, _, apple_end = cached.boundaries(first, cached.render(first))
        *_, carrot_end = cached.boundaries(second, cached.render(second))
        fresh(cached, one_shot("Hello?"))  # leaves the system prompt's state
        partial = fresh(cached, first)
        longer = fresh(cached, second)
    assert (partial.stats.restored_prompt_tokens, partial.stats.saved_prompt_tokens) == (system_end, apple_end)
    assert (longer.stats.restored_prompt_tokens, longer.stats.saved_prompt_tokens) == (apple_end, carrot_end)
    assert [partial.text, longer.text] == expected
    assert len(PromptCache(cache).entries()) == 3


def test_another_model_file_or_context_size_never_hits_but_the_same_verified_identity_does(
    smollm2_path: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "prompts"
    copy = tmp_path / "copy.gguf"
    shutil.copyfile(smollm2_path, copy)
    messages = one_shot(QUESTIONS[0])
    with load(smollm2_path, cache) as original:
        assert original.generate(messages, GREEDY).stats.saved_prompt_tokens > 0
    for path, n_ctx in ((copy, 1024), (smollm2_path, 512)):
        with load(path, cache, n_ctx) as other:
            stats = other.generate(messages, GREEDY).stats
        assert stats.restored_prompt_tokens == 0 and stats.saved_prompt_tokens > 0
    assert len(PromptCache(cache).entries()) == 3
    for path in (smollm2_path, copy):  # the store's sha256 names the content, wherever the file is
        with load(path, cache, identity="sha256:same-content") as verified:
            stats = verified.generate(messages, GREEDY).stats
    assert stats.restored_prompt_tokens > 0


def test_damaged_or_refused_states_are_dropped_and_recomputed(smollm2_path: Path, tmp_path: Path) -> None:
    cache = tmp_path / "prompts"
    messages = one_shot(QUESTIONS[1])
    with load(smollm2_path, cache) as model:
        expected = fresh(model, messages)
        (entry,) = PromptCache(cache).entries()
        data = bytearray(entry.path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        entry.path.write_bytes(bytes(data))
        damaged = fresh(model, messages)  # checksum mismatch: removed, evaluated, saved again
        assert PromptCache(cache).put(entry.key, b"\x01" * 5000)  # well formed, but not a state llama.cpp takes
        refused = fresh(model, messages)
        assert fresh(model, messages).stats.restored_prompt_tokens == expected.stats.saved_prompt_tokens
    for result in (damaged, refused):
        assert result.text == expected.text
        assert result.stats.restored_prompt_tokens == 0
        assert result.stats.saved_prompt_tokens == expected.stats.saved_prompt_tokens


RUN = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    if sys.argv[3:]:
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[3]),) * 2)
    from llamacli.engine import GenerationParams, LoadParams, Model
    from llamacli.engine.chat_template import Message
    system = json.loads(sys.stdin.read())
    params = LoadParams(n_ctx=1024, prompt_cache_dir=Path(sys.argv[2]))
    with Model(Path(sys.argv[1]), params) as model:
        result = model.generate([Message("system", system), Message("user", "Name a colour.")],
                                GenerationParams(temperature=0, max_tokens=12))
    print(json.dumps({"text": result.text, **result.stats.to_dict()}))
    """
)


def run_process(model: Path, cache: Path, file_size_limit: int | None = None, **env: str) -> subprocess.Popen[str]:
    extra = [str(file_size_limit)] if file_size_limit else []
    process = subprocess.Popen(
        [sys.executable, "-c", RUN, str(model), str(cache), *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    assert process.stdin is not None
    process.stdin.write(json.dumps(SYSTEM))
    process.stdin.close()
    return process


def result_of(process: subprocess.Popen[str]) -> dict[str, object]:
    assert process.stdout is not None and process.stderr is not None
    out, err = process.stdout.read(), process.stderr.read()
    assert process.wait(timeout=600) == 0, err
    data: dict[str, object] = json.loads(out)
    return data


def test_two_processes_caching_the_same_prompt_at_once_both_answer_and_leave_one_entry(
    smollm2_path: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "prompts"
    first, second = (result_of(p) for p in [run_process(smollm2_path, cache), run_process(smollm2_path, cache)])
    assert first["text"] == second["text"] and first["text"]
    (entry,) = PromptCache(cache).entries()
    assert sorted(p.name for p in cache.iterdir()) == [entry.path.name]
    assert result_of(run_process(smollm2_path, cache))["restored_prompt_tokens"] == entry.tokens


def test_a_disk_that_fills_up_while_saving_means_no_cache_and_the_same_answer(
    smollm2_path: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "prompts"
    full = result_of(run_process(smollm2_path, cache, file_size_limit=1_000_000))  # an entry is ~3 MB
    assert full["saved_prompt_tokens"] == 0 and full["text"]
    assert list(cache.iterdir()) == []  # no entry, no temporary file
    assert result_of(run_process(smollm2_path, cache))["text"] == full["text"]


def test_another_llama_cpp_build_never_hits(smollm2_path: Path, tmp_path: Path) -> None:
    cache = tmp_path / "prompts"
    assert result_of(run_process(smollm2_path, cache))["saved_prompt_tokens"]
    spec = importlib.util.find_spec("llama_cpp")
    assert spec is not None and spec.submodule_search_locations
    library = Path(next(iter(spec.submodule_search_locations))) / "lib"
    rebuilt = tmp_path / "rebuilt-lib"
    shutil.copytree(library, rebuilt, copy_function=shutil.copyfile)  # same code, new files: another build id
    other = result_of(run_process(smollm2_path, cache, LLAMA_CPP_LIB_PATH=str(rebuilt)))
    assert other["restored_prompt_tokens"] == 0 and other["saved_prompt_tokens"]
    assert len(PromptCache(cache).entries()) == 2
