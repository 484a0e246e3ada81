"""config.toml: every option of run and chat, their precedence, and what a bad file says."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llamacli.base import settings
from llamacli.engine.params import GenerationParams
from llamacli.errors import ConfigError, InvalidValue
from llamacli.services import run


def write_config(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_option_of_run_and_chat_can_be_set(isolated: Path) -> None:
    write_config(
        isolated,
        'default_model = "smollm2:135m"\nsystem = "Be brief."\ntemperature = 0\ntop_p = 0.5\ntop_k = 7\n'
        'min_p = 0.1\nrepeat_penalty = 1.1\nseed = 42\nmax_tokens = 12\nstop = ["END", "\\n\\n"]\n'
        "ctx = 512\nthreads = 1\n",
    )
    chosen = run.options(settings.Settings())
    assert chosen.system == "Be brief."
    gen = chosen.gen
    assert (gen.temperature, gen.top_p, gen.top_k, gen.min_p, gen.repeat_penalty) == (0, 0.5, 7, 0.1, 1.1)
    assert (gen.seed, gen.max_tokens, gen.stop) == (42, 12, ("END", "\n\n"))
    assert (chosen.load.n_ctx, chosen.load.n_threads) == (512, 1)
    assert chosen.config.default_model == "smollm2:135m" and chosen.config.warnings == ()
    assert isinstance(gen.temperature, float)  # TOML's 0 is an integer; the setting is a number


def test_a_flag_beats_the_file_and_the_file_beats_the_built_in_default(isolated: Path) -> None:
    write_config(isolated, "temperature = 0.3\nthreads = 1\n")
    chosen = run.options(settings.Settings(temperature=0.9, stop=("x",)))
    assert chosen.gen.temperature == 0.9  # the flag
    assert chosen.load.n_threads == 1  # the file
    assert chosen.gen.top_p == 0.95 and chosen.gen.stop == ("x",)  # built in; a flag alone
    assert run.options(settings.Settings()).gen.temperature == 0.3


def test_the_environment_beats_the_file(isolated: Path) -> None:
    write_config(isolated, 'default_model = "llama3.2:1b"\n')
    assert settings.load({**os.environ, "LLAMACLI_MODEL": "smollm2:135m"}).default_model == "smollm2:135m"
    assert settings.load().default_model == "llama3.2:1b"


def test_a_single_stop_string_is_allowed(isolated: Path) -> None:
    write_config(isolated, 'stop = "END"\n')
    assert settings.load().stop == ("END",)


def test_an_unknown_key_is_a_warning_with_the_file_line_and_the_close_match(isolated: Path) -> None:
    path = write_config(isolated, '# mine\ntemperature = 0\n\ndefault_modle = "smollm2:135m"\n')
    loaded = settings.load()
    assert loaded.temperature == 0 and loaded.default_model is None
    (warning,) = loaded.warnings
    assert warning == f"{path}, line 4: unknown key 'default_modle' is ignored (did you mean 'default_model'?)"


def test_an_unknown_table_is_found_on_its_line(isolated: Path) -> None:
    path = write_config(isolated, "seed = 1\n[run]\ntemperature = 0\n")
    (warning,) = settings.load().warnings
    assert warning.startswith(f"{path}, line 2: unknown key 'run' is ignored (known keys: default_model, ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("temperature = 20\n", "line 1: temperature must be between 0 and 10, got 20"),
        ('\ntemperature = "hot"\n', "line 2: temperature must be a number, got 'hot'"),
        ("top_k = 4.5\n", "line 1: top_k must be a whole number, got 4.5"),
        ("threads = 0\n", "line 1: threads must be between 1 and 1024, got 0"),
        ("ctx = true\n", "line 1: ctx must be a whole number, got True"),
        ("max_tokens = 0\n", "line 1: max_tokens must be at least 1, got 0"),
        ("top_p = nan\n", "line 1: top_p must be between 0 and 1, got nan"),
        ("stop = [1]\n", "line 1: stop must be a string or a list of strings, got [1]"),
        ("system = 3\n", "line 1: system must be a string, got 3"),
        ("default_model = 3\n", "line 1: default_model must be a string, got 3"),
    ],
)
def test_an_invalid_value_names_the_file_line_and_key(isolated: Path, text: str, message: str) -> None:
    path = write_config(isolated, text)
    with pytest.raises(ConfigError) as raised:
        settings.load()
    assert raised.value.message == f"{path}, {message}"
    assert raised.value.hint is not None and "remove the line" in raised.value.hint


def test_an_invalid_flag_names_the_flag_even_when_the_file_is_fine(isolated: Path) -> None:
    write_config(isolated, "temperature = 0.5\n")
    with pytest.raises(InvalidValue) as raised:
        run.options(settings.Settings(temperature=20))
    assert raised.value.message == "--temperature must be between 0 and 10, got 20"
    with pytest.raises(InvalidValue) as raised:
        run.options(settings.Settings(threads=0))
    assert raised.value.message == "--threads must be between 1 and 1024, got 0"


def test_no_file_is_the_built_in_defaults(isolated: Path) -> None:
    chosen = run.options(settings.Settings())
    assert chosen.gen == GenerationParams() and chosen.system is None
    assert (chosen.load.n_ctx, chosen.load.n_threads, chosen.load.native_log) == (None, None, False)


def test_the_prompt_cache_is_on_by_default_under_the_user_cache_directory(isolated: Path) -> None:
    load = run.options(settings.Settings()).load
    assert load.prompt_cache_dir == isolated / "cache" / "prompts"
    assert load.prompt_cache_bytes == 4 * 2**30


def test_the_prompt_cache_is_turned_off_and_capped_by_flag_file_or_environment(isolated: Path) -> None:
    assert run.options(settings.Settings(prompt_cache=False)).load.prompt_cache_dir is None  # --no-cache
    write_config(isolated, 'prompt_cache = false\nprompt_cache_max = "512M"\n')
    from_file = run.options(settings.Settings()).load
    assert (from_file.prompt_cache_dir, from_file.prompt_cache_bytes) == (None, 512 * 2**20)
    assert run.options(settings.Settings(prompt_cache=True)).load.prompt_cache_dir is not None  # --cache wins
    env = {**os.environ, "LLAMACLI_PROMPT_CACHE": "1", "LLAMACLI_PROMPT_CACHE_MAX": "2G"}
    from_env = run.options(settings.Settings(), env=env).load
    assert (from_env.prompt_cache_dir, from_env.prompt_cache_bytes) == (isolated / "cache" / "prompts", 2 * 2**30)
    write_config(isolated, "prompt_cache_max = 1\n")  # a bare number is GiB, as --memory takes it
    assert run.options(settings.Settings()).load.prompt_cache_bytes == 2**30
    for off in ("0", "false", "OFF", "no"):
        assert (
            run.options(settings.Settings(), env={**os.environ, "LLAMACLI_PROMPT_CACHE": off}).load.prompt_cache_dir
            is None
        )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prompt_cache = 0\n", "line 1: prompt_cache must be true or false, got 0"),
        (
            'prompt_cache_max = "lots"\n',
            "line 1: prompt_cache_max must be a size such as 8G, 16GiB or 512M, got 'lots'",
        ),
        ("prompt_cache_max = true\n", 'line 1: prompt_cache_max must be a size such as "4G", got True'),
    ],
)
def test_a_bad_prompt_cache_key_names_the_file_line_and_key(isolated: Path, text: str, message: str) -> None:
    path = write_config(isolated, text)
    with pytest.raises(ConfigError) as raised:
        settings.load()
    assert raised.value.message == f"{path}, {message}"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LLAMACLI_PROMPT_CACHE", "maybe", "LLAMACLI_PROMPT_CACHE must be 1 or 0 (on or off), got 'maybe'"),
        ("LLAMACLI_PROMPT_CACHE_MAX", "0", "LLAMACLI_PROMPT_CACHE_MAX must be more than zero, got '0'"),
    ],
)
def test_a_bad_prompt_cache_variable_names_the_variable(isolated: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings.load({**os.environ, name: value})
    assert raised.value.message == message
