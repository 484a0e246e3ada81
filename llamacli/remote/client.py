"""Streaming chat completions from an OpenAI-compatible server, as the engine's own events.

`stream_chat` posts /v1/chat/completions with `stream: true` and yields `TextDelta`s as the chunks come,
then one `Finished` whose `Stats` come from the server's `usage` (and llama.cpp's `timings`) when it sends
them, measured here otherwise. Busy answers (429, 503) are retried a bounded number of times, honouring
Retry-After; every other failure is one of our errors. Closing the iterator (Ctrl-C) closes the stream.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from llamacli.engine.chat_template import Message
from llamacli.engine.events import Event, Finished, FinishReason, Stats, TextDelta
from llamacli.engine.params import RANDOM_SEED, GenerationParams
from llamacli.errors import RemoteBusy, RemoteFailed, RemoteGarbled, RemoteStreamCut
from llamacli.remote import sse
from llamacli.remote.endpoint import Endpoint, error_message, status_error, transport_error

BUSY = (429, 503)


@dataclass(frozen=True)
class Retry:
    """How busy answers are retried: at most TRIES requests, never waiting more than MAX_WAIT seconds at once."""

    tries: int = 3
    max_wait: float = 30.0
    sleep: Callable[[float], None] = time.sleep


def body(model: str, messages: Sequence[Message], params: GenerationParams, extras: dict[str, Any]) -> dict[str, Any]:
    """The request: OpenAI's fields for PARAMS, and the EXTRAS this kind of server takes (top_k ...)."""
    out: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": params.temperature,
        "top_p": params.top_p,
    }
    if params.seed is not None and params.seed != RANDOM_SEED:
        out["seed"] = params.seed
    if params.max_tokens is not None:
        out["max_tokens"] = params.max_tokens
    if params.stop:
        out["stop"] = list(params.stop)
    return out | extras


def stream_chat(endpoint: Endpoint, model: str, request: dict[str, Any], retry: Retry = Retry()) -> Iterator[Event]:
    """The events of REQUEST's answer (see the module's docstring)."""
    started = time.perf_counter()
    with endpoint.client() as client:
        response = _open(client, endpoint, model, request, retry)
        try:
            yield from _Reader(endpoint, started).events(response)
        finally:
            response.close()


