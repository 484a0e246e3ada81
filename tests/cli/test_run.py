"""`llamacli run` end to end: subprocesses of the installed program with the real model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli import LLAMACLI, run_cli

pytestmark = pytest.mark.slow

GREEDY = ("--temperature", "0", "--seed", "7")
COUNTING = "Count from 1 to 500, separated by commas."


def no_traceback(result: subprocess.CompletedProcess[bytes]) -> None:
    assert b"Traceback" not in result.stderr, result.stderr.decode()


def test_one_shot_prints_only_the_answer() -> None:
    result = run_cli("run", "smollm2:135m", "What is 2 + 2?", "-n", "24", *GREEDY)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert result.stdout.endswith(b"\n") and not result.stdout.endswith(b"\n\n\n")
    assert result.stderr == b""  # nothing else on stderr without --verbose


def test_default_model_is_used_when_none_is_named() -> None:
    result = run_cli("run", "--json", "Say hello.", "-n", "4", *GREEDY)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["model"] == "smollm2:135m"


def test_configured_default_model(isolated: Path, smollm2_path: Path) -> None:
    isolated.mkdir(parents=True, exist_ok=True)
    (isolated / "config.toml").write_text(f'default_model = "{smollm2_path}"\n')
    result = run_cli("run", "--json", "Say hello.", "-n", "2", *GREEDY)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["model"] == str(smollm2_path)


def test_json_output_shape() -> None:
    result = run_cli("run", "smollm2:135m", "Name a fruit.", "--json", "-n", "12", *GREEDY)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"model", "path", "text", "finish_reason", "stats"}
    assert data["finish_reason"] in ("stop", "length")
    assert isinstance(data["text"], str) and data["text"]
    stats = data["stats"]
    for key in (
        "prompt_tokens",
        "generated_tokens",
        "prompt_tokens_per_second",
        "generation_tokens_per_second",
        "time_to_first_token",
        "load_seconds",
        "cached_prompt_tokens",
        "prompt_seconds",
        "generation_seconds",
    ):
        assert isinstance(stats[key], int | float), key
    assert 0 < stats["generated_tokens"] <= 12
    assert result.stdout.count(b"\n") == 1  # one JSON document, one line


def test_stdin_is_appended_to_the_prompt_after_a_blank_line() -> None:
    piped = run_cli("run", "--json", "Summarize:", "-n", "16", *GREEDY, input="The cat sat on the mat all day.\n")
    inline = run_cli("run", "--json", "Summarize:\n\nThe cat sat on the mat all day.", "-n", "16", *GREEDY)
    assert piped.returncode == inline.returncode == 0, piped.stderr
    piped_data, inline_data = json.loads(piped.stdout), json.loads(inline.stdout)
    assert piped_data["text"] == inline_data["text"]
    assert piped_data["stats"]["prompt_tokens"] == inline_data["stats"]["prompt_tokens"]


def test_stdin_alone_is_the_prompt() -> None:
    result = run_cli("run", "smollm2:135m", "-n", "8", *GREEDY, input="What colour is the sky?")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_no_ansi_codes_when_piped_even_on_a_colour_terminal() -> None:
    env = {"TERM": "xterm-256color", "NO_COLOR": "", "FORCE_COLOR": ""}
    env_without = {k: v for k, v in {**os.environ, **env}.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    result = subprocess.run(
        [LLAMACLI, "run", "Use **bold** and [red]brackets[/red].", "-n", "20", "--verbose", *GREEDY],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env=env_without,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert b"\x1b" not in result.stdout
    assert b"\x1b" not in result.stderr
    assert b"tok/s" in result.stderr  # --verbose timings go to stderr, never stdout
    assert b"tok/s" not in result.stdout


def test_verbose_is_stats_only_and_debug_shows_llama_cpp_log() -> None:
    quiet = run_cli("run", "smollm2:135m", "Hi", "-n", "2", *GREEDY)
    verbose = run_cli("run", "smollm2:135m", "Hi", "-n", "2", "-v", *GREEDY)
    debug = run_cli("run", "smollm2:135m", "Hi", "-n", "2", "--debug", *GREEDY)
    assert quiet.returncode == verbose.returncode == debug.returncode == 0, debug.stderr
    assert b"llama_model_loader" not in quiet.stderr
    lines = verbose.stderr.decode().splitlines()  # the timings and the engine's one line; no llama.cpp log
    assert len(lines) == 2 and "tok/s" in lines[0] and lines[1].startswith("llama.cpp: "), lines
    assert b"llama_model_loader" in debug.stderr


def test_stop_and_max_tokens_flags() -> None:
    full = json.loads(run_cli("run", "--json", COUNTING, "-n", "40", *GREEDY).stdout)
    assert full["stats"]["generated_tokens"] == 40 and full["finish_reason"] == "length"
    stop = full["text"][12:15]
    cut = json.loads(run_cli("run", "--json", COUNTING, "-n", "40", "--stop", stop, *GREEDY).stdout)
    assert cut["finish_reason"] == "stop"
    assert cut["text"] == full["text"][: full["text"].find(stop)]


def test_unknown_model_exits_1_with_close_names() -> None:
    result = run_cli("run", "llama3.2:1bb", "hello")
    assert result.returncode == 1
    no_traceback(result)
    line = result.stderr.decode()
    assert line.count("\n") == 1
    assert "unknown model 'llama3.2:1bb'" in line and "llama3.2:1b" in line


def test_bad_values_exit_1_and_usage_errors_exit_2() -> None:
    bad_value = run_cli("run", "hi", "--temperature", "-1")
    assert bad_value.returncode == 1 and b"--temperature must be between" in bad_value.stderr
    unknown_flag = run_cli("run", "hi", "--no-such-flag")
    assert unknown_flag.returncode == 2
    not_a_number = run_cli("run", "hi", "--top-k", "many")
    assert not_a_number.returncode == 2
    nothing = run_cli("run", "smollm2:135m")
    assert nothing.returncode == 2 and b"no prompt" in nothing.stderr
    for result in (bad_value, unknown_flag, not_a_number, nothing):
        no_traceback(result)


def test_missing_file_exits_1() -> None:
    result = run_cli("run", "/nonexistent/model.gguf", "hi")
    assert result.returncode == 1 and b"no such model file" in result.stderr


def test_model_not_downloaded_says_how_to_pull() -> None:
    result = run_cli("run", "llama3.2:1b", "hi", "--offline")
    assert result.returncode == 1
    assert b"llamacli pull llama3.2:1b" in result.stderr


@pytest.mark.parametrize("kind", ["truncated", "random", "empty"])
def test_corrupt_gguf_exits_3_without_traceback(tmp_path: Path, smollm2_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.gguf"
    data = {"truncated": smollm2_path.read_bytes()[:50_000], "random": os.urandom(100_000), "empty": b""}[kind]
    path.write_bytes(data)
    result = run_cli("run", str(path), "hi")
    assert result.returncode == 3, result.stderr
    no_traceback(result)
    assert result.stderr.decode().startswith("llamacli: error: cannot load model")
    assert result.stderr.count(b"\n") == 1


def test_prompt_longer_than_the_context_exits_1_with_numbers() -> None:
    result = run_cli("run", "--ctx", "256", "word " * 400)
    assert result.returncode == 1
    no_traceback(result)
    message = result.stderr.decode()
    assert "the prompt is" in message and "context window is 256" in message and "--ctx" in message


def _start_long_generation() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [LLAMACLI, "run", COUNTING, "-n", "3000", "--ctx", "4096", *GREEDY],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_sigint_during_generation_exits_130_and_keeps_the_output() -> None:
    process = _start_long_generation()
    assert process.stdout is not None
    first = process.stdout.read(20)  # generation has started
    process.send_signal(signal.SIGINT)
    rest, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert b"Traceback" not in stderr
    assert b"interrupted" in stderr
    assert (first + rest).startswith(first) and len(first) == 20


def test_closed_pipe_exits_quietly() -> None:
    process = _start_long_generation()
    assert process.stdout is not None and process.stderr is not None
    head = process.stdout.read(5)
    process.stdout.close()  # like `| head -c 5`
    started = time.monotonic()
    returncode = process.wait(timeout=60)
    stderr = process.stderr.read()
    assert len(head) == 5
    assert returncode == 141, stderr
    assert stderr == b""
    assert time.monotonic() - started < 30  # it stopped generating instead of running to the end


def test_shell_pipeline_into_head() -> None:
    result = subprocess.run(
        ["bash", "-c", f"set -o pipefail; '{LLAMACLI}' run '{COUNTING}' -n 500 --temperature 0 | head -c 5"],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert len(result.stdout) == 5
    assert result.stderr == b""
    assert result.returncode == 141


def test_python_dash_m_is_the_same_program() -> None:
    import sys

    result = subprocess.run([sys.executable, "-m", "llamacli", "--version"], capture_output=True, check=False)
    assert result.returncode == 0 and result.stdout.startswith(b"llamacli ")


def test_megabytes_on_stdin_get_a_context_error_quickly() -> None:
    started = time.monotonic()
    result = run_cli("run", "Summarize:", input=b"All work and no play makes Jack a dull boy. " * 200_000)  # 9 MB
    assert result.returncode == 1, result.stderr
    assert b"the prompt is at least" in result.stderr and b"context window is 4096" in result.stderr
    assert time.monotonic() - started < 60


def test_more_than_64_mib_on_stdin_is_refused() -> None:
    result = run_cli("run", "Summarize:", input=b"x" * (64 * 1024 * 1024 + 1))
    assert result.returncode == 1
    assert b"stdin is larger than 64 MiB" in result.stderr


def test_a_latin1_byte_on_stdin_is_replaced_and_said_once() -> None:
    """Issue 12, item 12: `printf 'caf\\xe9' | llamacli run` was a usage error that rejected the whole input."""
    result = run_cli("run", "smollm2:135m", "Repeat this word:", "-n", "4", *GREEDY, input=b"caf\xe9")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert result.stderr.decode().splitlines() == [
        "warning: stdin is not UTF-8 (first at byte 3): 1 invalid sequence replaced by U+FFFD"
        " (for the exact text, convert it first, e.g. iconv -f latin1 -t utf-8)"
    ]


def test_a_context_beyond_the_training_context_is_refused_as_the_overflow_error_says() -> None:
    """Issue 12, item 9: "cannot take more than 8192 tokens", yet --ctx 16384 ran past SmolLM2's training."""
    beyond = run_cli("run", "smollm2:135m", "hi", "--ctx", "16384", "-n", "1")
    assert beyond.returncode == 1, beyond.stderr
    assert beyond.stderr.decode().splitlines() == [
        "llamacli: error: a context window of 16384 tokens is more than this model was trained on (8192 tokens)"
        " (use --ctx 8192 or less: past its training context a model's answers fall apart)"
    ]
    too_long = run_cli("run", "smollm2:135m", "--ctx", "8192", "-n", "1", input="word " * 9000)
    assert too_long.returncode == 1, too_long.stderr
    assert b"this model cannot take more than 8192 tokens" in too_long.stderr
    within = run_cli("run", "smollm2:135m", "hi", "--ctx", "8192", "-n", "1", *GREEDY)
    assert within.returncode == 0, within.stderr


def test_seed_minus_one_means_random() -> None:
    result = run_cli("run", "smollm2:135m", "Say hi.", "-n", "2", "--seed", "-1")
    assert result.returncode == 0, result.stderr
    other = run_cli("run", "smollm2:135m", "Say hi.", "-n", "2", "--seed", "-2")
    assert other.returncode == 1 and b"(or -1: random)" in other.stderr


def test_help_command_shows_the_same_help_as_dash_dash_help() -> None:
    assert run_cli("help").stdout == run_cli("--help").stdout
    assert run_cli("help", "pull").stdout == run_cli("pull", "--help").stdout
    assert run_cli("help", "history", "show").stdout == run_cli("history", "show", "--help").stdout
    assert b"Usage: llamacli pull" in run_cli("help", "pull").stdout
