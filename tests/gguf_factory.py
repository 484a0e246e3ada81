"""Write modified copies of a real GGUF (test fixtures): same tensors, changed metadata."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def copy_gguf(source: Path, target: Path, changes: Mapping[str, Any], with_tensors: bool = True) -> Path:
    """Copy SOURCE to TARGET with metadata CHANGES (key -> new value; None removes the key)."""
    import gguf

    reader = gguf.GGUFReader(source)
    arch = str(reader.fields["general.architecture"].contents())
    writer = gguf.GGUFWriter(target, arch=arch)
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
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target
