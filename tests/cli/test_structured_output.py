"""`run --format json / --schema / --schema-multi` and chat's `/set format|schema`, end to end: refusals
before anything is loaded (quick), and real answers from the installed `llamacli` with the real model."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import jsonschema
import pexpect
import pytest

from tests.support.cli import LLAMACLI, run_cli

GREEDY = ("--temperature", "0", "-t", "1")
CITY = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 20}, "country": {"type": "string", "maxLength": 20}},
    "required": ["city", "country"],
}


def one_line(stderr: bytes) -> str:
    text = stderr.decode()
    assert "Traceback" not in text and text.count("\n") == 1, text
    return text


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--schema", '{"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}}'], 1,
         "the schema's 'minimum' at #/properties/n cannot be enforced"),
        (["--schema", '{"$ref": "https://example.com/s.json"}'], 1, "'$ref'"),
        (["--schema", '{"type": "string", "format": "email"}'], 1, "'format'"),
        (["--schema", '{"type": "object",}'], 1, "--schema is not valid JSON"),
        (["--schema", "missing.json"], 1, "no such file: missing.json"),
        (["--schema", "name, age years"], 1, "unknown type 'years'"),
        (["--schema-multi", "name, name"], 1, "'name' is given twice"),
        (["--format", "yaml"], 1, "--format must be 'json'"),
        (["--format", "json", "--schema", "name"], 2, "--format and --schema cannot be used together"),
    ],
)  # fmt: skip
def test_refused_before_the_model_is_loaded(args: list[str], code: int, says: str) -> None:
    for command in (["run", "Who are you?"], ["chat"]):
        result = run_cli(*command, *args)
        assert result.returncode == code
        assert result.stdout == b""
        assert says in one_line(result.stderr)


@pytest.mark.slow
def test_a_pipe_gets_the_document_on_one_line() -> None:
    result = run_cli("run", "List two capital cities.", "--schema-multi", "city, country", "-n", "200", *GREEDY)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert result.stdout.endswith(b"\n") and result.stdout.count(b"\n") == 1
    value = json.loads(result.stdout)
    jsonschema.validate(value, {"type": "object", "properties": {"items": {"type": "array"}}, "required": ["items"]})
    assert all(set(item) == {"city", "country"} for item in value["items"])


@pytest.mark.slow
def test_json_envelope_carries_the_value(tmp_path: Path) -> None:
    schema_file = tmp_path / "city.schema.json"
    schema_file.write_text(json.dumps(CITY), encoding="utf-8")
    result = run_cli("run", "What is the capital of France?", "--schema", str(schema_file), "--json", *GREEDY)
    assert result.returncode == 0, result.stderr
    envelope = json.loads(result.stdout)
    assert list(envelope) == ["model", "path", "text", "data", "finish_reason", "stats"]
    assert envelope["data"] == json.loads(envelope["text"], strict=False)
    assert envelope["finish_reason"] == "stop" and envelope["stats"]["grammar_resamples"] >= 0
    jsonschema.validate(envelope["data"], CITY)


@pytest.mark.slow
@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_cut_answer_exits_1_and_prints_nothing(json_flag: list[str]) -> None:
    result = run_cli("run", "Describe a dog.", "--format", "json", "-n", "5", *GREEDY, *json_flag)
    assert result.returncode == 1
    assert result.stdout == b""
    assert "the answer was cut after 5 tokens, before its JSON document closed" in one_line(result.stderr)


@pytest.mark.slow
def test_a_terminal_gets_the_document_indented() -> None:
    child = pexpect.spawn(
        LLAMACLI,
        ["run", "What is the capital of France?", "--schema", json.dumps(CITY), *GREEDY],
        env={**os.environ, "TERM": "dumb"},
        timeout=180,
    )
    child.expect(pexpect.EOF)
    child.close()
    shown = child.before.decode().replace("\r\n", "\n")
    assert child.exitstatus == 0, shown
    assert shown.startswith('{\n  "city": ')
    jsonschema.validate(json.loads(shown), CITY)


@pytest.mark.slow
def test_ctrl_c_while_writing_prints_no_document() -> None:
    # A document that cannot close before a thousand numbers (thousands of tokens): Ctrl-C always comes first
    # (a free "story" string was closed by the model after 15 tokens, sometimes before the Ctrl-C)
    long = '{"type": "object", "properties": {"numbers": {"type": "array", "items": {"type": "integer"}, '
    long += '"minItems": 1000}}, "required": ["numbers"]}'
    child = pexpect.spawn(
        LLAMACLI,
        ["run", "Count from 1 to 2000.", "--schema", long, "-n", "4000", *GREEDY],
        env={**os.environ, "TERM": "xterm-256color"},
        timeout=180,
    )
    child.expect("Writing JSON")  # the spinner on stderr: the document is being generated
    time.sleep(0.5)
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    shown = child.before.decode()
    assert child.exitstatus == 130, shown
    assert "interrupted" in shown and "Traceback" not in shown
    assert '"numbers"' not in shown  # no part of the document, on the terminal or anywhere


@pytest.mark.slow
def test_chat_set_schema_then_format_off() -> None:
    lines = "\n".join(
        [
            "/set schema city, country",
            "What is the capital of France?",
            "/show",
            "/set format off",
            "Say hello.",
            "/set schema {",
            "/bye",
        ]
    )
    result = run_cli("chat", *GREEDY, "-n", "60", input=lines + "\n")
    assert result.returncode == 0, result.stderr
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    document, prose = stdout.split("\n", 1)
    assert set(json.loads(document)) == {"city", "country"}
    assert prose.strip() and not prose.lstrip().startswith("{")
    assert "schema = schema" in stderr and "format = off" in stderr
    assert 'format: schema {"type": "object"' in stderr  # /show
    assert "/set schema is not valid JSON" in stderr  # a bad schema is said, and the chat goes on


@pytest.mark.slow
def test_chat_continue_answers_in_the_format_the_chat_had() -> None:
    first = run_cli("chat", "--schema", "colour", *GREEDY, "-n", "40", input="Name a colour.\n/bye\n")
    assert first.returncode == 0, first.stderr
    assert set(json.loads(first.stdout)) == {"colour"}
    again = run_cli("chat", "--continue", *GREEDY, "-n", "40", input="Another one.\n/show\n/bye\n")
    assert again.returncode == 0, again.stderr
    assert set(json.loads(again.stdout)) == {"colour"}  # held to the schema the conversation was held to
    assert "format: schema" in again.stderr.decode()
    prose = run_cli("chat", "--continue", *GREEDY, "-n", "20", input="/set format off\nSay hi.\n/bye\n")
    assert prose.returncode == 0 and "format = off" in prose.stderr.decode()  # (the model may still copy JSON)
    last = run_cli("chat", "--continue", *GREEDY, "-n", "20", input="/show\n/bye\n")
    assert "format: text" in last.stderr.decode()  # turning it off is kept too


@pytest.mark.slow
def test_chat_says_a_cut_document_and_goes_on() -> None:
    result = run_cli("chat", "--format", "json", *GREEDY, "-n", "3", input="Describe a dog.\n/set max_tokens 100\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""
    assert "the answer was cut after 3 tokens" in result.stderr.decode()
