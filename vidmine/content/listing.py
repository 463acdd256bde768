"""A video's written content as ``vidmine content`` shows it: in the order people read the
types (titles first, not the database's alphabetical one), and the ``--format json`` shape.

This module must not print.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from vidmine.content.kinds import CONTENT_TYPES

if TYPE_CHECKING:
    from vidmine.db.models import ContentRecord


def in_reading_order(records: Sequence[ContentRecord]) -> list[ContentRecord]:
    order = {name: i for i, name in enumerate(CONTENT_TYPES)}
    return sorted(records, key=lambda r: (order.get(r.content_type, len(order)), r.content_type))


def content_json(video_id: str, records: Sequence[ContentRecord]) -> dict[str, Any]:
    return {
        "video_id": video_id,
        "content": {
            r.content_type: {
                "body": r.body,
                "extractive": r.extractive,
                "provider": r.provider,
                "model": r.model,
            }
            for r in records
        },
    }
