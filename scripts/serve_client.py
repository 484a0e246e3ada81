"""Generic pieces for benchmarking OpenAI-compatible HTTP servers: a free loopback port, a server
subprocess that is waited on until healthy and always killed (its whole process group, even on Ctrl-C),
and a streaming chat client (stdlib only) that times the first and the last token of an SSE answer.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"


class ServerFailed(RuntimeError):
    """The server exited or never became healthy; the message carries the end of its log."""


def free_port() -> int:
    """A port nothing listens on now (the kernel's choice), for the next server."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """A server process on PORT, ready (HEALTH answers 200) inside the `with`, gone after it.

    It runs in its own session, so stopping it stops its children too (uvicorn workers, threads), and
    a Ctrl-C in the benchmark never leaves it behind.
    """

    def __init__(self, command: Sequence[str], port: int, health: str, log: Path, env: dict[str, str]) -> None:
        self.command, self.port, self.health, self.log, self.env = list(command), port, health, log, env
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                self.command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, start_new_session=True,
            )  # fmt: skip
        try:
            self._wait_healthy(timeout=180)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _wait_healthy(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(f"exited with {self.process.returncode}: {self.tail()}")
            try:
                connection = http.client.HTTPConnection(HOST, self.port, timeout=2)
                connection.request("GET", self.health)
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass  # not listening yet
            time.sleep(0.1)
        raise ServerFailed(f"not healthy after {timeout:.0f} s: {self.tail()}")

    def tail(self, lines: int = 5) -> str:
        """The last lines of the server's log, for a one-line reason."""
        text = self.log.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def stop(self) -> None:
        """SIGTERM to the whole group, SIGKILL if it lingers; idempotent."""
        if self.process is None or self.process.poll() is not None:
            return
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(grace)
                return
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                return


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process PID so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time every process on the machine has used since boot (all cores, idle and iowait excluded)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


@dataclass
class Stream:
    """Timings of one streamed answer (perf_counter seconds) and its token count."""

    sent: float
    first: float
    last: float
    tokens: int

    @property
    def ttft(self) -> float:
        return self.first - self.sent

    @property
    def rate(self) -> float:
        """Tokens per second between the first token and the last.

        N tokens arrive after N-1 decode steps once the first is out, so N-1 intervals: the same per-token
        cost the engine's own generation_tokens_per_second measures (its N samples after the prompt).
        """
        return (self.tokens - 1) / (self.last - self.first) if self.tokens > 1 and self.last > self.first else 0.0


def stream_chat(
    port: int, body: dict[str, object], on_first: Callable[[], None] | None = None, timeout: float = 600
) -> Stream:
    """POST BODY (with stream: true) to /v1/chat/completions and time its SSE answer.

    Tokens: the server's usage.completion_tokens when it sends usage, else the chunks that carried text
    (llama.cpp's servers send one chunk per token).
    """
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    payload = json.dumps(body).encode()
    sent = time.perf_counter()
    connection.request("POST", "/v1/chat/completions", payload, {"Content-Type": "application/json"})
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {response.read(300).decode(errors='replace')}")
    first = last = 0.0
    chunks, usage = 0, None
    for raw in response:
        line = raw.strip()
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            break
        event = json.loads(data)
        if event.get("usage"):
            usage = event["usage"].get("completion_tokens")
        text = "".join((choice.get("delta") or {}).get("content") or "" for choice in event.get("choices") or [])
        if text:
            last = time.perf_counter()
            chunks += 1
            if not first:
                first = last
                if on_first is not None:
                    on_first()
    connection.close()
    return Stream(sent, first or sent, last or sent, usage if usage is not None else chunks)
