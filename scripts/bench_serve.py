"""Benchmark `llamacli serve` against its peers, printed as ratios measured in the same run.

Same model (the bundled SmolLM2), same threads, greedy, 128 generated tokens per request (`ignore_eos`
sent to every server; a server that ignores it and stops early is counted by the tokens it sent), the
same prompt (each request tagged with its number, so no server answers a repeat from a cached prompt):
1. one streaming client against `llamacli serve`: tok/s from its first token to its last, against
   `llamacli run --json` (stats.generation_tokens_per_second) alternated with it; target >= 0.95;
2. aggregate tok/s of 4 concurrent streaming clients against 1 client (all tokens / from sending to the
   last token), for `llamacli serve --parallel 4` and for llama.cpp's `llama-server -np 4 -c 4*ctx`
   (built by `scripts/native_tools.sh llama-server`); targets: ours 4/1 >= 1.2, ours/theirs >= 1.0;
3. time to first token of a request sent while 3 others stream, against the same request on the idle
   server, p50 and p95 over rounds (ours and llama-server's); target <= 2x;
4. the same 4-client load against llama-cpp-python's own server (`python -m llama_cpp.server`, needs
   its [server] extras): aggregate tok/s, its 4/1, and ours/its.
A peer that cannot start is reported as "skipped: why". Servers are killed at the end, even on Ctrl-C.

Usage: .venv/bin/python scripts/bench_serve.py [--quick] [--peers llamacli llama-server llama-cpp-python]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from itertools import count
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_client import HOST, Server, ServerFailed, Stream, cpu_seconds, free_port, machine_busy_seconds, stream_chat

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODEL = "smollm2"
PROMPT = "Write a long story about a lighthouse keeper and a storm."
EXTRAS = ("fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings")
TAGS = count(1)


@dataclass
class Peer:
    """A server to measure: how to start it on a port, where it says it is ready."""

    name: str
    command: Callable[[int], list[str]]
    health: str
    ttft: bool
    skipped: str | None = None


@dataclass
class Result:
    """What one peer measured; empty when it was skipped."""

    single: list[Stream] = field(default_factory=list)
    single_wall: list[float] = field(default_factory=list)
    quad_wall: list[float] = field(default_factory=list)
    quad_tokens: set[int] = field(default_factory=set)
    runs: list[float] = field(default_factory=list)
    idle: list[float] = field(default_factory=list)
    loaded: list[float] = field(default_factory=list)


def body(tokens: int) -> dict[str, object]:
    """One greedy streaming request, its prompt tagged so no two are the same."""
    return {
        "model": MODEL, "messages": [{"role": "user", "content": f"({next(TAGS)}) {PROMPT}"}],
        "stream": True, "stream_options": {"include_usage": True},
        "max_tokens": tokens, "temperature": 0, "ignore_eos": True,
    }  # fmt: skip


def wall_rate(streams: list[Stream]) -> float:
    """All the clients' tokens over the time from the first request sent to the last token received."""
    return sum(s.tokens for s in streams) / (max(s.last for s in streams) - min(s.sent for s in streams))


def together(calls: list[Callable[[], Stream]]) -> list[Stream]:
    """Run CALLS in threads and wait for all; on Ctrl-C return at once (the server's death ends them)."""
    pool = ThreadPoolExecutor(len(calls))
    try:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def clients(port: int, n: int, tokens: int) -> list[Stream]:
    """N streaming clients started together."""
    barrier = threading.Barrier(n)

    def one(request: dict[str, object]) -> Callable[[], Stream]:
        def call() -> Stream:
            barrier.wait()
            return stream_chat(port, request)

        return call

    return together([one(body(tokens)) for _ in range(n)])


def ttft_loaded(port: int, tokens: int) -> float:
    """TTFT of a short request sent once 3 others are streaming (they run on to their end)."""
    started = [threading.Event() for _ in range(3)]
    requests = [body(tokens) for _ in started]

    def background(request: dict[str, object], event: threading.Event) -> Callable[[], Stream]:
        return lambda: stream_chat(port, request, event.set)

    def probe() -> Stream:
        for event in started:
            if not event.wait(300):
                raise RuntimeError("a background stream never started")
        return stream_chat(port, body(8))

    return together([*(background(r, e) for r, e in zip(requests, started, strict=True)), probe])[-1].ttft


def llamacli_run(args: argparse.Namespace, env: dict[str, str]) -> float:
    """Generation tok/s of one `llamacli run --json` process on the same prompt."""
    text = f"({next(TAGS)}) {PROMPT}"
    command = [str(BIN / "llamacli"), "run", MODEL, text, "--json", "-n", str(args.tokens), "--temperature", "0"]
    command += ["-t", str(args.threads), "-c", str(args.ctx)]
    done = subprocess.run(command, capture_output=True, check=True, env=env, stdin=subprocess.DEVNULL)
    return float(json.loads(done.stdout)["stats"]["generation_tokens_per_second"])


