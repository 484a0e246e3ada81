"""Write modified copies of a real GGUF (test fixtures): same tensors, changed metadata."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def copy_gguf(
    source: Path,
    target: Path,
    changes: Mapping[str, Any],
    with_tensors: bool = True,
    extra_tensors: Mapping[str, tuple[Any, Any]] = {},
) -> Path:
    """Copy SOURCE to TARGET with metadata CHANGES (key -> new value; None removes the key), and EXTRA_TENSORS
    (name -> (raw data, GGMLQuantizationType)) after SOURCE's own."""
    import gguf

    reader = gguf.GGUFReader(source)
    arch = str(reader.fields["general.architecture"].contents())
    writer = gguf.GGUFWriter(target, arch=arch)
    if "general.alignment" in reader.fields:  # the tensor data must be padded as the copied header says
        writer.data_alignment = int(reader.fields["general.alignment"].contents())
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        if key in changes and changes[key] is None:
            continue
        value = changes.get(key, field.contents())
        kind = field.types[0]
        if kind == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(key, value, kind, sub_type=field.types[-1])
        else:
            writer.add_key_value(key, value, kind)
    if with_tensors:
        for tensor in reader.tensors:
            writer.add_tensor(tensor.name, tensor.data, raw_shape=tensor.data.shape, raw_dtype=tensor.tensor_type)
        for name, (data, kind) in extra_tensors.items():
            writer.add_tensor(name, data, raw_shape=data.shape, raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target


def small_gguf(target: Path) -> Path:
    """A small GGUF written by the gguf package: every value type our reader knows, and four tensors.

    Not a loadable model (llama.cpp wants every tensor of the architecture), but a real header with the
    shape of one: a fast base for fuzzing the header reader.
    """
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(target, arch="llama")
    writer.add_name("tiny")
    writer.add_custom_alignment(64)
    writer.add_block_count(2)
    writer.add_context_length(256)
    writer.add_embedding_length(16)
    writer.add_feed_forward_length(64)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_file_type(7)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_bool("tiny.flag", True)
    writer.add_int8("tiny.i8", -3)
    writer.add_uint16("tiny.u16", 7)
    writer.add_int16("tiny.i16", -7)
    writer.add_int64("tiny.i64", -1)
    writer.add_uint64("tiny.u64", 1 << 40)
    writer.add_float64("tiny.f64", 0.5)
    tokens = ["<s>", "</s>", "<unk>", *(f"tok{i}" for i in range(29))]
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([float(-i) for i in range(len(tokens))])
    writer.add_token_types([1] * len(tokens))
    writer.add_token_merges(["t o", "to k"])
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(1)
    writer.add_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}")
    writer.add_array("tiny.per_layer", [4, 4])
    shapes = {"token_embd.weight": (32, 16), "output_norm.weight": (16,), "blk.0.attn_q.weight": (16, 16)}
    for name, shape in {**shapes, "blk.0.ffn_up.weight": (64, 16)}.items():
        writer.add_tensor(name, np.zeros(shape, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target
