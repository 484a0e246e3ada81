"""A Hub-compatible HTTP server on loopback, speaking the protocol huggingface_hub 2.4 expects.

- HEAD/GET /{owner}/{repo}/resolve/{rev}/{file}: X-Repo-Commit, ETag, X-Linked-Etag (the LFS sha256),
  X-Linked-Size, and a 302 to another origin (`localhost` when the Hub is `127.0.0.1`) for the bytes,
  as the real Hub redirects LFS files to its CDN.
- GET /cdn/{sha256}: the bytes, with Range support (206 + Content-Range).
- GET /api/models/{owner}/{repo}[/revision/{rev}] (siblings; LFS size and sha256 with ?blobs=true) and
  /api/models/{owner}/{repo}/tree/{rev}.

Faults a test can inject through `HubServer.faults`: drop the connection after N bytes, flip a byte,
answer 401/404, transfer slowly, lie in the ETag/commit/size, ignore Range, answer an error whose body
and X-Error-Message echo the request's Authorization header (a server that leaks the token back).
A repository's file names are whatever `add` is given, so a test can publish hostile names.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qs, unquote, urlparse

# The registry repo the loopback Hub serves (with SmolLM2 requantized under its real file names).
LLAMA_1B_REPO = "bartowski/Llama-3.2-1B-Instruct-GGUF"


@dataclass
class HubFile:
    path: Path
    sha256: str
    size: int


@dataclass
class Repo:
    commit: str
    files: dict[str, HubFile] = field(default_factory=dict)
    token: str | None = None  # when set, requests need `Authorization: Bearer <token>`


@dataclass
class Faults:
    drop_after: int | None = None  # close the connection after this many body bytes...
    drops: int = 0  # ...in this many responses
    cut_at: int | None = None  # close every connection on reaching this byte of the file (no progress past it)
    flip_byte: int | None = None  # serve this byte of every body XOR 0xFF
    delay: float = 0.0  # seconds to sleep per 64 KiB chunk
    etag: str | None = None  # answer this instead of the real sha256 (in X-Linked-Etag)
    plain_etag: str | None = None  # the ETag header (what huggingface_hub uses without X-Linked-Etag)
    no_linked_etag: bool = False  # leave X-Linked-Etag out
    echo_status: int | None = None  # answer API and resolve requests with this status, echoing Authorization
    commit: str | None = None
    size: int | None = None
    ignore_range: bool = False
    only: str | None = None  # the sha256 of the one file the body faults apply to (None: every file)

    def changes_bodies(self) -> bool:
        """Whether a file's bytes must pass through Python on their way out (cut, flipped, slowed, unranged)."""
        return self.cut_at is not None or self.flip_byte is not None or self.delay > 0 or self.ignore_range


@dataclass
class Served:
    method: str
    path: str
    host: str
    range: str | None
    authorized: bool
    body_bytes: int = 0


CHUNK = 64 * 1024


