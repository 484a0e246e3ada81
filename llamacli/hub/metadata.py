"""The Hugging Face Hub: file metadata, repository listings, header reads (the only huggingface_hub user).

huggingface_hub gives us the endpoint (HF_ENDPOINT), the token (HF_TOKEN), offline mode
(HF_HUB_OFFLINE), proxies and its HTTP client; the body download is ours (`llamacli.hub.download`) so it
can resume across processes and verify the sha256. What a server answers is untrusted: a commit must
be 40 hex digits and an LFS ETag 64, checked before anything is written (huggingface_hub 2.4 builds
cache paths from the ETag unchecked).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from llamacli.errors import (
    AuthRequired,
    DownloadError,
    LlamacliError,
    OfflineRefused,
    QuantAmbiguous,
    QuantNotFound,
    RemoteNotFound,
)
from llamacli.models import gguf_info, splits
from llamacli.models.references import DEFAULT_QUANT

SHA256 = re.compile(r"^[0-9a-f]{64}\Z")
COMMIT = re.compile(r"^[0-9a-f]{40}\Z")
QUANT_TOKEN = re.compile(r"^(I?Q\d\w*|F16|BF16|F32)\Z", re.IGNORECASE | re.ASCII)
# A repository file name we will ask for: relative, ASCII, each part starting with a letter or digit (so no
# `..`, no absolute path, no `\`, `C:`, NUL, control or look-alike characters).
SAFE_FILE = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._+-]{0,199}/){0,7}[A-Za-z0-9][A-Za-z0-9._+-]{0,199}\Z", re.ASCII)
HEADER_FIRST_READ = 1 << 20
HEADER_MAX = 256 << 20  # no real GGUF header comes close (Llama 3's is ~8 MB)


@dataclass(frozen=True)
class RemoteFile:
    """One file of one commit of a repository, as the Hub describes it (validated)."""

    repo: str
    file: str
    revision: str
    sha256: str
    size: int
    url: str  # where the bytes are (the Hub itself, or a CDN it redirects to)
    headers: dict[str, str]  # for that URL: the token only when it is the Hub's own origin


def quant_of(file: str) -> str | None:
    """The quantization named in a GGUF file name (`Llama-3.2-1B-Instruct-Q4_K_M.gguf` → `Q4_K_M`)."""
    stem = file.rsplit("/", 1)[-1].removesuffix(".gguf")
    for token in reversed(re.split(r"[-.]", stem)):
        if QUANT_TOKEN.match(token):
            return token.upper()
    return None


@contextlib.contextmanager
def _errors(repo: str, file: str | None) -> Iterator[None]:
    """Turn huggingface_hub's and httpx's exceptions into our domain errors."""
    import httpx2
    from huggingface_hub import errors as hf

    try:
        yield
    except LlamacliError:
        raise
    except hf.OfflineModeIsEnabled as e:
        raise OfflineRefused(f"downloading {repo}") from e
    except hf.HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else 0
        if status in (401, 403):
            raise AuthRequired(repo, status) from e
        if status == 404 or isinstance(e, hf.RepositoryNotFoundError | hf.RevisionNotFoundError):
            raise RemoteNotFound(f"{repo}/{file}" if file else repo) from e
        raise DownloadError(repo, file, f"the Hub answered HTTP {status}") from e
    except hf.RemoteEntryNotFoundError as e:
        raise RemoteNotFound(f"{repo}/{file}") from e
    except httpx2.HTTPError as e:
        raise DownloadError(repo, file, f"{type(e).__name__}: {e}") from e
    except OSError as e:  # connection refused, DNS (httpx wraps most; this catches the rest)
        raise DownloadError(repo, file, str(e)) from e


def gguf_files(repo: str) -> dict[str, tuple[int | None, str | None]]:
    """The repository's .gguf files: name → (size, LFS sha256) as the Hub lists them.

    Names that are not SAFE_FILE (`../../x.gguf`, `/etc/x.gguf`, `C:\\x.gguf`, fullwidth dots, escape
    codes) are left out: the listing comes from the server and is untrusted, and such a name is never
    requested, stored or printed.
    """
    from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

    _quiet()
    with _errors(repo, None):
        # What HfApi.model_info(files_metadata=True) asks, without importing HfApi (~0.15 s of start-up):
        # the same client, endpoint, token, offline guard, and error types from hf_raise_for_status.
        response = client().get(
            f"{endpoint()}/api/models/{repo}", params={"blobs": "true"}, headers=build_hf_headers(), timeout=30
        )
        hf_raise_for_status(response)
    try:
        body = response.json()
    except ValueError as e:
        raise DownloadError(repo, None, "the Hub's file listing is not JSON", untrusted=True) from e
    siblings = body.get("siblings") if isinstance(body, dict) else None
    files: dict[str, tuple[int | None, str | None]] = {}
    for entry in siblings if isinstance(siblings, list) else []:
        name = entry.get("rfilename") if isinstance(entry, dict) else None
        if not (isinstance(name, str) and name.lower().endswith(".gguf") and SAFE_FILE.match(name)):
            continue
        lfs = entry.get("lfs") if isinstance(entry.get("lfs"), dict) else {}
        size, sha = lfs.get("size", entry.get("size")), lfs.get("sha256")
        files[name] = (size if isinstance(size, int) else None, sha if isinstance(sha, str) else None)
    return files


def pick_quant(repo: str, files: list[str], quant: str | None) -> str:
    """The one file of FILES for QUANT (case-insensitive; Q4_K_M when None): a single file, else the first part
    of a model split into several (models/splits.py), which stands for all of them."""
    single = [f for f in files if not splits.is_split(f) or splits.is_first(f)]
    wanted = (quant or DEFAULT_QUANT).upper()
    matches = [f for f in single if quant_of(f) == wanted]
    if len(matches) > 1:  # a quantization published both whole and in parts: the whole file
        matches = [f for f in matches if not splits.is_split(f)] or matches
    if len(matches) == 1:
        return matches[0]
    available = sorted({q for f in single if (q := quant_of(f))})
    if not matches:
        raise QuantNotFound(repo, wanted, available)
    raise QuantAmbiguous(repo, wanted, matches)


def endpoint() -> str:
    """The Hub's address, read on use (huggingface_hub reads HF_ENDPOINT once, at import)."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants._HF_DEFAULT_ENDPOINT).rstrip("/")


