"""Where a remote engine is and how to talk to it: its URLs, headers and key, and httpx's failures in our words.

The key is read from the environment variable the config names, when a request is made, and goes only
into the Authorization header: it is never stored in an error or a cache.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from llamacli.base.remote_settings import RemoteConfig
from llamacli.errors import (
    LlamacliError,
    RemoteAuth,
    RemoteFailed,
    RemoteGarbled,
    RemoteModelMissing,
    RemoteRefused,
    RemoteTLS,
    RemoteUnreachable,
)

CONNECT_SECONDS = 10.0
READ_SECONDS = 600.0  # between two chunks of a stream: a big model's long prompt can take minutes
AD_HOC = None  # the name of a remote given by URL (--remote URL, LLAMACLI_REMOTE)


@dataclass(frozen=True)
class Endpoint:
    """A remote engine: ROOT is its base URL without /v1; NAME its [remotes.NAME], or None for --remote URL."""

    root: str
    name: str | None = AD_HOC
    key_env: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    models: tuple[str, ...] = ()  # config.toml's allow-list; empty: whatever the server serves
    env: Mapping[str, str] = field(default_factory=lambda: os.environ, compare=False, repr=False)

    @classmethod
    def of(cls, config: RemoteConfig, env: Mapping[str, str] = os.environ) -> Endpoint:
        """The endpoint of a configured remote."""
        return cls(root_of(config.url), config.name, config.api_key_env, config.headers, config.models, env)

    @property
    def api(self) -> str:
        """The OpenAI API's base: ROOT/v1."""
        return self.root + "/v1"

    def label(self, model: str) -> str:
        """MODEL as run/chat/history name it: NAME/MODEL for a configured remote, else MODEL@URL."""
        return f"{self.name}/{model}" if self.name else f"{model}@{self.root}"

    def request_headers(self) -> dict[str, str]:
        """The configured headers, and the key as a Bearer token when its variable is set."""
        out = {"User-Agent": "llamacli", **self.headers}
        if self.key_env and (key := self.env.get(self.key_env, "").strip()):
            out["Authorization"] = f"Bearer {key}"
        return out

    def client(self, timeout: float | None = None) -> httpx.Client:
        """An httpx client for this remote (read timeout TIMEOUT, else a long one for streams)."""
        read = READ_SECONDS if timeout is None else timeout
        return httpx.Client(
            headers=self.request_headers(),
            timeout=httpx.Timeout(read, connect=min(CONNECT_SECONDS, read)),
            trust_env=True,  # HTTPS_PROXY, NO_PROXY, SSL_CERT_FILE as every other HTTP tool
            # Plain http: no TLS, so skip loading the CA bundle (~0.1 s of a remote run's first token).
            verify=not self.root.startswith("http://"),
        )


def root_of(url: str) -> str:
    """URL as a root: without a trailing slash or /v1 (people paste either)."""
    url = url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def transport_error(endpoint: Endpoint, e: httpx.TransportError) -> LlamacliError:
    """An httpx failure to connect (or TLS) as our error; the caller raises it `from e`."""
    reason = str(e) or type(e).__name__
    if "SSL" in reason or "CERTIFICATE" in reason.upper() or "TLS" in reason:
        return RemoteTLS(endpoint.root, _short(reason))
    if isinstance(e, httpx.TimeoutException):
        return RemoteUnreachable(endpoint.root, f"no answer ({type(e).__name__})")
    return RemoteUnreachable(endpoint.root, _short(reason))


def status_error(endpoint: Endpoint, response: httpx.Response, model: str | None = None) -> LlamacliError:
    """A non-2xx answer (its body read) as our error; 404 naming MODEL lists what the server has."""
    status, message = response.status_code, error_message(response)
    if status in (401, 403):
        key_set = bool(endpoint.key_env and endpoint.env.get(endpoint.key_env, "").strip())
        return RemoteAuth(endpoint.root, status, endpoint.name, endpoint.key_env, key_set)
    if status == 404 and model is not None:
        try:
            available = list_model_ids(endpoint)
        except LlamacliError:
            available = []
        if model not in available:
            return RemoteModelMissing(endpoint.root, model, available)
    if 400 <= status < 500:
        return RemoteRefused(endpoint.root, status, message)
    return RemoteFailed(endpoint.root, status, message)


def error_message(response: httpx.Response) -> str:
    """The server's own words for an error: OpenAI's {"error": {"message"}}, ollama's {"error": "..."}, or text."""
    text = response.text.strip()
    try:
        body = json.loads(text)
    except ValueError:
        return _short(text) or response.reason_phrase or "no message"
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        error = error.get("message") or error.get("detail") or error
    return _short(str(error))


def list_model_ids(endpoint: Endpoint, timeout: float = 10.0) -> list[str]:
    """The ids of GET /v1/models."""
    return [str(m.get("id")) for m in list_models(endpoint, timeout)]


def list_models(endpoint: Endpoint, timeout: float = 10.0) -> list[dict[str, Any]]:
    """GET /v1/models: one dict per model (id, owned_by, created ...)."""
    try:
        with endpoint.client(timeout) as client:
            response = client.get(endpoint.api + "/models")
    except httpx.TransportError as e:
        raise transport_error(endpoint, e) from e
    if response.status_code != 200:
        raise status_error(endpoint, response)
    try:
        data = response.json()["data"]
        if not isinstance(data, list) or not all(isinstance(m, dict) and "id" in m for m in data):
            raise ValueError("data is not a list of models")
    except (ValueError, KeyError, TypeError) as e:
        raise RemoteGarbled(endpoint.root, "a model list that is not OpenAI's", _short(response.text)) from e
    return data


def _short(text: str, limit: int = 160) -> str:
    """TEXT on one line, at most LIMIT characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