def measure_round(peer: Peer, port: int, args: argparse.Namespace, env: dict[str, str], result: Result) -> None:
    """One round of throughput on PEER: 1 client (and `llamacli run` after ours), then 4 clients."""
    single = clients(port, 1, args.tokens)
    result.single += single
    result.single_wall.append(wall_rate(single))
    if peer.name == "llamacli":
        result.runs.append(llamacli_run(args, env))
    quad = clients(port, 4, args.tokens)
    result.quad_wall.append(wall_rate(quad))
    result.quad_tokens |= {s.tokens for s in quad}


def measure_ttft(port: int, args: argparse.Namespace, result: Result) -> None:
    """One TTFT round: the short request on the idle server, then while 3 others stream."""
    result.idle.append(stream_chat(port, body(8)).ttft)
    result.loaded.append(ttft_loaded(port, args.tokens))


def measure(
    live: list[tuple[Peer, int]], results: dict[str, Result | str], args: argparse.Namespace, env: dict[str, str]
) -> None:
    """Every measurement, round-robin over the running servers: drift in machine load hits all alike.

    The others sit idle meanwhile (blocked threads, no spinning). A server that fails is dropped.
    """
    steps: list[tuple[str, Callable[[Result], None]]] = []
    for _ in range(args.rounds):
        steps += [(peer.name, partial(measure_round, peer, port, args, env)) for peer, port in live]
    for _ in range(args.ttft_rounds):
        steps += [(peer.name, partial(measure_ttft, port, args)) for peer, port in live if peer.ttft]
    for name, step in steps:
        result = results[name]
        if isinstance(result, Result):
            try:
                step(result)
            except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
                results[name] = f"failed: {error}"


def own_cpu_seconds(pids: list[int]) -> float:
    """CPU seconds of this benchmark: itself, its finished children (`llamacli run`) and its servers."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime + sum(map(cpu_seconds, pids))


def start(peer: Peer, servers: ExitStack, env: dict[str, str], work: Path, pids: list[int]) -> int | str:
    """PEER's port once it is up and warmed up (SERVERS stops it; PIDS gets its pid), or why it failed."""
    port = free_port()
    print(f"starting {peer.name}...", file=sys.stderr)
    try:
        server = servers.enter_context(Server(peer.command(port), port, peer.health, work / f"{peer.name}.log", env))
        assert server.process is not None
        pids.append(server.process.pid)
        stream_chat(port, body(8))  # warm-up: page cache, first-request paths
    except (ServerFailed, RuntimeError, OSError) as error:
        return f"failed: {error}"
    return port


def native_server() -> tuple[Path | None, str | None]:
    """llama-server built from the same llama.cpp as llamacli's (once, minutes), or why not."""
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "native_tools.sh"), "llama-server"], capture_output=True, text=True
    )
    if out.returncode != 0:
        return None, "scripts/native_tools.sh llama-server failed: " + " | ".join(out.stderr.splitlines()[-2:])
    return Path(out.stdout.strip().splitlines()[-1]) / "llama-server", None


def peers(args: argparse.Namespace, model: Path) -> list[Peer]:
    """The servers to compare, each with the reason it is skipped if it cannot run here."""
    t, ctx = str(args.threads), str(args.ctx)
    ours = Peer(
        "llamacli", lambda p: [str(BIN / "llamacli"), "serve", MODEL, "--host", HOST, "--port", str(p),
                               "--parallel", "4", "--ctx", ctx, "--threads", t], "/health", ttft=True,
    )  # fmt: skip
    help_ = subprocess.run([str(BIN / "llamacli"), "serve", "--help"], capture_output=True)
    if help_.returncode != 0:
        ours.skipped = "this llamacli has no serve command"
    binary, why = native_server() if "llama-server" in args.peers else (None, None)
    native = Peer(
        "llama-server", lambda p: [str(binary), "-m", str(model), "-a", MODEL, "--host", HOST, "--port", str(p),
                                   "-np", "4", "-c", str(4 * args.ctx), "-t", t, "-tb", t], "/health", ttft=True,
        skipped=why,
    )  # fmt: skip
    python = Peer(
        "llama-cpp-python", lambda p: [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
                                       "--model_alias", MODEL, "--host", HOST, "--port", str(p), "--n_ctx", ctx,
                                       "--n_threads", t, "--n_threads_batch", t, "--interrupt_requests", "false"],
        "/v1/models", ttft=False,
    )  # fmt: skip
    missing = [name for name in EXTRAS if importlib.util.find_spec(name) is None]
    if missing:
        python.skipped = f"llama-cpp-python[server] extras missing: {', '.join(missing)}"
    return [peer for peer in (ours, native, python) if peer.name in args.peers]


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def p95(values: list[float]) -> float | None:
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def ms(value: float | None) -> str:
    return f"{value * 1000:7.0f} ms" if value is not None else "    n/a"


