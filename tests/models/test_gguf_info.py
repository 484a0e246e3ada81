"""The header walker agrees with the gguf package's reader, and fails cleanly on anything malformed."""

from __future__ import annotations

import contextlib
import json
import math
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamacli.errors import ModelLoadError
from llamacli.models import gguf_info


def reference(path: Path) -> dict[str, object]:
    """What gguf.GGUFReader (the gguf package) reads from the same file."""
    from gguf import GGUFReader, LlamaFileType

    reader = GGUFReader(path)

    def value(key: str) -> object:
        found = reader.get_field(key)
        return found.contents() if found is not None else None

    arch = value("general.architecture")
    tokens = reader.get_field("tokenizer.ggml.tokens")
    assert tokens is not None
    return {
        "architecture": arch,
        "name": value("general.name"),
        "parameters": sum(math.prod(int(d) for d in t.shape) for t in reader.tensors),
        "file_type": LlamaFileType(value("general.file_type")).name.removeprefix("MOSTLY_"),
        "context_length": value(f"{arch}.context_length"),
        "layers": value(f"{arch}.block_count"),
        "heads": value(f"{arch}.attention.head_count"),
        "kv_heads": value(f"{arch}.attention.head_count_kv"),
        "embedding_size": value(f"{arch}.embedding_length"),
        "vocab_size": len(tokens.data),
        "license": value("general.license"),
        "chat_template": value("tokenizer.chat_template"),
        "eos": tokens.contents(value("tokenizer.ggml.eos_token_id")),
        "tensors": len(reader.tensors),
        "header_bytes": reader.data_offset,
    }


@pytest.mark.slow
@pytest.mark.parametrize("which", ["Q4_1", "Q8_0", "Q4_K_M", "Q2_K"])
def test_matches_the_gguf_package(which: str, smollm2_path: Path, quantized: dict[str, Path]) -> None:
    path = smollm2_path if which == "Q4_1" else quantized[which]
    ours = gguf_info.read(path)
    expected = reference(path)
    assert expected.pop("eos") == ours.special_tokens["eos"]["text"]
    assert {k: getattr(ours, k) for k in expected} == expected
    assert ours.file_size == path.stat().st_size


def test_a_prefix_asks_for_more_and_then_parses(smollm2_path: Path) -> None:
    data = smollm2_path.read_bytes()
    size = len(data)
    with pytest.raises(gguf_info.NeedMore) as short:
        gguf_info.parse(data[:65536], size)
    assert short.value.needed > 65536
    full = gguf_info.read(smollm2_path)
    assert gguf_info.parse(data[: full.header_bytes], size) == full


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"GGML" + b"\x00" * 100, "bad magic"),
        (b"GGUF" + struct.pack("<I", 99) + b"\x00" * 100, "version 99"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 2**40) + b"\x00" * 100, "cannot fit"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**50) + b"\x00" * 100, "at most 65535"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1000) + b"\x00" * 100, "past the end"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1) + b"k" + struct.pack("<I", 77) + b"\0" * 80,
         "unknown value type"),
    ],
)  # fmt: skip
def test_malformed_files_are_model_load_errors(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)
    with pytest.raises(ModelLoadError, match=reason):
        gguf_info.read(path)


def test_a_missing_file_is_a_model_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError):
        gguf_info.read(tmp_path / "absent.gguf")


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=400), st.integers(min_value=0, max_value=10_000))
def test_random_bytes_never_raise_anything_else(body: bytes, extra: int) -> None:
    data = b"GGUF" + struct.pack("<I", 3) + body
    with contextlib.suppress(gguf_info.NeedMore, gguf_info.Malformed):
        gguf_info.parse(data, len(data) + extra)


def test_truncating_a_real_header_anywhere_fails_cleanly(smollm2_path: Path) -> None:
    data = smollm2_path.read_bytes()[:2_000_000]
    for cut in (3, 7, 23, 24, 100, 5_000, 700_000, 1_785_000):
        try:
            gguf_info.parse(data[:cut], cut)
        except gguf_info.Malformed:
            continue
        raise AssertionError(f"a file cut at {cut} bytes parsed")


