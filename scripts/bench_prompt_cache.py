"""Benchmark the on-disk prompt cache through the engine API, printed as ratios measured in one run.

A loop of one-shots, each a different short question under the same ~500-token system prompt, with the
bundled model, 2 threads, `-n 16` greedy: every one-shot loads the model afresh (as a new `llamacli run`
process would) and generates. The loop runs once without the cache and once with an empty cache
directory (the first question misses and saves, the others restore). Printed: the whole loop's wall time
both ways and its ratio, a miss's and a hit's prompt time, the entry's size on disk, and whether every
answer was byte-identical.

Usage: .venv/bin/python scripts/bench_prompt_cache.py [--questions 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from llamacli.engine import Completion, GenerationParams, LoadParams, Model
from llamacli.engine.chat_template import Message
from llamacli.engine.prompt_cache import PromptCache
from llamacli.models import registry
from llamacli.models.locate import package_file

SYSTEM = "You are the support assistant of a small hardware shop. Follow these rules in every answer. " + " ".join(
    f"Rule {i}: if a customer asks about product line {i}, check the stock list, quote the price in euros, "
    f"mention the warranty of {i % 4 + 1} years, and keep the answer short and polite."
    for i in range(14)
)
TOPICS = [
    "hammers", "screwdrivers", "drills", "saws", "nails", "glue", "paint", "brushes", "ladders", "gloves",
    "tape", "pliers", "wrenches", "bolts", "sandpaper", "clamps", "chisels", "levels", "rulers", "hinges",
]  # fmt: skip
GREEDY = GenerationParams(temperature=0, max_tokens=16, ignore_eos=True)


def one_shot(path: Path, load: LoadParams, question: str) -> tuple[float, Completion]:
    """(wall seconds, completion) of loading the model and answering one question, like one `run`."""
    started = time.perf_counter()
    with Model(path, load) as model:
        result = model.generate([Message("system", SYSTEM), Message("user", question)], GREEDY)
    return time.perf_counter() - started, result


def loop(path: Path, load: LoadParams, questions: list[str]) -> list[tuple[float, Completion]]:
    """One one-shot per question."""
    return [one_shot(path, load, q) for q in questions]


def main() -> None:
    """Run both loops and print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    path = package_file(registry.load({}).get("smollm2:135m"))
    questions = [f"Do you sell {topic}, and how much do they cost?" for topic in TOPICS][: args.questions]
    with tempfile.TemporaryDirectory(prefix="bench-prompt-cache-") as directory:
        plain_load = LoadParams(n_ctx=2048, n_threads=args.threads)
        cached_load = LoadParams(n_ctx=2048, n_threads=args.threads, prompt_cache_dir=Path(directory))
        one_shot(path, plain_load, "Warm-up.")  # the machine's self-test and the page cache, outside the loops
        plain = loop(path, plain_load, questions)
        cached = loop(path, cached_load, questions)
        entries = PromptCache(Path(directory)).entries()
    plain_wall = sum(w for w, _ in plain)
    cached_wall = sum(w for w, _ in cached)
    miss = cached[0][1].stats
    hits = [c.stats for _, c in cached[1:]]
    same = sum(a.text == b.text for (_, a), (_, b) in zip(plain, cached, strict=True))
    print(f"system prompt + question: {miss.prompt_tokens} tokens; saved prefix: {miss.saved_prompt_tokens} tokens")
    print(f"entries on disk: {len(entries)}, {sum(e.size for e in entries) / 1e6:.1f} MB")
    print(f"loop of {len(questions)} one-shots: no cache {plain_wall:.2f} s, cache {cached_wall:.2f} s")
    print(f"  ratio no cache / cache: {plain_wall / cached_wall:.2f}x")
    plain_prompt = statistics.median(c.stats.prompt_seconds for _, c in plain)
    print(f"prompt time: no cache (median) {plain_prompt * 1000:.0f} ms, miss {miss.prompt_seconds * 1000:.0f} ms")
    if hits:
        hit_prompt = statistics.median(h.prompt_seconds for h in hits)
        restored = {h.restored_prompt_tokens for h in hits}
        print(f"  hit (median) {hit_prompt * 1000:.0f} ms (restored {sorted(restored)} tokens)")
        print(f"  ratio miss / hit: {miss.prompt_seconds / hit_prompt:.2f}x")
    print(f"answers byte-identical with and without the cache: {same}/{len(questions)}")


if __name__ == "__main__":
    main()
