"""Issue 18, item 4: the rest of the family in the registry (names, files, sizes, shapes), honestly sized.

The numbers are the ones models.toml says where they come from; the checks below tie them to each other
(a size that does not match its quantization's bits per weight, or a file named for another quant, fails).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llamacli.errors import RegistryError
from llamacli.hub.metadata import quant_of
from llamacli.models import registry, splits
from llamacli.models.registry import HubSource

SCOUT = "meta-llama_Llama-4-Scout-17B-16E-Instruct"
# name: (repo, {quant: (file, bytes)}, default quant); a split quantization's file is its first part
# and its bytes every part's
PUBLISHED = {
    "llama3.3:70b": (
        "bartowski/Llama-3.3-70B-Instruct-GGUF",
        {
            "Q2_K": ("Llama-3.3-70B-Instruct-Q2_K.gguf", 26_375_113_312),
            "Q4_K_M": ("Llama-3.3-70B-Instruct-Q4_K_M.gguf", 42_520_398_528),
            "Q8_0": ("Llama-3.3-70B-Instruct-Q8_0/Llama-3.3-70B-Instruct-Q8_0-00001-of-00002.gguf", 74_980_000_000),
        },
        "Q4_K_M",
    ),
    "codellama:7b": (
        "TheBloke/CodeLlama-7B-Instruct-GGUF",
        {
            "Q2_K": ("codellama-7b-instruct.Q2_K.gguf", 2_826_016_448),
            "Q4_K_M": ("codellama-7b-instruct.Q4_K_M.gguf", 4_081_095_360),
            "Q8_0": ("codellama-7b-instruct.Q8_0.gguf", 7_161_229_504),
        },
        "Q4_K_M",
    ),
    "llama4:scout": (
        "bartowski/meta-llama_Llama-4-Scout-17B-16E-Instruct-GGUF",
        {
            "Q2_K": ("meta-llama_Llama-4-Scout-17B-16E-Instruct-Q2_K.gguf", 39_650_000_000),
            "Q4_K_M": (f"{SCOUT}-Q4_K_M/{SCOUT}-Q4_K_M-00001-of-00002.gguf", 65_360_000_000),
            "Q8_0": (f"{SCOUT}-Q8_0/{SCOUT}-Q8_0-00001-of-00003.gguf", 114_520_000_000),
        },
        "Q2_K",
    ),
}

# name: (layers, KV heads, head size, context, vocabulary, parameters, active parameters), from config.json
SHAPES = {
    "llama3.3:70b": (80, 8, 128, 131_072, None, 70_553_706_496, None),
    "codellama:7b": (32, 32, 128, 16_384, 32_016, 6_738_546_688, None),
    "llama4:scout": (48, 8, 128, 10_485_760, 202_048, 108_000_000_000, 17_000_000_000),
}

# What each quantization weighs per parameter in llama.cpp's mixes (embeddings and some tensors kept wider)
BITS = {"Q2_K": (2.6, 3.5), "Q4_K_M": (4.5, 5.2), "Q8_0": (8.3, 8.7)}


@pytest.mark.parametrize("name", PUBLISHED)
def test_files_and_sizes_are_the_published_ones(name: str) -> None:
    repo, files, default = PUBLISHED[name]
    entry = registry.load({}).get(name).entry
    assert entry.source == HubSource(repo)
    assert {q.quant: (q.file, q.size) for q in entry.quants} == files
    assert entry.default_quant == default
    for q in entry.quants:
        assert quant_of(q.file) == q.quant  # the file name says the quantization the table claims
        if "-of-" in q.file:  # bartowski's split scheme: FOLDER/FOLDER-00001-of-0000N.gguf, FOLDER = NAME-QUANT
            folder, first = q.file.split("/")
            assert splits.is_first(first) and first.startswith(f"{folder}-") and folder.endswith(f"-{q.quant}")
            names = splits.part_names(q.file)  # every part's name is derived from the first's
            assert names[0] == q.file and len(names) == int(first[-10:-5]) >= 2
            assert all(name.startswith(f"{folder}/{folder}-") for name in names)
            assert q.size / len(names) < 50e9  # the Hub splits files above ~50 GB: each part is below that
        else:
            assert "/" not in q.file
        low, high = BITS[q.quant]
        assert low < 8 * q.size / entry.parameters < high, (q.quant, 8 * q.size / entry.parameters)


@pytest.mark.parametrize("name", SHAPES)
def test_shapes_are_the_configs(name: str) -> None:
    layers, kv_heads, head_dim, context, vocab, parameters, active = SHAPES[name]
    entry = registry.load({}).get(name).entry
    assert (entry.layers, entry.kv_heads, entry.head_dim, entry.context_length) == (layers, kv_heads, head_dim, context)
    assert (entry.vocab_size, entry.parameters, entry.active_parameters) == (vocab, parameters, active)
    assert entry.moe == (active is not None)


def test_tags_and_family_names_select_the_new_entries() -> None:
    reg = registry.load({})
    assert reg.get("llama3.3:70b").file.quant == "Q4_K_M" and reg.get("llama3.3").entry.name == "llama3.3:70b"
    assert reg.get("codellama:7b-q8_0").file.file == "codellama-7b-instruct.Q8_0.gguf"
    assert reg.get("llama4").entry.name == "llama4:scout" and reg.get("llama4:latest").file.quant == "Q2_K"


MOE = """
[models."moe:1b"]
repo = "someone/moe-GGUF"
parameters = 1000000
active_parameters = {active}
layers = 2
kv_heads = 1
head_dim = 8
context_length = 512
default_quant = "Q8_0"
quants.Q8_0 = {{ file = "moe-Q8_0.gguf", size = 1234 }}
"""


def test_a_user_entry_may_be_a_mixture_of_experts(isolated: Path) -> None:
    isolated.mkdir(parents=True, exist_ok=True)
    (isolated / "models.toml").write_text(MOE.format(active=250000))
    entry = registry.load().get("moe:1b").entry
    assert entry.moe and entry.active_parameters == 250000


@pytest.mark.parametrize(("active", "words"), [(2000000, "cannot exceed 'parameters'"), ('"many"', "an integer")])
def test_a_bad_active_parameter_count_names_the_file_and_line(isolated: Path, active: object, words: str) -> None:
    isolated.mkdir(parents=True, exist_ok=True)
    path = isolated / "models.toml"
    path.write_text(MOE.format(active=active))
    with pytest.raises(RegistryError) as caught:
        registry.load()
    assert caught.value.path == path and caught.value.line == 2 and words in caught.value.problem
