"""Benchmark: a remote `llamacli run` against `llamacli serve` on loopback, beside the `openai` client.

Starts `llamacli serve MODEL`, then alternates, ROUNDS times, the same greedy request (the same tokens
every time) streamed by the official `openai` client in this process and by `llamacli run --remote URL
--json` as a subprocess. Reports time to first token and generation tok/s of each (medians), and the ratio
of the remote run's rate to the client's (target ≥ 0.95). Usage: python scripts/bench_remote.py [-n 128]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.cli import LLAMACLI
from tests.support.serving import start_serve

PROMPT = "Write a long story about a lighthouse keeper and a storm."


def openai_rate(base_url: str, model: str, tokens: int) -> tuple[float, float]:
    """(time to first token, tok/s after it) of one greedy streamed request, by the openai client."""
    from openai import OpenAI

    client = OpenAI(base_url=base_url + "/v1", api_key="none")
    started = time.perf_counter()
    first, count = None, 0
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": PROMPT}],
        stream=True,
        temperature=0,
        max_tokens=tokens,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            first = first or time.perf_counter()
        if chunk.usage:
            count = chunk.usage.completion_tokens
    end = time.perf_counter()
    assert first is not None
    return first - started, count / (end - first)


def remote_rate(base_url: str, model: str, tokens: int) -> tuple[float, float, float]:
    """(time to first token, tok/s, whole process seconds) of `llamacli run --remote ... --json`."""
    started = time.perf_counter()
    out = subprocess.run(
        [LLAMACLI, "run", "--remote", base_url, "-m", model, PROMPT, "--temperature", "0", "-n", str(tokens), "--json"],
        capture_output=True,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - started
    stats = json.loads(out.stdout)["stats"]
    return stats["time_to_first_token"], stats["generation_tokens_per_second"], wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2:135m")
    parser.add_argument("-n", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    server = start_serve(args.model)
    try:
        openai_rate(server.base_url, args.model, 8)  # warm: the prompt's slot and the page cache
        ours, theirs = [], []
        for _ in range(args.rounds):
            theirs.append(openai_rate(server.base_url, args.model, args.n))
            ours.append(remote_rate(server.base_url, args.model, args.n))
    finally:
        server.stop()
    c_ttft, c_rate = statistics.median(t for t, _ in theirs), statistics.median(r for _, r in theirs)
    r_ttft, r_rate = statistics.median(t for t, _, _ in ours), statistics.median(r for _, r, _ in ours)
    wall = statistics.median(w for _, _, w in ours)
    print(f"{args.model}, {args.n} tokens, median of {args.rounds} rounds, llamacli serve on loopback")
    print(f"openai client      : first token {c_ttft * 1000:6.1f} ms, {c_rate:6.1f} tok/s")
    print(f"llamacli run remote: first token {r_ttft * 1000:6.1f} ms, {r_rate:6.1f} tok/s (process {wall:.2f} s)")
    print(f"ratio (remote run / openai client tok/s): {r_rate / c_rate:.3f} (target >= 0.95)")


if __name__ == "__main__":
    main()
