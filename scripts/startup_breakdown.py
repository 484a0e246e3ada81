"""Where the wall time of a one-shot `llamacli run` goes, as medians over fresh processes.

The parts: the interpreter's start (`python -c pass`), the imports (`-X importtime`, top-level total: the
CLI, services, engine, llama.cpp's bindings and library), the model's load (the self-test's cached
verdict, the weights, the context: `load_seconds`), the prompt, the generation, and the rest (settings,
registry, choosing the model and its fit check, exit), from the same processes' `--json` stats.

Usage: .venv/bin/python scripts/startup_breakdown.py [--runs 7] [--threads 2] [-- extra run flags]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

PYTHON = sys.executable


def wall(command: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done


def imports_seconds(stderr: str) -> float:
    """The top-level modules' cumulative import time in an `-X importtime` log."""
    total = 0
    for line in stderr.splitlines():
        parts = line.split("|")
        top_level = len(parts) == 3 and not parts[2].startswith("  ") and parts[1].strip().isdigit()
        if line.startswith("import time:") and top_level:
            total += int(parts[1])
    return total / 1e6


def main() -> None:
    """Measure and print the parts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("extra", nargs="*", help="more `run` flags, e.g. --no-cache")
    args = parser.parse_args()
    run = [PYTHON, "-m", "llamacli", "run", "smollm2:135m", "Hello", "-n", "16", "--temperature", "0"]
    run += ["-t", str(args.threads), "--json", *args.extra]
    wall([*run])  # warm-up: the self-test's verdict, the page cache
    parts: dict[str, list[float]] = {k: [] for k in ("wall", "interpreter", "imports", "load", "prompt", "generation")}
    for _ in range(args.runs):
        parts["interpreter"].append(wall([PYTHON, "-c", "pass"])[0])
        parts["wall"].append(wall(run)[0])
        _, traced = wall([PYTHON, "-X", "importtime", *run[1:]])
        stats = json.loads(traced.stdout)["stats"]
        parts["imports"].append(imports_seconds(traced.stderr))
        parts["load"].append(stats["load_seconds"])
        parts["prompt"].append(stats["prompt_seconds"])
        parts["generation"].append(stats["generation_seconds"])
    median = {k: statistics.median(v) for k, v in parts.items()}
    accounted = sum(median[k] for k in ("interpreter", "imports", "load", "prompt", "generation"))
    print(f"one-shot `llamacli run smollm2:135m Hello -n 16 -t {args.threads}`, median of {args.runs}:")
    for key in ("interpreter", "imports", "load", "prompt", "generation"):
        print(f"  {key:<12} {median[key] * 1000:7.1f} ms")
    print(
        f"  {'the rest':<12} {(median['wall'] - accounted) * 1000:7.1f} ms  (settings, registry, choice and fit, exit)"
    )
    print(f"  {'wall':<12} {median['wall'] * 1000:7.1f} ms  (imports measured under -X importtime, a little slower)")


if __name__ == "__main__":
    main()
