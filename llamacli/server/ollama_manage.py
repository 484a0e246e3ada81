"""ollama's model management: `POST /api/pull` and `DELETE /api/delete`, over the services `pull` and `rm` use.

The pull is the CLI's (services.models.pull: registry names, hf.co references, split models, the fit
check, resume, offline) on a thread of its own; its progress (a hub.download.Progress) crosses to the
event loop with call_soon_threadsafe, as generation.py hands engine events over, a few lines a second.
What the pull refuses before its first byte (an unknown model, offline, too big) is an error response
with its status; once the stream has started, a last line `{"error": ...}`, which ollama's clients raise.
A client that leaves mid-pull stops the download at its next piece, as ollama cancels; what arrived stays
in the store, and the next pull resumes from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from llamacli import errors as err
from llamacli.base.offline import offline_env
from llamacli.errors import LlamacliError
from llamacli.server.errors import ApiError, from_domain
from llamacli.server.ollama_schemas import DeleteRequest, PullRequest
from llamacli.server.requests import config_of, note, parse, pool_of
from llamacli.services import models as models_service

NDJSON = "application/x-ndjson"
INTERVAL = 0.25  # seconds between progress lines (the last one always goes)
FIRST_WAIT = 2.0  # seconds a streamed pull may run before its response starts (errors until then keep a status)

# Where a pull's status differs from the generation routes' (server/errors.py maps the rest): offline, a
# chat's model is missing (404), while a pull is forbidden (403).
_PULL_STATUS: list[tuple[type[LlamacliError], int]] = [
    (err.OfflineRefused, 403),  # `serve --offline`: the server may not download
]

Words = Callable[[LlamacliError], str]


class _Stopped(Exception):
    """The client went away: the download stops at its next piece (the partial file stays)."""


@dataclass(frozen=True)
class _Done:
    """How the pull ended: its result, or what it raised."""

    result: models_service.PullResult | None = None
    error: BaseException | None = None


class Transfer:
    """The pull's download.Progress, called on its thread: ollama's progress lines, put on the loop's QUEUE."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[dict[str, Any] | _Done]) -> None:
        self.loop, self.queue = loop, queue
        self.stopped = threading.Event()
        self.name = self.digest = ""
        self.total = self.completed = 0
        self.last = 0.0  # time.monotonic() of the last line sent
        self.lines = 0  # progress lines sent

    def file(self, name: str, sha256: str) -> None:
        """The file about to be fetched: its digest names the lines that follow."""
        self.name, self.digest = name, sha256

    def start(self, total: int, done: int) -> None:
        """The transfer begins with DONE of TOTAL bytes already here (a resumed pull)."""
        self._check()
        self.total, self.completed = total, done
        self._send(force=True)

    def advance(self, n: int) -> None:
        """N more bytes are on disk; a line when the last one is old enough, or the file is complete."""
        self._check()
        self.completed += n
        self._send(force=self.completed >= self.total)

    def retry(self, reason: str) -> None:
        """Nothing: the download resumes by itself, and the next line shows it."""

    def notify(self, message: str) -> None:
        """What the pull tells the person (resuming, waiting for another pull): a status line."""
        self._put({"status": message})

    def stop(self) -> None:
        """The client is gone: raise in the pull's thread at its next report."""
        self.stopped.set()

    def finish(self, done: _Done) -> None:
        """The pull ended (called on its thread)."""
        self._put(done)

    def line(self) -> dict[str, Any]:
        """ollama's progress line: the layer's short digest (or the file's name), its size and what is here."""
        label = self.digest[:12] or self.name
        digest = f"sha256:{self.digest}"
        return {"status": f"pulling {label}", "digest": digest, "total": self.total, "completed": self.completed}

    def _send(self, force: bool) -> None:
        now = time.monotonic()
        if force or now - self.last >= INTERVAL:
            self.last = now
            self.lines += 1
            self._put(self.line())

    def _put(self, item: dict[str, Any] | _Done) -> None:
        with contextlib.suppress(RuntimeError):  # the event loop is gone: the server stopped
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def _check(self) -> None:
        if self.stopped.is_set():
            raise _Stopped()


def _run(name: str, transfer: Transfer, env: Mapping[str, str], force: bool) -> None:
    """The pull, on its own thread (a long download must not hold one of the event loop's workers)."""
    try:
        result = models_service.pull(name, transfer, transfer.notify, env, force)
    except BaseException as e:  # handed to the request, which words it (or reports a bug)
        transfer.finish(_Done(error=e))
    else:
        transfer.finish(_Done(result=result))


