"""The checks behind the asset checks, on small hand-made rows."""

from pathlib import Path

from vidmine.db.models import SearchItem
from vidmine.models import Keyframe, Scene, TranscriptSegment
from vidmine.quality import embedding_problems, keyframe_problems, transcript_problems


def segment(index: int, start: float, end: float) -> TranscriptSegment:
    return TranscriptSegment(index=index, start_s=start, end_s=end, text="words")


def test_a_sound_transcript_has_no_problems_and_a_late_or_backward_one_does() -> None:
    assert transcript_problems([segment(0, 0.0, 2.0), segment(1, 2.0, 4.5)], 5.0) == []
    late = transcript_problems([segment(0, 0.0, 9.0)], 5.0)
    assert late and "after the audio" in late[0]
    backward = transcript_problems([segment(0, 3.0, 2.0)], None)
    assert backward and "runs 3.00-2.00" in backward[0]


def test_keyframes_must_lie_in_their_scene() -> None:
    scenes = [Scene(0, 0.0, 4.0, 0, 100), Scene(1, 4.0, 8.0, 100, 200)]
    good = [
        Keyframe(
            index=0,
            scene_index=0,
            timestamp_s=1.0,
            path=Path("a.jpg"),
            phash="0",
            width=8,
            height=8,
        )
    ]
    assert keyframe_problems(scenes, good) == []
    wrong = [
        Keyframe(
            index=0,
            scene_index=0,
            timestamp_s=7.0,
            path=Path("a.jpg"),
            phash="0",
            width=8,
            height=8,
        )
    ]
    assert "outside scene 0" in keyframe_problems(scenes, wrong)[0]
    assert "no keyframe" in keyframe_problems(scenes, [])[0]


def test_vectors_must_have_the_configured_dimension() -> None:
    def item(vector):
        return SearchItem("i", "segment", "s", 0.0, 1.0, "text", vector)

    assert embedding_problems([item([0.1] * 384)], 384) == []
    assert "dimension [3]" in embedding_problems([item([0.1, 0.2, 0.3])], 384)[0]
    assert "no vector" in embedding_problems([item(None)], 384)[0]
