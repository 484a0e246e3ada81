"""Slash-command parsing and /set validation (pure logic)."""

from __future__ import annotations

import pytest

from llamacli.engine import GenerationParams
from llamacli.errors import ChatCommandError
from llamacli.services import chat_commands
from llamacli.services.chat_commands import Command, parse


def test_messages_and_commands() -> None:
    assert parse("hello there") == "hello there"
    assert parse("//etc is a folder") == "/etc is a folder"
    assert parse("/bye") == Command("bye")
    assert parse("/exit") == Command("bye")
    assert parse("  /system Be brief.  ") == Command("system", "Be brief.")
    assert parse("/SET temperature 0.2") == Command("set", "temperature 0.2")


def test_unknown_command_gets_a_hint() -> None:
    with pytest.raises(ChatCommandError) as caught:
        parse("/sytem hi")
    assert caught.value.message == "unknown command /sytem"
    assert "did you mean /system?" in (caught.value.hint or "")


def test_every_command_is_in_help() -> None:
    text = "\n".join(chat_commands.help_lines())
    for name in chat_commands.COMMANDS:
        assert f"/{name}" in text


@pytest.mark.parametrize(
    ("argument", "field", "value"),
    [
        ("temperature 0.2", "temperature", 0.2),
        ("top_p 0.5", "top_p", 0.5),
        ("top-k 7", "top_k", 7),
        ("seed 42", "seed", 42),
        ("seed none", "seed", None),
        ("seed -1", "seed", None),  # the usual "random"
        ("max_tokens 16", "max_tokens", 16),
        ("min_p 0", "min_p", 0.0),
        ("repeat_penalty 1.1", "repeat_penalty", 1.1),
    ],
)
def test_set_accepts_good_values(argument: str, field: str, value: object) -> None:
    assert getattr(chat_commands.apply_setting(GenerationParams(), argument), field) == value


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("temperature hot", "temperature must be a number, got 'hot'"),
        ("temperature 11", "temperature must be between 0 and 10, got 11"),
        ("top_p nan", "top_p must be between 0 and 1, got nan"),
        ("top_k 1.5", "top_k must be a whole number, got '1.5'"),
        ("max_tokens 0", "max_tokens must be at least 1, got 0"),
        ("seed -2", "seed must be between 0 and 4294967294 (or -1: random), got -2"),
        ("temprature 1", "no setting 'temprature'"),
        ("temperature", "usage: /set NAME VALUE"),
    ],
)
def test_set_rejects_bad_values(argument: str, message: str) -> None:
    with pytest.raises(ChatCommandError) as caught:
        chat_commands.apply_setting(GenerationParams(), argument)
    assert caught.value.message == message


def test_names_and_blocks() -> None:
    assert chat_commands.check_name("ideas-2") == "ideas-2"
    for bad in ("", "12", "a b", "../x"):
        with pytest.raises(ChatCommandError):
            chat_commands.check_name(bad)
    assert chat_commands.opens_block('"""')
    assert chat_commands.opens_block('"""first line')
    assert not chat_commands.opens_block('"""all on one line"""')
    assert chat_commands.block_text(['"""first', "second", '"""']) == "first\nsecond"
