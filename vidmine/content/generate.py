"""Writes every content type for one video, with a language model or extractively.

With no generator, or the ``local`` provider (which has no language model), each
type is extracted from the video's own material. Otherwise all types go to the
provider in one ``generate_many`` batch, so it can run them concurrently within its
limits, and each answer is validated on its own: one bad answer fails that type
alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vidmine.config import DEFAULT_STAGE_MODELS, LOCAL_PROVIDER
from vidmine.content.context import VideoContext
from vidmine.content.extractive import extractive_contents
from vidmine.content.kinds import CONTENT_TYPES, content_kind
from vidmine.content.prompt import build_prompt
from vidmine.content.render import content_markdown
from vidmine.content.validate import ContentValidationError, validate_content
from vidmine.providers.base import GenerationRequest, GenerationResult, TextGenerator

EXTRACTIVE_MODEL = DEFAULT_STAGE_MODELS[LOCAL_PROVIDER]["generate"]


@dataclass(frozen=True)
class ContentResult:
    """One content type for one video: the body, its Markdown, or why there is none."""

    content_type: str
    body: dict[str, Any] | None
    markdown: str
    extractive: bool  # True: assembled from the video's material, no language model
    provider: str
    model: str
    error: str | None = None  # why there is no body (the content type is not repeated)

    @property
    def ok(self) -> bool:
        return self.error is None


def _requested_types(types: Sequence[str]) -> list[str]:
    unique = list(dict.fromkeys(types))
    for content_type in unique:
        content_kind(content_type)  # unknown names fail before any call is made
    return unique


def _extractive(ctx: VideoContext, types: list[str], model: str) -> dict[str, ContentResult]:
    results = {}
    for content_type, body in extractive_contents(ctx, types).items():
        try:
            checked: dict[str, Any] | None = validate_content(content_type, body, ctx)
            error = None
        except ContentValidationError as err:
            # Would be a bug here; keep the other types rather than lose them all.
            checked, error = None, f"extractive content failed validation: {err.message}"
        results[content_type] = ContentResult(
            content_type=content_type,
            body=checked,
            markdown=content_markdown(content_type, checked) if checked is not None else "",
            extractive=True,
            provider=LOCAL_PROVIDER,
            model=model,
            error=error,
        )
    return results


def _checked(
    ctx: VideoContext, content_type: str, answer: GenerationResult | None
) -> tuple[dict[str, Any] | None, str | None]:
    if answer is None:
        return None, "the provider returned no answer for this request"
    if answer.error is not None:
        return None, f"generation failed: {answer.error}"
    if not isinstance(answer.value, dict):
        return None, "the answer is not a JSON object"
    try:
        return validate_content(content_type, answer.value, ctx), None
    except ContentValidationError as err:
        return None, f"invalid answer: {err.message}"


def generate_content(
    ctx: VideoContext,
    generator: TextGenerator | None,
    *,
    types: Sequence[str] = CONTENT_TYPES,
) -> dict[str, ContentResult]:
    """Every requested content type for the video, keyed by type, in the requested order.

    A provider error for the whole batch (``ProviderError`` from ``generate_many``)
    propagates; an error in one answer is reported in that type's ``error``.
    """
    wanted = _requested_types(types)
    if generator is None:  # no language model (the local provider): extractive
        return _extractive(ctx, wanted, EXTRACTIVE_MODEL)

    kinds = [content_kind(content_type) for content_type in wanted]
    requests = [
        GenerationRequest(
            key=kind.name,
            system=kind.system_prompt,
            user=build_prompt(ctx, kind.name),
            schema_name=kind.name,
            schema=kind.schema,
        )
        for kind in kinds
    ]
    # One batch: the provider runs it at its own concurrency instead of one by one.
    answers = {answer.key: answer for answer in generator.generate_many(requests)}
    results = {}
    for content_type in wanted:
        body, error = _checked(ctx, content_type, answers.get(content_type))
        results[content_type] = ContentResult(
            content_type=content_type,
            body=body,
            markdown=content_markdown(content_type, body) if body is not None else "",
            extractive=False,
            provider=generator.provider,
            model=generator.model,
            error=error,
        )
    return results
