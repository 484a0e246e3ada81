"""Benchmark `llamacli chat`, printed as ratios against baselines measured in the same run.

1. KV-cache reuse between turns: a 10-turn conversation through the chat service (real model, real
   history database), each answer exactly 32 tokens (greedy, end of turn banned). Turn 1 vs turn 10:
   prompt tokens, tokens actually evaluated, prompt time and whole-turn time; and turn 10 again with
   the cache cleared first (what a chat that re-reads the history every turn would pay).
2. Rendering overhead: generation speed of the same prompt shown by `llamacli chat` on a real pty
   (streaming Markdown) vs `llamacli run --json` (no rendering), same model, settings and tokens;
   alternated, median of 3 each. Target: chat / run >= 0.95.
3. The same overhead measured inside one process, which a busy machine disturbs less: the time spent
   in the Markdown renderer as a share of the generation time of the same answer (ratio = 1 - share).

Usage: .venv/bin/python scripts/bench_chat.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect

from llamacli.engine import Finished, GenerationParams, LoadParams, Model
from llamacli.history.database import History
from llamacli.models import registry
from llamacli.models.locate import LocalModel, package_file
from llamacli.services.chat import ChatSession
from llamacli.services.chat_commands import Command

BIN = Path(sys.executable).parent
TURNS = 10
MARKDOWN_PROMPT = "Write a Markdown guide to Python lists with a table and two code blocks."
N_RENDER = 256


def kv_reuse(path: Path) -> None:
    load = LoadParams(n_ctx=4096)
    params = GenerationParams(temperature=0, max_tokens=32, ignore_eos=True)
    local = LocalModel("smollm2:135m", path)
    with tempfile.TemporaryDirectory() as home, History(Path(home) / "history.db") as history:
        session = ChatSession(Model(path, load), local, params, history, lambda r: (local, Model(path, load)))
        rows = []
        for turn in range(1, TURNS + 1):
            started = time.perf_counter()
            events = list(session.say(f"Tell me one fact about the number {turn}."))
            done = next(e for e in events if isinstance(e, Finished))
            rows.append((turn, done.stats, time.perf_counter() - started))
        # turn 10 once more, from an empty cache: retry it after a reset
        session.model.reset()
        started = time.perf_counter()
        reply = session.run(Command("retry"))
        assert reply.answer is not None
        events = list(reply.answer)  # consumed to the end, so the answer is recorded
        cold = next(e for e in events if isinstance(e, Finished)).stats
        cold_wall = time.perf_counter() - started
        session.close()
    print("1. KV-cache reuse across turns (answers of 32 tokens)")
    print(f"   {'turn':>4} {'prompt tok':>10} {'evaluated':>9} {'prompt s':>9} {'turn s':>7}")
    for turn, stats, wall in rows:
        if turn in (1, 2, 5, TURNS):
            evaluated = stats.prompt_tokens - stats.cached_prompt_tokens
            print(f"   {turn:>4} {stats.prompt_tokens:>10} {evaluated:>9} {stats.prompt_seconds:>9.3f} {wall:>7.3f}")
    evaluated = cold.prompt_tokens - cold.cached_prompt_tokens
    print(
        f"   {'10*':>4} {cold.prompt_tokens:>10} {evaluated:>9} {cold.prompt_seconds:>9.3f} {cold_wall:>7.3f}"
        "   (* turn 10 with the cache cleared)"
    )
    first, last = rows[0], rows[-1]
    print(
        f"   turn 10 / turn 1 whole-turn time: {last[2] / first[2]:.2f}x; "
        f"prompt time {last[1].prompt_seconds / first[1].prompt_seconds:.2f}x "
        f"(prompt grew {last[1].prompt_tokens / first[1].prompt_tokens:.1f}x)"
    )
    print(f"   turn 10 prompt time without reuse / with reuse: {cold.prompt_seconds / last[1].prompt_seconds:.1f}x")


def chat_speed(home: str) -> float:
    env = {**os.environ, "LLAMACLI_HOME": home, "TERM": "xterm-256color", "PROMPT_TOOLKIT_NO_CPR": "1"}
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(
        str(BIN / "llamacli"),
        ["chat", "--temperature", "0", "-n", str(N_RENDER)],
        env=env,
        dimensions=(40, 120),
        timeout=600,
    )
    child.expect_exact(">>>")
    child.send(MARKDOWN_PROMPT + "\r")
    child.expect(r"tok/s")
    child.expect_exact(">>>")
    child.send("/bye\r")
    child.expect(pexpect.EOF)
    with History(Path(home) / "history.db") as history:
        latest = history.latest()
        assert latest is not None and latest.messages[-1].stats
        return float(latest.messages[-1].stats["generation_tokens_per_second"])


def run_speed() -> float:
    result = subprocess.run(
        [str(BIN / "llamacli"), "run", "--json", "--temperature", "0", "-n", str(N_RENDER), MARKDOWN_PROMPT],
        capture_output=True,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return float(json.loads(result.stdout)["stats"]["generation_tokens_per_second"])


def rendering_overhead() -> None:
    chat, run = [], []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as home:
            chat.append(chat_speed(home))
        run.append(run_speed())
    c, r = statistics.median(chat), statistics.median(run)
    print(f"2. Rendering overhead ({N_RENDER} tokens of Markdown, median of 3)")
    print(f"   chat on a pty: {c:.1f} tok/s   run --json: {r:.1f} tok/s   ratio {c / r:.3f} (target >= 0.95)")


def render_share(path: Path) -> None:
    import io

    from llamacli.cli.render import MarkdownStream
    from llamacli.engine import TextDelta
    from llamacli.engine.chat_template import Message

    os.environ.update(COLUMNS="120", LINES="40")
    params = GenerationParams(temperature=0, max_tokens=N_RENDER)
    shares = []
    with Model(path, LoadParams(n_ctx=4096)) as model:
        for _ in range(3):
            model.reset()
            renderer = MarkdownStream(io.StringIO(), color_system="256", no_color=False)
            spent = 0.0
            for event in model.stream([Message("user", MARKDOWN_PROMPT)], params):
                if isinstance(event, TextDelta):
                    started = time.perf_counter()
                    renderer.feed(event.text)
                    spent += time.perf_counter() - started
                elif isinstance(event, Finished):
                    shares.append(spent / event.stats.generation_seconds)
    share = statistics.median(shares)
    print(f"3. Renderer time / generation time, in process (median of 3): {share:.1%} -> ratio {1 - share:.3f}")


def main() -> None:
    path = package_file(registry.load({}).get("smollm2:135m"))
    kv_reuse(path)
    rendering_overhead()
    render_share(path)


if __name__ == "__main__":
    main()
