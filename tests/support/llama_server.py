"""llama.cpp's own `llama-server`, as a real peer for the remote engine's tests.

The binary is built by scripts/native_tools.sh from the same llama-cpp-python source package llamacli runs
on (cached; ~5 minutes on 2 cores the first time, which scripts/test.sh pays before pytest so CI's log
shows it). A build that fails fails the test run with the build log's tail: slow tests are never skipped.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.cli import REPO

BUILD_SECONDS = 1800  # a build from scratch on a busy 2-core machine
READY_SECONDS = 120  # the model is small, but the cores are shared
CONTEXT = 2048
ALIAS = "smollm2:135m"  # the id it serves (/v1/models), so `-m` names the model as a local run does


def llama_server_binary() -> Path:
    """The llama-server binary, built (or found in the cache) by scripts/native_tools.sh."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "native_tools.sh"), "llama-server"],
        capture_output=True,
        text=True,
        env=env,  # the venv's bin first: a cmake installed there by scripts/test.sh
        timeout=BUILD_SECONDS,
        check=False,
    )
    binary = Path(result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "") / "llama-server"
    if result.returncode != 0 or not binary.is_file():
        tail = "\n".join(result.stderr.splitlines()[-30:])
        raise AssertionError(f"scripts/native_tools.sh llama-server failed (exit {result.returncode}):\n{tail}")
    return binary


def free_port() -> int:
    """A loopback port nobody listens on now (llama-server cannot be asked for an ephemeral one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaServer:
    """A running `llama-server -m MODEL` on a loopback port, its log in LOG."""

    def __init__(self, binary: Path, model: Path, log: Path, threads: int = 2) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = log
        args = ["-m", str(model), "--alias", ALIAS, "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["-c", str(CONTEXT), "-t", str(threads), "-np", "1"]
        with log.open("wb") as out:
            self.process = subprocess.Popen([str(binary), *args], stdin=subprocess.DEVNULL, stdout=out, stderr=out)

    def wait_ready(self, timeout: float = READY_SECONDS) -> None:
        """Block until /health answers 200; AssertionError with the log's tail if it exited or took too long."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass  # not listening yet, or 503 while the model loads
            time.sleep(0.2)
        code = self.process.poll()
        self.stop()
        tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
        state = f"exited with {code}" if code is not None else f"not healthy after {timeout:.0f} s"
        raise AssertionError(f"llama-server {state}:\n{tail}")

    def stop(self, timeout: float = 30) -> None:
        """Terminate it (killed after TIMEOUT)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_llama_server(model: Path, log: Path, attempts: int = 3) -> LlamaServer:
    """A healthy llama-server for MODEL; a port taken between finding it and binding it is tried again."""
    binary = llama_server_binary()
    for attempt in range(1, attempts + 1):
        server = LlamaServer(binary, model, log)
        try:
            server.wait_ready()
            return server
        except AssertionError:
            if attempt == attempts or "bind" not in log.read_text(errors="replace"):
                raise
    raise AssertionError("unreachable")  # pragma: no cover
