"""What a remote engine is and what it can take, found once and cached per remote for a few minutes.

llama.cpp's server answers `/props` (with its context size), vLLM `/version`, ollama `/api/version` (as
`llamacli serve` does, which also says so at `/`); anything else is taken for a plain OpenAI API. What a
kind takes decides the request's extra fields, and a setting it cannot take is refused before the
request is sent (RemoteUnsupported), rather than silently ignored by the server.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from llamacli.engine.params import GenerationParams
from llamacli.errors import RemoteUnsupported
from llamacli.remote.endpoint import Endpoint, status_error, transport_error

PROBE_SECONDS = 5.0
CACHE_SECONDS = 600.0  # a server is upgraded or restarted with other flags now and then: ask again after this
DEFAULTS = GenerationParams()
# The sampling settings beyond OpenAI's that each kind takes, by our name and theirs.
EXTRAS: dict[str, dict[str, str]] = {
    "llama.cpp": {"top_k": "top_k", "min_p": "min_p", "repeat_penalty": "repeat_penalty"},
    "vllm": {"top_k": "top_k", "min_p": "min_p", "repeat_penalty": "repetition_penalty"},
}
IGNORE_EOS = ("llama.cpp", "vllm", "llamacli")
FLAGS = {"top_k": "--top-k", "min_p": "--min-p", "repeat_penalty": "--repeat-penalty"}


@dataclass(frozen=True)
class Capabilities:
    """What the probe found: the KIND of server, its VERSION, its context size when it says, per-model contexts."""

    kind: str  # llama.cpp, vllm, ollama, llamacli, openai
    version: str | None = None
    n_ctx: int | None = None  # llama.cpp's slot context (/props)
    contexts: dict[str, int] = field(default_factory=dict)  # vLLM's max_model_len per model (/v1/models)
    probed_at: float = 0.0

    def describe(self) -> str:
        """One line: `llama.cpp server b5000`, `ollama 0.6.2`, `OpenAI-compatible server`."""
        names = {"llama.cpp": "llama.cpp server", "vllm": "vLLM", "ollama": "ollama", "llamacli": "llamacli serve"}
        name = names.get(self.kind, "OpenAI-compatible server")
        return f"{name} {self.version}" if self.version else name

    def context_of(self, model: str) -> int | None:
        """MODEL's context window on this server, when it says."""
        return self.contexts.get(model) or self.n_ctx


def capabilities(endpoint: Endpoint, cache_dir: Path | None, now: float | None = None) -> Capabilities:
    """ENDPOINT's capabilities: from CACHE_DIR when probed less than CACHE_SECONDS ago, else probed now."""
    now = time.time() if now is None else now
    path = (
        cache_dir / "remotes" / (hashlib.sha256(endpoint.root.encode()).hexdigest()[:24] + ".json")
        if cache_dir
        else None
    )
    if path is not None and (cached := _cached(path, now)) is not None:
        return cached
    found = probe(endpoint, now)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(asdict(found)))
        except OSError:
            pass  # a cache that cannot be written costs a probe next time, nothing else
    return found


def _cached(path: Path, now: float) -> Capabilities | None:
    try:
        data = json.loads(path.read_text())
        found = Capabilities(**data)
    except (OSError, ValueError, TypeError):
        return None
    return found if 0 <= now - found.probed_at < CACHE_SECONDS else None


def probe(endpoint: Endpoint, now: float) -> Capabilities:
    """Ask ENDPOINT what it is (a few GETs, each answered quickly or taken as "not this kind")."""
    with endpoint.client(PROBE_SECONDS) as client:
        props = _get(client, endpoint, "/props")
        if isinstance(props, dict) and ("default_generation_settings" in props or "build_info" in props):
            settings = props.get("default_generation_settings") or {}
            n_ctx = settings.get("n_ctx") or props.get("n_ctx")
            version = props.get("build_info")
            return Capabilities("llama.cpp", str(version) if version else None, _int(n_ctx), probed_at=now)
        if isinstance(found := _get(client, endpoint, "/version"), dict) and "version" in found:
            return Capabilities("vllm", str(found["version"]), contexts=_contexts(client, endpoint), probed_at=now)
        if isinstance(found := _get(client, endpoint, "/api/version"), dict) and "version" in found:
            kind = "llamacli" if _text(client, endpoint.root + "/").startswith("llamacli") else "ollama"
            return Capabilities(kind, str(found["version"]), probed_at=now)
    return Capabilities("openai", probed_at=now)


def _get(client: httpx.Client, endpoint: Endpoint, path: str) -> Any:
    """GET ROOT+PATH as JSON; None when it is not there or not JSON; our error when the server refuses us."""
    try:
        response = client.get(endpoint.root + path)
    except httpx.TransportError as e:
        raise transport_error(endpoint, e) from e
    if response.status_code in (401, 403):
        raise status_error(endpoint, response)
    if response.status_code != 200:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _text(client: httpx.Client, url: str) -> str:
    try:
        response = client.get(url)
    except httpx.TransportError:
        return ""
    return response.text if response.status_code == 200 else ""


def _contexts(client: httpx.Client, endpoint: Endpoint) -> dict[str, int]:
    """vLLM's max_model_len of each model it serves."""
    found = _get(client, endpoint, "/v1/models")
    models = found.get("data") if isinstance(found, dict) else None
    if not isinstance(models, list):
        return {}
    return {str(m["id"]): n for m in models if isinstance(m, dict) and (n := _int(m.get("max_model_len")))}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def request_extras(endpoint: Endpoint, caps: Capabilities, params: GenerationParams) -> dict[str, Any]:
    """The fields beyond OpenAI's that PARAMS need on this kind of server; RemoteUnsupported for one it cannot take."""
    if params.temperature > 2:
        raise RemoteUnsupported(
            endpoint.root, caps.describe(), f"--temperature {params.temperature:g}", "the OpenAI API takes 0 to 2"
        )
    if params.grammar is not None and params.json_schema is None and caps.kind != "llama.cpp":
        raise RemoteUnsupported(endpoint.root, caps.describe(), "a grammar", "only llama.cpp's server takes one")
    names = EXTRAS.get(caps.kind, {})
    extras: dict[str, Any] = {}
    for ours, value in ((k, getattr(params, k)) for k in FLAGS):
        if ours in names:
            extras[names[ours]] = value
        elif value != getattr(DEFAULTS, ours):
            why = "its OpenAI API has no such setting (it would be ignored)"
            raise RemoteUnsupported(endpoint.root, caps.describe(), f"{FLAGS[ours]} {value:g}", why)
    if params.ignore_eos:
        if caps.kind not in IGNORE_EOS:
            raise RemoteUnsupported(endpoint.root, caps.describe(), "ignore_eos", "it has no such setting")
        extras["ignore_eos"] = True
    if params.grammar is not None and caps.kind == "llama.cpp":
        extras["grammar"] = params.grammar  # the very grammar a local run samples under
    elif params.json_schema is not None:  # OpenAI's structured output, which vLLM, ollama and llamacli take
        schema = json.loads(params.json_schema)
        extras["response_format"] = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    return extras
