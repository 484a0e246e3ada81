"""HF_TOKEN never leaves the process except in the Authorization header to the Hub's own origin.

Every command runs with a distinctive token in the environment; none may show it on stdout, stderr,
`--verbose` and `--debug` logs, `--json`, the pty of a chat, or write it into any file under LLAMACLI_HOME or HF_HOME,
including when the Hub fails, drops the connection, or quotes the token back in its error body.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.hubserver import HubServer

SECRET = "hf_SECRETzq7Lr2Vx9Kp4Mw8Nt3Bc6Yh1Jd5Fg0Sa"
REPO = "private/Secret-GGUF"
REF = f"hf.co/{REPO}:Q2_K"


@pytest.fixture(scope="module")
def secret_repo(hub_server: HubServer, quantized: dict[str, Path]) -> str:
    """A private repository that needs SECRET (the server checks the Authorization header)."""
    hub_server.add(REPO, {"Secret-Q2_K.gguf": quantized["Q2_K"]}, token=SECRET)
    return REPO


@pytest.fixture
def with_token(hub: HubServer, secret_repo: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    """The loopback Hub, HF_TOKEN set for every subprocess; afterwards, no file holds the token."""
    monkeypatch.setenv("HF_TOKEN", SECRET)
    yield hub
    assert_no_file_holds_the_token()
    assert hub.requests("/api/") or hub.requests(f"/{REPO}/")  # the token was there to leak
    assert not any(r.authorized for r in hub.requests("/cdn/"))  # and it never left the Hub's origin


def assert_no_file_holds_the_token() -> None:
    """Every byte of every file under LLAMACLI_HOME and HF_HOME (databases, caches, manifests, logs)."""
    import os

    for variable in ("LLAMACLI_HOME", "HF_HOME"):
        root = Path(os.environ[variable])
        for path in root.rglob("*") if root.exists() else []:
            if path.is_file() and not path.is_symlink():
                assert SECRET.encode() not in path.read_bytes(), f"{path} holds HF_TOKEN"


def secret_free(result: subprocess.CompletedProcess[bytes], *codes: int) -> bytes:
    """Assert the exit code and that neither stream holds the token; the combined output."""
    output = result.stdout + result.stderr
    assert result.returncode in codes, (result.args, result.stderr)
    assert SECRET.encode() not in output, result.args
    assert b"Traceback" not in result.stderr
    return output


@pytest.mark.slow
def test_pull_list_show_rm_models_never_show_the_token(with_token: HubServer) -> None:
    secret_free(run_cli("show", REF), 0)  # from the Hub: header ranges with the token
    secret_free(run_cli("show", REF, "--json"), 0)
    secret_free(run_cli("pull", REF, "--json"), 0)
    secret_free(run_cli("pull", REF), 0)  # already there: one metadata request
    assert with_token.body_bytes() > 0
    for args in (
        ["list"],
        ["list", "--json"],
        ["show", REF],
        ["show", REF, "--json"],
        ["models"],
        ["models", "--json"],
    ):
        secret_free(run_cli(*args), 0)
    secret_free(run_cli("rm", REF), 0)


@pytest.mark.parametrize(("status", "code"), [(401, 4), (403, 4), (404, 1), (400, 4)])
@pytest.mark.slow
def test_a_server_that_quotes_the_token_back_is_never_echoed(with_token: HubServer, status: int, code: int) -> None:
    """The server answers with the Authorization header in its error body and X-Error-Message."""
    from llamacli.cli import messages
    from llamacli.errors import LlamacliError
    from llamacli.hub import metadata as hub_api

    with_token.faults.echo_status = status
    with pytest.raises(LlamacliError) as caught:
        hub_api.resolve(REPO, "Secret-Q2_K.gguf")
    assert SECRET in str(caught.value.__cause__)  # huggingface_hub's own error quotes the server: the trap is set
    assert SECRET not in messages.describe(caught.value).line() + str(caught.value)
    for args in (["pull", REF], ["show", f"hf.co/{REPO}/Secret-Q2_K.gguf", "--json"]):  # listing; HEAD
        secret_free(run_cli(*args), code)
    assert all(r.authorized for r in with_token.requests())  # the server did see (and quote) the token


@pytest.mark.slow
def test_a_wrong_token_a_missing_file_and_a_dropped_connection(with_token: HubServer) -> None:
    output = secret_free(run_cli("pull", f"hf.co/{REPO}/Absent-Q2_K.gguf"), 1)
    assert b"not found on the Hub" in output
    with_token.faults.cut_at = 1_000_000  # every connection closes at 1 MB: the pull gives up
    output = secret_free(run_cli("pull", REF), 4)
    assert b"cannot download" in output
    with_token.reset()
    output = secret_free(run_cli("pull", REF, env={"HF_TOKEN": SECRET[:-4] + "XXXX"}), 4)
    assert b"HF_TOKEN" in output and SECRET[:-4].encode() not in output


@pytest.mark.slow
def test_run_chat_history_and_recommend_never_show_the_token(with_token: HubServer, calibrated: Path) -> None:
    from tests.cli.test_chat import Chat

    secret_free(run_cli("run", REF, "Say hi", "-n", "2", "--verbose", "--debug"), 0)  # pulls it first, then answers
    secret_free(run_cli("run", REF, "Say hi", "-n", "2", "--json", "--verbose", "--debug"), 0)
    chat = Chat(REF, "-n", "4", "--temperature", "0", "--verbose", "--debug")
    chat.ask("Hello")
    assert chat.bye() == 0
    assert SECRET.encode() not in chat.log.getvalue()
    for args in (
        ["history"],
        ["history", "--json"],
        ["history", "show", "1", "--json"],
        ["recommend"],
        ["hw", "--json"],
    ):
        secret_free(run_cli(*args), 0)
