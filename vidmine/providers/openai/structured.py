"""JSON answers from a chat model under a JSON schema (OpenAI's structured outputs).

Used by the captioner and the text generator: :func:`chat_json` asks once and
validates the answer; a malformed answer raises ``RetryableAnswerError`` so the request
is asked again within the retry policy.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import openai

from vidmine.providers.base import ProviderError
from vidmine.providers.limits import RetryableAnswerError
from vidmine.providers.openai.client import Usage


def chat_json(
    client: openai.OpenAI,
    model: str,
    usage: Usage,
    *,
    messages: list[dict[str, Any]],
    schema_name: str,
    schema: dict[str, Any],
) -> dict[str, Any]:
    """One chat completion asking for JSON that validates against ``schema``."""
    completion = client.chat.completions.create(
        model=model,
        messages=messages,  # type: ignore[arg-type]
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": _schema_name(schema_name),
                "strict": is_strict_compatible(schema),
                "schema": schema,
            },
        },
    )
    usage.add(completion.usage)
    if not completion.choices:
        raise RetryableAnswerError("the answer had no choices")
    message = completion.choices[0].message
    if getattr(message, "refusal", None):
        raise ProviderError(f"the model refused: {message.refusal}")
    return parse_json_answer(message.content, schema)


def _schema_name(name: str) -> str:
    # OpenAI accepts only [a-zA-Z0-9_-]{1,64} here.
    return (re.sub(r"[^a-zA-Z0-9_-]", "_", name) or "answer")[:64]


def is_strict_compatible(schema: Any) -> bool:
    """Whether OpenAI's strict structured output accepts the schema: every object closed
    (``additionalProperties: false``) and listing all its properties as required."""
    if isinstance(schema, list):
        return all(is_strict_compatible(item) for item in schema)
    if not isinstance(schema, dict):
        return True
    if "properties" in schema or schema.get("type") == "object":
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            return False
        if set(schema.get("required", [])) != set(properties):
            return False
    return all(is_strict_compatible(value) for value in schema.values())


def parse_json_answer(content: str | None, schema: dict[str, Any]) -> dict[str, Any]:
    """The answer as a JSON object validated against ``schema``; RetryableAnswerError if not."""
    if not content:
        raise RetryableAnswerError("the answer was empty")
    try:
        value = json.loads(content)
    except json.JSONDecodeError as err:
        raise RetryableAnswerError(f"the answer was not valid JSON ({err.msg})") from None
    if not isinstance(value, dict):
        raise RetryableAnswerError("the answer was JSON but not an object")
    problem = schema_problem(value, schema)
    if problem:
        raise RetryableAnswerError(f"the answer does not match the schema: {problem}")
    return value


def schema_problem(value: Any, schema: dict[str, Any]) -> str | None:
    """Why ``value`` does not validate against ``schema``, or None when it does."""
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as err:
        where = "$" + "".join(f"[{p!r}]" for p in err.absolute_path)
        return f"{where}: {err.message}"
    return None
