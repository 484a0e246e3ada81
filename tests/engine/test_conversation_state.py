"""A chat's own state on disk (`Model.keep_conversation`): restored only by a conversation carried on,
exactly, and answering as the chat would have gone on in one process."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from llamacli.engine import Finished, GenerationParams, LoadParams, Model, Stats, TextDelta
from llamacli.engine.chat_template import Message
from llamacli.engine.prompt_cache import PromptCache

pytestmark = pytest.mark.slow

SYSTEM = "You are terse. " + " ".join(
    f"Rule {i}: when asked about item {i}, answer in one sentence." for i in range(10)
)
GREEDY = GenerationParams(temperature=0, max_tokens=16)


def turn(model: Model, messages: Sequence[Message], conversation: bool = True) -> tuple[str, Stats]:
    """One chat turn as services/chat.py takes it: boundaries at the system prompt and the last answer."""
    prompt = model.render(messages)
    boundaries = model.boundaries(messages, prompt, ends=(1, len(messages) - 1))
    pieces, stats = [], None
    for event in model.stream_tokens(prompt, GREEDY, boundaries, conversation=conversation):
        if isinstance(event, TextDelta):
            pieces.append(event.text)
        elif isinstance(event, Finished):
            stats = event.stats
    assert stats is not None
    return "".join(pieces), stats


def kinds(cache: Path) -> list[tuple[str, int]]:
    return sorted((e.kind, e.tokens) for e in PromptCache(cache).entries())


def chat_in_one_process(path: Path, cache: Path, questions: Sequence[str]) -> tuple[list[Message], list[int]]:
    """A chat of QUESTIONS in one model, its state kept after each answer: (messages, tokens kept each time)."""
    messages, kept = [Message("system", SYSTEM)], []
    with Model(path, LoadParams(n_ctx=1024, prompt_cache_dir=cache)) as model:
        for question in questions:
            messages.append(Message("user", question))
            answer, stats = turn(model, messages)
            assert stats.restored_prompt_tokens == 0 and stats.cached_prompt_tokens == (kept[-1] if kept else 0)
            messages.append(Message("assistant", answer))
            kept.append(model.keep_conversation(messages))
    return messages, kept


def test_a_kept_conversation_is_restored_by_the_next_process_and_answers_as_one_process_would(
    smollm2_path: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "prompts"
    messages, kept = chat_in_one_process(smollm2_path, cache, ["Name a fruit.", "And a vegetable?"])
    assert 64 <= kept[0] < kept[1]
    assert [k for k in kinds(cache) if k[0] == "conversation"] == [("conversation", kept[1])]  # the first superseded
    with Model(smollm2_path, LoadParams(n_ctx=1024, prompt_cache_dir=cache)) as model:
        continued, stats = turn(model, [*messages, Message("user", "And a tool?")])
    assert stats.restored_prompt_tokens == stats.cached_prompt_tokens == kept[1]
    one_go, _ = chat_in_one_process(
        smollm2_path, tmp_path / "other", ["Name a fruit.", "And a vegetable?", "And a tool?"]
    )
    assert one_go[:5] == messages
    assert one_go[-1].content == continued


def test_a_one_shot_or_a_changed_history_never_restores_a_conversation(smollm2_path: Path, tmp_path: Path) -> None:
    cache = tmp_path / "prompts"
    params = LoadParams(n_ctx=1024, prompt_cache_dir=cache)
    messages = [Message("system", SYSTEM), Message("user", "Name a fruit."), Message("assistant", "An apple.")]
    with Model(smollm2_path, params) as model:
        assert model.keep_conversation(messages) > 0
    follow = [*messages, Message("user", "And a vegetable?")]
    edited = [*messages[:2], Message("assistant", "A pear."), follow[-1]]
    with Model(smollm2_path, params) as model:
        _, as_one_shot = turn(model, follow, conversation=False)  # a batch-evaluated prompt: the prefix only
        model.reset()
        _, changed = turn(model, edited)
    # The conversation's entry holds exactly FOLLOW's first messages, but only a conversation carried on takes it.
    assert as_one_shot.restored_prompt_tokens == 0 and as_one_shot.saved_prompt_tokens > 0  # a prefix entry instead
    assert changed.restored_prompt_tokens == 0  # another answer: other tokens, another key
    assert [kind for kind, _ in kinds(cache)] == ["conversation", "prefix", "prefix"]
