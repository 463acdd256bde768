"""What one kind of written content is: the small protocol every module in ``kinds/`` fills.

A :class:`ContentKind` holds everything vidmine knows about one content type: the
label people see, what to ask a language model for (system prompt, JSON schema and
the type's own rules in the user prompt), how to write it without one (``extract``),
how to check and repair an answer (``check``) and how to show it (``render``).

The schemas stay inside the subset OpenAI's strict mode accepts (and other
OpenAI-compatible servers usually do): every object lists all its properties in
``required`` and forbids others, and there are no length or count keywords. Those
limits live in the kind's module as constants instead; the prompts state them and
``check`` enforces them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from vidmine.content.analysis import Analysis
from vidmine.content.context import VideoContext

# Bump when code shared by every kind (the extractive engine, the prompt digest, the
# checks) changes what the kinds write; a change to one kind's code bumps its revision.
CONTENT_CODE_VERSION = 1

COMMON_RULES = (
    "You write content about one video, working only from the timestamped digest of "
    "its speech, on-screen text and frames that the user sends. State nothing the "
    "digest does not support: no invented names, numbers, quotes, outcomes or calls to "
    "action. Write in the language of the speech (English when there is none). Times "
    "are seconds from the start of the video and must lie within its duration."
)

Body = dict[str, Any]  # an answer of one content type, shaped by its schema


def _no_rules(ctx: VideoContext) -> list[str]:
    return []


@dataclass(frozen=True)
class ContentKind:
    """One kind of content: what to ask for, what shape the answer has, and what to do with it."""

    name: str
    label: str  # heading in Markdown and the UI
    description: str
    task: str  # what the model is asked to do, after the rules every kind shares
    schema: dict[str, Any]
    extract: Callable[[Analysis], Body]  # the body written from the video's own material
    check: Callable[[Body, VideoContext], Body]  # a repaired copy, or InvalidContent
    render: Callable[[Body], str]  # the body as Markdown, without the heading
    prompt_rules: Callable[[VideoContext], list[str]] = _no_rules  # for this video's prompt
    revision: int = 1  # bump when this kind's extract, check or rules change what it writes

    @property
    def system_prompt(self) -> str:
        return f"{COMMON_RULES}\n\nTask: {self.task}"

    @cached_property
    def version(self) -> str:
        """A short hash of the prompt, the schema and the code versions.

        It changes whenever what this kind asks for or how it is written changes, so it
        can serve as the ``code_version`` of what is made from it.
        """
        canonical = json.dumps(
            {
                "code": CONTENT_CODE_VERSION,
                "revision": self.revision,
                "name": self.name,
                "system_prompt": self.system_prompt,
                "description": self.description,
                "schema": self.schema,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def strings(description: str) -> dict[str, Any]:
    return {"type": "array", "description": description, "items": {"type": "string"}}


def number(description: str) -> dict[str, Any]:
    return {"type": "number", "description": description}


def closed_object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
