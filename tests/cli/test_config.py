"""config.toml through the installed `llamacli` (issue 12, item 15): every option of run and chat can be set
there, flags win, an unknown key is a warning and an invalid value an error, each naming the file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_cli

pytestmark = pytest.mark.slow

COUNTING = "Count from 1 to 500, separated by commas."


def write_config(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run_json(*args: str) -> dict:  # type: ignore[type-arg]
    result = run_cli("run", "--json", *args, "-t", "1")
    assert result.returncode == 0 and b"Traceback" not in result.stderr, result.stderr.decode()
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_run_takes_its_generation_options_from_the_file_and_flags_win(isolated: Path) -> None:
    greedy = run_json(COUNTING, "-n", "40", "--temperature", "0")
    stop = greedy["text"][12:15]
    write_config(isolated, f"temperature = 0\nmax_tokens = 6\nstop = {json.dumps([stop])}\n")
    capped = run_json(COUNTING, "--stop", "never")  # the flag's stop replaces the file's
    assert capped["stats"]["generated_tokens"] == 6 and capped["finish_reason"] == "length"
    assert greedy["text"].startswith(capped["text"])  # temperature = 0 from the file: greedy, as the flag is
    stopped = run_json(COUNTING, "-n", "40")  # the flag beats max_tokens; the file's stop ends the answer
    assert stopped["finish_reason"] == "stop"
    assert stopped["text"] == greedy["text"][: greedy["text"].find(stop)]


def test_run_takes_the_system_prompt_and_threads_from_the_file(isolated: Path) -> None:
    pirate = "You are a pirate who answers in rhymes."
    plain = run_json("Hi", "-n", "1", "--temperature", "0")
    flag = run_json("Hi", "-n", "1", "--temperature", "0", "--system", pirate)
    write_config(isolated, f'system = "{pirate}"\nthreads = 1\n')
    configured = run_json("Hi", "-n", "1", "--temperature", "0")
    # SmolLM2's template has a system prompt of its own when none is given: the counts differ, not grow
    assert configured["stats"]["prompt_tokens"] == flag["stats"]["prompt_tokens"] != plain["stats"]["prompt_tokens"]
    verbose = run_cli("run", "Hi", "-n", "1", "--temperature", "0", "-v")
    assert verbose.returncode == 0 and b"1 threads (as asked)" in verbose.stderr, verbose.stderr.decode()


def test_chat_takes_its_options_from_the_file_and_flags_win(isolated: Path) -> None:
    write_config(
        isolated,
        'temperature = 0.25\nmin_p = 0.1\nrepeat_penalty = 1.1\nctx = 256\nthreads = 1\nsystem = "Be brief."\n',
    )
    result = run_cli("chat", "--top-k", "5", "--repeat-penalty", "1.2", input="/show\n/bye\n")
    assert result.returncode == 0 and b"Traceback" not in result.stderr, result.stderr.decode()
    shown = result.stderr.decode()
    assert "256 tokens" in shown and "1 threads" in shown and "system: Be brief." in shown
    assert "temperature=0.25 " in shown and "top_k=5 " in shown and "min_p=0.1 " in shown
    assert "repeat_penalty=1.2 " in shown  # the flag, over the file's 1.1


def test_an_unknown_key_is_a_warning_naming_the_file_and_line(isolated: Path) -> None:
    path = write_config(isolated, 'temperature = 0\ndefault_modle = "smollm2:135m"\n')
    result = run_cli("run", "Hi", "-n", "2", "-t", "1")
    assert result.returncode == 0, result.stderr.decode()
    warning = f"warning: {path}, line 2: unknown key 'default_modle' is ignored (did you mean 'default_model'?)"
    assert result.stderr.decode().splitlines().count(warning) == 1


@pytest.mark.parametrize("command", [("run", "Hi"), ("chat",)])
def test_an_invalid_value_in_the_file_is_an_error_naming_the_file_and_key(
    isolated: Path, command: tuple[str, ...]
) -> None:
    path = write_config(isolated, "\nthreads = 0\n")
    result = run_cli(*command, input="Hi\n")
    assert result.returncode == 1 and not result.stdout
    assert result.stderr.decode().startswith(
        f"llamacli: error: {path}, line 2: threads must be between 1 and 1024, got 0 ("
    )
    assert result.stderr.count(b"\n") == 1


def test_an_invalid_flag_is_named_as_the_flag_over_a_valid_file(isolated: Path) -> None:
    write_config(isolated, "top_p = 0.5\n")
    result = run_cli("run", "Hi", "--top-p", "2")
    assert result.returncode == 1
    assert result.stderr == b"llamacli: error: --top-p must be between 0 and 1, got 2\n"
