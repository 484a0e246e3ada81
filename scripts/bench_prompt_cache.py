"""Benchmark the on-disk prompt cache where people meet it, printed as ratios measured in one run.

A loop of one-shots, each a different short question under the same ~500-token system prompt, with the
bundled model, 2 threads, `-n 16` greedy, every one a fresh process:
1. `llamacli run` with the prompt cache (an empty cache directory: the first question misses and saves,
   the others restore) against `llamacli run --no-cache`: the whole loop's wall time, and its ratio
   (target >= 2.5x); whether every answer is byte-identical;
2. native llama.cpp's `llama-completion` (built from the llama-cpp-python source package by
   `scripts/native_tools.sh llama-completion`) on the same rendered prompts: without `--prompt-cache`
   (llamacli with its cache must be faster) and with `--prompt-cache FILE` (reported as a ratio);
3. a single one-shot (`-n 16`, a short prompt) of `llamacli run` against `llama-completion`: median wall time.
`--engine` adds the loop through the engine API in one process (no interpreter start-up, no imports).

Usage: .venv/bin/python scripts/bench_prompt_cache.py [--questions 20] [--threads 2] [--rounds 1] [--engine]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from llamacli.engine import Completion, GenerationParams, LoadParams, Model
from llamacli.engine.chat_template import Message
from llamacli.models import registry
from llamacli.models.locate import package_file

ROOT = Path(__file__).resolve().parents[1]
LLAMACLI = str(Path(sys.executable).parent / "llamacli")
SYSTEM = "You are the support assistant of a small hardware shop. Follow these rules in every answer. " + " ".join(
    f"Rule {i}: if a customer asks about product line {i}, check the stock list, quote the price in euros, "
    f"mention the warranty of {i % 4 + 1} years, and keep the answer short and polite."
    for i in range(14)
)
TOPICS = [
    "hammers", "screwdrivers", "drills", "saws", "nails", "glue", "paint", "brushes", "ladders", "gloves",
    "tape", "pliers", "wrenches", "bolts", "sandpaper", "clamps", "chisels", "levels", "rulers", "hinges",
]  # fmt: skip
N_PREDICT = 16
N_CTX = 4096  # llamacli's default window for this model (its trained 8192, at most 4096)


def question(topic: str) -> str:
    return f"Do you sell {topic}, and how much do they cost?"


def llamacli_once(text: str, system: str | None, home: Path, threads: int, *flags: str) -> tuple[float, dict]:
    """(wall seconds, --json result) of one `llamacli run` process."""
    command = [LLAMACLI, "run", "smollm2:135m", text, "--json", "--temperature", "0", "-n", str(N_PREDICT)]
    command += ["-t", str(threads), *(["-s", system] if system else []), *flags]
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, check=True, env={"LLAMACLI_HOME": str(home), "PATH": "/usr/bin:/bin"}
    )
    return time.perf_counter() - started, json.loads(done.stdout)


def native_once(binary: Path, model: Path, prompt: str, threads: int, *flags: str) -> float:
    """Wall seconds of one `llama-completion` process on the rendered PROMPT."""
    command = [str(binary), "-m", str(model), "-p", prompt, "-n", str(N_PREDICT), "-t", str(threads)]
    command += ["-c", str(N_CTX), "--temp", "0", "-no-cnv", "--no-display-prompt", *flags]
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def rendered(model: Path, messages: Sequence[Message]) -> str:
    """The prompt text llamacli gives the model (its chat template), for llama-completion's -p."""
    with Model(model, LoadParams(n_ctx=N_CTX, n_threads=1)) as loaded:
        assert loaded.template is not None
        return loaded.template.render(messages, True)


def native_binary() -> Path:
    """llama-completion, built once from the same llama.cpp source as llamacli's (a few minutes)."""
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "native_tools.sh"), "llama-completion"], capture_output=True, text=True
    )
    if out.returncode != 0:
        sys.exit(f"could not build llama-completion:\n{out.stderr}")
    return Path(out.stdout.strip().splitlines()[-1]) / "llama-completion"


def engine_loop(path: Path, questions: list[str], threads: int, cache: Path | None) -> float:
    """Wall seconds of loading the model and answering each question through the engine API, one process."""
    greedy = GenerationParams(temperature=0, max_tokens=N_PREDICT)
    load = LoadParams(n_ctx=N_CTX, n_threads=threads, prompt_cache_dir=cache)
    started = time.perf_counter()
    for q in questions:
        with Model(path, load) as model:
            result: Completion = model.generate([Message("system", SYSTEM), Message("user", q)], greedy)
            assert result.text
    return time.perf_counter() - started


