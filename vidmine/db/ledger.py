"""The ``provider_calls`` ledger (every call to a transcription, embedding, vision or text
provider: tokens, audio seconds, cost, cache hits) and the ``response_cache`` its
responses are kept in, keyed by what was asked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from vidmine.db.base import Tables, json_value
from vidmine.models import CallRecord


class Ledger(Tables):
    """Provider calls and the response cache."""

    def record_provider_calls(
        self,
        video_id: str | None,
        calls: Sequence[CallRecord],
        cost_fn: Callable[[CallRecord], float | None] | None = None,
    ) -> None:
        """Store the calls; ``cost_fn`` prices one (None or no cost_fn: price unknown)."""
        if not calls:
            return
        rows = [
            (
                video_id,
                call.stage,
                call.provider,
                call.model,
                call.status,
                call.latency_ms,
                call.retries,
                call.input_tokens,
                call.output_tokens,
                call.audio_seconds,
                cost_fn(call) if cost_fn is not None else None,
                call.cached,
                call.error,
            )
            for call in calls
        ]
        with self.connection() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO provider_calls (video_id, stage, provider, model, status,"
                " latency_ms, retries, input_tokens, output_tokens, audio_seconds, cost_usd,"
                " cached, error) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )

    def provider_call_summary(self, video_id: str | None = None) -> dict[str, Any]:
        """Calls, tokens, audio seconds, cost and cache hits per stage/provider/model.

        Returns ``{"by_stage": [{"stage", "provider", "model", ...totals}], "total": {...}}``;
        ``video_id=None`` summarises all videos. ``unpriced_calls`` counts calls whose
        cost is unknown (left out of ``cost_usd``).
        """
        rows = self._fetch(
            "SELECT stage, provider, model, count(*) AS calls,"
            " count(*) FILTER (WHERE status = 'error') AS errors,"
            " count(*) FILTER (WHERE cached) AS cached,"
            " coalesce(sum(retries), 0)::int AS retries,"
            " coalesce(sum(input_tokens), 0)::bigint AS input_tokens,"
            " coalesce(sum(output_tokens), 0)::bigint AS output_tokens,"
            " coalesce(sum(audio_seconds), 0)::float8 AS audio_seconds,"
            " coalesce(sum(cost_usd), 0)::float8 AS cost_usd,"
            " count(*) FILTER (WHERE cost_usd IS NULL AND NOT cached) AS unpriced_calls,"
            " coalesce(sum(latency_ms), 0)::float8 AS latency_ms"
            " FROM provider_calls WHERE %s::text IS NULL OR video_id = %s"
            " GROUP BY stage, provider, model ORDER BY stage, provider, model",
            (video_id, video_id),
        )
        numeric = (
            "calls",
            "errors",
            "cached",
            "retries",
            "input_tokens",
            "output_tokens",
            "audio_seconds",
            "cost_usd",
            "unpriced_calls",
            "latency_ms",
        )
        total = {key: sum(row[key] for row in rows) for key in numeric}
        return {"video_id": video_id, "by_stage": rows, "total": total}

    def cache_get(self, key: str) -> dict[str, Any] | None:
        rows = self._fetch("SELECT response FROM response_cache WHERE cache_key = %s", (key,))
        return rows[0]["response"] if rows else None

    def cache_put(self, key: str, provider: str, model: str, response: dict[str, Any]) -> None:
        with self.connection() as conn:
            conn.execute(
                "INSERT INTO response_cache (cache_key, provider, model, response)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (cache_key) DO UPDATE SET"
                " provider = excluded.provider, model = excluded.model,"
                " response = excluded.response, created_at = now()",
                (key, provider, model, json_value(response)),
            )
