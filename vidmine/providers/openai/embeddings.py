"""Text embeddings from an OpenAI-compatible ``embeddings`` endpoint, in batches."""

from __future__ import annotations

from typing import Any

from vidmine.providers.base import ProviderError
from vidmine.providers.cache import content_hash
from vidmine.providers.limits import RetryableAnswerError
from vidmine.providers.openai.client import OpenAIProvider, Usage, first_failure

EMBEDDING_BATCH_SIZE = 96


class OpenAIEmbedder(OpenAIProvider):
    """Text embeddings in batches, in the order given; ``dimensions`` sent to text-embedding-3."""

    stage = "embed"

    def __init__(
        self, *, dimensions: int, batch_size: int = EMBEDDING_BATCH_SIZE, **common: Any
    ) -> None:
        super().__init__(**common)
        self.dimensions = dimensions
        self.batch_size = batch_size

    def _sends_dimensions(self) -> bool:
        # Only the text-embedding-3 family accepts a dimensions parameter.
        return self.model.startswith("text-embedding-3")

    def embed(self, texts: list[str]) -> list[list[float]]:
        params = {"dimensions": self.dimensions}
        keys = [self.cache_key(content_hash(text), params) for text in texts]
        answers = first_failure(
            self.answers(
                keys,
                lambda batch: [
                    {"embedding": vector} for vector in self._embed_batch([texts[i] for i in batch])
                ],
                batch_size=self.batch_size,
            )
        )
        return [answer["embedding"] for answer in answers]

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        # The API rejects empty strings; a space embeds as "nothing" all the same.
        inputs = [text if text.strip() else " " for text in texts]
        extra: dict[str, Any] = {"dimensions": self.dimensions} if self._sends_dimensions() else {}

        def attempt(usage: Usage) -> list[list[float]]:
            answer = self._client.embeddings.create(
                model=self.model, input=inputs, encoding_format="float", **extra
            )
            usage.add(answer.usage)
            ordered = sorted(answer.data, key=lambda item: item.index)
            if len(ordered) != len(inputs):
                raise RetryableAnswerError(
                    f"asked for {len(inputs)} embeddings, got {len(ordered)}"
                )
            vectors = [list(map(float, item.embedding)) for item in ordered]
            if any(len(v) != self.dimensions for v in vectors):
                raise ProviderError(
                    f"{self.model} returned {len(vectors[0])}-dimensional embeddings but "
                    f"stages.embed.dimensions is {self.dimensions}; set it to match the model"
                )
            return vectors

        tokens = sum(len(text) for text in inputs) // 4
        return self.request(f"embedding of {len(inputs)} texts", attempt, tokens=tokens)
