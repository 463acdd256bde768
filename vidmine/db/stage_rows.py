"""The ``stage_runs`` table: one row per video and stage (running, succeeded, failed or
skipped), with its times, error and metadata, for `vidmine status` and the web app.
"""

from __future__ import annotations

from typing import Any

from vidmine.db.base import Tables, json_value
from vidmine.db.models import STAGE_STATUSES, StageState


class StageRows(Tables):
    """Stage rows: started, finished, failed with their run, read back by video."""

    def start_stage(self, video_id: str, stage: str, run_id: str | None = None) -> None:
        with self._writing(video_id) as conn:
            conn.execute(
                "INSERT INTO stage_runs (video_id, stage, status, started_at, run_id)"
                " VALUES (%s, %s, 'running', now(), %s)"
                " ON CONFLICT (video_id, stage) DO UPDATE SET status = 'running',"
                " started_at = now(), finished_at = NULL, seconds = NULL, error = NULL,"
                " metadata = '{}'::jsonb, run_id = excluded.run_id",
                (video_id, stage, run_id),
            )

    def fail_unfinished_stages(self, run_id: str, error: str) -> dict[str, list[str]]:
        """Mark failed the stages that run ``run_id`` started and never finished (its
        process died); returns them by video. A stage since restarted by another run
        is left alone."""
        with self.connection() as conn:
            rows = conn.execute(
                "UPDATE stage_runs SET status = 'failed', finished_at = now(), error = %s"
                " WHERE run_id = %s AND status = 'running' RETURNING video_id, stage",
                (error, run_id),
            ).fetchall()
        stages: dict[str, list[str]] = {}
        for video_id, stage in rows:
            stages.setdefault(video_id, []).append(stage)
        return stages

    def finish_stage(
        self,
        video_id: str,
        stage: str,
        status: str,
        seconds: float,
        metadata: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        if status not in STAGE_STATUSES:
            raise ValueError(f"stage status must be one of {STAGE_STATUSES}, got {status!r}")
        with self._writing(video_id) as conn:
            conn.execute(
                "INSERT INTO stage_runs"
                " (video_id, stage, status, started_at, finished_at, seconds, error, metadata)"
                " VALUES (%(v)s, %(stage)s, %(status)s,"
                "  now() - make_interval(secs => %(seconds)s), now(),"
                "  %(seconds)s, %(error)s, %(metadata)s)"
                " ON CONFLICT (video_id, stage) DO UPDATE SET status = excluded.status,"
                " finished_at = excluded.finished_at, seconds = excluded.seconds,"
                " error = excluded.error, metadata = excluded.metadata",
                {
                    "v": video_id,
                    "stage": stage,
                    "status": status,
                    "seconds": seconds,
                    "error": error,
                    "metadata": json_value(metadata or {}),
                },
            )

    def stage_states(self, video_id: str) -> dict[str, StageState]:
        rows = self._fetch(
            "SELECT stage, status, started_at, finished_at, seconds, error, metadata"
            " FROM stage_runs WHERE video_id = %s ORDER BY started_at NULLS LAST, stage",
            (video_id,),
        )
        return {row["stage"]: StageState(**row) for row in rows}
