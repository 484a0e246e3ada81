"""The remote engines' errors in words (llamacli.remote), registered into `messages.TABLE`.

Network and server failures exit 4; a model the server does not have, a request it refuses as invalid, or a
setting it cannot take exit 1, as the same mistakes do locally. A key is never shown: only the name of the
environment variable that holds it.
"""

from __future__ import annotations

from llamacli import errors as err
from llamacli.cli.messages import NETWORK, USER, Words, _says


@_says(USER, err.UnknownRemote)
def _unknown_remote(e: err.UnknownRemote) -> Words:
    known = f"configured: {', '.join(e.known)}" if e.known else "none is configured"
    return f"no remote named '{e.name}' ({known})", "add [remotes.NAME] with a url to config.toml (docs/remote.md)"


@_says(NETWORK, err.RemoteError)
def _remote(e: err.RemoteError) -> Words:
    return f"the remote engine at {e.url} failed", None  # the base: every failure has a subclass with its words


@_says(NETWORK, err.RemoteUnreachable)
def _unreachable(e: err.RemoteUnreachable) -> Words:
    return f"cannot reach {e.url}: {e.reason}", "check the URL, that the server is running, and any proxy in between"


@_says(NETWORK, err.RemoteTLS)
def _tls(e: err.RemoteTLS) -> Words:
    return (
        f"TLS with {e.url} failed: {e.reason}",
        "check the certificate (SSL_CERT_FILE names extra CA certificates) or the URL's scheme",
    )


@_says(NETWORK, err.RemoteAuth)
def _auth(e: err.RemoteAuth) -> Words:
    text = f"{e.url} refused the request (HTTP {e.status}): it wants an API key"
    if e.status == 403:
        text = f"{e.url} refused the request (HTTP 403): the API key is not allowed to do this"
    if e.key_env and not e.key_set:
        return text, f"set {e.key_env} to the server's key (it is sent as a Bearer token)"
    if e.key_env:
        return text, f"{e.key_env} holds a key the server does not accept: set it to the right one"
    where = f"[remotes.{e.remote}]" if e.remote else "a [remotes.NAME] table"
    return text, f'add api_key_env = "VARIABLE" to {where} in config.toml and set that variable to the key'


@_says(USER, err.RemoteModelMissing)
def _model_missing(e: err.RemoteModelMissing) -> Words:
    has = ", ".join(e.available[:12]) + (" …" if len(e.available) > 12 else "")
    if e.allow_list:
        return f"model '{e.model}' is not in this remote's models list in config.toml", f"allowed: {has}"
    hint = f"it serves: {has}" if e.available else "it lists no models (GET /v1/models)"
    return f"{e.url} does not serve model '{e.model}'", hint


@_says(NETWORK, err.RemoteBusy)
def _busy(e: err.RemoteBusy) -> Words:
    after = f"; it asks to wait {e.retry_after:g} s" if e.retry_after is not None else ""
    tries = "once" if e.tries == 1 else f"{e.tries} times"
    return f"{e.url} is busy (HTTP {e.status}, tried {tries}){after}", "try again later"


@_says(USER, err.RemoteRefused)
def _refused(e: err.RemoteRefused) -> Words:
    return f"{e.url} refused the request (HTTP {e.status}): {e.message}", None


@_says(NETWORK, err.RemoteFailed)
def _failed(e: err.RemoteFailed) -> Words:
    status = f" (HTTP {e.status})" if e.status else ""
    return f"{e.url} failed{status}: {e.message}", "see the server's log"


@_says(NETWORK, err.RemoteStreamCut)
def _cut(e: err.RemoteStreamCut) -> Words:
    return (
        f"the answer from {e.url} was cut after {e.received} characters: {e.reason}",
        "what arrived is above; the server or the connection dropped: try again",
    )


@_says(NETWORK, err.RemoteGarbled)
def _garbled(e: err.RemoteGarbled) -> Words:
    return f"{e.url} sent {e.what}: {e.excerpt!r}", "is it an OpenAI-compatible server? check the URL (…/v1 is added)"


@_says(USER, err.RemoteUnsupported)
def _unsupported(e: err.RemoteUnsupported) -> Words:
    return f"{e.what} cannot be sent to {e.url} ({e.kind}): {e.why}", "nothing was sent; drop the setting"
