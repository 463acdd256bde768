"""probe_media, sha256_file and normalization on synthetic clips, the third-party edge
cases (rotation, non-square pixels, subtitles and attachments, HEVC without audio) and
broken inputs."""

from __future__ import annotations

import hashlib
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
from media_helpers import ffmpeg, make_video, shared_media
from PIL import Image

from vidmine.config import PlaybackConfig
from vidmine.media.ffmpeg import MediaError
from vidmine.media.normalize import (
    extract_audio_wav,
    normalize_video,
    target_size,
    video_conforms,
)
from vidmine.media.probe import check_complete, probe_media, sha256_file
from vidmine.samples import SampleScene, make_sample_video


def _only_outputs(out_dir: Path) -> set[str]:
    """Names in out_dir; a temp file left behind would show up here."""
    return {p.name for p in out_dir.iterdir()}


def _assert_wav_16k_mono(path: Path) -> None:
    with wave.open(str(path)) as wav:
        assert wav.getframerate() == 16000
        assert wav.getnchannels() == 1
        assert wav.getsampwidth() == 2  # pcm_s16le
        assert wav.getnframes() > 0


# --- probe ---------------------------------------------------------------------------


def test_probe_synthetic_video_with_audio(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", duration=1.0, size="320x240", fps=25)
    probe = probe_media(clip)
    assert probe.has_video and probe.has_audio
    assert (probe.width, probe.height) == (320, 240)
    assert probe.fps == pytest.approx(25.0)
    assert probe.video_codec == "h264" and probe.audio_codec == "aac"
    assert probe.audio_sample_rate == 44100 and probe.audio_channels == 1
    assert probe.rotation == 0
    assert probe.duration_s == pytest.approx(1.0, abs=0.1)
    assert probe.size_bytes == clip.stat().st_size
    assert "mp4" in probe.format_name


def test_probe_rotation_gives_display_size() -> None:
    probe = probe_media(shared_media("pyscenedetect/edge_cases/issue-134-rotate.mp4"))
    # Stored 1280x544 with a display matrix turning it a quarter clockwise.
    assert probe.rotation == 90
    assert (probe.width, probe.height) == (544, 1280)


def test_probe_non_square_pixels_gives_display_size() -> None:
    probe = probe_media(shared_media("pyscenedetect/edge_cases/issue-195-aspect-ratio.mp4"))
    assert probe.sample_aspect_ratio == "16:11"
    assert (probe.width, probe.height) == (1024, 576)  # 704 * 16/11 = 1024


def test_probe_subtitles_and_attachments_are_not_video() -> None:
    probe = probe_media(shared_media("pyscenedetect/edge_cases/issue-236-split-copy.mkv"))
    assert probe.has_video and probe.has_audio
    assert probe.video_codec == "h264"
    assert (probe.width, probe.height) == (1920, 1080)


def test_probe_cover_art_is_not_video(tmp_path: Path) -> None:
    cover = tmp_path / "cover.png"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1", "-update", "1", str(cover))
    song = tmp_path / "song.mp3"
    ffmpeg(
        *("-f", "lavfi", "-i", "sine=duration=1", "-i", str(cover)),
        *("-map", "0", "-map", "1", "-c:a", "libmp3lame", "-c:v", "png"),
        *("-disposition:v", "attached_pic", "-id3v2_version", "3", str(song)),
    )
    probe = probe_media(song)
    assert probe.has_audio
    assert not probe.has_video
    assert probe.width is None and probe.fps is None


def test_probe_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"nope\.mp4.*not found"):
        probe_media(tmp_path / "nope.mp4")


def test_probe_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(MediaError, match=r"empty\.mp4.*empty \(0 bytes\).*upload it again"):
        probe_media(empty)


def test_probe_truncated_mp4(tmp_path: Path) -> None:
    # Without faststart the index (moov) is at the end, so the first half has none: what
    # an interrupted upload looks like.
    whole = make_video(tmp_path / "whole.mp4", duration=2.0)
    data = whole.read_bytes()
    half = tmp_path / "half.mp4"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match=r"half\.mp4.*damaged, incomplete") as err:
        probe_media(half)
    assert "moov atom not found" in str(err.value)  # ffprobe's own words are kept


def test_probe_text_renamed_to_mp4(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("these are meeting notes, not a video\n" * 20, encoding="utf-8")
    with pytest.raises(MediaError, match=r"notes\.mp4.*cannot read this file"):
        probe_media(fake)


def test_probe_file_with_only_subtitles(tmp_path: Path) -> None:
    subs = shutil.copy(shared_media("popeye/popeye_p1.eng.srt"), tmp_path / "subs.srt")
    with pytest.raises(MediaError, match=r"no video or audio stream.*subtitle"):
        probe_media(Path(subs))


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 10_000)  # > one read chunk
    assert sha256_file(blob) == hashlib.sha256(blob.read_bytes()).hexdigest()


# --- normalization rules -------------------------------------------------------------