def _quiet() -> None:
    """huggingface_hub logs its retries as warnings on stderr; our errors say what went wrong instead."""
    from huggingface_hub.utils import logging as hf_logging

    hf_logging.set_verbosity_error()


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = urlparse(url)
    return parsed.scheme, (parsed.hostname or "").lower(), parsed.port


def resolve(repo: str, file: str, revision: str = "main") -> RemoteFile:
    """Ask the Hub where FILE is and what it must hash to; refuse anything malformed."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    if not SAFE_FILE.match(file):
        raise DownloadError(repo, None, f"refusing the file name {file!r}", untrusted=True)
    _quiet()
    url = hf_hub_url(repo, file, revision=revision, endpoint=endpoint())
    with _errors(repo, file):
        meta = get_hf_file_metadata(url, endpoint=endpoint())
    if not meta.commit_hash or not COMMIT.match(meta.commit_hash):
        raise DownloadError(repo, file, f"the server sent an invalid commit id {meta.commit_hash!r}", untrusted=True)
    if not meta.etag or not SHA256.match(meta.etag):
        raise DownloadError(repo, file, f"the server sent no valid sha256 (ETag {meta.etag!r})", untrusted=True)
    if not meta.size or meta.size <= 0:
        raise DownloadError(repo, file, "the server did not say how large the file is", untrusted=True)
    location = meta.location
    if urlparse(location).scheme not in ("http", "https"):
        raise DownloadError(repo, file, f"the server redirected to {location!r}", untrusted=True)
    same_origin = _origin(location) == _origin(endpoint())
    headers = build_hf_headers() if same_origin else {}
    headers["Accept-Encoding"] = "identity"
    return RemoteFile(repo, file, meta.commit_hash, meta.etag, meta.size, location, headers)


def client() -> Any:
    """huggingface_hub's shared HTTP client (proxies, user agent, offline guard)."""
    from huggingface_hub.utils import get_session

    return get_session()


def _read_range(remote: RemoteFile, start: int, end: int) -> bytes:
    """Bytes START..END of REMOTE; from a server without Range support, only as far as END is read."""
    headers = {**remote.headers, "Range": f"bytes={start}-{end - 1}"}
    got = bytearray()
    with (
        _errors(remote.repo, remote.file),
        client().stream("GET", remote.url, headers=headers, follow_redirects=True, timeout=30) as response,
    ):
        if response.status_code not in (200, 206):
            raise DownloadError(remote.repo, remote.file, f"the server answered HTTP {response.status_code}")
        skip = start if response.status_code == 200 else 0  # the whole file from its first byte
        for chunk in response.iter_bytes():
            got += chunk
            if len(got) >= skip + end - start:
                break
    return bytes(got[skip : skip + end - start])


@dataclass(frozen=True)
class RemoteHeader:
    """A GGUF header read from the Hub, and the bytes it was parsed from (the file's first bytes)."""

    info: gguf_info.GGUFInfo
    prefix: bytes


def read_header(remote: RemoteFile) -> RemoteHeader:
    """The GGUF header of REMOTE, read with Range requests (the header's bytes, in two or three requests).

    Gives the same GGUFInfo as `gguf_info.read` on the downloaded file (for the memory check before a pull).
    """
    buf = bytearray()
    want = min(HEADER_FIRST_READ, remote.size)
    while True:
        chunk = _read_range(remote, len(buf), want)
        if not chunk:
            raise DownloadError(remote.repo, remote.file, "the server sent an empty range")
        buf += chunk
        try:
            return RemoteHeader(gguf_info.parse(buf, remote.size), bytes(buf))
        except gguf_info.NeedMore as e:  # the parser estimates how far a long string array goes
            want = min(max(e.needed, len(buf) * 2), remote.size)
            if want > HEADER_MAX:
                raise DownloadError(
                    remote.repo, remote.file, f"the GGUF header is larger than {HEADER_MAX >> 20} MiB"
                ) from e
        except gguf_info.Malformed as e:
            raise DownloadError(remote.repo, remote.file, f"not a valid GGUF file: {e}") from e


def remote_header(repo: str, file: str, revision: str = "main") -> gguf_info.GGUFInfo:
    """The GGUF header of a file on the Hub (see `read_header`)."""
    return read_header(resolve(repo, file, revision)).info