def main() -> None:
    """Run the loops and print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="repeat each loop; the fastest round counts")
    parser.add_argument("--engine", action="store_true", help="also the loop through the engine API")
    args = parser.parse_args()
    path = package_file(registry.load({}).get("smollm2:135m"))
    questions = [question(topic) for topic in TOPICS][: args.questions]
    binary = native_binary()
    prompts = [rendered(path, [Message("system", SYSTEM), Message("user", q)]) for q in questions]
    short = rendered(path, [Message("user", "Hello")])
    with tempfile.TemporaryDirectory(prefix="bench-prompt-cache-") as directory:
        work = Path(directory)
        home = work / "home"
        llamacli_once("Warm-up.", None, home, args.threads)  # the self-test's verdict, the page cache
        native_once(binary, path, short, args.threads)
        best: dict[str, float] = {}
        answers: dict[str, list[dict]] = {}
        for round_ in range(args.rounds):
            for name, flags in (("no-cache", ("--no-cache",)), ("cache", ())):
                subprocess.run([LLAMACLI, "cache", "clear"], env={"LLAMACLI_HOME": str(home)}, capture_output=True)
                started = time.perf_counter()
                results = [llamacli_once(q, SYSTEM, home, args.threads, *flags)[1] for q in questions]
                best[name] = min(best.get(name, float("inf")), time.perf_counter() - started)
                answers[name] = results
            for name, extra in (("native", ()), ("native-cache", ("--prompt-cache", str(work / f"pc{round_}.bin")))):
                started = time.perf_counter()
                for prompt in prompts:
                    native_once(binary, path, prompt, args.threads, *extra)
                best[name] = min(best.get(name, float("inf")), time.perf_counter() - started)
        singles: dict[str, list[float]] = {"llamacli": [], "native": []}
        for _ in range(5):  # alternated, medians compared
            singles["llamacli"].append(llamacli_once("Hello", None, home, args.threads)[0])
            singles["native"].append(native_once(binary, path, short, args.threads))
        engine = {}
        if args.engine:
            engine["no-cache"] = engine_loop(path, questions, args.threads, None)
            engine["cache"] = engine_loop(path, questions, args.threads, work / "engine-prompts")
    report(args, questions, best, answers, singles, engine)


def report(
    args: argparse.Namespace,
    questions: list[str],
    best: dict[str, float],
    answers: dict[str, list[dict]],
    singles: dict[str, list[float]],
    engine: dict[str, float],
) -> None:
    """Print the loops' wall times and their ratios."""
    first, *hits = (a["stats"] for a in answers["cache"])
    same = sum(a["text"] == b["text"] for a, b in zip(answers["cache"], answers["no-cache"], strict=True))
    n = len(questions)
    print(f"loop of {n} one-shot processes, {first['prompt_tokens']}-token prompts (system prompt + question), ")
    print(f"  -n {N_PREDICT}, -t {args.threads}, greedy; best of {args.rounds} round(s):")
    for name, label in (
        ("no-cache", "llamacli run --no-cache"),
        ("cache", "llamacli run (prompt cache)"),
        ("native", "llama-completion"),
        ("native-cache", "llama-completion --prompt-cache FILE"),
    ):
        print(f"  {label:<38} {best[name]:6.2f} s  ({best[name] / n * 1000:.0f} ms per run)")
    print(f"  ratio llamacli --no-cache / cache:      {best['no-cache'] / best['cache']:.2f}x (target >= 2.5x)")
    print(f"  ratio llama-completion / llamacli cache: {best['native'] / best['cache']:.2f}x (target > 1)")
    print(f"  ratio llama-completion --prompt-cache / llamacli cache: {best['native-cache'] / best['cache']:.2f}x")
    print(f"  ratio llama-completion / llamacli --no-cache: {best['native'] / best['no-cache']:.2f}x")
    restored = sorted({h["restored_prompt_tokens"] for h in hits})
    print(f"  first run saved {first['saved_prompt_tokens']} tokens; the others restored {restored}")
    print(f"  answers byte-identical with and without the cache: {same}/{n}")
    ours, native = statistics.median(singles["llamacli"]), statistics.median(singles["native"])
    print(f"single one-shot (-n {N_PREDICT}, 'Hello'), median of 5:")
    print(f"  llamacli {ours:.3f} s, llama-completion {native:.3f} s")
    print(f"  ratio llamacli / llama-completion: {ours / native:.2f}x")
    if engine:
        print(f"engine API, one process: no cache {engine['no-cache']:.2f} s, cache {engine['cache']:.2f} s")
        print(f"  ratio: {engine['no-cache'] / engine['cache']:.2f}x")


if __name__ == "__main__":
    main()