@pytest.mark.parametrize(
    ("display", "expected"),
    [
        ((1920, 1080), (1280, 720)),
        ((1280, 720), (1280, 720)),
        ((640, 480), (640, 480)),  # never upscaled
        ((544, 1280), (306, 720)),  # portrait after rotation
        ((1024, 576), (1024, 576)),
        ((251, 151), (250, 150)),  # odd sides made even
        ((1440, 1074), (966, 720)),
    ],
)
def test_target_size(display: tuple[int, int], expected: tuple[int, int]) -> None:
    assert target_size(*display) == expected


def test_conforming_video_is_remuxed_not_reencoded(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "ok.mp4", duration=1.0, size="640x360", fps=30)
    probe = probe_media(clip)
    assert video_conforms(probe)
    result = normalize_video(clip, probe, tmp_path / "out" / "normalized.mp4")
    assert result.reencoded is False
    assert (result.width, result.height, result.fps) == (640, 360, 30.0)
    out = probe_media(result.path)
    # The playback copy has sound: the source's AAC track, copied as it is.
    assert out.has_video and out.has_audio
    assert out.video_codec == "h264" and out.audio_codec == "aac"
    assert out.duration_s == pytest.approx(probe.duration_s, abs=0.1)
    audio = extract_audio_wav(clip, tmp_path / "out" / "audio.wav")
    assert audio == tmp_path / "out" / "audio.wav"
    _assert_wav_16k_mono(audio)
    assert _only_outputs(tmp_path / "out") == {"normalized.mp4", "audio.wav"}


def test_ntsc_rate_video_is_remuxed_keeping_its_rate(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "phone.mp4", duration=1.0, size="640x360", fps=30000 / 1001)
    probe = probe_media(clip)
    assert probe.fps == pytest.approx(29.97, abs=0.01)
    assert video_conforms(probe)
    result = normalize_video(clip, probe, tmp_path / "out" / "normalized.mp4")
    assert result.reencoded is False
    assert probe_media(result.path).fps == pytest.approx(29.97, abs=0.01)


def test_a_faster_source_is_brought_to_30_fps(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "sport.mp4", duration=1.0, size="640x360", fps=60)
    probe = probe_media(clip)
    assert not video_conforms(probe)
    result = normalize_video(clip, probe, tmp_path / "out" / "normalized.mp4")
    assert result.reencoded is True
    assert probe_media(result.path).fps == pytest.approx(30.0)


def test_large_source_is_reencoded_at_its_own_rate(tmp_path: Path) -> None:
    clip = make_video(
        tmp_path / "big.mkv",
        duration=1.0,
        size="1920x1080",
        fps=25,
        video_codec=["-c:v", "mpeg4", "-q:v", "5"],
    )
    probe = probe_media(clip)
    assert not video_conforms(probe)
    result = normalize_video(clip, probe, tmp_path / "out" / "normalized.mp4")
    assert result.reencoded is True
    out = probe_media(result.path)
    assert (out.width, out.height) == (1280, 720)
    assert out.fps == pytest.approx(25.0)  # as shot: no frames duplicated up to 30
    assert out.video_codec == "h264"
    assert out.raw["streams"][0]["pix_fmt"] == "yuv420p"
    assert out.duration_s == pytest.approx(1.0, abs=0.1)
    assert out.audio_codec == "aac"  # the sound goes with the picture
    # faststart: the index comes before the media data.
    data = result.path.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")


def test_audio_browsers_cannot_play_in_mp4_becomes_aac(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "talk.mkv", duration=1.0, size="320x240", extra=["-c:a", "flac"])
    probe = probe_media(clip)
    assert probe.audio_codec == "flac"
    result = normalize_video(clip, probe, tmp_path / "out" / "normalized.mp4")
    assert result.has_audio
    out = probe_media(result.path)
    assert (out.audio_codec, out.audio_channels) == ("aac", 1)
    assert out.duration_s == pytest.approx(1.0, abs=0.1)


def test_small_odd_sized_video_is_not_upscaled(tmp_path: Path) -> None:
    clip = make_video(
        tmp_path / "odd.mkv", size="251x151", fps=24, audio=False, video_codec=["-c:v", "ffv1"]
    )
    probe = probe_media(clip)
    result = normalize_video(clip, probe, tmp_path / "out" / "normalized.mp4")
    assert (result.width, result.height) == (250, 150)
    assert not probe.has_audio and not result.has_audio
    assert _only_outputs(tmp_path / "out") == {"normalized.mp4"}


def test_audio_only_input(tmp_path: Path) -> None:
    song = tmp_path / "voice.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=1", "-c:a", "aac", str(song))
    probe = probe_media(song)
    assert not probe.has_video
    _assert_wav_16k_mono(extract_audio_wav(song, tmp_path / "out" / "audio.wav"))
    with pytest.raises(MediaError, match="no video stream"):
        normalize_video(song, probe, tmp_path / "out" / "normalized.mp4")


