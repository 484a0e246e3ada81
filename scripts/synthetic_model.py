"""Write a 1.07B-parameter Llama model with random weights, F16, for benchmarks that need a model of 1B or more.

The Hub is out of reach here and the bundled SmolLM2 has 135M parameters, on which fixed costs (a process's
start, an adapter's extra matrix products) weigh more than on the models people run. This writes a model with
Llama 3.2 1B's shape (16 layers, width 2048, feed-forward 8192, 32 heads, 8 KV heads, head size 64... see
SHAPE) and SmolLM2's tokenizer (49,152 tokens, so 1.07B parameters rather than 1.24B), with the `gguf`
package's writer. Its weights are random (normal, σ 0.02): it says nothing sensible, but llama.cpp does the
same work per token as on a trained model of that shape, which is all a speed benchmark needs.

Usage: .venv/bin/python scripts/synthetic_model.py OUT.gguf [--layers 16]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from llamacli.models.locate import package_file
from llamacli.models.registry import load as load_registry

SHAPE = {"width": 2048, "feed_forward": 8192, "heads": 32, "kv_heads": 8, "context": 131_072}


def write(target: Path, layers: int = 16, seed: int = 0) -> Path:
    """A random Llama model of LAYERS layers at TARGET (F16)."""
    import gguf
    import numpy as np

    source = gguf.GGUFReader(package_file(load_registry({}).get("smollm2:135m")))
    vocab = len(source.fields["tokenizer.ggml.tokens"].contents())
    width, ffn, heads, kv_heads = SHAPE["width"], SHAPE["feed_forward"], SHAPE["heads"], SHAPE["kv_heads"]
    head = width // heads
    writer = gguf.GGUFWriter(target, arch="llama")
    writer.add_name(f"synthetic Llama {layers} layers x {width} (random weights)")
    writer.add_block_count(layers)
    writer.add_context_length(SHAPE["context"])
    writer.add_embedding_length(width)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(head)
    writer.add_rope_freq_base(500_000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    for key, field in source.fields.items():
        if key.startswith("tokenizer."):
            kind = field.types[0]
            sub = {"sub_type": field.types[-1]} if kind == gguf.GGUFValueType.ARRAY else {}
            writer.add_key_value(key, field.contents(), kind, **sub)
    rng = np.random.default_rng(seed)

    def weight(rows: int, columns: int) -> np.ndarray:
        return (rng.standard_normal((rows, columns), dtype=np.float32) * 0.02).astype(np.float16)

    writer.add_tensor("token_embd.weight", weight(vocab, width))
    writer.add_tensor("output_norm.weight", np.ones(width, dtype=np.float32))
    for i in range(layers):
        block = f"blk.{i}"
        writer.add_tensor(f"{block}.attn_norm.weight", np.ones(width, dtype=np.float32))
        writer.add_tensor(f"{block}.attn_q.weight", weight(width, width))
        writer.add_tensor(f"{block}.attn_k.weight", weight(kv_heads * head, width))
        writer.add_tensor(f"{block}.attn_v.weight", weight(kv_heads * head, width))
        writer.add_tensor(f"{block}.attn_output.weight", weight(width, width))
        writer.add_tensor(f"{block}.ffn_norm.weight", np.ones(width, dtype=np.float32))
        writer.add_tensor(f"{block}.ffn_gate.weight", weight(ffn, width))
        writer.add_tensor(f"{block}.ffn_up.weight", weight(ffn, width))
        writer.add_tensor(f"{block}.ffn_down.weight", weight(width, ffn))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path)
    parser.add_argument("--layers", type=int, default=16)
    args = parser.parse_args()
    path = write(args.target, args.layers)
    print(f"{path}: {path.stat().st_size / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
