"""The remote client against a loopback server that misbehaves on purpose (tests/support/faultserver.py).

Real subprocesses of the installed `llamacli`, a real HTTP server; no model loads, so these are quick.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.support.cli import LLAMACLI, run_cli
from tests.support.faultserver import FaultServer


def run_remote(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """`llamacli ARGS` whose model is remote by config.toml or LLAMACLI_REMOTE rather than by --remote:
    run_cli's quick guard reads only the command line, so it cannot tell; nothing loads here either way."""
    return subprocess.run(
        [LLAMACLI, *args],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


@pytest.fixture
def faults() -> Iterator[FaultServer]:
    server = FaultServer().start()
    yield server
    server.stop()


def configure(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)


def err_line(result: subprocess.CompletedProcess[bytes]) -> str:
    """Stderr, asserted to be one line without a traceback."""
    text = result.stderr.decode()
    assert "Traceback" not in text and text.count("\n") == 1, text
    return text


def test_a_remote_run_streams_the_answer_and_sends_the_settings(faults: FaultServer) -> None:
    result = run_cli(
        "run",
        "--remote",
        faults.url,
        "-m",
        "alpha",
        "Hi",
        "--temperature",
        "0.2",
        "-n",
        "9",
        "--seed",
        "7",
        "--stop",
        "END",
        "--system",
        "Be brief.",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == "Hello, remote world!\n"
    (chat,) = faults.chats()
    body = chat.body
    assert body["model"] == "alpha" and body["stream"] is True
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert (body["temperature"], body["max_tokens"], body["seed"], body["stop"]) == (0.2, 9, 7, ["END"])
    assert "top_k" not in body  # a plain OpenAI server: nothing it does not know is sent


def test_a_schema_is_sent_as_openai_s_response_format(faults: FaultServer) -> None:
    result = run_cli("run", "--remote", faults.url, "-m", "alpha", "Hi", "--schema", "name, age int")
    (chat,) = faults.chats()
    sent = chat.body["response_format"]
    assert sent["type"] == "json_schema" and "grammar" not in chat.body
    assert sent["json_schema"]["schema"]["properties"] == {"name": {"type": "string"}, "age": {"type": "integer"}}
    assert result.returncode == 1 and b"before its JSON document closed" in result.stderr  # the fake answers prose


def test_json_has_the_local_fields_with_usage_stats(faults: FaultServer) -> None:
    result = run_cli("run", "--remote", faults.url, "-m", "beta", "Hi", "--json")
    data = json.loads(result.stdout)
    assert data["model"] == f"beta@{faults.url}" and data["remote"] == faults.url and data["path"] is None
    assert data["text"] == "Hello, remote world!" and data["finish_reason"] == "stop"
    assert data["stats"]["prompt_tokens"] == 10 and data["stats"]["generated_tokens"] == 5
    assert data["stats"]["time_to_first_token"] > 0


def test_llama_cpp_s_timings_and_sampling_are_used(faults: FaultServer) -> None:
    faults.mode = "llamacpp"
    result = run_cli("run", "--remote", faults.url, "-m", "alpha", "Hi", "--json", "--top-k", "5")
    stats = json.loads(result.stdout)["stats"]
    assert (stats["prompt_seconds"], stats["generation_seconds"], stats["cached_prompt_tokens"]) == (0.02, 0.05, 3)
    assert faults.chats()[0].body["top_k"] == 5 and faults.chats()[0].body["min_p"] == 0.05


def test_what_the_server_cannot_take_is_refused_before_sending(faults: FaultServer) -> None:
    result = run_cli("run", "--remote", faults.url, "-m", "alpha", "Hi", "--top-k", "5")
    assert result.returncode == 1 and "--top-k 5 cannot be sent" in err_line(result)
    faults.mode = "llamacpp"
    cached_probe = run_cli("run", "--remote", faults.url, "-m", "alpha", "Hi", "--ctx", "4096")
    # the probe is cached per remote: its first answer (plain OpenAI, context unknown) holds for a few minutes
    assert cached_probe.returncode == 0
    assert faults.chats() and len(faults.chats()) == 1


def test_ctx_beyond_a_llama_cpp_server_s_context_is_refused(faults: FaultServer) -> None:
    faults.mode = "llamacpp"
    result = run_cli("run", "--remote", faults.url, "-m", "alpha", "Hi", "--ctx", "4096")
    assert result.returncode == 1 and "its context is 2048 tokens" in err_line(result)
    assert faults.chats() == []
    assert run_cli("run", "--remote", faults.url, "-m", "alpha", "Hi", "--ctx", "1024").returncode == 0


def test_a_stream_cut_mid_answer_keeps_what_arrived_and_exits_4(faults: FaultServer) -> None:
    faults.mode = "cut"
    result = run_cli("run", "--remote", faults.url, "-m", "alpha", "Hi")
    assert result.returncode == 4
    assert result.stdout.decode() == "Hello, remote\n"
    assert "was cut after 13 characters" in err_line(result)


@pytest.mark.parametrize(("mode", "said"), [("bad_json", "malformed JSON"), ("not_sse", "not server-sent events")])
def test_a_garbled_stream_is_one_line_and_exit_4(faults: FaultServer, mode: str, said: str) -> None:
    faults.mode = mode
    result = run_cli("run", "--remote", faults.url, "-m", "alpha", "Hi")
    assert result.returncode == 4 and said in err_line(result)
    assert result.stdout.decode() == "Hello,\n"


def test_429_is_retried_after_retry_after(faults: FaultServer) -> None:
    faults.mode, faults.busy_times = "busy", 1
    started = time.monotonic()
    result = run_cli("run", "--remote", faults.url, "-m", "alpha", "Hi")
    assert result.returncode == 0 and result.stdout.decode() == "Hello, remote world!\n"
    assert len(faults.chats()) == 2 and time.monotonic() - started >= 1.0


def test_busy_for_too_long_gives_up_at_once(faults: FaultServer) -> None:
    faults.mode = "busy_long"
    started = time.monotonic()
    result = run_cli("run", "--remote", faults.url, "-m", "alpha", "Hi")
    assert result.returncode == 4 and "busy (HTTP 503" in err_line(result) and "3600" in result.stderr.decode()
    assert len(faults.chats()) == 1 and time.monotonic() - started < 10


def test_401_names_the_variable_and_never_prints_the_key(faults: FaultServer, isolated: Path) -> None:
    faults.mode = "auth"
    configure(isolated, f'[remotes.box]\nurl = "{faults.url}"\napi_key_env = "BOX_KEY"\n')
    unset = run_remote("run", "box/alpha", "Hi")
    assert unset.returncode == 4 and "set BOX_KEY" in err_line(unset)
    wrong = run_remote("run", "box/alpha", "Hi", env={"BOX_KEY": "not-it"})
    assert wrong.returncode == 4 and "BOX_KEY holds a key" in err_line(wrong) and b"not-it" not in wrong.stderr
    right = run_remote("run", "box/alpha", "Hi", env={"BOX_KEY": faults.key})
    assert right.returncode == 0 and faults.key.encode() not in right.stdout + right.stderr
    assert faults.chats()[-1].headers["Authorization"] == f"Bearer {faults.key}"


def test_404_lists_the_models_the_server_has(faults: FaultServer) -> None:
    faults.mode = "missing"
    result = run_cli("run", "--remote", faults.url, "-m", "gamma", "Hi")
    assert result.returncode == 1 and "does not serve model 'gamma' (it serves: alpha, beta)" in err_line(result)


def test_unreachable_is_exit_4(isolated: Path) -> None:
    result = run_cli("run", "--remote", "http://127.0.0.1:9", "-m", "alpha", "Hi")
    assert result.returncode == 4 and "cannot reach http://127.0.0.1:9" in err_line(result)


def test_offline_refuses_every_remote_without_a_request(faults: FaultServer, isolated: Path) -> None:
    configure(isolated, f'[remotes.box]\nurl = "{faults.url}"\n')
    for args in (["--remote", faults.url, "-m", "alpha"], ["box/alpha"]):
        result = run_cli("run", *args, "Hi", "--offline")
        assert result.returncode == 1 and "offline mode is on" in err_line(result)
    assert run_cli("run", "--remote", faults.url, "Hi", env={"HF_HUB_OFFLINE": "1"}).returncode == 1
    assert faults.seen == []


def test_a_configured_name_runs_there_and_its_allow_list_holds(faults: FaultServer, isolated: Path) -> None:
    configure(isolated, f'[remotes.box]\nurl = "{faults.url}/v1/"\nmodels = ["alpha"]\nheaders = {{ X-Team = "ml" }}\n')
    assert run_remote("run", "box/alpha", "Hi").stdout.decode() == "Hello, remote world!\n"
    assert faults.chats()[0].headers["X-Team"] == "ml"
    refused = run_remote("run", "box/beta", "Hi")
    assert refused.returncode == 1 and "not in this remote's models list" in err_line(refused)
    assert len(faults.chats()) == 1
    by_env = run_remote("run", "Hi", env={"LLAMACLI_REMOTE": "box"})  # no model named: the allow-list's first
    assert by_env.returncode == 0 and faults.chats()[-1].body["model"] == "alpha"


def test_a_bad_remotes_table_is_an_error_naming_the_line(isolated: Path) -> None:
    configure(isolated, 'temperature = 0.5\n\n[remotes.box]\nurl = "ftp://x"\n')
    result = run_remote("run", "box/alpha", "Hi")
    assert result.returncode == 1 and "config.toml, line 3: url must be http" in err_line(result)
    configure(isolated, '[remotes.box]\nurl = "http://x"\napi_key_env = "sk-123"\n')
    assert "never put the key itself" in run_remote("run", "box/alpha", "Hi").stderr.decode()


def test_unknown_remote_name(isolated: Path) -> None:
    result = run_cli("list", "--remote", "nowhere")
    assert result.returncode == 1 and "no remote named 'nowhere'" in err_line(result)


def test_list_remote_and_remotes(faults: FaultServer, isolated: Path) -> None:
    configure(isolated, f'[remotes.box]\nurl = "{faults.url}"\n\n[remotes.gone]\nurl = "http://127.0.0.1:9"\n')
    listed = run_cli("list", "--remote", "box")
    assert listed.returncode == 0 and "box/alpha" in listed.stdout.decode() and "box/beta" in listed.stdout.decode()
    data = json.loads(run_cli("list", "--remote", faults.url, "--json").stdout)
    assert [m["id"] for m in data["models"]] == ["alpha", "beta"]
    result = run_cli("remotes", "--json")
    assert result.returncode == 4
    box, gone = json.loads(result.stdout)
    assert box["answers"] and box["kind"] == "OpenAI-compatible server" and box["models"] == ["alpha", "beta"]
    assert not gone["answers"] and "cannot reach" in gone["error"]


def test_ctrl_c_closes_the_stream_at_once(faults: FaultServer) -> None:
    faults.mode = "slow"
    process = subprocess.Popen(
        [LLAMACLI, "run", "--remote", faults.url, "-m", "alpha", "Hi"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    process.stdout.read(5)  # the answer has begun
    process.send_signal(signal.SIGINT)
    assert process.wait(10) == 130
    assert faults.disconnected.wait(2)  # the server's next write found the connection closed
