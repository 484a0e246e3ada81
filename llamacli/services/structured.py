"""Structured output: from what the user asked (`--format json`, `--schema`, `--schema-multi`, `/set schema`,
an OpenAI `response_format`, ollama's `format`) to an `OutputFormat`, and from the answer's text to its value.

Everything here runs before a model is loaded, so a schema that cannot be read, parsed or enforced costs
nothing but one line. SCHEMA is inline JSON (it starts with `{`; `[` is read as JSON too, to be refused),
a file holding JSON, or the short field list of simonw/llm's concise syntax: `name, age int, tags list`,
with `NAME [TYPE][: description]` per field, commas or newlines between them (newlines let descriptions
hold commas).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llamacli.engine import json_schema
from llamacli.engine.params import GenerationParams
from llamacli.errors import DocumentCut, InvalidValue, LlamacliError, UsageError

# The concise syntax's types: llm's four (and their JSON Schema names), plus `list` (of strings) and
# `list[TYPE]` of one of them.
SCALARS = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
SCALARS |= {name: name for name in SCALARS.values()}
MAX_SCHEMA_BYTES = 1024 * 1024  # a schema file larger than this is not a schema
OFF = ("off", "none", "text")  # `/set format off`: back to prose
_FIELD_NAME = re.compile(r"^[A-Za-z_][\w.-]*\Z")
_LIST = re.compile(r"^list(?:\[(\w+)\])?\Z")


@dataclass(frozen=True)
class OutputFormat:
    """What every answer must be: a JSON document matching SCHEMA, enforced by GRAMMAR (GBNF) as it is sampled."""

    schema: dict[str, Any]
    grammar: str
    label: str  # how /show and the docs name it: "json" or "schema"

    def apply(self, params: GenerationParams) -> GenerationParams:
        """PARAMS sampling under this format's grammar."""
        return dataclasses.replace(params, grammar=self.grammar, json_schema=json.dumps(self.schema))

    def instruction(self) -> str:
        """What the model is told: small models pick better values when they see the schema they are held to."""
        if self.schema == json_schema.ANY_OBJECT:
            return "Answer with a JSON object, and nothing else."
        text = json.dumps(self.schema, ensure_ascii=False)
        return f"Answer with a JSON document that matches this JSON Schema, and nothing else:\n{text}"


def from_schema(schema: Any, label: str = "schema") -> OutputFormat:
    """An OutputFormat for a parsed JSON Schema (SchemaUnsupported names what a grammar cannot enforce)."""
    json_schema.check(schema)
    return OutputFormat(schema, _grammar(json.dumps(schema)), label)


@functools.lru_cache(maxsize=64)
def _grammar(canonical: str) -> str:
    """The grammar of a schema, by its JSON text (key order kept: it is the order the fields are written in);
    a server sees the same few schemas again and again."""
    return json_schema.to_grammar(json.loads(canonical))


ANY_JSON_LABEL = "json"


def any_object() -> OutputFormat:
    """`--format json`: any JSON object."""
    return from_schema(dict(json_schema.ANY_OBJECT), ANY_JSON_LABEL)


def from_flags(format: str | None, schema: str | None, schema_multi: str | None) -> OutputFormat | None:
    """The format `run`'s and `chat`'s flags ask for, or None for prose; at most one of them may be given."""
    flags = (("--format", format), ("--schema", schema), ("--schema-multi", schema_multi))
    given = [name for name, value in flags if value is not None]
    if len(given) > 1:
        raise UsageError(f"{' and '.join(given)} cannot be used together", "give one of them")
    if format is not None:
        if format.strip().lower() != "json":
            raise InvalidValue(f"--format must be 'json', not '{format}'", "for a particular shape, use --schema")
        return any_object()
    if schema is not None:
        return from_schema(load_schema(schema, "--schema"))
    if schema_multi is not None:
        return from_schema(multi(load_schema(schema_multi, "--schema-multi")))
    return None


def from_value(value: Any) -> OutputFormat:
    """ollama's `format` (and the server's other doors): the string "json", or a JSON Schema object."""
    if isinstance(value, str) and value.strip().lower() == "json":
        return any_object()
    if isinstance(value, dict):
        return from_schema(value)
    raise InvalidValue(f'format must be "json" or a JSON Schema object, not {json.dumps(value)[:60]}')


def from_response_format(response_format: Mapping[str, Any]) -> OutputFormat | None:
    """OpenAI's `response_format`: text (None), json_object (any object, or llama-cpp-python's `schema`
    extension), json_schema (its `json_schema.schema`; `strict` or not, the grammar always enforces it)."""
    kind = response_format.get("type", "text")
    if kind == "text":
        return None
    if kind == "json_object":
        schema = response_format.get("schema")
        return any_object() if schema is None else from_value(schema)
    if kind == "json_schema":
        inner = response_format.get("json_schema")
        schema = inner.get("schema") if isinstance(inner, dict) else None
        if schema is None:
            raise InvalidValue("response_format json_schema needs json_schema.schema")
        return from_value(schema)
    raise InvalidValue(f"response_format type must be text, json_object or json_schema, not {kind!r}")


def from_setting(name: str, value: str) -> OutputFormat | None:
    """`/set format json|off`, `/set schema SCHEMA|off`, `/set schema_multi SCHEMA|off` in a chat."""
    if value.strip().lower() in OFF:
        return None
    if name == "format":
        return from_flags(value.strip(), None, None)
    loaded = load_schema(value, f"/set {name}")
    return from_schema(multi(loaded) if name == "schema_multi" else loaded)


