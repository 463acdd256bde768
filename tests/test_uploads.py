"""The upload folder's pure decisions: keys, settling, what is rejected before probing."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from media_helpers import make_video

from vidmine.config import MediaLimits
from vidmine.registration import SourceRejected, register_upload, verify_source
from vidmine.uploads import (
    UploadFile,
    is_settled,
    look_again,
    scan_uploads,
    slugify,
    unsupported_reason,
    video_key,
)

PROFILES = {"fast_audio_only", "standard_audio_visual", "premium_multimodal"}


def test_slug_is_readable_ascii_for_spaces_and_non_ascii() -> None:
    assert slugify("Réunion d'équipe – été 2026") == "reunion-d-equipe-ete-2026"
    assert slugify("会議") == "video"
    assert slugify("A" * 100) == "a" * 40


def test_key_is_slug_plus_short_hash() -> None:
    sha = "0123456789abcdef" * 4
    assert video_key("My Talk.MP4", sha) == "my-talk-0123456789"
    assert video_key("My Talk.MP4", "f" * 64) != video_key("My Talk.MP4", sha)


def test_scan_skips_hidden_partial_and_deep_files_and_reads_profile(tmp_path: Path) -> None:
    (tmp_path / "a.mp4").write_bytes(b"x")
    (tmp_path / ".hidden.mp4").write_bytes(b"x")
    (tmp_path / "b.mp4.part").write_bytes(b"x")
    (tmp_path / "fast_audio_only").mkdir()
    (tmp_path / "fast_audio_only" / "c.mp4").write_bytes(b"x")
    (tmp_path / "x" / "y").mkdir(parents=True)
    (tmp_path / "x" / "y" / "d.mp4").write_bytes(b"x")
    found = {u.path.name: u.profile for u in scan_uploads(tmp_path)}
    assert found == {"a.mp4": None, "c.mp4": "fast_audio_only"}


def test_scan_of_missing_folder_is_empty(tmp_path: Path) -> None:
    assert scan_uploads(tmp_path / "nope") == []


def test_unsupported_reasons_name_the_problem(tmp_path: Path) -> None:
    def upload(name: str, size: int = 10, profile: str | None = None) -> UploadFile:
        return UploadFile(tmp_path / name, size, 0.0, profile)

    assert "not a video" in unsupported_reason(upload("notes.txt"), PROFILES)
    assert "empty file" in unsupported_reason(upload("empty.mp4", 0), PROFILES)
    assert "not a profile folder" in unsupported_reason(upload("a.mp4", profile="x"), PROFILES)
    assert unsupported_reason(upload("ok.MOV"), PROFILES) is None


def test_a_file_is_taken_only_after_two_equal_polls_and_a_quiet_period(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    path.write_bytes(b"abc")
    (first,) = scan_uploads(tmp_path)
    assert not is_settled(first, None, time.time() + 10, 2.0)  # never seen before
    assert not is_settled(first, first.signature, first.mtime + 0.5, 2.0)  # too fresh
    assert is_settled(first, first.signature, first.mtime + 2.5, 2.0)
    with path.open("ab") as handle:  # still being written
        handle.write(b"more")
    os.utime(path, (first.mtime + 1, first.mtime + 1))
    (grown,) = scan_uploads(tmp_path)
    assert not is_settled(grown, first.signature, grown.mtime + 10, 2.0)


def test_the_second_look_passes_only_quiet_files_that_did_not_change(tmp_path: Path) -> None:
    past = time.time() - 60
    for name in ("whole.mp4", "growing.mp4", "fresh.mp4"):
        (tmp_path / name).write_bytes(b"abc")
        if name != "fresh.mp4":
            os.utime(tmp_path / name, (past, past))
    uploads = scan_uploads(tmp_path)

    def append_during_the_pause() -> None:
        time.sleep(0.2)
        with (tmp_path / "growing.mp4").open("ab") as handle:
            handle.write(b"more")
        os.utime(tmp_path / "growing.mp4", (past, past))  # a clock that makes it look old

    writer = threading.Thread(target=append_during_the_pause)
    writer.start()
    unchanged = look_again(uploads, time.time(), settle_s=2.0, pause_s=1.0)
    writer.join()
    (whole,) = (u for u in uploads if u.path.name == "whole.mp4")
    assert unchanged == {str(whole.path): whole.signature}
    assert is_settled(whole, unchanged[str(whole.path)], time.time(), 2.0)

    started = time.monotonic()
    assert (
        look_again([u for u in uploads if u.path.name == "fresh.mp4"], time.time(), 2.0, 5.0) == {}
    )
    assert time.monotonic() - started < 1.0  # nothing quiet: no pause


def test_a_file_over_the_media_limits_is_rejected_with_the_setting_to_raise(
    store, tmp_path: Path
) -> None:
    clip = make_video(tmp_path / "long talk.mp4", duration=2.0, size="320x240")
    registration = register_upload(store, clip, "standard_audio_visual")
    video = store.get_video(registration.video_id)
    assert video is not None
    with pytest.raises(SourceRejected, match=r"long talk\.mp4 lasts .*limits\.max_duration_s"):
        verify_source(store, video, MediaLimits(max_duration_s=1.0))
    with pytest.raises(SourceRejected, match=r"320x240, beyond the limit of 200x200"):
        verify_source(store, video, MediaLimits(max_width=200, max_height=200))
    (rejection,) = store.list_rejections()
    assert "limits.max_width" in rejection.reason
    assert verify_source(store, video, MediaLimits()).probe.width == 320  # the defaults pass