def _open(
    client: httpx.Client, endpoint: Endpoint, model: str, request: dict[str, Any], retry: Retry
) -> httpx.Response:
    """The 200 response to REQUEST, its body not read yet; busy answers retried as RETRY allows."""
    for attempt in range(1, retry.tries + 1):
        try:
            response = client.send(
                client.build_request("POST", endpoint.api + "/chat/completions", json=request), stream=True
            )
        except httpx.TransportError as e:
            raise transport_error(endpoint, e) from e
        if response.status_code == 200:
            return response
        _read_error_body(response)
        if response.status_code not in BUSY:
            raise status_error(endpoint, response, model)
        wait = retry_after(response.headers.get("Retry-After"))
        if attempt == retry.tries or (wait or 0) > retry.max_wait:
            raise RemoteBusy(endpoint.root, response.status_code, attempt, wait)
        retry.sleep(wait if wait is not None else float(attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def _read_error_body(response: httpx.Response) -> None:
    try:
        response.read()
    except httpx.HTTPError:
        pass  # the status says enough
    finally:
        response.close()


def retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (it is a number of seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _Reader:
    """Chunks to events, keeping what the stats need."""

    def __init__(self, endpoint: Endpoint, started: float) -> None:
        self.endpoint = endpoint
        self.started = started
        self.first: float | None = None
        self.received = 0  # characters of answer
        self.deltas = 0
        self.reason: str | None = None
        self.usage: dict[str, Any] = {}
        self.timings: dict[str, Any] = {}

    def events(self, response: httpx.Response) -> Iterator[Event]:
        """The answer's events from RESPONSE (an SSE stream, or one JSON body from a server that ignores stream)."""
        if response.headers.get("content-type", "").startswith("application/json"):
            yield from self._whole(response)
            return
        done = False
        try:
            for message in sse.messages(response.iter_lines()):
                if message.event == "error":
                    raise RemoteFailed(self.endpoint.root, None, message.data.strip()[:200])
                if message.data.strip() == "[DONE]":
                    done = True
                    break
                yield from self._chunk(self._json(message.data, "malformed JSON in its stream"))
        except sse.NotSSE as e:
            raise RemoteGarbled(self.endpoint.root, "a stream that is not server-sent events", e.line[:80]) from e
        except httpx.TransportError as e:
            raise RemoteStreamCut(self.endpoint.root, self.received, str(e) or type(e).__name__) from e
        if self.reason is None and not done:
            raise RemoteStreamCut(self.endpoint.root, self.received, "the stream ended before the answer finished")
        yield Finished(_reason(self.reason), self.stats())

    def _whole(self, response: httpx.Response) -> Iterator[Event]:
        chunk = self._json(response.read().decode("utf-8", "replace"), "malformed JSON")
        for choice in chunk.get("choices") or []:
            choice["delta"] = choice.get("message") or {}
        yield from self._chunk(chunk)
        yield Finished(_reason(self.reason), self.stats())

    def _json(self, data: str, what: str) -> dict[str, Any]:
        try:
            chunk = json.loads(data)
        except ValueError as e:
            raise RemoteGarbled(self.endpoint.root, what, data[:80]) from e
        if not isinstance(chunk, dict):
            raise RemoteGarbled(self.endpoint.root, what, data[:80])
        if "error" in chunk:
            raise RemoteFailed(self.endpoint.root, None, _error_text(chunk["error"]))
        return chunk

    def _chunk(self, chunk: dict[str, Any]) -> Iterator[Event]:
        self.usage = chunk.get("usage") or self.usage
        self.timings = chunk.get("timings") or self.timings
        choices = chunk.get("choices") or []
        if not isinstance(choices, list):
            raise RemoteGarbled(self.endpoint.root, "a chunk whose choices are not a list", str(chunk)[:80])
        for choice in choices:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            text = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(text, str) and text:
                self.first = self.first or time.perf_counter()
                self.received += len(text)
                self.deltas += 1
                yield TextDelta(text)
            if isinstance(choice, dict) and choice.get("finish_reason"):
                self.reason = str(choice["finish_reason"])

    def stats(self) -> Stats:
        """From the server's usage and timings where it gave them, else measured here."""
        now = time.perf_counter()
        first = self.first or now
        usage, timings = self.usage, self.timings
        details = usage.get("prompt_tokens_details") or {}
        cached = int(details.get("cached_tokens") or timings.get("cache_n") or 0)
        prompt = int(usage.get("prompt_tokens") or (timings.get("prompt_n", 0) + timings.get("cache_n", 0)))
        generated = int(usage.get("completion_tokens") or timings.get("predicted_n") or self.deltas)
        prompt_seconds = timings["prompt_ms"] / 1000 if "prompt_ms" in timings else first - self.started
        # llama.cpp's clock starts at the first token (it comes from the prompt's logits): with one token,
        # predicted_ms is its 1 µs floor, not a time, and Stats gives no rate for one token.
        generation_seconds = timings["predicted_ms"] / 1000 if "predicted_ms" in timings else now - first
        return Stats(prompt, cached, generated, prompt_seconds, generation_seconds, first - self.started, 0.0)


def _reason(reason: str | None) -> FinishReason:
    """OpenAI's finish_reason as ours: `length` is length, anything else (stop, eos, tool_calls) a stop."""
    return "length" if reason == "length" else "stop"


def _error_text(error: object) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)[:200]
    return str(error)[:200]


__all__ = ["Retry", "body", "error_message", "retry_after", "stream_chat"]
