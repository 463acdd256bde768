"""OCR of sampled frames (against tesseract's own test page and its exact text), frame
sampling times, the look-alike skip and merging, the text detector that decides what
tesseract reads; plus the visual facts used by the offline caption descriptor."""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import pytest
from media_helpers import ffmpeg, make_text_slides, make_video, shared_media
from PIL import Image, ImageDraw, ImageFont

from vidmine.media.ffmpeg import MediaError
from vidmine.media.normalize import normalize_video
from vidmine.media.ocr import (
    FrameText,
    normalize_whitespace,
    ocr_samples,
    ocr_video,
    read_frames,
    read_images,
    sample_frames,
)
from vidmine.media.probe import probe_media
from vidmine.media.text_regions import MODEL_ENV, TextDetector, packaged_model
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


# --- what tesseract reads: the text detector ----------------------------------------

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # fonts-dejavu-core (install.sh)


def scenery(seed: int = 7) -> Image.Image:
    """A 1280x720 picture with no writing on it (the size the OCR samples are read at): a
    sky fading to the horizon and a field with grain, like plain footage. (Not a sun: the
    detector takes a lone disc for a letter "o", and tesseract reads it as nothing.)"""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0.0, 1.0, 720)[:, None, None]
    sky = (1 - rows) * np.array([40, 90, 170]) + rows * np.array([190, 210, 230])
    picture = np.broadcast_to(sky, (720, 1280, 3)).copy()
    picture[430:] = np.array([70, 110, 50]) + rng.normal(0, 12, (290, 1280, 3))
    picture += rng.normal(0, 4, picture.shape)  # sensor noise
    return Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8))


def write(picture: Image.Image, at: tuple[int, int], text: str, size: int) -> None:
    font = ImageFont.truetype(FONT, size)
    ImageDraw.Draw(picture).text(at, text, font=font, fill=(255, 255, 255))


def test_a_frame_without_text_is_not_sent_to_tesseract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "plain.jpg"
    scenery().save(plain)
    written = scenery()
    write(written, (400, 300), "NOT READ HERE", 48)
    written.save(tmp_path / "written.jpg")
    # The worker processes find no tesseract on this PATH: reading anything would fail.
    monkeypatch.setenv("PATH", str(tmp_path / "no-binaries"))
    reading = read_frames([plain], workers=1, detect_text=True)
    assert reading == [FrameText(text="", confidence=0.0, read=False)]
    with pytest.raises(MediaError, match="tesseract is not installed"):
        read_frames([tmp_path / "written.jpg"], workers=1, detect_text=True)


def test_small_text_in_a_corner_is_read(tmp_path: Path) -> None:
    picture = scenery()
    # 12 px letters (their capitals ~9 px tall) in the bottom right corner of a 720p frame.
    write(picture, (1060, 690), "Exit 42 Springfield", 12)
    path = tmp_path / "corner.jpg"
    picture.save(path, quality=95)
    (reading,) = read_frames([path], workers=1, detect_text=True)
    assert reading.read
    assert reading.text == "Exit 42 Springfield"


def test_regions_are_read_in_reading_order(tmp_path: Path) -> None:
    picture = scenery()
    write(picture, (480, 60), "Quarterly Review", 40)
    # One caption line in two parts far apart: one line of text, left part first.
    write(picture, (100, 620), "Copyright 2026 Vidmine", 22)
    write(picture, (900, 620), "www.example.com", 22)
    write(picture, (100, 320), "Revenue grew", 30)
    path = tmp_path / "slide.png"
    picture.save(path)
    samples = [(0.0, path)]
    result = ocr_samples(samples, 1.0, 1.0, workers=1, detect_text=True)
    assert result.text_detector
    assert [t.text for t in result.texts] == [
        "Quarterly Review\nRevenue grew\nCopyright 2026 Vidmine www.example.com"
    ]
    assert (result.frames_ocred, result.frames_without_text) == (1, 0)


def test_frames_without_text_are_counted_apart(tmp_path: Path) -> None:
    plain, written = tmp_path / "plain.png", tmp_path / "written.png"
    scenery(1).save(plain)
    picture = scenery(2)
    picture.paste((20, 20, 20), (0, 0, 1280, 360))  # unlike the plain one: read again
    write(picture, (200, 100), "CHAPTER TWO", 64)
    picture.save(written)
    result = ocr_samples([(0.0, plain), (1.0, written)], 1.0, 2.0, workers=1, detect_text=True)
    assert [(t.text, t.start_s) for t in result.texts] == [("CHAPTER TWO", 1.0)]
    assert (result.frames_sampled, result.frames_ocred, result.frames_without_text) == (2, 1, 1)


def test_the_scanned_page_reads_exactly_with_or_without_the_detector() -> None:
    page = Image.open(shared_media("tesseract/phototest.tif"))
    truth = shared_media("tesseract/phototest.txt").read_text(encoding="utf-8")
    for detect_text in (True, False):
        (reading,) = read_images([page], detect_text=detect_text)
        assert normalize_whitespace(reading.text) == normalize_whitespace(truth), detect_text


def test_a_missing_detection_model_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(MediaError, match=r"pip install --no-deps rapidocr-onnxruntime==1\.4\.4"):
        packaged_model("vidmine-no-such-package")
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "missing.onnx"))
    with pytest.raises(MediaError, match=f"{MODEL_ENV} names .*missing.onnx, which is not a file"):
        TextDetector()
    frame = tmp_path / "frame.png"
    scenery().save(frame)
    # The reading stops before any frame is read.
    with pytest.raises(MediaError, match="rapidocr-onnxruntime"):
        ocr_samples([(0.0, frame)], 1.0, 1.0, detect_text=True)


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