def report(args: argparse.Namespace, results: dict[str, Result | str], others: float) -> None:
    """Print each peer's numbers, then the ratios the targets are about."""
    print(f"other processes used {others:.2f} of this machine's {os.cpu_count()} cores meanwhile (quiet: ~0)")
    print(f"model {MODEL}, -t {args.threads}, ctx {args.ctx} per slot, {args.tokens} tokens per request, greedy,")
    print(f"medians of {args.rounds} round(s); wall tok/s = all tokens / (first request sent .. last token)")
    print(f"{'server':<18} {'1 client tok/s':>15} {'1 client wall':>14} {'4 clients wall':>15} {'4/1':>6}")
    one: dict[str, float | None] = {}
    four: dict[str, float | None] = {}
    for name, result in results.items():
        if isinstance(result, str):
            print(f"{name:<18} skipped: {result}")
            one[name] = four[name] = None
            continue
        rate = median([s.rate for s in result.single])
        one[name], four[name] = median(result.single_wall), median(result.quad_wall)
        tokens = sorted({s.tokens for s in result.single} | result.quad_tokens)
        print(f"{name:<18} {rate or 0:>13.1f}/s {one[name] or 0:>12.1f}/s {four[name] or 0:>13.1f}/s "
              f"{ratio(four[name], one[name]):>6}   tokens per answer {tokens}")  # fmt: skip
    ours = results.get("llamacli")
    if isinstance(ours, Result):
        serve, run = median([s.rate for s in ours.single]), median(ours.runs)
        print(f"1. llamacli serve, 1 client {serve or 0:.1f} tok/s vs llamacli run --json {run or 0:.1f} tok/s:")
        print(f"   ratio {ratio(serve, run)} (target >= 0.95)")
    print(f"2. 4 clients / 1: llamacli serve {ratio(four.get('llamacli'), one.get('llamacli'))} (target >= 1.2), "
          f"llama-server {ratio(four.get('llama-server'), one.get('llama-server'))}")  # fmt: skip
    print(f"   ours / llama-server at 4 clients: {ratio(four.get('llamacli'), four.get('llama-server'))}"
          f" (target >= 1.0), at 1 client: {ratio(one.get('llamacli'), one.get('llama-server'))}")  # fmt: skip
    print("3. TTFT of a request arriving while 3 stream vs on the idle server (p50 / p95):")
    for name, result in results.items():
        if isinstance(result, Result) and result.idle:
            idle, loaded = result.idle, result.loaded
            print(f"   {name:<16} idle {ms(median(idle))} / {ms(p95(idle))}   loaded {ms(median(loaded))} / "
                  f"{ms(p95(loaded))}   ratio {ratio(median(loaded), median(idle))} / "
                  f"{ratio(p95(loaded), p95(idle))} (target <= 2x)")  # fmt: skip
    theirs = ratio(four.get("llama-cpp-python"), one.get("llama-cpp-python"))
    print(f"4. llama-cpp-python server 4 clients / 1: {theirs}; "
          f"ours / its at 4 clients: {ratio(four.get('llamacli'), four.get('llama-cpp-python'))}")  # fmt: skip


def main() -> None:
    """Parse the options and run; Ctrl-C stops quietly."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round, 3 TTFT rounds: a smoke run")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds per server")
    parser.add_argument("--ttft-rounds", type=int, default=10)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=2048, help="context per slot (llama-server gets 4x for -np 4)")
    parser.add_argument("--peers", nargs="+", default=["llamacli", "llama-server", "llama-cpp-python"])
    args = parser.parse_args()
    try:
        run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)  # the servers are already stopped: each `with` unwound
        sys.exit(130)


def run(args: argparse.Namespace) -> None:
    """Start every server, measure them round-robin, print the numbers."""
    if args.quick:
        args.rounds, args.ttft_rounds = 1, 3
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind the `with`, so the servers die too
    from llamacli.services.run import bundled_model

    model = bundled_model()
    if model is None:
        sys.exit("the bundled model's package is not installed (scripts/install.sh installs it)")
    results: dict[str, Result | str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as directory:
        work = Path(directory)
        env = {**os.environ, "LLAMACLI_HOME": str(work / "home"), "HF_HUB_OFFLINE": "1"}
        warm = [str(BIN / "llamacli"), "run", MODEL, "Hi", "-n", "4"]
        subprocess.run(warm, env=env, capture_output=True)  # the self-test's verdict, cached in this home
        with ExitStack() as servers:
            live: list[tuple[Peer, int]] = []
            pids: list[int] = []
            for peer in peers(args, model):
                started = peer.skipped or start(peer, servers, env, work, pids)
                results[peer.name] = Result() if isinstance(started, int) else started
                if isinstance(started, int):
                    live.append((peer, started))
            before = (time.perf_counter(), machine_busy_seconds(), own_cpu_seconds(pids))
            measure(live, results, args, env)
            others = (machine_busy_seconds() - before[1] - (own_cpu_seconds(pids) - before[2])) / (
                time.perf_counter() - before[0]
            )
    report(args, results, others)


if __name__ == "__main__":
    main()
