"""JSON Schemas as llama.cpp grammars: what can be expressed, refused by name before any model is loaded.

llama-cpp-python's converter (a port of llama.cpp's `json_schema_to_grammar.py`) turns a schema into GBNF
for llama.cpp's grammar sampler, so every token generated keeps the answer inside the schema. It quietly
ignores keywords it cannot express (`minimum`, `uniqueItems`...) and would let through answers that do not
validate; here those are refused, naming the keyword and where it is, so "every answer validates" holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from llamacli.errors import SchemaUnsupported

# Keywords the converter turns into grammar rules.
EXPRESSED = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems", "maxItems",
        "enum", "const", "oneOf", "anyOf", "allOf", "$ref", "$defs", "definitions", "pattern", "format",
        "minLength", "maxLength",
    }
)  # fmt: skip
# Keywords that say something about the schema, not about the values: harmless to ignore.
ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples", "deprecated", "readOnly",
     "writeOnly", "strict", "name"}
)  # fmt: skip
FORMATS = frozenset({"date", "time", "date-time", "uuid", "uuid1", "uuid2", "uuid3", "uuid4", "uuid5"})
TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
# Where keywords hold subschemas: a map of them, a list of them, or one.
_SCHEMA_MAPS = ("properties", "$defs", "definitions")
_SCHEMA_LISTS = ("oneOf", "anyOf", "allOf", "prefixItems")
_SCHEMA_ONE = ("items", "additionalProperties")

ANY_OBJECT: dict[str, Any] = {"type": "object"}  # `--format json`: any JSON object


def check(schema: Any) -> None:
    """SchemaUnsupported naming the first keyword (and its place) a grammar cannot enforce."""
    if not isinstance(schema, dict):
        raise SchemaUnsupported("(the schema)", "#", "a schema must be a JSON object")
    for where, node in _nodes(schema, "#"):
        for keyword, value in node.items():
            if keyword in ANNOTATIONS:
                continue
            if keyword not in EXPRESSED:
                raise SchemaUnsupported(keyword, where, "llama.cpp's grammar cannot enforce it")
            _check_value(keyword, value, where)
        _check_together(node, where)


def _check_value(keyword: str, value: Any, where: str) -> None:
    if keyword == "$ref" and not (isinstance(value, str) and value.startswith("#/")):
        raise SchemaUnsupported("$ref", where, f"only references inside the schema (#/...) are followed, not {value!r}")
    if keyword == "format" and value not in FORMATS:
        raise SchemaUnsupported("format", where, f"{value!r} is not one of {', '.join(sorted(FORMATS))}")
    if keyword == "type":
        kinds = value if isinstance(value, list) else [value]
        if not all(isinstance(k, str) and k in TYPES for k in kinds):
            raise SchemaUnsupported("type", where, f"{value!r} is not a JSON Schema type")


# The converter takes one branch per subschema (its `visit`): a keyword next to one that wins is dropped
# silently. (keyword, the keywords that make the converter drop it)
_DROPPED_NEXT_TO = (
    ("anyOf", ("oneOf",)),
    ("format", ("pattern",)),
    ("minLength", ("pattern", "format")),
    ("maxLength", ("pattern", "format")),
    ("items", ("prefixItems",)),
    ("minItems", ("prefixItems",)),
    ("maxItems", ("prefixItems",)),
)
_CONTAINERS = frozenset({"$defs", "definitions"})
_ONE_TYPE_ONLY = frozenset({"pattern", "format", "minLength", "maxLength", "minItems", "maxItems"})


def _check_together(node: dict[str, Any], where: str) -> None:
    """SchemaUnsupported for a keyword the converter would drop because of another one in the same subschema."""
    if "$ref" in node and (beside := sorted(node.keys() - ANNOTATIONS - _CONTAINERS - {"$ref"})):
        raise SchemaUnsupported(beside[0], where, "a grammar follows '$ref' alone: move it into the referenced schema")
    if isinstance(node.get("type"), list) and (beside := sorted(node.keys() & _ONE_TYPE_ONLY)):
        raise SchemaUnsupported(beside[0], where, "not enforced with a list of types: use anyOf, one type in each")
    for keyword, winners in _DROPPED_NEXT_TO:
        if keyword in node and (winner := next((w for w in winners if w in node), None)):
            raise SchemaUnsupported(keyword, where, f"a grammar enforces '{winner}' and drops it")
    properties = node.get("properties") or {}
    missing = [name for name in node.get("required") or [] if name not in properties]
    if missing:
        why = f"{missing[0]!r} is required but not among the properties, so the grammar would never write it"
        raise SchemaUnsupported("required", where, why)


def _nodes(node: dict[str, Any], where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema of NODE with its JSON pointer, NODE first."""
    yield where, node
    for keyword in _SCHEMA_MAPS:
        for name, sub in (node.get(keyword) or {}).items():
            if isinstance(sub, dict):
                yield from _nodes(sub, f"{where}/{keyword}/{name}")
    for keyword in _SCHEMA_LISTS:
        for i, sub in enumerate(node.get(keyword) or []):
            if isinstance(sub, dict):
                yield from _nodes(sub, f"{where}/{keyword}/{i}")
    for keyword in _SCHEMA_ONE:
        sub = node.get(keyword)
        if isinstance(sub, dict):
            yield from _nodes(sub, f"{where}/{keyword}")


def to_grammar(schema: dict[str, Any]) -> str:
    """The GBNF grammar (root rule `root`) of a checked SCHEMA; SchemaUnsupported when the converter refuses
    a part of it (a regular expression it cannot translate, a reference it cannot resolve)."""
    from llamacli.engine import native

    check(schema)
    try:
        grammar: str = native.grammar_converter().json_schema_to_gbnf(json.dumps(schema))
    except (ValueError, AssertionError, KeyError, RecursionError) as e:
        keyword = "pattern" if "pattern" in str(e) or "/" in str(e)[:2] else "$ref" if "ref" in str(e) else "schema"
        raise SchemaUnsupported(keyword, "#", str(e).splitlines()[0][:160] or type(e).__name__) from None
    return grammar
