"""Model references: classified, and malformed ones refused before any disk or network access."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamacli import references
from llamacli.errors import InvalidValue
from llamacli.references import HubRef, NameRef, PathRef


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("smollm2:135m", NameRef("smollm2:135m")),
        ("Llama3.2:1B-Q8_0", NameRef("llama3.2:1b-q8_0")),
        ("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", HubRef("bartowski/Llama-3.2-1B-Instruct-GGUF", "Q4_K_M")),
        ("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF", HubRef("bartowski/Llama-3.2-1B-Instruct-GGUF")),
        ("hf.co/o/r/model-Q2_K.gguf", HubRef("o/r", file="model-Q2_K.gguf")),
        ("./model.gguf", PathRef(Path("model.gguf"))),
        ("/tmp/x.GGUF", PathRef(Path("/tmp/x.GGUF"))),
    ],
)
def test_parse(text: str, expected: object) -> None:
    assert references.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hf.co/",
        "hf.co/owner",
        "hf.co//repo",
        "hf.co/../repo:Q4",
        "hf.co/owner/..",
        "hf.co/owner/repo/../../etc/passwd.gguf",
        "hf.co/owner/repo//abs.gguf",
        "hf.co/owner/repo/sub\\x.gguf",
        "hf.co/owner/repo:Q4 K",
        "hf.co/own er/repo",
        "no spaces:allowed here",
        "justaword",
    ],
)
def test_malformed_references_are_refused(text: str) -> None:
    with pytest.raises(InvalidValue, match="malformed model reference"):
        references.parse(text)


@pytest.mark.parametrize(
    ("text", "is_model"),
    [
        ("smollm2:135m", True),
        ("llama4:8b", True),
        ("hf.co/a/b:Q8_0", True),
        ("model.gguf", True),
        ("Why is the sky blue?", False),
        ("hello", False),
        ("Translate: bonjour", False),
    ],
)
def test_first_word_is_a_model_only_when_it_looks_like_one(text: str, is_model: bool) -> None:
    assert references.looks_like_model(text) is is_model