def load_schema(text: str, source: str = "--schema") -> Any:
    """SCHEMA from inline JSON, a file, or the concise syntax (InvalidValue naming SOURCE when it is none)."""
    stripped = text.strip()
    if not stripped:
        raise InvalidValue(f"{source} is empty", "give a JSON Schema, a file holding one, or fields: 'name, age int'")
    if stripped.startswith(("{", "[")):
        return _parse_json(stripped, source)
    path = Path(stripped).expanduser()
    if path.is_file():
        return _read_file(path)
    if path.exists() and _looks_like_path(stripped):
        raise InvalidValue(f"{source}: {stripped} is not a file", "give a JSON Schema file, inline JSON or fields")
    if _looks_like_path(stripped):
        raise InvalidValue(f"{source}: no such file: {stripped}", "give a JSON Schema file, inline JSON or fields")
    return concise(stripped, source)


def _looks_like_path(text: str) -> bool:
    """A single word with a slash or a .json ending is a file someone meant, not a field of the concise syntax."""
    return not re.search(r"[\s,:]", text) and ("/" in text or text.lower().endswith(".json"))


def _read_file(path: Path) -> Any:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_SCHEMA_BYTES + 1)
    except OSError as e:
        raise InvalidValue(f"cannot read the schema file {path}: {e.strerror or e}") from e
    if len(data) > MAX_SCHEMA_BYTES:
        raise InvalidValue(f"the schema file {path} is larger than {MAX_SCHEMA_BYTES // 1024} KiB")
    return _parse_json(data.decode("utf-8", errors="replace"), str(path))


def _parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidValue(f"{what} is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None


def concise(text: str, source: str = "--schema") -> dict[str, Any]:
    """The JSON Schema of llm's concise syntax: an object whose fields are all required."""
    separator = "\n" if "\n" in text else ","
    properties: dict[str, Any] = {}
    for line in (part.strip() for part in text.split(separator)):
        if not line:
            continue
        name, field = _field(line, source)
        if name in properties:
            raise InvalidValue(f"{source}: the field '{name}' is given twice")
        properties[name] = field
    if not properties:
        raise InvalidValue(f"{source} names no field", "e.g. 'name, age int, tags list'")
    return {"type": "object", "properties": properties, "required": list(properties)}


def _field(line: str, source: str) -> tuple[str, dict[str, Any]]:
    """(name, schema) of one `NAME [TYPE][: description]`."""
    head, colon, description = line.partition(":")
    words = head.split()
    if not words or len(words) > 2 or not _FIELD_NAME.match(words[0]):
        raise InvalidValue(
            f"{source}: cannot read the field '{line}'", "write NAME [TYPE][: description], e.g. 'age int: in years'"
        )
    field = _type(words[1] if len(words) == 2 else "str", source)
    if colon and description.strip():
        field["description"] = description.strip()
    return words[0], field


def _type(word: str, source: str) -> dict[str, Any]:
    lowered = word.lower()
    if lowered in SCALARS:
        return {"type": SCALARS[lowered]}
    if (match := _LIST.match(lowered)) and (match.group(1) or "str") in SCALARS:
        return {"type": "array", "items": {"type": SCALARS[match.group(1) or "str"]}}
    raise InvalidValue(f"{source}: unknown type '{word}'", "types: str (the default), int, float, bool, list[TYPE]")


def multi(schema: Any) -> dict[str, Any]:
    """`--schema-multi`: an object holding a list of SCHEMA's objects under "items", as llm does."""
    return {"type": "object", "properties": {"items": {"type": "array", "items": schema}}, "required": ["items"]}


def apply(params: GenerationParams, output: OutputFormat | None) -> GenerationParams:
    """PARAMS under OUTPUT's grammar, or under none (prose)."""
    return output.apply(params) if output else dataclasses.replace(params, grammar=None, json_schema=None)


def to_record(output: OutputFormat | None) -> str | None:
    """OUTPUT as a conversation's record keeps it (JSON: its label and schema); None for prose."""
    return None if output is None else json.dumps({"label": output.label, "schema": output.schema})


def from_record(text: str | None) -> OutputFormat | None:
    """The format a conversation's record keeps (`to_record`); None for prose, and for a record that is not
    one or whose schema can no longer be enforced (the history is read, not trusted)."""
    if not text:
        return None
    try:
        record = json.loads(text)
        return from_schema(record["schema"], str(record["label"]))
    except (ValueError, TypeError, KeyError, LlamacliError):
        return None


def describe(output: OutputFormat | None) -> str:
    """The format in a line, for a chat's /show."""
    return "text" if output is None else f"{output.label} {json.dumps(output.schema, ensure_ascii=False)}"


def system_prompt(system: str | None, output: OutputFormat | None) -> str | None:
    """The system prompt with the format's instruction after it (or the instruction alone)."""
    if output is None:
        return system
    return f"{system}\n\n{output.instruction()}" if system else output.instruction()


def finish(text: str, reason: str, generated: int = 0) -> Any:
    """The answer's value; DocumentCut when it ended before its document closed (GENERATED tokens in).

    The grammar lets the model end only after a whole document, so text that does not parse was cut: by
    the token limit (finish reason "length"), the context, or a --stop string. A number cut by the limit
    still parses, as another number: with reason "length" a bare number is refused too.
    """
    try:
        value = json.loads(text, strict=False)  # the grammar's strings may hold raw newlines and tabs
    except json.JSONDecodeError:
        raise DocumentCut(generated) from None
    if reason == "length" and isinstance(value, int | float) and not isinstance(value, bool):
        raise DocumentCut(generated)
    return value
