"""Concurrent requests on one `llamacli serve --parallel 4`: batched streams give what each gets alone, and a
client that goes away frees its slot for the next one at once."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx
import openai
import pytest

from tests.server.conftest import MODEL
from tests.support.serving import Served

pytestmark = pytest.mark.slow

PROMPTS = [
    "Name a colour.",
    "Write a haiku about the sea.",
    "What is two plus two?",
    "Give me three names for a dog.",
]


def client(served: Served) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url("/v1"), api_key="none", max_retries=0, timeout=300)


def greedy(served: Served, prompt: str, max_tokens: int = 32, **extra: object) -> openai.Stream:  # type: ignore[type-arg]
    return client(served).chat.completions.create(  # type: ignore[call-overload,no-any-return]
        model=MODEL,
        messages=[{"role": "user", "content": prompt}],
        temperature=0,
        max_tokens=max_tokens,
        stream=True,
        **extra,
    )


@dataclass
class Reader:
    """A stream read on its own thread: its text, when each piece came, and whether it ended by itself."""

    stream: openai.Stream  # type: ignore[type-arg]
    pieces: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    finished_at: float = 0.0
    hang_up: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def start(self) -> Reader:
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        try:
            for chunk in self.stream:
                if self.hang_up.is_set():
                    break
                if chunk.choices and chunk.choices[0].delta.content:
                    self.pieces.append(chunk.choices[0].delta.content)
                    self.times.append(time.monotonic())
        except BaseException as e:  # reported by the test
            self.error = e
        finally:
            self.stream.close()
            self.finished_at = time.monotonic()

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def wait(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not self.finished_at and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.finished_at, "the stream did not end"
        assert self.error is None, repr(self.error)


def active(served: Served) -> int:
    """Requests generating now, from /health."""
    models = httpx.get(served.url("/health"), timeout=10).json()["models"]
    return sum(m["active"] for m in models if m["model"] == MODEL)


def wait_until(condition: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


def test_four_concurrent_streams_each_give_what_they_give_alone(served: Served) -> None:
    alone = []
    for prompt in PROMPTS:
        reader = Reader(greedy(served, prompt)).start()
        reader.wait()
        alone.append(reader.text)
    readers = [Reader(greedy(served, prompt)).start() for prompt in PROMPTS]
    for reader in readers:
        reader.wait()
    assert [r.text for r in readers] == alone
    first_done = min(r.finished_at for r in readers)
    assert all(r.times[0] < first_done for r in readers), "the four did not generate at the same time"


def test_a_client_that_hangs_up_frees_its_slot_for_the_next_at_once(served: Served) -> None:
    wait_until(lambda: active(served) == 0)
    long = {"extra_body": {"ignore_eos": True}}
    readers = [Reader(greedy(served, prompt, max_tokens=1500, **long)).start() for prompt in PROMPTS]
    try:
        wait_until(lambda: all(len(r.pieces) >= 3 for r in readers), timeout=120)
        assert active(served) == 4
        readers[0].hang_up.set()
        wait_until(lambda: active(served) == 3, timeout=10)
        asked = time.monotonic()
        fifth = Reader(greedy(served, "Say hello.", max_tokens=8)).start()
        wait_until(lambda: fifth.pieces, timeout=60)
        ttft = fifth.times[0] - asked
        running = readers[1:]
        assert not any(r.finished_at for r in running), "the fifth waited for a stream to end"
        rates = [(len(r.pieces) - 1) / (r.times[-1] - r.times[0]) for r in running]
        remaining = min((1500 - len(r.pieces)) / rate for r, rate in zip(running, rates, strict=True))
        assert ttft < remaining / 4, f"TTFT {ttft:.2f} s against {remaining:.1f} s the others still need"
        print(f"fifth request: TTFT {ttft:.2f} s while 3 streams run ({remaining:.0f} s left of theirs)")
        fifth.wait()
    finally:
        for reader in readers:
            reader.hang_up.set()
    wait_until(lambda: active(served) == 0, timeout=10)
