"""JSON text generation under a JSON schema from an OpenAI-compatible chat model."""

from __future__ import annotations

import json
from typing import Any

from vidmine.providers.base import GenerationRequest, GenerationResult, ProviderError
from vidmine.providers.cache import content_hash
from vidmine.providers.openai.client import OpenAIProvider, first_failure
from vidmine.providers.openai.structured import chat_json


class OpenAITextGenerator(OpenAIProvider):
    """JSON written by a chat model under a JSON schema (structured outputs).

    A schema OpenAI's strict mode accepts (every object closed and fully required) is
    sent with ``strict: true``; others are sent non-strict. Either way the answer is
    validated here, and a malformed one is asked again up to ``max_retries`` times.
    """

    stage = "generate"

    def generate_json(
        self, *, system: str, user: str, schema_name: str, schema: dict[str, Any]
    ) -> dict[str, Any]:
        request = GenerationRequest(schema_name, system, user, schema_name, schema)
        return first_failure(self._answers([request]))[0]["value"]

    def generate_many(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        results = []
        for request, answer in zip(requests, self._answers(requests), strict=True):
            if isinstance(answer, BaseException):
                error = str(answer) if isinstance(answer, ProviderError) else self.describe(answer)
                results.append(GenerationResult(request.key, None, error=error))
            else:
                results.append(GenerationResult(request.key, answer["value"]))
        return results

    def _answers(self, requests: list[GenerationRequest]) -> list[dict[str, Any] | BaseException]:
        keys = [self._generation_key(request) for request in requests]
        return self.answers(
            keys, lambda batch: [{"value": self._generate(requests[i])} for i in batch]
        )

    def _generation_key(self, request: GenerationRequest) -> str:
        schema_text = json.dumps(request.schema, sort_keys=True)
        return self.cache_key(
            content_hash(request.system, request.user, request.schema_name, schema_text),
            {"format": "json_schema"},
        )

    def _generate(self, request: GenerationRequest) -> dict[str, Any]:
        messages = [
            {"role": "system", "content": request.system},
            {"role": "user", "content": request.user},
        ]
        return self.request(
            f"generation of {request.schema_name}",
            lambda usage: chat_json(
                self._client,
                self.model,
                usage,
                messages=messages,
                schema_name=request.schema_name,
                schema=request.schema,
            ),
            tokens=(len(request.system) + len(request.user)) // 4,
        )
