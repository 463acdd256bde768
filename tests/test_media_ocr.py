"""OCR of sampled frames (against tesseract's own test page and its exact text), frame
sampling times, the look-alike skip and merging; plus the visual facts used by the
offline caption descriptor."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from media_helpers import ffmpeg, make_text_slides, make_video, shared_media
from PIL import Image, ImageDraw

from vidmine.media.normalize import normalize_video
from vidmine.media.ocr import normalize_whitespace, ocr_video, sample_frames
from vidmine.media.probe import probe_media
from vidmine.media.visual import colour_name, count_faces, dominant_colours


def test_scanned_page_reads_like_its_ground_truth(tmp_path: Path) -> None:
    page = shared_media("tesseract/phototest.tif")
    truth = shared_media("tesseract/phototest.txt").read_text(encoding="utf-8")
    # A 3 s still of the page as a 1080p screen recording; normalization brings it to
    # 720p, the size OCR reads in the pipeline.
    recording = tmp_path / "page.mp4"
    ffmpeg(
        *("-loop", "1", "-framerate", "30", "-i", str(page), "-t", "3"),
        *("-vf", "scale=-2:1080,format=yuv420p", "-c:v", "libx264", "-preset", "ultrafast"),
        str(recording),
    )
    normalized = normalize_video(recording, probe_media(recording), tmp_path / "normalized.mp4")
    assert normalized.height == 720

    result = ocr_video(normalized.path, 1.0, tmp_path / "ocr")
    assert result.frames_sampled == 3
    assert result.frames_ocred == 1  # the same picture is read once
    assert len(result.texts) == 1
    text = result.texts[0]
    ratio = difflib.SequenceMatcher(
        None, normalize_whitespace(text.text), normalize_whitespace(truth)
    ).ratio()
    assert ratio >= 0.9, text.text
    assert (text.index, text.start_s, text.end_s) == (0, 0.0, 3.0)
    assert 80 <= text.confidence <= 100
    assert text.frame_path is not None and text.frame_path.exists()
    # Only the frame a text points at is kept.
    assert [p.name for p in (tmp_path / "ocr").iterdir()] == [text.frame_path.name]


def test_sample_times_are_the_frames_shown(tmp_path: Path) -> None:
    # counter.mp4 is 10 fps for 3 s: at 2 samples a second, the frames at 0.0, 0.5, ...
    video = shared_media("pyscenedetect/counter.mp4")
    samples = sample_frames(video, 2.0, tmp_path)
    assert [seconds for seconds, _ in samples] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert [path.name for _, path in samples] == [f"sample_{i:05d}.jpg" for i in range(6)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for _, p in samples]
    # A second run with fewer samples leaves no stale ones behind.
    assert len(sample_frames(video, 1.0, tmp_path)) == 3
    assert len(list(tmp_path.iterdir())) == 3


def test_slides_merge_and_look_alikes_are_read_once(tmp_path: Path) -> None:
    video = make_text_slides(
        tmp_path / "slides.mp4", ["HELLO WORLD", "SECOND SLIDE", ""], seconds_each=2.0
    )
    result = ocr_video(video, 1.0, tmp_path / "ocr")
    assert result.frames_sampled == 6
    assert result.frames_ocred == 3  # one per distinct picture; repeats carry the text over
    assert [(t.text, t.start_s, t.end_s) for t in result.texts] == [
        ("HELLO WORLD", 0.0, 2.0),
        ("SECOND SLIDE", 2.0, 4.0),
    ]  # the blank slide reads nothing and is dropped
    assert [t.index for t in result.texts] == [0, 1]


def test_end_is_clipped_to_the_duration(tmp_path: Path) -> None:
    video = make_text_slides(tmp_path / "short.mp4", ["ONLY SLIDE"], seconds_each=1.5)
    result = ocr_video(video, 1.0, tmp_path / "ocr")
    assert [(t.start_s, t.end_s) for t in result.texts] == [(0.0, 1.5)]


def test_footage_without_text_gives_nothing(tmp_path: Path) -> None:
    video = make_video(tmp_path / "plain.mp4", duration=2.0, audio=False, source="color=c=navy")
    result = ocr_video(video, 1.0, tmp_path / "ocr")
    assert result.texts == []
    assert result.frames_sampled == 2
    assert list((tmp_path / "ocr").iterdir()) == []


def test_bad_sample_rate(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="above 0"):
        sample_frames(tmp_path / "x.mp4", 0, tmp_path)


# --- visual facts --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rgb", "name"),
    [
        ((0, 0, 0), "black"),
        ((255, 255, 255), "white"),
        ((128, 128, 128), "gray"),
        ((220, 30, 30), "red"),
        ((30, 60, 220), "blue"),
        ((40, 170, 50), "green"),
        ((120, 70, 30), "brown"),
        ((10, 20, 90), "dark blue"),
        ((250, 180, 200), "pink"),
    ],
)
def test_colour_names(rgb: tuple[int, int, int], name: str) -> None:
    assert colour_name(rgb) == name


def test_dominant_colours_with_shares(tmp_path: Path) -> None:
    picture = Image.new("RGB", (200, 100), (220, 30, 30))
    ImageDraw.Draw(picture).rectangle((150, 0, 199, 99), fill=(30, 60, 220))  # a quarter
    path = tmp_path / "flag.png"
    picture.save(path)
    colours = dominant_colours(path, k=3)
    assert [(name, share) for name, _, share in colours] == [("red", 0.75), ("blue", 0.25)]
    assert colours[0][1] == "#dc1e1e"


def test_no_faces_in_a_test_pattern(tmp_path: Path) -> None:
    path = tmp_path / "pattern.png"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=640x360", "-frames:v", "1", "-update", "1", str(path)
    )
    assert count_faces(path) == 0
