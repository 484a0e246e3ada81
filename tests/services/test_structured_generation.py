"""Structured answers from the real model: every JSON type, nesting, arrays with bounds, enums, optional
fields, patterns and formats; each answer read by `structured.finish` and validated with `jsonschema`.

SmolLM2-135M loops easily, so the schemas bound strings and lists (a grammar enforces maxLength and
maxItems token by token) and the answers are greedy.
"""

from __future__ import annotations

import datetime
from typing import Any

import jsonschema
import pytest

from llamacli.engine import Model
from llamacli.engine.chat_template import Message
from llamacli.engine.params import GenerationParams
from llamacli.services import structured

pytestmark = pytest.mark.slow

NAME = {"type": "string", "maxLength": 24}
SCHEMAS: dict[str, tuple[str, dict[str, Any]]] = {
    "every type": (
        "Describe a cat.",
        {
            "type": "object",
            "properties": {
                "name": NAME,
                "age": {"type": "integer"},
                "weight": {"type": "number"},
                "indoor": {"type": "boolean"},
                "owner": {"type": "null"},
                "toys": {"type": "array", "items": NAME, "maxItems": 3},
            },
            "required": ["name", "age", "weight", "indoor", "owner", "toys"],
        },
    ),
    "nested objects": (
        "Describe a book and its author.",
        {
            "type": "object",
            "properties": {
                "title": NAME,
                "author": {
                    "type": "object",
                    "properties": {"name": NAME, "born": {"type": "object", "properties": {"year": {"type": "integer"}},
                                                          "required": ["year"]}},
                    "required": ["name", "born"],
                },
            },
            "required": ["title", "author"],
        },
    ),
    "array with minItems": (
        "List some prime numbers.",
        {"type": "object", "properties": {"primes": {"type": "array", "items": {"type": "integer"}, "minItems": 3,
                                                     "maxItems": 5}}, "required": ["primes"]},
    ),
    "top-level array": ("Name three colours.", {"type": "array", "items": NAME, "minItems": 3, "maxItems": 3}),
    "enum": (
        "What colour is the sky?",
        {"type": "object", "properties": {"colour": {"enum": ["red", "green", "blue"]}, "sure": {"const": True}},
         "required": ["colour", "sure"]},
    ),
    "optional fields": (
        "Who wrote Hamlet?",
        {"type": "object", "properties": {"author": NAME, "year": {"type": "integer"}, "note": NAME},
         "required": ["author"], "additionalProperties": False},
    ),
    "pattern": (
        "Give a product code.",
        {"type": "object", "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"}},
         "required": ["code"]},
    ),
    "formats": (
        "When is the meeting?",
        {"type": "object", "properties": {"day": {"type": "string", "format": "date"},
                                          "at": {"type": "string", "format": "time"},
                                          "booked": {"type": "string", "format": "date-time"},
                                          "id": {"type": "string", "format": "uuid"}},
         "required": ["day", "at", "booked", "id"]},
    ),
    "anyOf and references": (
        "Describe a pet.",
        {"$defs": {"pet": {"type": "object", "properties": {"kind": {"enum": ["cat", "dog"]}, "name": NAME},
                           "required": ["kind", "name"]}},
         "type": "object", "properties": {"pet": {"$ref": "#/$defs/pet"},
                                          "count": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
         "required": ["pet", "count"]},
    ),
    "any object": ("Describe the weather as JSON.", {"type": "object"}),
}  # fmt: skip


def _answer(model: Model, prompt: str, output: structured.OutputFormat, max_tokens: int = 200) -> Any:
    system = structured.system_prompt(None, output)
    params = output.apply(GenerationParams(temperature=0, max_tokens=max_tokens))
    completion = model.generate([Message("system", system or ""), Message("user", prompt)], params)
    return structured.finish(completion.text, completion.reason, completion.stats.generated_tokens)


def _check_formats(value: Any, schema: dict[str, Any]) -> None:
    """The formats jsonschema leaves unchecked without extra packages: time and date-time, by the standard library."""
    for name, field in schema.get("properties", {}).items():
        if field.get("format") == "date-time":
            datetime.datetime.fromisoformat(value[name])
        elif field.get("format") == "time":
            datetime.time.fromisoformat(value[name])


@pytest.mark.parametrize("case", list(SCHEMAS))
def test_every_answer_validates(model: Model, case: str) -> None:
    prompt, schema = SCHEMAS[case]
    value = _answer(model, prompt, structured.from_schema(schema))
    jsonschema.validate(value, schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    _check_formats(value, schema)


def test_concise_syntax_and_multi(model: Model) -> None:
    output = structured.from_flags(None, None, "city, country: where it is")
    assert output is not None
    value = _answer(model, "List two capital cities.", output)
    jsonschema.validate(value, output.schema)
    assert len(value["items"]) >= 1 and all(set(item) == {"city", "country"} for item in value["items"])


def test_with_a_repeat_penalty_every_token_comes_from_the_grammar_first_chain(model: Model) -> None:
    """A penalty's history must hold the answer's tokens only: no token is sampled by the plain chain and then
    refused (which would enter its history), so nothing is resampled, and the answer still validates."""
    prompt, schema = SCHEMAS["every type"]
    output = structured.from_schema(schema)
    messages = [Message("system", structured.system_prompt(None, output) or ""), Message("user", prompt)]
    plain = model.generate(messages, output.apply(GenerationParams(temperature=0, max_tokens=200)))
    assert plain.stats.grammar_resamples > 0  # without a penalty the fast path checks, and sometimes resamples
    penalized = output.apply(GenerationParams(temperature=0, max_tokens=200, repeat_penalty=1.3))
    completion = model.generate(messages, penalized)
    assert completion.stats.grammar_resamples == 0
    value = structured.finish(completion.text, completion.reason, completion.stats.generated_tokens)
    jsonschema.validate(value, schema)
