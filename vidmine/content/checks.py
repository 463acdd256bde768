"""What the content kinds check answers with: the error types and the small repairs.

A kind's ``check`` raises :class:`InvalidContent` with what is wrong;
:func:`vidmine.content.validate.validate_content` turns it into a
:class:`ContentValidationError` that names the content type.
"""

from __future__ import annotations

import math
from typing import Any

from jsonschema import Draft202012Validator


class ContentValidationError(ValueError):
    """An answer for one content type is unusable; ``message`` says why."""

    def __init__(self, content_type: str, message: str) -> None:
        super().__init__(f"{content_type}: {message}")
        self.content_type = content_type
        self.message = message


class InvalidContent(ValueError):
    """Raised by a kind's check: the answer is unusable, for the reason given."""


def one_line(text: str) -> str:
    return " ".join(text.split())


def finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise InvalidContent(f"{what} is {value}, not a finite number of seconds")
    return float(value)


def schema_errors(schema: dict[str, Any], value: Any) -> list[str]:
    messages = []
    for error in Draft202012Validator(schema).iter_errors(value):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        # jsonschema quotes the offending value whole; a long answer must not flood the log.
        detail = error.message if len(error.message) <= 200 else error.message[:199] + "…"
        messages.append(f"{path.lstrip('.') or '(top level)'}: {detail}")
    return sorted(messages)


def text(value: str, what: str, limit: int | None = None) -> str:
    stripped = value.strip()
    if not stripped:
        raise InvalidContent(f"{what} is empty")
    if limit is not None and len(stripped) > limit:
        raise InvalidContent(f"{what} has {len(stripped)} characters; the limit is {limit}")
    return stripped


def unique_lines(values: list[str]) -> list[str]:
    seen: set[str] = set()
    result = []
    for value in values:
        line = one_line(value)
        if line and line.casefold() not in seen:
            seen.add(line.casefold())
            result.append(line)
    return result
