"""What ``vidmine status`` reports: every video with its stages, languages, speakers and
provider calls, and the files that were refused.

Plain data in the shape ``vidmine status --json`` prints (README, "CLI JSON output": it
only grows new keys). This module must not print or format for a terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vidmine.db.speakers import load_speakers

if TYPE_CHECKING:
    from vidmine.db.store import Store


def video_rows(store: Store) -> list[dict[str, Any]]:
    rows = []
    for video in store.list_videos():
        states = store.stage_states(video.video_id)
        rows.append(
            {
                "video_id": video.video_id,
                "file_name": video.file_name,
                "profile": video.profile,
                "status": video.status,
                "error": video.error,
                "duration_s": video.duration_s,
                "languages": video.languages,  # spoken, most first (by speech seconds)
                "stages": {name: st.status for name, st in states.items()},
                "provider_calls": store.provider_call_summary(video.video_id),
                # who speaks, most talk first (empty until the speakers stage ran)
                "speakers": [
                    {
                        "speaker": s.speaker,
                        "name": s.name,
                        "talk_s": round(s.talk_s, 1),
                        "turns": s.turns,
                    }
                    for s in load_speakers(store, video.video_id)
                ],
            }
        )
    return rows


def rejected_rows(store: Store) -> list[dict[str, Any]]:
    return [
        {"path": r.path, "reason": r.reason, "rejected_at": r.rejected_at}
        for r in store.list_rejections()
    ]


def status_report(store: Store) -> dict[str, Any]:
    return {"videos": video_rows(store), "rejected": rejected_rows(store)}
