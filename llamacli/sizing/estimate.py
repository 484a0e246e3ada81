"""Memory and speed estimates for a model on this machine, from plain numbers (no file, no llama.cpp).

Callers feed the shape from wherever they have it: a registry entry, a local GGUF header, or a remote
one read with HTTP Range requests. The formulas (also in the README):

    memory  = weights + KV cache + compute buffer + runtime overhead
    weights = the GGUF file size (llama.cpp maps it; every page is read while generating)
    KV      = 2 (K and V) × layers × context × KV heads × head size × 2 bytes (f16 cache)
              (sliding-window layers included: llama.cpp's default `swa_full` sizes them to the full context)
    compute = n_ubatch × 4 bytes × (4 × n_embd + 3 × n_ff)   what a full 512-token prompt batch touches
              (llama.cpp *reserves* ≈ n_ubatch × n_vocab × 4 more for a worst-case logits batch, but only
              the last token's logits are computed for a prompt, so those pages are never resident)
    overhead = the process before the model (Python + llama.cpp, measured by calibration)
               + VOCAB_BYTES_PER_TOKEN × n_vocab (llama.cpp's in-memory vocabulary) + the logits row
    repacked = R[quant] × file size: weights llama.cpp copies into its CPU kernels' layout (Q2_K and Q4_K
               on AVX2/AVX512 builds), R measured by calibration as what the bundled model at that quant
               kept resident beyond the other parts, per byte of its file

    generation tok/s = 1 / (streamed / G[quant] + layers × attention width × context used / A)
    prompt tok/s     = P[quant] / non-embedding parameters (active ones, for a mixture of experts)
    streamed         = file size × active parameters / parameters  (the whole file for a dense model)

A mixture of experts (Llama 4 Scout: 16 experts, 17B of its 108B parameters active per token) needs all
its experts in memory (the weights term is the whole file: any token may be routed to any expert) but
reads only the active share of them per token, so its speed follows the active parameters.

G (bytes of weights streamed per second while generating), A (attention work per second: each new token
attends with query heads × head size at every earlier position of every layer) and P (parameter-tokens
per second while reading a prompt) are measured by calibration on the bundled model, G and P per
quantization type (quant kernels differ by CPU, so bits per weight alone do not predict speed) and A once
(attention reads the f16 KV cache whatever the weights' type). A is measured from
generation at two depths (after 16 and after 512 prompt tokens): on a small model, attention over a
few hundred tokens costs as much as the weights, far more than the KV bytes it reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

KV_BYTES_PER_ELEMENT = 2  # llama.cpp's default f16 K and V cache
N_UBATCH = 512  # the engine's batch size (LoadParams.n_batch)
LOGIT_BYTES = 4  # f32
VOCAB_BYTES_PER_TOKEN = 160  # llama.cpp's token text + maps per vocabulary entry (fitted: SmolLM2 49K vs Gemma 3 262K)
DEFAULT_OVERHEAD = 64 * 2**20  # Python + llama.cpp before a model is loaded, when not calibrated
LLAMA3_VOCAB = 128_256  # vocabulary of the Llama 3.x tokenizer, assumed when a shape does not say


@dataclass(frozen=True)
class ModelShape:
    """What the estimates need to know about a model; unknown dimensions are approximated."""

    layers: int
    kv_heads: int
    head_dim: int
    parameters: int
    n_vocab: int = LLAMA3_VOCAB
    n_embd: int | None = None  # None: approximated from parameters and layers
    n_ff: int | None = None  # None: 4 × n_embd
    heads: int | None = None  # query heads; None: n_embd / head size
    active_parameters: int | None = None  # a mixture of experts' parameters per token; None: all (dense)

    @property
    def active(self) -> int:
        """The parameters each token is multiplied through: all of them unless it is a mixture of experts."""
        return min(self.active_parameters or self.parameters, self.parameters) or self.parameters

    @property
    def active_share(self) -> float:
        """The share of the weights read per generated token (1 for a dense model)."""
        return self.active / self.parameters if self.parameters > 0 else 1.0

    @property
    def embedding_width(self) -> int:
        """n_embd, or the width a dense transformer of this size and depth would have.

        Solves parameters ≈ 12 × layers × d² + n_vocab × d (attention 4d², feed-forward 8d², tied embeddings),
        with the active parameters for a mixture of experts (one routed expert is a dense feed-forward).
        """
        if self.n_embd:
            return self.n_embd
        a, b, c = 12 * self.layers, self.n_vocab, -self.active
        return max(1, round((-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)))

    @property
    def feed_forward_width(self) -> int:
        """n_ff, or 4 × n_embd."""
        return self.n_ff or 4 * self.embedding_width

    @property
    def attention_width(self) -> int:
        """Query heads × head size: the width each new token attends with at every earlier position."""
        return self.heads * self.head_dim if self.heads else self.embedding_width

    @property
    def non_embedding_parameters(self) -> int:
        """Parameters a prompt token is multiplied through (the embedding lookup is not a matmul)."""
        return max(1, self.active - self.n_vocab * self.embedding_width)


@dataclass(frozen=True)
class MemoryEstimate:
    """Resident memory a model needs at one context size, by part (bytes)."""

    weights: int
    kv_cache: int
    compute: int
    overhead: int
    repacked: int = 0  # weights llama.cpp copies into a layout for this CPU's kernels (measured per quant)

    @property
    def total(self) -> int:
        """Everything together."""
        return self.weights + self.kv_cache + self.compute + self.overhead + self.repacked

    def to_dict(self) -> dict[str, int]:
        """JSON-ready parts and total."""
        return {
            "weights": self.weights,
            "kv_cache": self.kv_cache,
            "compute": self.compute,
            "overhead": self.overhead,
            "repacked": self.repacked,
            "total": self.total,
        }


def kv_cache_bytes(shape: ModelShape, n_ctx: int, bytes_per_element: int = KV_BYTES_PER_ELEMENT) -> int:
    """K and V for every layer and every position of the window."""
    return 2 * shape.layers * n_ctx * shape.kv_heads * shape.head_dim * bytes_per_element


def compute_bytes(shape: ModelShape, n_ubatch: int = N_UBATCH) -> int:
    """Activation memory a full prompt batch touches (residual, norms, Q/K/V, feed-forward gate/up/act)."""
    return n_ubatch * 4 * (4 * shape.embedding_width + 3 * shape.feed_forward_width)


def memory_need(
    shape: ModelShape,
    file_size: int,
    n_ctx: int,
    runtime_overhead: int = DEFAULT_OVERHEAD,
    repacked_per_byte: float = 0.0,
) -> MemoryEstimate:
    """Resident memory to run a GGUF of FILE_SIZE bytes with SHAPE at an N_CTX-token window.

    REPACKED_PER_BYTE: what calibration measured beyond the formula per byte of a file of this quant type
    (llama.cpp repacks Q2_K and Q4_K weights for AVX2/AVX512 kernels into memory of their own).
    """
    overhead = runtime_overhead + VOCAB_BYTES_PER_TOKEN * shape.n_vocab + LOGIT_BYTES * shape.n_vocab
    return MemoryEstimate(
        weights=file_size,
        kv_cache=kv_cache_bytes(shape, n_ctx),
        compute=compute_bytes(shape),
        overhead=overhead,
        repacked=int(repacked_per_byte * file_size),
    )


@dataclass(frozen=True)
class QuantSpeed:
    """Calibrated throughput of one quantization type on this machine."""

    generation_bytes_per_second: float  # G: weight bytes streamed per second while generating
    prompt_parameter_tokens_per_second: float  # P: prompt tokens × non-embedding parameters per second
    attention_per_second: float = 0.0  # A: attention work (see `attention_work`) per second; 0 = not measured


@dataclass(frozen=True)
class SpeedEstimate:
    """Predicted tokens per second."""

    generation: float
    prompt: float


def bits_per_weight(file_size: int, parameters: int) -> float:
    """Average bits per parameter of a GGUF file: its effective quantization level."""
    return 8 * file_size / max(1, parameters)


def attention_work(shape: ModelShape, context_used: int) -> int:
    """What attending over CONTEXT_USED earlier positions costs one new token: layers × width × positions."""
    return shape.layers * shape.attention_width * context_used


def predict_speed(shape: ModelShape, file_size: int, speed: QuantSpeed, context_used: int = 0) -> SpeedEstimate:
    """Tokens per second for generation (weights streamed + attention over the context) and prompt reading.

    A mixture of experts streams only its active share of FILE_SIZE per token.
    """
    streamed = file_size * shape.active_share
    if speed.attention_per_second > 0:
        attention = attention_work(shape, context_used) / speed.attention_per_second
    else:  # an old calibration: count only the KV bytes read
        attention = kv_cache_bytes(shape, context_used) / speed.generation_bytes_per_second
    return SpeedEstimate(
        generation=1 / (streamed / speed.generation_bytes_per_second + attention),
        prompt=speed.prompt_parameter_tokens_per_second / shape.non_embedding_parameters,
    )


# Nominal bits per weight of each file type llamacli's `quantize` makes: llama-quantize's own sizes at
# Llama-3-8B (tools/quantize/quantize.cpp: "Q4_K_M 4.58G" → 4.58 GiB × 8 / 8.03 B parameters), the block
# sizes for the plain types. A small model gets more (tensors whose rows do not divide into 256-element
# K-quant blocks fall back to a larger type; norms stay F32): SmolLM2-135M's Q2_K is 5.2 bits, Q4_K_M 6.2.
QUANT_BITS = {
    "Q2_K": 3.17, "Q3_K_S": 3.65, "Q3_K_M": 4.00, "Q3_K_L": 4.31, "IQ4_XS": 4.25, "IQ4_NL": 4.50,
    "Q4_0": 4.64, "Q4_1": 5.11, "Q4_K_S": 4.68, "Q4_K_M": 4.90, "Q5_0": 5.57, "Q5_1": 6.05,
    "Q5_K_S": 5.57, "Q5_K_M": 5.70, "Q6_K": 6.57, "Q8_0": 8.52, "F16": 16.0, "BF16": 16.0, "F32": 32.0,
}  # fmt: skip


def quantized_size(parameters: int, quant: str, header_bytes: int = 0) -> int:
    """The size of a file of PARAMETERS quantized to QUANT (nominal bits per weight) with a HEADER_BYTES header."""
    return header_bytes + math.ceil(parameters * QUANT_BITS[quant] / 8)
