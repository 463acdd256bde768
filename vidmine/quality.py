"""What must hold of a video's rows once a stage has written them: plain checks that
the Dagster asset checks (``assets/checks.py``) run after each stage. Each returns the
problems found, as sentences; an empty list means the rows are sound."""

from __future__ import annotations

from collections.abc import Sequence

from vidmine.db.models import SearchItem
from vidmine.models import Keyframe, Scene, TranscriptSegment

TIME_SLACK_S = 1.0  # decoders and containers disagree about the last frame by this much


def transcript_problems(
    segments: Sequence[TranscriptSegment], duration_s: float | None
) -> list[str]:
    """Segments run forward, each ends after it starts, and all lie within the audio."""
    problems = []
    previous_start = 0.0
    for seg in segments:
        if seg.start_s < 0 or seg.end_s < seg.start_s:
            problems.append(f"segment {seg.index} runs {seg.start_s:.2f}-{seg.end_s:.2f} s")
        if seg.start_s < previous_start - TIME_SLACK_S:
            problems.append(f"segment {seg.index} starts before the one before it")
        if duration_s is not None and seg.end_s > duration_s + TIME_SLACK_S:
            problems.append(
                f"segment {seg.index} ends at {seg.end_s:.2f} s, after the audio "
                f"({duration_s:.2f} s)"
            )
        previous_start = seg.start_s
    return problems


def keyframe_problems(scenes: Sequence[Scene], keyframes: Sequence[Keyframe]) -> list[str]:
    """Each keyframe lies inside the scene it stands for. (Not every scene has one: a
    scene that looks like an earlier one shares that scene's keyframe.)"""
    by_index = {scene.index: scene for scene in scenes}
    problems = []
    for frame in keyframes:
        scene = by_index.get(frame.scene_index)
        if scene is None:
            problems.append(f"keyframe {frame.index} names scene {frame.scene_index}, unknown")
        elif not scene.start_s - TIME_SLACK_S <= frame.timestamp_s <= scene.end_s + TIME_SLACK_S:
            problems.append(
                f"keyframe {frame.index} at {frame.timestamp_s:.2f} s is outside scene "
                f"{scene.index} ({scene.start_s:.2f}-{scene.end_s:.2f} s)"
            )
    if scenes and not keyframes:
        problems.append(f"{len(scenes)} scenes and no keyframe")
    return problems


def embedding_problems(items: Sequence[SearchItem], dimensions: int | None) -> list[str]:
    """Every searchable text has a vector, of the configured dimension."""
    missing = [item.item_id for item in items if item.embedding is None]
    problems = [f"{len(missing)} items have no vector (first: {missing[0]})"] if missing else []
    if dimensions is not None:
        wrong = {len(item.embedding) for item in items if item.embedding is not None} - {dimensions}
        if wrong:
            problems.append(f"vectors of dimension {sorted(wrong)}, configured {dimensions}")
    return problems
