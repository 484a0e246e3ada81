"""Model references: classified, and malformed ones refused before any disk or network access."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamacli.errors import MalformedReference
from llamacli.models import references
from llamacli.models.references import HubRef, NameRef, PathRef


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
        ("Llama3.2", NameRef("llama3.2")),  # a family alone: the registry says which entry it means
        ("llama3.2:latest", NameRef("llama3.2:latest")),
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
        "no spaces",
        # Confinement: nothing that could become a path outside a repository, or look like one
        "hf.co/owner/repo/x\x00.gguf",
        "hf.co/owner/repo/C:x.gguf",
        "hf.co/C:/repo:Q4_K_M",
        "hf.co/owner/repo/..\\x.gguf",
        "hf.co/owner/repo/%2e%2e%2fx.gguf",
        "hf.co/owner/repo/x.gguf/../y.gguf",
        "hf.co/owner/repo/.hidden.gguf",
        "hf.co/owner/\uff0e\uff0e:Q4_K_M",  # fullwidth dots
        "hf.co/owner/repo/\uff0e\uff0e\uff0fx.gguf",  # fullwidth dots and slash
        "hf.co/owner/repo/\u212a.gguf",  # the Kelvin sign, which IGNORECASE alone matches as k
        "hf.co/owner/repo/x.gguf\n",  # a trailing newline slips past a `$` anchor
        "hf.co/owner/repo:Q4_K_M\n",
        "hf.co/owner\n/repo:Q4_K_M",
        "smollm2:135m\n",
        "\uff53\uff4d\uff4f\uff4c\uff4c\uff4d\uff12:135m",  # fullwidth letters
        "smollm2\uff1a135m",  # fullwidth colon
        "sm\x00ollm2:135m",
        "hf.co/https://evil.example/x.gguf",
        "https://huggingface.co/owner/repo/resolve/main/x.gguf",
    ],
)
def test_malformed_references_are_refused(text: str) -> None:
    with pytest.raises(MalformedReference) as caught:
        references.parse(text)
    assert caught.value.text == text and caught.value.why


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


@pytest.mark.parametrize(
    ("text", "is_model"),
    [("llama3.2", True), ("Llama3.2", True), ("smollm2", True), ("hello", False), ("llama3.2 hi", False)],
)
def test_a_family_of_the_registry_is_a_model_as_a_first_word(text: str, is_model: bool) -> None:
    """Issue 12, item 13: `llamacli run llama3.2 "hi"` runs llama3.2, as in ollama."""
    assert references.looks_like_model(text, {"llama3.2", "smollm2"}) is is_model