def test_failed_conversion_leaves_no_file(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", duration=1.0)
    probe = probe_media(clip)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip.read_bytes()[:2000])
    out_dir = tmp_path / "out"
    with pytest.raises(MediaError, match=r"normalize the video of .*broken\.mp4"):
        normalize_video(broken, probe, out_dir / "normalized.mp4")
    with pytest.raises(MediaError, match=r"extract the audio of .*broken\.mp4"):
        extract_audio_wav(broken, out_dir / "audio.wav")
    assert _only_outputs(out_dir) == set()


# --- third-party edge cases ----------------------------------------------------------


def _frame(video: Path, at_s: float, out: Path, *pre_input: str, vf: str = "null") -> np.ndarray:
    ffmpeg(*pre_input, "-ss", str(at_s), "-i", str(video), "-frames:v", "1", "-vf", vf, str(out))
    return np.asarray(Image.open(out).convert("L").resize((48, 112)), dtype=float)


def test_rotated_video_comes_out_upright(tmp_path: Path) -> None:
    src = shared_media("pyscenedetect/edge_cases/issue-134-rotate.mp4")
    probe = probe_media(src)
    result = normalize_video(src, probe, tmp_path / "out" / "normalized.mp4", max_duration_s=2.0)
    out = probe_media(result.path)
    assert (out.width, out.height) == (306, 720)  # 544x1280 display size, 720 high
    assert out.rotation == 0  # turned for real, not by metadata
    assert probe.has_audio and result.has_audio
    # The picture equals the stored frames turned clockwise, not counter-clockwise.
    normalized = _frame(result.path, 1.0, tmp_path / "n.png")
    raw = ("-noautorotate",)
    clockwise = _frame(src, 1.0, tmp_path / "cw.png", *raw, vf="transpose=clock")
    counter = _frame(src, 1.0, tmp_path / "ccw.png", *raw, vf="transpose=cclock")
    assert np.abs(normalized - clockwise).mean() < 0.5 * np.abs(normalized - counter).mean()


def test_non_square_pixels_keep_display_aspect(tmp_path: Path) -> None:
    src = shared_media("pyscenedetect/edge_cases/issue-195-aspect-ratio.mp4")
    out_path = tmp_path / "out" / "normalized.mp4"
    result = normalize_video(src, probe_media(src), out_path, max_duration_s=1.0)
    out = probe_media(result.path)
    assert out.sample_aspect_ratio in (None, "1:1")
    assert out.width / out.height == pytest.approx(1024 / 576, rel=0.01)
    assert out.height == 576


def test_mkv_with_subtitles_and_attachments(tmp_path: Path) -> None:
    src = shared_media("pyscenedetect/edge_cases/issue-236-split-copy.mkv")
    result = normalize_video(src, probe_media(src), tmp_path / "out" / "normalized.mp4")
    out = probe_media(result.path)
    assert (out.width, out.height) == (1280, 720)
    # The picture and the first audio track; no subtitles, no attachments.
    assert [s["codec_type"] for s in out.raw["streams"]] == ["video", "audio"]
    _assert_wav_16k_mono(extract_audio_wav(src, tmp_path / "out" / "audio.wav"))


def test_hevc_without_audio(tmp_path: Path) -> None:
    src = shared_media("popeye/popeye_T03-4_pgs.mkv")
    probe = probe_media(src)
    assert probe.video_codec == "hevc" and not probe.has_audio
    result = normalize_video(src, probe, tmp_path / "out" / "normalized.mp4", max_duration_s=2.0)
    assert not result.has_audio
    assert result.reencoded is True
    out = probe_media(result.path)
    assert (out.width, out.height) == (966, 720)
    assert out.duration_s == pytest.approx(2.0, abs=0.1)


def test_a_copy_cut_short_is_found_even_when_it_probes(tmp_path: Path) -> None:
    whole = make_sample_video(
        tmp_path / "whole.mp4",
        (SampleScene("navy", "A", "Hello there.", 3.0), SampleScene("maroon", "B", "Bye.", 3.0)),
        size="640x360",
    )
    check_complete(whole)  # no complaint
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])
    probe_media(cut)  # the index comes first: it still probes
    with pytest.raises(MediaError, match=r"cut\.mp4 is incomplete"):
        check_complete(cut)


def test_a_1080p_h264_source_browsers_play_is_remuxed_with_its_sound(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "phone.mp4", duration=1.0, size="1920x1080", fps=30)
    probe = probe_media(clip)
    result = normalize_video(clip, probe, tmp_path / "copy.mp4", playback=PlaybackConfig())
    assert result.reencoded is False and (result.width, result.height) == (1920, 1080)
    assert result.has_audio
    data = result.path.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")  # faststart: streams at once


def test_a_smaller_copy_can_be_forced_for_slow_networks(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "phone.mp4", duration=1.0, size="1920x1080", fps=30)
    smaller = PlaybackConfig(remux_max_height=720, encode_max_height=540)
    result = normalize_video(clip, probe_media(clip), tmp_path / "copy.mp4", playback=smaller)
    assert result.reencoded is True and (result.width, result.height) == (960, 540)
    assert result.has_audio
