"""``POST /v1/chat/completions``: text and image prompts answered deterministically; with a
``json_schema`` response format, a JSON object made from the schema so that it validates."""

from __future__ import annotations

import hashlib
import json
import math
import time
from typing import Any

from fake_openai.failures import Behaviour


def message_text(messages: list[dict[str, Any]]) -> tuple[str, int]:
    """All text in the messages, and how many images they carry."""
    texts, images = [], 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            for part in content:
                if part.get("type") == "text":
                    texts.append(str(part.get("text", "")))
                elif part.get("type") == "image_url":
                    images += 1
    return "\n".join(texts), images


def seed_digest(seed: str) -> str:
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()


def example_from_schema(
    schema: dict[str, Any],
    seed: str,
    *,
    root: dict[str, Any] | None = None,
    name: str = "value",
    depth: int = 0,
) -> Any:
    """A deterministic value that validates against ``schema`` (the subset structured outputs use)."""
    root = root if root is not None else schema
    if depth > 20:
        return None
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part] if part else target
        return example_from_schema(target, seed, root=root, name=name, depth=depth + 1)
    if "const" in schema:
        return schema["const"]
    digest = seed_digest(f"{seed}/{name}")
    if "enum" in schema:
        return schema["enum"][int(digest[:8], 16) % len(schema["enum"])]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return example_from_schema(options[0], seed, root=root, name=name, depth=depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        properties = schema.get("properties", {})
        return {
            key: example_from_schema(sub, seed, root=root, name=key, depth=depth + 1)
            for key, sub in properties.items()
        }
    if kind == "array":
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        # Three, because answers often need "a few" of something (titles, posts).
        count = max(low, 3 if high is None else min(3, int(high)))
        item_schema = schema.get("items", {"type": "string"})
        return [
            example_from_schema(item_schema, seed, root=root, name=f"{name}[{i}]", depth=depth + 1)
            for i in range(count)
        ]
    if kind in ("number", "integer"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        value: float = (
            int(digest[:4], 16) % 100 if kind == "integer" else (int(digest[:4], 16) % 1000) / 10
        )
        if name.endswith("start_s") or name.endswith("end_s"):
            # A time in the media: the opening second is inside any media file there is.
            value = 0.0 if name.endswith("start_s") else 1.0
        elif low is not None and high is not None:
            value = (low + high) / 2
        elif low is not None:
            value = low + 1
        elif high is not None:
            value = high - 1
        return math.floor(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return int(digest[0], 16) % 2 == 0
    if kind == "null":
        return None
    text = f"fake {name} {digest[:8]}"
    min_len = int(schema.get("minLength", 0))
    max_len = schema.get("maxLength")
    text = text.ljust(min_len, "x")
    return text[: int(max_len)] if max_len is not None else text


def chat_completion(request: dict[str, Any], plan: Behaviour) -> tuple[dict[str, Any], bool]:
    """The completion for ``request``, and whether it was broken on purpose (``plan``'s
    malformed count or marker)."""
    text, images = message_text(request.get("messages", []))
    seed = seed_digest(text)
    response_format = request.get("response_format") or {}
    kind = response_format.get("type")
    if kind == "json_schema":
        schema = response_format.get("json_schema", {}).get("schema", {})
        content = json.dumps(example_from_schema(schema, seed))
    elif kind == "json_object":
        content = json.dumps({"answer": f"fake answer {seed[:8]}"})
    else:
        content = f"Fake answer {seed[:8]}."
    marked = bool(plan.malformed_marker) and plan.malformed_marker in text
    broken = bool(plan.malformed) or marked
    if broken:
        content = content[: max(1, len(content) // 2)]  # cut off mid-object: not JSON
    prompt_tokens = math.ceil(len(text) / 4) + 85 * images
    completion_tokens = math.ceil(len(content) / 4)
    completion = {
        "id": f"chatcmpl-fake-{seed[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "gpt-4o-mini"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    return completion, broken
