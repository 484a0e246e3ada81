"""Ctrl-C and SIGTERM mid-stream: the server tells running requests it is stopping, exits 0, no traceback."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import MODEL
from tests.support.serving import start_serve

pytestmark = pytest.mark.slow

OFFLINE = {"HF_HUB_OFFLINE": "1", "LLAMACLI_MODEL": "", "LLAMACLI_API_KEY": ""}
HANG_GUARD = 8.0  # seconds; the server aims at 5 (a 3 s drain, then it ends what runs), this only catches hangs


class StreamReader(threading.Thread):
    """A long answer (streamed or whole) read line by line, with how it ended."""

    def __init__(self, url: str, stream: bool = True) -> None:
        super().__init__(daemon=True)
        self.url, self.stream = url, stream
        self.lines: list[str] = []
        self.status = 0
        self.error: Exception | None = None

    def run(self) -> None:
        body = {
            "model": MODEL,
            "messages": [{"role": "user", "content": "Tell me a long story."}],
            "max_tokens": 1500,
            "ignore_eos": True,
            "stream": self.stream,
        }
        try:
            with httpx.stream("POST", self.url, json=body, timeout=60) as response:
                self.status = response.status_code
                self.lines.extend(line for line in response.iter_lines() if line)
        except httpx.HTTPError as e:
            self.error = e

    def content_chunks(self) -> int:
        return sum('"content": "' in line and '"content": ""' not in line for line in self.lines)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_stream_ends_the_stream_and_exits_0(tmp_path: Path, sig: signal.Signals) -> None:
    server = start_serve(MODEL, "--parallel", "2", env=OFFLINE, home=tmp_path)
    reader = StreamReader(server.url("/v1/chat/completions"))
    whole = StreamReader(server.url("/v1/chat/completions"), stream=False)
    reader.start()
    whole.start()
    deadline = time.monotonic() + 120
    while reader.content_chunks() < 3 and time.monotonic() < deadline and reader.is_alive():
        time.sleep(0.05)
    assert reader.content_chunks() >= 3, reader.lines
    signalled = time.monotonic()
    code = server.stop(sig, timeout=30)
    took = time.monotonic() - signalled
    reader.join(10)
    whole.join(10)
    print(f"{sig.name}: exit {code} after {took:.2f} s; the stream ended with {reader.lines[-2:]}")
    assert code == 0, server.lines
    assert took < HANG_GUARD
    assert not reader.is_alive() and reader.error is None, reader.error
    assert reader.lines[-1] == "data: [DONE]" and "the server is shutting down" in reader.lines[-2], reader.lines[-2:]
    assert whole.error is None and whole.status == 500 and "the server is shutting down" in whole.lines[0]
    assert not any("Traceback" in line for line in server.lines), server.lines
    assert len([line for line in server.lines if line.startswith("POST /v1/chat/completions ")]) == 2, server.lines
