"""Write LoRA adapter GGUFs for a real base model with the gguf package's writer (test fixtures).

An adapter is a GGUF with `general.type = adapter`, `adapter.type = lora`, `adapter.lora.alpha` and, for
each adapted weight `W` of the base model, the pair `W.lora_a` (numpy shape (r, n_in)) and `W.lora_b`
((n_out, r)); llama.cpp adds scale × alpha / r × B·A·x to W·x. The base model's shapes are read from its
header (GGUF's order, ne[0] first: a weight is (n_in, n_out)).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from llamacli.models import gguf_info

TARGETS = ("attn_q", "attn_v")  # the usual LoRA targets


def write_adapter(
    target: Path,
    base_model: Path,
    *,
    rank: int = 8,
    alpha: float = 8.0,
    b_scale: float = 0.0,
    seed: int = 0,
    targets: Sequence[str] = TARGETS,
    architecture: str | None = None,
    grow: int = 0,
    dtype: str = "float32",
) -> Path:
    """An adapter for BASE_MODEL at TARGET: A random, B random times B_SCALE (0: B = 0, a no-op adapter).

    ARCHITECTURE overrides the base's (an adapter "for another model"); GROW adds columns to every A (an
    adapter whose shapes fit no tensor of the base). DTYPE: "float32" (what llama.cpp's convert_lora_to_gguf.py
    writes by default) or "float16".
    """
    import gguf
    import numpy as np

    info, shapes = gguf_info.read_shapes(base_model)
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(target, arch=architecture or info.architecture)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    writer.add_name(target.stem)
    for name in sorted(shapes, key=_layer_order):
        if not any(f".{t}.weight" in name for t in targets) or len(shapes[name]) != 2:
            continue
        n_in, n_out = shapes[name]
        a = rng.normal(0.0, 0.1, size=(rank, n_in + grow)).astype(dtype)
        b = (rng.normal(0.0, 0.1, size=(n_out, rank)) * b_scale).astype(dtype)
        writer.add_tensor(f"{name}.lora_a", a)
        writer.add_tensor(f"{name}.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target


def _layer_order(name: str) -> tuple[int, str]:
    parts = name.split(".")
    return (int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else -1, name)
