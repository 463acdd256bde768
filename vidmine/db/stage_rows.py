"""The ``stage_runs`` table: one row per video and stage (running, succeeded, failed or
skipped), with its times, error and metadata, for `vidmine status` and the web app.
"""

from __future__ import annotations

from collections.abc import Sequence

from vidmine.db.base import Tables, json_value
from vidmine.db.models import STAGE_STATUSES, StageState


class StageRows(Tables):
    """Stage rows, written whole per video by their one writer
    (``assets.stage_record.project_video``), read back by video."""

    def stage_states(self, video_id: str) -> dict[str, StageState]:
        rows = self._fetch(
            "SELECT stage, status, started_at, finished_at, seconds, error, metadata"
            " FROM stage_runs WHERE video_id = %s ORDER BY started_at NULLS LAST, stage",
            (video_id,),
        )
        return {row["stage"]: StageState(**row) for row in rows}

    def replace_stage_states(self, video_id: str, states: Sequence[StageState]) -> None:
        """Make ``states`` the video's stage rows, in one transaction: the projection of
        Dagster's record written whole (``assets.stage_record``)."""
        for state in states:
            if state.status not in STAGE_STATUSES:
                raise ValueError(f"stage status must be one of {STAGE_STATUSES}: {state}")
        with self._writing(video_id) as conn:
            conn.execute("DELETE FROM stage_runs WHERE video_id = %s", (video_id,))
            for s in states:
                conn.execute(
                    "INSERT INTO stage_runs (video_id, stage, status, started_at, finished_at,"
                    " seconds, error, metadata) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        video_id,
                        s.stage,
                        s.status,
                        s.started_at,
                        s.finished_at,
                        s.seconds,
                        s.error,
                        json_value(s.metadata),
                    ),
                )
