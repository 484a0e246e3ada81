"""`llamacli serve` as a command: its help, and what it refuses before it listens."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import run_cli


def test_serve_help_names_the_safety_options_and_the_exit_codes() -> None:
    result = run_cli("serve", "--help", timeout=60)
    assert result.returncode == 0 and result.stderr == b""
    text = result.stdout.decode()
    for option in ("--host", "--port", "--parallel", "--keep-alive", "--api-key", "--cors", "--json-log", "--ctx"):
        assert option in text, option
    assert "LLAMACLI_API_KEY" in text and "Exit codes:" in text
    assert "0    stopped by Ctrl-C or SIGTERM" in text


def test_a_taken_port_is_a_one_line_user_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = {"LLAMACLI_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1", "LLAMACLI_API_KEY": ""}
        result = run_cli("serve", "--port", str(port), env=env, timeout=60)
    lines = result.stderr.decode().splitlines()
    assert result.returncode == 1 and result.stdout == b"" and len(lines) == 1, lines
    assert f"127.0.0.1:{port}" in lines[0] and "--port" in lines[0]


def test_an_unknown_option_is_a_usage_error() -> None:
    result = run_cli("serve", "--bogus", timeout=60)
    assert result.returncode == 2 and "--bogus" in result.stderr.decode()