@pytest.mark.parametrize("bits", [0x7FC00000, 0x7F800000, 0xFF800000], ids=["nan", "inf", "-inf"])
def test_a_float_where_a_count_belongs_is_not_a_count(tmp_path: Path, bits: int) -> None:
    """Found by the fuzzer: block_count retyped to f32 NaN/inf made int() raise out of the reader."""
    from tests.support.gguf_factory import small_gguf

    data = bytearray(small_gguf(tmp_path / "small.gguf").read_bytes())
    key = b"llama.block_count"
    at = data.index(struct.pack("<Q", len(key)) + key) + 8 + len(key)
    struct.pack_into("<II", data, at, 6, bits)  # value type f32, then the value
    path = tmp_path / "float-count.gguf"
    path.write_bytes(bytes(data))
    info = gguf_info.read(path)
    assert info.layers is None and info.context_length == 256


def small_vocab_gguf(path: Path, tokens: list[bytes], specials: dict[str, int]) -> Path:
    """A header-only GGUF with TOKENS as its vocabulary and SPECIALS as its special token ids."""
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), "llama")
    writer.add_token_list(tokens)
    for kind, token_id in specials.items():
        writer.add_uint32(f"tokenizer.ggml.{kind}_token_id", token_id)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.mark.parametrize("token_id", [0, 1, 255, 256, 257, 511, 512, 777, 999])
def test_special_tokens_are_found_anywhere_in_the_vocabulary(tmp_path: Path, token_id: int) -> None:
    """Only every 256th token's position is kept: ids at, before and after those marks read right."""
    tokens = [f"<t{i}>".encode() * (1 + i % 7) for i in range(1000)]
    path = small_vocab_gguf(tmp_path / "v.gguf", tokens, {"bos": token_id, "eos": 999})
    special = gguf_info.read(path).special_tokens
    assert special["bos"] == {"id": token_id, "text": tokens[token_id].decode()}
    assert special["eos"]["text"] == tokens[999].decode()


def test_a_huge_array_of_empty_strings_costs_no_memory(tmp_path: Path) -> None:
    """A million empty tokens (8 MB of lengths) must not become a million remembered offsets."""
    import tracemalloc

    path = small_vocab_gguf(tmp_path / "empty.gguf", [b""] * 1_000_000, {"eos": 999_999})
    tracemalloc.start()
    try:
        info = gguf_info.read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.vocab_size == 1_000_000 and info.special_tokens["eos"] == {"id": 999_999, "text": ""}
    assert peak < 1_000_000  # one position per 256 strings: ~4k integers


def test_a_remembered_header_is_used_until_the_file_changes(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = small_vocab_gguf(tmp_path / "m.gguf", [b"a", b"b"], {"eos": 1})
    first = gguf_info.read(path, cache)
    assert gguf_info.read(path, cache) == first == gguf_info.read(path)
    [entry] = (cache / gguf_info.HEADER_FACT).iterdir()
    entry.write_text('{"architecture": "remembered"')  # a damaged entry is ignored and rewritten
    assert gguf_info.read(path, cache) == first
    remembered = {**first.to_dict(), "name": "remembered, not parsed"}
    entry.write_text(json.dumps(remembered))
    assert gguf_info.read(path, cache).name == "remembered, not parsed"  # the cache really answers
    small_vocab_gguf(path, [b"a", b"b", b"c"], {"eos": 2})  # rewritten: a new identity
    changed = gguf_info.read(path, cache)
    assert changed.vocab_size == 3 and changed.special_tokens["eos"]["text"] == "c"


def test_tensor_sizes_agree_with_the_gguf_package() -> None:
    from gguf.constants import GGML_QUANT_SIZES

    assert {kind.value: sizes for kind, sizes in GGML_QUANT_SIZES.items()} == gguf_info.TENSOR_TYPES


@pytest.mark.parametrize("missing", [1, 64, 700])
def test_a_file_whose_tensor_data_is_cut_short_is_refused(tmp_path: Path, missing: int) -> None:
    """Issue 12, item 10: a GGUF cut anywhere in its tensor data is not a model (llama.cpp refuses it at load)."""
    from tests.support.gguf_factory import small_gguf

    whole = small_gguf(tmp_path / "whole.gguf")
    assert gguf_info.read(whole).tensors == 4
    data = whole.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: len(data) - missing])
    with pytest.raises(ModelLoadError, match=f"cut short: its tensors need {len(data):,} bytes"):
        gguf_info.read(cut)
