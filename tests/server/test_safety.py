"""Safe by default: the API key beyond loopback, the Host check (DNS rebinding), no CORS unless asked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.cli import run_cli
from tests.support.serving import Served, start_serve

OFFLINE = {"HF_HUB_OFFLINE": "1", "LLAMACLI_MODEL": "", "LLAMACLI_API_KEY": ""}
APP = "http://app.example"


def client(served: Served, key: str, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=served.url("/v1"), api_key=key, max_retries=0, timeout=30, default_headers=headers or None
    )


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[list[Served]]:
    """Servers a test starts (no model), stopped after it."""
    started: list[Served] = []
    yield started
    for server in started:
        assert server.stop() == 0, server.lines


def start(serving: list[Served], tmp_path: Path, *args: str, **env: str) -> Served:
    server = start_serve(*args, env={**OFFLINE, **env}, home=tmp_path, timeout=60)
    serving.append(server)
    return server


# -- the API key ----------------------------------------------------------------------------------------


def test_beyond_loopback_without_a_key_exits_2_with_one_line(tmp_path: Path) -> None:
    env = {**OFFLINE, "LLAMACLI_HOME": str(tmp_path / "home")}
    result = run_cli("serve", "--host", "0.0.0.0", "--port", "0", env=env, timeout=60)
    assert result.returncode == 2 and result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and "0.0.0.0" in lines[0] and "--api-key" in lines[0], lines


def test_with_a_key_every_route_but_health_needs_it(bare_served: Served) -> None:
    with pytest.raises(openai.AuthenticationError) as refused:
        client(bare_served, "wrong").models.list()
    assert refused.value.code == "invalid_api_key"
    missing = httpx.get(bare_served.url("/v1/models"), timeout=30)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert httpx.get(bare_served.url("/api/tags"), timeout=30).status_code == 401
    assert httpx.post(bare_served.url("/v1/chat/completions"), content=b"{bad", timeout=30).status_code == 401
    assert httpx.get(bare_served.url("/health"), timeout=30).status_code == 200
    assert client(bare_served, "sekrit").models.list().data


def test_the_key_can_come_from_llamacli_api_key(serving: list[Served], tmp_path: Path) -> None:
    server = start(serving, tmp_path, LLAMACLI_API_KEY="from-env")
    with pytest.raises(openai.AuthenticationError):
        client(server, "none").models.list()
    assert client(server, "from-env").models.list().data


def test_beyond_loopback_with_a_key_any_host_name_may_call_with_the_key(serving: list[Served], tmp_path: Path) -> None:
    """Bound to every address, clients reach it by names it cannot know (its IP, a DNS name): the key guards it."""
    server = start(serving, tmp_path, "--host", "0.0.0.0", "--api-key", "k")
    assert server.base_url.startswith("http://0.0.0.0:")
    by_name = {"Host": f"this-machine.example:{server.port}"}
    url = f"http://127.0.0.1:{server.port}/v1/models"
    assert httpx.get(url, headers=by_name, timeout=30).status_code == 401
    assert httpx.get(url, headers={**by_name, "Authorization": "Bearer k"}, timeout=30).status_code == 200


# -- the Host check (loopback) --------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example:{port}"])
def test_a_foreign_host_header_is_refused_403(bare_served: Served, host: str) -> None:
    start = len(bare_served.lines)
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client(bare_served, "sekrit", Host=host.format(port=bare_served.port)).models.list()
    assert refused.value.code == "invalid_host"
    headers = {"Host": host.format(port=bare_served.port)}
    assert httpx.get(bare_served.url("/health"), headers=headers, timeout=30).status_code == 403
    bare_served.wait_for_line(r"^GET /v1/models 403 error=", start)


@pytest.mark.parametrize("host", ["localhost:{port}", "127.0.0.1:{port}", "localhost"])
def test_the_loopback_names_are_accepted(bare_served: Served, host: str) -> None:
    assert client(bare_served, "sekrit", Host=host.format(port=bare_served.port)).models.list().data


# -- CORS ---------------------------------------------------------------------------------------------


def preflight(served: Served, origin: str) -> httpx.Response:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    return httpx.options(served.url("/v1/chat/completions"), headers=headers, timeout=30)


def test_no_cors_headers_by_default(bare_served: Served) -> None:
    assert "access-control-allow-origin" not in preflight(bare_served, APP).headers
    answer = httpx.get(bare_served.url("/v1/models"), headers={"Origin": APP, "Authorization": "Bearer sekrit"})
    assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers


def test_cors_allows_the_named_origin_only(serving: list[Served], tmp_path: Path) -> None:
    server = start(serving, tmp_path, "--cors", APP)
    allowed = preflight(server, APP)
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == APP
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "access-control-allow-origin" not in preflight(server, "http://other.example").headers
    answer = httpx.get(server.url("/v1/models"), headers={"Origin": APP}, timeout=30)
    assert answer.headers["access-control-allow-origin"] == APP
    other = httpx.get(server.url("/v1/models"), headers={"Origin": "http://other.example"}, timeout=30)
    assert "access-control-allow-origin" not in other.headers
