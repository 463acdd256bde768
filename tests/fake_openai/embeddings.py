"""``POST /v1/embeddings``: a deterministic unit vector per input from a hash of it,
honouring ``dimensions`` and ``encoding_format``."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
from typing import Any

DEFAULT_EMBEDDING_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
FALLBACK_EMBEDDING_DIMENSIONS = 1536


def fake_embedding(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector from a hash of the text."""
    raw = hashlib.shake_256(text.encode("utf-8")).digest(4 * dimensions)
    values = [(v / 0xFFFFFFFF) * 2.0 - 1.0 for v in struct.unpack(f"<{dimensions}I", raw)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def embeddings(request: dict[str, Any]) -> dict[str, Any]:
    model = request.get("model", "text-embedding-3-small")
    inputs = request.get("input", [])
    if isinstance(inputs, str) or (inputs and isinstance(inputs[0], int)):
        inputs = [inputs]
    dimensions = int(
        request.get("dimensions")
        or DEFAULT_EMBEDDING_DIMENSIONS.get(model, FALLBACK_EMBEDDING_DIMENSIONS)
    )
    as_base64 = request.get("encoding_format") == "base64"
    data, tokens = [], 0
    for index, item in enumerate(inputs):
        text = item if isinstance(item, str) else json.dumps(item)
        tokens += max(1, math.ceil(len(text) / 4))
        vector = fake_embedding(text, dimensions)
        encoded: Any = (
            base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            if as_base64
            else vector
        )
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
