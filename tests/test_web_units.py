"""The pure parts of `vidmine serve`: safe upload names, the keyframe shown for a moment,
snippet highlighting and the URLs a hit carries."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from vidmine.db.models import VideoRecord
from vidmine.models import Keyframe, SearchHit
from vidmine.web.errors import WebError
from vidmine.web.media import VIDEO_ID_PATTERN, nearest_keyframe
from vidmine.web.pages import highlight
from vidmine.web.payloads import hit_payload, video_summary
from vidmine.web.uploads import safe_file_name


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("talk.mp4", "talk.mp4"),
        ("../../etc/cron.d/evil.mp4", "evil.mp4"),
        ("C:\\Users\\me\\Clip One.MOV", "Clip One.mov"),
        (".hidden.mkv", "hidden.mkv"),
        ("a<b>|c;d`e$.webm", "a_b__c_d_e_.webm"),
        ("café ☕.mp3", "café _.mp3"),
        ("x" * 300 + ".mp4", "x" * 116 + ".mp4"),
        (".mp4", "upload.mp4"),
    ],
)
def test_safe_file_name(raw: str, safe: str) -> None:
    assert safe_file_name(raw) == safe


@pytest.mark.parametrize("raw", ["notes.txt", "video.mp4.exe", "noext", "evil.mp4/"])
def test_safe_file_name_refuses_other_extensions(raw: str) -> None:
    with pytest.raises(WebError) as refused:
        safe_file_name(raw)
    assert refused.value.status == 415


def _frames(*times: float) -> list[Keyframe]:
    return [Keyframe(i, i, t, Path(f"/m/{i}.jpg"), "0", 1, 1) for i, t in enumerate(times)]


def test_nearest_keyframe_prefers_a_frame_inside_the_range() -> None:
    frames = _frames(1.9, 5.4, 8.7)
    assert nearest_keyframe(frames, 6.9).timestamp_s == 5.4
    assert nearest_keyframe(frames, 6.9, 10.5).timestamp_s == 8.7
    assert nearest_keyframe(frames, 11.0, 12.0).timestamp_s == 8.7  # none inside: closest
    assert nearest_keyframe([], 1.0) is None


def test_highlight_escapes_and_marks() -> None:
    html = str(highlight("a **<b>word</b>** & <script>x</script>"))
    assert html == "a <mark>&lt;b&gt;word&lt;/b&gt;</mark> &amp; &lt;script&gt;x&lt;/script&gt;"
    assert str(highlight("unpaired ** <i>")) == "unpaired ** &lt;i&gt;"


def test_hit_payload_urls() -> None:
    hit = SearchHit("talk-0123456789", "talk.mp4", 6.8, 9.1, "segment", "s", 0.03, "i")
    payload = hit_payload(hit)
    assert payload["video_url"] == "/media/talk-0123456789/video#t=6.8"
    assert payload["thumbnail_url"] == "/media/talk-0123456789/thumbnail?t=6.8&end=9.1"
    assert payload["page_url"] == "/videos/talk-0123456789?t=6.8"


def test_an_ocr_hit_shows_the_frame_its_text_was_read_from() -> None:
    hit = SearchHit(
        "talk-0123456789", "talk.mp4", 4.0, 6.0, "ocr", "s", 0.1, "talk-0123456789_ocr_007"
    )
    assert hit_payload(hit)["thumbnail_url"] == "/media/talk-0123456789/ocr/7"


def test_a_library_row_has_a_poster_or_an_audio_icon() -> None:
    now = datetime.now(UTC)
    base = dict(file_name="a", source_path="/x/a", sha256=None, size_bytes=1, profile=None,
                status="ready", error=None, created_at=now, updated_at=now)  # fmt: skip
    film = video_summary(VideoRecord("film-0123456789", **base, has_video=True), {})
    assert film["thumbnail_url"] == "/media/film-0123456789/poster"
    song = video_summary(VideoRecord("song-0123456789", **base, has_video=False), {})
    assert song["thumbnail_url"] == "/static/audio.svg"


def test_video_ids_in_urls() -> None:
    assert VIDEO_ID_PATTERN.match("my-talk-0123456789")
    for bad in ("..", "../x", "a/b", "", ".hidden", "a\\b", "a%2Fb"):
        assert not VIDEO_ID_PATTERN.match(bad) or ".." in bad
