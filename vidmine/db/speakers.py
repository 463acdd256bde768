"""The speakers tables: turns, talk time, the names people give speakers, and the speaker
of each transcript segment and word. One table group in one file, like the groups ``Store``
is made of (``store.py``), written as functions over a ``Store``.

The stage writes with :func:`replace_speakers` (one transaction: segments, turns, totals);
:func:`rename_speaker` is the only writer of ``speaker_names``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from psycopg.types.json import Jsonb

from vidmine.db.store import Store
from vidmine.models import TranscriptSegment

MAX_NAME_CHARS = 80


@dataclass(frozen=True)
class SpeakerRecord:
    speaker: str  # "1", "2" ...
    name: str  # the name a person gave, else "Speaker 1"
    talk_s: float
    turns: int
    renamed: bool


@dataclass(frozen=True)
class TurnRecord:
    speaker: str
    start_s: float
    end_s: float


def default_name(speaker: str) -> str:
    return f"Speaker {speaker}"


def replace_speakers(
    store: Store,
    video_id: str,
    segments: Sequence[TranscriptSegment],
    turns: Sequence[TurnRecord],
) -> None:
    """The segments' and words' speakers, the turns and each speaker's totals, at once."""
    totals: dict[str, tuple[float, int]] = {}
    for turn in turns:
        talk, count = totals.get(turn.speaker, (0.0, 0))
        totals[turn.speaker] = (talk + turn.end_s - turn.start_s, count + 1)
    with store.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"speakers/{video_id}",))
        cur.executemany(
            "UPDATE transcript_segments SET speaker = %s, words = %s"
            " WHERE video_id = %s AND idx = %s",
            [
                (s.speaker, Jsonb([dataclasses.asdict(w) for w in s.words]), video_id, s.index)
                for s in segments
            ],
        )
        cur.execute("DELETE FROM speaker_turns WHERE video_id = %s", (video_id,))
        cur.execute("DELETE FROM speakers WHERE video_id = %s", (video_id,))
        if turns:
            cur.executemany(
                "INSERT INTO speaker_turns (video_id, idx, speaker, start_s, end_s)"
                " VALUES (%s, %s, %s, %s, %s)",
                [(video_id, i, t.speaker, t.start_s, t.end_s) for i, t in enumerate(turns)],
            )
            cur.executemany(
                "INSERT INTO speakers (video_id, speaker, talk_s, turns) VALUES (%s, %s, %s, %s)",
                [(video_id, k, round(v[0], 3), v[1]) for k, v in totals.items()],
            )


def load_speakers(store: Store, video_id: str) -> list[SpeakerRecord]:
    """The video's speakers, most talk first, with the names people gave them."""
    rows = store._fetch(
        "SELECT s.speaker, n.name, s.talk_s, s.turns FROM speakers s"
        " LEFT JOIN speaker_names n USING (video_id, speaker)"
        " WHERE s.video_id = %s ORDER BY s.talk_s DESC, s.speaker",
        (video_id,),
    )
    return [
        SpeakerRecord(
            speaker=row["speaker"],
            name=row["name"] or default_name(row["speaker"]),
            talk_s=float(row["talk_s"]),
            turns=int(row["turns"]),
            renamed=row["name"] is not None,
        )
        for row in rows
    ]


def load_turns(store: Store, video_id: str) -> list[TurnRecord]:
    rows = store._fetch(
        "SELECT speaker, start_s, end_s FROM speaker_turns WHERE video_id = %s ORDER BY idx",
        (video_id,),
    )
    return [TurnRecord(**row) for row in rows]


def speaker_names(store: Store, video_id: str) -> dict[str, str]:
    """speaker key -> the name to show (a given name, else "Speaker N")."""
    return {s.speaker: s.name for s in load_speakers(store, video_id)}


def rename_speaker(store: Store, video_id: str, speaker: str, name: str) -> SpeakerRecord:
    """Give ``speaker`` a name (an empty name goes back to "Speaker N"). Raises KeyError
    when the video has no such speaker, ValueError for a name over 80 characters."""
    name = " ".join(name.split())
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"a speaker's name has at most {MAX_NAME_CHARS} characters")
    known = {s.speaker for s in load_speakers(store, video_id)}
    if speaker not in known:
        raise KeyError(f"video {video_id!r} has no speaker {speaker!r}")
    with store.connection() as conn, conn.cursor() as cur:
        if name:
            cur.execute(
                "INSERT INTO speaker_names (video_id, speaker, name) VALUES (%s, %s, %s)"
                " ON CONFLICT (video_id, speaker) DO UPDATE SET name = EXCLUDED.name",
                (video_id, speaker, name),
            )
        else:
            cur.execute(
                "DELETE FROM speaker_names WHERE video_id = %s AND speaker = %s",
                (video_id, speaker),
            )
    return next(s for s in load_speakers(store, video_id) if s.speaker == speaker)
