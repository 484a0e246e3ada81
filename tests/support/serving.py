"""A real `llamacli serve` process on an ephemeral loopback port, for the server's tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from tests.support.cli import LLAMACLI

LISTENING = re.compile(r"listening on (http://\S+)")


class Served:
    """A running `llamacli serve`: its base URL, and every line it wrote on stderr (read in a thread)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self.base_url = ""
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))
            if not self.base_url and (found := LISTENING.search(line)):
                self.base_url = found.group(1)
                self._ready.set()
        self._ready.set()  # it ended: whoever waits learns it from the return code

    def wait_ready(self, timeout: float) -> None:
        """Block until it listens; AssertionError (with its stderr) if it exited or took too long."""
        if not self._ready.wait(timeout) or not self.base_url:
            self.stop()
            raise AssertionError("llamacli serve did not start:\n" + "\n".join(self.lines))

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def url(self, path: str) -> str:
        return self.base_url + path

    def log_since(self, start: int) -> list[str]:
        """The stderr lines written after the first START ones."""
        return self.lines[start:]

    def wait_for_line(self, pattern: str, start: int = 0, timeout: float = 30) -> str:
        """The first stderr line from START on matching PATTERN (a regex), waiting up to TIMEOUT."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[start:]:
                if re.search(pattern, line):
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines[start:]))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send SIG and wait for the exit code (killed after TIMEOUT)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(5)
        return self.process.returncode


def start_serve(
    *args: str, env: Mapping[str, str] | None = None, home: Path | None = None, timeout: float = 180
) -> Served:
    """Start `llamacli serve --port 0 ARGS` and wait until it listens (the named models loaded)."""
    environment = {**os.environ, **(env or {})}
    if home is not None:
        environment |= {"LLAMACLI_HOME": str(home / "llamacli-home"), "HF_HOME": str(home / "hf-home")}
    process = subprocess.Popen(
        [LLAMACLI, "serve", "--port", "0", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    served = Served(process)
    served.wait_ready(timeout)
    return served
