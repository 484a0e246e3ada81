"""Structured output's pure parts: the concise syntax, where a schema comes from, what is refused (before
any model is loaded), and reading an answer into its value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llamacli.engine.params import GenerationParams
from llamacli.errors import DocumentCut, InvalidValue, SchemaUnsupported, UsageError
from llamacli.services import structured


def test_concise_syntax_is_llms() -> None:
    assert structured.concise("name, age int, bio") == {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "bio": {"type": "string"}},
        "required": ["name", "age", "bio"],
    }


def test_concise_types_and_lists() -> None:
    schema = structured.concise("a str, b int, c float, d bool, e list, f list[int], g list[bool], h number")
    types = {name: field["type"] for name, field in schema["properties"].items()}
    assert types == {
        "a": "string", "b": "integer", "c": "number", "d": "boolean", "e": "array", "f": "array", "g": "array",
        "h": "number",
    }  # fmt: skip
    assert schema["properties"]["e"]["items"] == {"type": "string"}
    assert schema["properties"]["f"]["items"] == {"type": "integer"}


def test_descriptions_and_newlines_let_them_hold_commas() -> None:
    schema = structured.concise("name: the person's name\nage int: in years, rounded down\n\n")
    assert schema["properties"]["name"] == {"type": "string", "description": "the person's name"}
    assert schema["properties"]["age"] == {"type": "integer", "description": "in years, rounded down"}
    assert schema["required"] == ["name", "age"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("name, age integr", "unknown type 'integr'"),
        ("name, age list[dog]", "unknown type 'list[dog]'"),
        ("first name str", "cannot read the field 'first name str'"),
        ("(a), b", "cannot read the field '(a)'"),
        ("name, name int", "'name' is given twice"),
        (" , ,", "names no field"),
        ("", "is empty"),
    ],
)
def test_concise_mistakes_are_named(text: str, says: str) -> None:
    with pytest.raises(InvalidValue, match="--schema") as caught:
        structured.load_schema(text)
    assert says in caught.value.message


def test_inline_json_and_a_file(tmp_path: Path) -> None:
    inline = '{"type": "object", "properties": {"n": {"type": "integer"}}}'
    assert structured.load_schema(inline) == json.loads(inline)
    file = tmp_path / "dog.schema.json"
    file.write_text(inline, encoding="utf-8")
    assert structured.load_schema(str(file)) == json.loads(inline)


def test_a_file_that_is_not_there_is_not_taken_for_a_field(tmp_path: Path) -> None:
    for name in ("dog.json", str(tmp_path / "missing")):
        with pytest.raises(InvalidValue, match="no such file"):
            structured.load_schema(name)
    with pytest.raises(InvalidValue, match="is not a file"):
        structured.load_schema(str(tmp_path))


def test_bad_json_says_where(tmp_path: Path) -> None:
    with pytest.raises(InvalidValue, match=r"--schema is not valid JSON: .*\(line 1, column 12\)"):
        structured.load_schema('{"type": 1 x}')
    file = tmp_path / "bad.json"
    file.write_text('{\n  "type": "object",\n}', encoding="utf-8")
    with pytest.raises(InvalidValue, match=rf"{file} is not valid JSON: .*line 3"):
        structured.load_schema(str(file))


def test_unreadable_file() -> None:
    mem = Path("/proc/self/mem")  # a regular file whose first page cannot be read, even by root
    if not mem.is_file():
        pytest.skip("no /proc/self/mem here")
    with pytest.raises(InvalidValue, match="cannot read the schema file /proc/self/mem"):
        structured.load_schema(str(mem))


def test_multi_wraps_in_items_like_llm() -> None:
    output = structured.from_flags(None, None, "name, age int")
    assert output is not None
    assert output.schema["required"] == ["items"]
    assert output.schema["properties"]["items"]["type"] == "array"
    assert output.schema["properties"]["items"]["items"]["required"] == ["name", "age"]


def test_flags() -> None:
    assert structured.from_flags(None, None, None) is None
    output = structured.from_flags("JSON", None, None)
    assert output is not None and output.schema == {"type": "object"} and output.label == "json"
    with pytest.raises(InvalidValue, match="--format must be 'json'"):
        structured.from_flags("yaml", None, None)
    with pytest.raises(UsageError, match="--format and --schema-multi cannot be used together"):
        structured.from_flags("json", None, "a")


def test_the_grammar_goes_into_the_generation_parameters() -> None:
    output = structured.from_flags(None, "name", None)
    assert output is not None
    params = output.apply(GenerationParams(temperature=0))
    assert params.grammar == output.grammar and "root ::=" in params.grammar and params.temperature == 0
    assert structured.apply(params, None).grammar is None


@pytest.mark.parametrize(
    ("schema", "keyword", "where"),
    [
        ({"type": "object", "properties": {"age": {"type": "integer", "minimum": 0}}}, "minimum", "#/properties/age"),
        ({"type": "array", "items": {"type": "string"}, "uniqueItems": True}, "uniqueItems", "#"),
        ({"type": "object", "properties": {"a": {"$ref": "https://example.com/a.json"}}}, "$ref", "#/properties/a"),
        ({"type": "string", "format": "email"}, "format", "#"),
        ({"type": "string", "pattern": "^a+$", "maxLength": 3}, "maxLength", "#"),
        ({"type": ["string", "null"], "minLength": 1}, "minLength", "#"),
        ({"type": "object", "required": ["x"]}, "required", "#"),
        ({"$ref": "#/$defs/a", "type": "string", "$defs": {"a": {"type": "string"}}}, "type", "#"),
        ({"type": "object", "patternProperties": {"^a": {}}}, "patternProperties", "#"),
        ({"type": "thing"}, "type", "#"),
    ],
)
def test_what_a_grammar_cannot_enforce_is_refused_by_name(schema: dict[str, object], keyword: str, where: str) -> None:
    with pytest.raises(SchemaUnsupported) as caught:
        structured.from_schema(schema)
    assert (caught.value.keyword, caught.value.where) == (keyword, where)


def test_a_schema_must_be_an_object() -> None:
    with pytest.raises(SchemaUnsupported, match="the schema"):
        structured.from_schema(structured.load_schema("[1, 2]"))


def test_the_server_s_doors() -> None:
    assert structured.from_value("json").schema == {"type": "object"}
    assert structured.from_value({"type": "object", "properties": {"a": {"type": "integer"}}}).label == "schema"
    with pytest.raises(InvalidValue, match="format must be"):
        structured.from_value(3)
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    assert structured.from_response_format({"type": "text"}) is None
    json_object = structured.from_response_format({"type": "json_object"})
    assert json_object is not None and json_object.schema == {"type": "object"}
    strict = {"type": "json_schema", "json_schema": {"name": "a", "strict": True, "schema": schema}}
    output = structured.from_response_format(strict)
    assert output is not None and output.schema == schema
    with pytest.raises(InvalidValue, match=r"json_schema\.schema"):
        structured.from_response_format({"type": "json_schema", "json_schema": {"name": "a"}})
    with pytest.raises(InvalidValue, match="response_format type"):
        structured.from_response_format({"type": "yaml"})


def test_chat_settings() -> None:
    assert structured.from_setting("format", "off") is None
    assert structured.from_setting("schema", "none") is None
    output = structured.from_setting("schema", "name, age int")
    assert output is not None and output.schema["required"] == ["name", "age"]
    multi = structured.from_setting("schema_multi", "name")
    assert multi is not None and multi.schema["required"] == ["items"]
    with pytest.raises(InvalidValue, match="--format must be 'json'"):
        structured.from_setting("format", "xml")


def test_the_model_is_told_the_schema_after_the_system_prompt() -> None:
    output = structured.from_flags(None, "name", None)
    assert output is not None
    assert structured.system_prompt("Be terse.", None) == "Be terse."
    told = structured.system_prompt("Be terse.", output)
    assert told is not None and told.startswith("Be terse.\n\nAnswer with a JSON document")
    assert json.dumps(output.schema) in told
    assert structured.system_prompt(None, structured.any_object()) == "Answer with a JSON object, and nothing else."


def test_finish_reads_the_document() -> None:
    assert structured.finish('{ "a": [1, 2.5, true, null, "x"] } ', "stop", 9) == {"a": [1, 2.5, True, None, "x"]}
    assert structured.finish('{"text": "two\nlines"}', "stop") == {"text": "two\nlines"}  # raw newline from a grammar
    assert structured.finish('{"a": 1}', "length") == {"a": 1}  # closed on the last token allowed


@pytest.mark.parametrize(
    ("text", "reason"), [('{"a": [1, 2', "length"), ("", "length"), ("12", "length"), ('{"a"', "stop")]
)
def test_a_cut_document_is_refused(text: str, reason: str) -> None:
    with pytest.raises(DocumentCut) as caught:
        structured.finish(text, reason, 5)
    assert caught.value.generated == 5


def test_the_grammar_keeps_the_fields_in_the_schema_s_order() -> None:
    output = structured.from_flags(None, "zebra, apple int", None)
    assert output is not None
    root = next(line for line in output.grammar.splitlines() if line.startswith("root ::="))
    assert root.index("zebra") < root.index("apple")
