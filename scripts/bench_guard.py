"""Benchmark what `--guard` adds to a one-shot: `llamacli run` with and without it, in the same run.

Wall time of `llamacli run smollm2:135m "Say hello" -n 16 --temperature 0` (the baseline) against the same
command with `--guard-model GUARD`, runs alternating, medians compared: the overhead in seconds and as a
share of the guarded whole. The guard is the bundled SmolLM2 itself by default (a stand-in: it costs what a
135M guard costs, reading the guard's ~330-token prompt twice, for the prompt and for the answer); pass
`--guard llama-guard3:1b` once it is downloaded for the real one. Both sides use the prompt cache as a user
would (the guard's task and categories, shared by every prompt, come from it after the first run).

Usage: .venv/bin/python scripts/bench_guard.py [--guard MODEL] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
COMMAND = ["run", "smollm2:135m", "Say hello", "-n", "16", "--temperature", "0"]


def timed(args: list[str], env: dict[str, str]) -> float:
    """Seconds one `llamacli` process takes (it must succeed)."""
    started = time.perf_counter()
    subprocess.run([str(BIN / "llamacli"), *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    """Alternate the two commands RUNS times each (after one warm-up of each) and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guard", help="the guard model (default: the bundled model's file, as a stand-in)")
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    from llamacli.services.run import bundled_model

    guard = options.guard or str(bundled_model())
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "LLAMACLI_HOME": os.environ.get("LLAMACLI_HOME", home)}
        guarded = [*COMMAND, "--guard-model", guard]
        timed(COMMAND, env), timed(guarded, env)  # warm the page cache, the self-test, the prompt cache
        plain, with_guard = [], []
        for _ in range(options.runs):
            plain.append(timed(COMMAND, env))
            with_guard.append(timed(guarded, env))
    base, total = statistics.median(plain), statistics.median(with_guard)
    overhead = total - base
    print(f"guard: {guard}")
    print(f"run without --guard  median {base:.2f} s  (min {min(plain):.2f})")
    print(f"run with --guard     median {total:.2f} s  (min {min(with_guard):.2f})")
    print(f"overhead             {overhead:.2f} s = {overhead / total:.0%} of the guarded run, {total / base:.2f}x")


if __name__ == "__main__":
    main()
