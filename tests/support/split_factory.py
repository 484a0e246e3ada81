"""Split a real GGUF into parts as llama.cpp's gguf-split does (test fixtures for multi-part models)."""

from __future__ import annotations

from pathlib import Path


def split_gguf(source: Path, directory: Path, stem: str, parts: int) -> list[Path]:
    """Write SOURCE as PARTS files `STEM-0000i-of-0000N.gguf` in DIRECTORY (the metadata in the first, with
    `split.no`, `split.count` and `split.tensors.count` in each, as gguf-split writes them); their paths in order."""
    import gguf

    reader = gguf.GGUFReader(source)
    per_part = -(-len(reader.tensors) // parts)
    arch = str(reader.fields["general.architecture"].contents())
    directory.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(directory / f"{stem}.gguf", arch=arch, split_max_tensors=per_part)
    if "general.alignment" in reader.fields:
        writer.data_alignment = int(reader.fields["general.alignment"].contents())
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        kind = field.types[0]
        if kind == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(key, field.contents(), kind, sub_type=field.types[-1])
        else:
            writer.add_key_value(key, field.contents(), kind)
    for tensor in reader.tensors:
        writer.add_tensor(tensor.name, tensor.data, raw_shape=tensor.data.shape, raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    written = sorted(directory.glob(f"{stem}-*-of-*.gguf"))
    assert len(written) == parts, written
    return written
