"""Remote engines (llamacli.remote): an OpenAI-compatible server elsewhere."""

from __future__ import annotations

from collections.abc import Sequence

from llamacli.errors.base import LlamacliError


class RemoteError(LlamacliError):
    """Something went wrong talking to the remote engine at URL (exit 4 unless said otherwise)."""

    def __init__(self, url: str, *data: object) -> None:
        super().__init__(url, *data)
        self.url = url


class UnknownRemote(LlamacliError):
    """NAME is not a `[remotes.NAME]` table of config.toml (KNOWN are)."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(name, known)
        self.name = name
        self.known = tuple(known)


class RemoteUnreachable(RemoteError):
    """Nothing answers at URL: refused, no route, a name that does not resolve, a timeout (REASON)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(url, reason)
        self.reason = reason


class RemoteTLS(RemoteError):
    """The TLS handshake with URL failed (a certificate that does not verify, a protocol mismatch)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(url, reason)
        self.reason = reason


class RemoteAuth(RemoteError):
    """URL refused the request (STATUS 401 or 403); KEY_ENV names the variable that holds its key, if any;
    KEY_SET says whether that variable has a value. The key itself is never kept here."""

    def __init__(self, url: str, status: int, remote: str | None, key_env: str | None, key_set: bool) -> None:
        super().__init__(url, status, remote, key_env, key_set)
        self.status = status
        self.remote = remote
        self.key_env = key_env
        self.key_set = key_set


class RemoteModelMissing(RemoteError):
    """URL does not serve MODEL; AVAILABLE are those it does (or those config.toml allows, when ALLOW_LIST)."""

    def __init__(self, url: str, model: str, available: Sequence[str], allow_list: bool = False) -> None:
        super().__init__(url, model, available, allow_list)
        self.model = model
        self.available = tuple(available)
        self.allow_list = allow_list


class RemoteBusy(RemoteError):
    """URL answered STATUS (429 or 503) after TRIES tries; RETRY_AFTER is what it asked to wait, if it said."""

    def __init__(self, url: str, status: int, tries: int, retry_after: float | None) -> None:
        super().__init__(url, status, tries, retry_after)
        self.status = status
        self.tries = tries
        self.retry_after = retry_after


class RemoteRefused(RemoteError):
    """URL refused the request as invalid (a 4xx other than 401/403/404/429): its MESSAGE (exit 1)."""

    def __init__(self, url: str, status: int, message: str) -> None:
        super().__init__(url, status, message)
        self.status = status
        self.message = message


class RemoteFailed(RemoteError):
    """URL failed (a 5xx, or an error inside the stream): its MESSAGE."""

    def __init__(self, url: str, status: int | None, message: str) -> None:
        super().__init__(url, status, message)
        self.status = status
        self.message = message


class RemoteStreamCut(RemoteError):
    """The answer's stream from URL ended before it finished (RECEIVED characters had arrived): REASON."""

    def __init__(self, url: str, received: int, reason: str) -> None:
        super().__init__(url, received, reason)
        self.received = received
        self.reason = reason


class RemoteGarbled(RemoteError):
    """URL sent something that is not the OpenAI API's SSE or JSON (WHAT, with a short EXCERPT)."""

    def __init__(self, url: str, what: str, excerpt: str) -> None:
        super().__init__(url, what, excerpt)
        self.what = what
        self.excerpt = excerpt


class RemoteUnsupported(LlamacliError):
    """The engine at URL (a KIND server) cannot do WHAT (a flag and its value): refused before sending (exit 1)."""

    def __init__(self, url: str, kind: str, what: str, why: str) -> None:
        super().__init__(url, kind, what, why)
        self.url = url
        self.kind = kind
        self.what = what
        self.why = why