class HubServer:
    """A threaded loopback Hub; start() then use `endpoint`."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.faults = Faults()
        self.log: list[Served] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.cdn = f"http://localhost:{self.port}"

    def start(self) -> HubServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self) -> None:
        """Clear faults and the request log (between tests)."""
        with self.lock:
            self.faults = Faults()
            self.log.clear()

    def add(self, repo: str, files: dict[str, Path], token: str | None = None) -> Repo:
        """Publish FILES (name → path on disk) in REPO."""
        commit = hashlib.sha1(repo.encode()).hexdigest()
        entries = {}
        for name, path in files.items():
            data = path.read_bytes()
            entries[name] = HubFile(path, hashlib.sha256(data).hexdigest(), len(data))
        self.repos[repo] = Repo(commit, entries, token)
        return self.repos[repo]

    def body_bytes(self, prefix: str = "/cdn/") -> int:
        """Body bytes served by paths starting with PREFIX."""
        with self.lock:
            return sum(s.body_bytes for s in self.log if s.path.startswith(prefix))

    def requests(self, prefix: str = "") -> list[Served]:
        with self.lock:
            return [s for s in self.log if s.path.startswith(prefix)]


def _handler(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _record(self) -> Served:
            served = Served(
                self.command,
                urlparse(self.path).path,
                self.headers.get("Host", ""),
                self.headers.get("Range"),
                self.headers.get("Authorization") is not None,
            )
            with hub.lock:
                hub.log.append(served)
            return served

        def _send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, value: object) -> None:
            self._send(200, {"Content-Type": "application/json"}, json.dumps(value).encode())

        def _error(self, status: int, code: str) -> None:
            self._send(status, {"X-Error-Code": code, "Content-Type": "application/json"}, b'{"error": "nope"}')

        def _echo(self, status: int) -> None:
            """An error that quotes the request's Authorization header back (as a careless proxy might)."""
            auth = self.headers.get("Authorization", "")
            body = json.dumps({"error": f"token rejected: {auth}"}).encode()
            headers = {"X-Error-Message": f"bad credentials {auth}", "Content-Type": "application/json"}
            self._send(status, headers, body)

        def _repo(self, name: str) -> Repo | None:
            if hub.faults.echo_status is not None:
                self._echo(hub.faults.echo_status)
                return None
            repo = hub.repos.get(name)
            if repo is None:
                self._error(401, "RepoNotFound")  # as the Hub answers for an unknown repo without a token
                return None
            if repo.token and self.headers.get("Authorization") != f"Bearer {repo.token}":
                self._error(401, "GatedRepo")
                return None
            return repo

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            served = self._record()
            url = urlparse(self.path)
            path = unquote(url.path)
            if m := re.fullmatch(r"/cdn/([0-9a-f]{64})", path):
                return self._cdn(m.group(1), served)
            if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)", path):
                return self._tree(m.group(1))
            if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?", path):
                return self._info(m.group(1), "blobs" in parse_qs(url.query))
            if m := re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path):
                return self._resolve(m.group(1), m.group(2), m.group(3))
            self._error(404, "EntryNotFound")

        def _resolve(self, name: str, rev: str, file: str) -> None:
            repo = self._repo(name)
            if repo is None:
                return
            if rev not in ("main", repo.commit):
                return self._error(404, "RevisionNotFound")
            entry = repo.files.get(file)
            if entry is None:
                return self._error(404, "EntryNotFound")
            faults = hub.faults
            sha = faults.etag if faults.etag is not None else entry.sha256
            headers = {
                "Location": f"{hub.cdn}/cdn/{entry.sha256}",
                "X-Repo-Commit": faults.commit or repo.commit,
                "ETag": f'"{faults.plain_etag or "0123456789abcdef0123456789abcdef01234567"}"',
                "X-Linked-Etag": f'"{sha}"',
                "X-Linked-Size": str(faults.size or entry.size),
            }
            if faults.no_linked_etag:
                del headers["X-Linked-Etag"]
            self._send(302, headers)

        def _find(self, sha: str) -> HubFile | None:
            for repo in hub.repos.values():
                for entry in repo.files.values():
                    if entry.sha256 == sha:
                        return entry
            return None

        def _cdn(self, sha: str, served: Served) -> None:
            entry = self._find(sha)
            if entry is None:
                return self._error(404, "EntryNotFound")
            faults = hub.faults if hub.faults.only in (None, sha) else Faults()
            start = 0
            status = 200
            ranged = self.headers.get("Range")
            end = entry.size - 1
            if ranged and not faults.ignore_range:
                m = re.fullmatch(r"bytes=(\d+)-(\d*)", ranged)
                if not m or int(m.group(1)) >= entry.size:
                    return self._send(416, {"Content-Range": f"bytes */{entry.size}"})
                start, status = int(m.group(1)), 206
                if m.group(2):
                    end = min(int(m.group(2)), entry.size - 1)
            self.send_response(status)
            self.send_header("Content-Length", str(end - start + 1))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{sha}"')
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{entry.size}")
            self.end_headers()
            if self.command == "HEAD":
                return
            drop_at = None
            with hub.lock:
                if faults.drop_after is not None and faults.drops > 0:
                    faults.drops -= 1
                    drop_at = faults.drop_after
            with entry.path.open("rb") as f:
                if drop_at is None and not faults.changes_bodies():
                    return self._send_file(f, start, end - start + 1, served)
                f.seek(start)
                pos, sent = start, 0
                while pos <= end:
                    n = min(CHUNK, end - pos + 1)
                    if faults.cut_at is not None:
                        n = min(n, faults.cut_at - pos)
                    if drop_at is not None:
                        n = min(n, drop_at - sent)
                    if n <= 0:
                        self.close_connection = True
                        return
                    data = bytearray(f.read(n))
                    if faults.flip_byte is not None and pos <= faults.flip_byte < pos + n:
                        data[faults.flip_byte - pos] ^= 0xFF
                    try:
                        self.wfile.write(data)
                    except OSError:
                        self.close_connection = True
                        return
                    pos += n
                    sent += n
                    with hub.lock:
                        served.body_bytes += n
                    if faults.delay:
                        time.sleep(faults.delay)

        def _send_file(self, f: BinaryIO, start: int, count: int, served: Served) -> None:
            """The body straight from the page cache (sendfile): a CDN does not spend this machine's CPU,
            so neither should the loopback one when no fault asks for the bytes to pass through Python."""
            self.wfile.flush()
            try:
                sent = self.connection.sendfile(f, start, count)
            except OSError:
                self.close_connection = True
                return
            with hub.lock:
                served.body_bytes += sent

        def _siblings(self, repo: Repo, blobs: bool) -> list[dict[str, object]]:
            out: list[dict[str, object]] = []
            for name, entry in repo.files.items():
                sibling: dict[str, object] = {"rfilename": name}
                if blobs:
                    sibling.update(
                        size=entry.size,
                        blobId=hashlib.sha1(entry.sha256.encode()).hexdigest(),
                        lfs={"size": entry.size, "sha256": entry.sha256, "pointerSize": 135},
                    )
                out.append(sibling)
            return out

        def _info(self, name: str, blobs: bool) -> None:
            repo = self._repo(name)
            if repo is not None:
                self._json({"id": name, "sha": repo.commit, "private": False, "siblings": self._siblings(repo, blobs)})

        def _tree(self, name: str) -> None:
            repo = self._repo(name)
            if repo is not None:
                self._json(
                    [
                        {
                            "type": "file",
                            "path": n,
                            "size": e.size,
                            "oid": hashlib.sha1(e.sha256.encode()).hexdigest(),
                            "lfs": {"oid": e.sha256, "size": e.size, "pointerSize": 135},
                        }
                        for n, e in repo.files.items()
                    ]
                )

    return Handler