async def pull(request: Request) -> Response:
    """`POST /api/pull`: download a model as `llamacli pull` does, its progress as ollama streams it."""
    body = await parse(request, PullRequest)
    name = body.target()
    if not name:
        raise ApiError(400, "model is required", param="model")
    note(request, model=name)
    config = config_of(request)
    policy = config.pool.policy
    queue: asyncio.Queue[dict[str, Any] | _Done] = asyncio.Queue()
    transfer = Transfer(asyncio.get_running_loop(), queue)
    env = offline_env(os.environ) if policy.offline else os.environ
    args = (name, transfer, env, policy.force)
    threading.Thread(target=_run, args=args, name="llamacli-pull", daemon=True).start()
    try:
        if not body.stream:
            done = await _outcome(queue)
            _raise_error(done, config.words)
            return JSONResponse({"status": "success"})
        first = asyncio.ensure_future(queue.get())
        await asyncio.wait({first}, timeout=FIRST_WAIT)
        early = first.result() if first.done() else None
        if isinstance(early, _Done):
            _raise_error(early, config.words)
    except BaseException:
        transfer.stop()
        raise
    return StreamingResponse(_lines(first, queue, transfer, config.words), media_type=NDJSON)


async def _outcome(queue: asyncio.Queue[dict[str, Any] | _Done]) -> _Done:
    """How the pull ended (its progress lines are not wanted: `stream: false`)."""
    while not isinstance(item := await queue.get(), _Done):
        pass
    return item


def _raise_error(done: _Done, words: Words) -> None:
    """The ApiError for a pull that failed (nothing when it succeeded); a bug is raised as it is (a 500)."""
    if done.error is None:
        return
    if not isinstance(done.error, LlamacliError):
        raise done.error
    refused = from_domain(done.error, words)
    for kind, status in _PULL_STATUS:
        if isinstance(done.error, kind):
            refused.status = status
            break
    raise refused


async def _lines(
    first: asyncio.Future[dict[str, Any] | _Done],
    queue: asyncio.Queue[dict[str, Any] | _Done],
    transfer: Transfer,
    words: Words,
) -> AsyncIterator[str]:
    """ollama's pull stream: `pulling manifest`, the progress, `verifying sha256 digest`, `writing
    manifest`, `success`; an `{"error": ...}` line instead when the pull fails on the way."""
    try:
        yield _line({"status": "pulling manifest"})
        item = await first
        while not isinstance(item, _Done):
            yield _line(item)
            item = await queue.get()
        if item.error is None and item.result is not None:
            for line in _closing(item.result, transfer):
                yield _line(line)
        elif isinstance(item.error, LlamacliError):
            yield _line({"error": words(item.error)})
        else:  # a bug: one line for the client, the type for it to report
            yield _line({"error": f"internal error ({type(item.error).__name__})"})
    finally:
        first.cancel()
        transfer.stop()


def _closing(result: models_service.PullResult, transfer: Transfer) -> list[dict[str, Any]]:
    """The lines after the download (the service verified the digest and wrote the manifest already)."""
    lines: list[dict[str, Any]] = []
    if not transfer.lines and result.sha256:  # already here: its one layer, complete, as ollama shows it
        transfer.file(result.path.name, result.sha256)
        transfer.total = transfer.completed = result.size
        lines.append(transfer.line())
    statuses = ["verifying sha256 digest", "writing manifest", "success"]
    return lines + [{"status": status} for status in statuses]


def _line(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False) + "\n"


async def delete(request: Request) -> Response:
    """`DELETE /api/delete`: remove a model as `llamacli rm` does; a loaded one is unloaded first if idle."""
    body = await parse(request, DeleteRequest)
    name = body.target()
    if not name:
        raise ApiError(400, "model is required", param="model")
    note(request, model=name)
    pool = pool_of(request)

    def remove() -> models_service.Removed:
        files = models_service.files_of(name)
        return pool.evicting(name, files, lambda: models_service.remove(name))

    try:
        removed = await asyncio.to_thread(remove)
    except (err.ModelNotFound, err.ModelNotPulled):
        raise ApiError(404, f"model '{name}' not found", param="model") from None  # ollama's words
    except LlamacliError as e:
        raise from_domain(e, config_of(request).words) from None
    note(request, freed=removed.freed)
    return Response(status_code=200)  # ollama answers an empty body
