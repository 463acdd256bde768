"""The whole pipeline in-process (the path `vidmine ingest` takes): real ffmpeg,
tesseract, faster-whisper, MiniLM and PostgreSQL, on our own sample videos and on the
third-party media with ground truth in ../shared/media."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from db_helpers import row_counts
from media_helpers import ffmpeg, jfk_over_testvideo, shared_media
from pipeline_helpers import assert_content_sound, bodies
from pipeline_helpers import ingest_ready as ingest

from local_runtime.ingest import ingest_file
from vidmine.config import load_config
from vidmine.db.store import Store
from vidmine.providers.base import MemoryRecorder
from vidmine.providers.registry import embedder_for
from vidmine.readiness import PIPELINE_STAGES
from vidmine.samples import SampleScene, make_sample_video
from vidmine.search import search

pytestmark = pytest.mark.slow


def words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


@pytest.fixture(scope="module")
def env(pipeline_env: dict) -> dict:
    return pipeline_env


def query(env: dict, text: str, limit: int = 5):
    embedder = embedder_for(load_config(), None, MemoryRecorder(), env["store"])
    return search(
        env["store"],
        text,
        embedder.embed([text])[0],
        model=embedder.model,
        dim=embedder.dimensions,
        limit=limit,
    )


@pytest.fixture(scope="module")
def two_videos(env: dict, tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("videos")
    talk = make_sample_video(
        folder / "garden talk.mp4",
        (
            SampleScene("darkgreen", "SPRING", "Tomatoes need plenty of sunlight and water."),
            SampleScene("navy", "SUMMER", "Harvest the beans before the first frost arrives."),
        ),
    )
    slides = make_sample_video(
        folder / "slides.mp4",
        (
            SampleScene("black", "WELCOME", "", 3.0),
            SampleScene("maroon", "PENGUIN MIGRATION", "", 3.0),
            SampleScene("white", "THE END", "", 3.0),
        ),
    )
    return {"talk": ingest(env, talk).video_id, "slides": ingest(env, slides).video_id}


def test_sample_video_reaches_ready_with_every_stage(env: dict, two_videos: dict) -> None:
    store: Store = env["store"]
    talk = two_videos["talk"]
    states = {k: v.status for k, v in store.stage_states(talk).items()}
    for stage in (*PIPELINE_STAGES, "video_ready"):
        assert states[stage] == "succeeded", states
    assert len(store.load_scenes(talk)) == 2
    spoken = words(" ".join(s.text for s in store.load_transcript(talk)))
    assert "sunlight" in spoken and "frost" in spoken
    seen = " ".join(t.text for t in store.load_ocr_texts(two_videos["slides"]))
    assert "PENGUIN" in seen
    assert (env["home"] / "media" / talk / "transcript.srt").read_text().startswith("1\n")
    caption = store.load_captions(talk)[0]
    assert caption.descriptor_only and "no captioning model" in caption.note


def test_search_finds_a_spoken_phrase_and_a_shown_caption_first(
    env: dict, two_videos: dict
) -> None:
    spoken = query(env, "harvest beans before frost")[0]
    assert spoken.video_id == two_videos["talk"]
    talk_segments = env["store"].load_transcript(two_videos["talk"])
    frost = next(s for s in talk_segments if "frost" in s.text.lower())
    # The hit spans the words it matched, from the segment's start to "frost" at least
    # (not to the segment's end: what follows "frost" is heard differently by machines).
    frost_word = next(w for w in frost.words if "frost" in w.word.lower())
    assert spoken.start_s <= frost.start_s + 0.5 and spoken.end_s >= frost_word.end_s - 0.05
    shown = query(env, "penguin migration")[0]
    assert shown.video_id == two_videos["slides"]
    assert shown.start_s <= 4.5 and shown.end_s >= 4.5  # the caption is on screen 3-6 s


def test_rerun_replaces_rows_without_duplicates(env: dict, two_videos: dict) -> None:
    store: Store = env["store"]
    video = store.get_video(two_videos["slides"])
    before = row_counts(store, video.video_id)
    ingest(env, Path(video.source_path))
    assert row_counts(store, video.video_id) == before


@pytest.fixture(scope="module")
def jfk_testvideo(env: dict, tmp_path_factory) -> str:
    """testvideo.mp4 with the JFK speech under it, processed once: its picture stream is
    testvideo.mp4's, copied, so the cut goldens hold; its sound is jfk.flac."""
    return ingest(env, jfk_over_testvideo(tmp_path_factory.mktemp("jfk"))).video_id


def test_testvideo_cuts_equal_pyscenedetect_golden(env: dict, jfk_testvideo: str) -> None:
    golden = json.loads(
        shared_media(
            "pyscenedetect/goldens/testvideo.mp4.AdaptiveDetector.default.json"
        ).read_text()
    )["cuts"]
    scenes = env["store"].load_scenes(jfk_testvideo)
    assert [s.start_frame for s in scenes[1:]] == golden


def test_fades_give_no_cuts(env: dict) -> None:
    outcome = ingest(env, shared_media("pyscenedetect/fades.mp4"))
    assert len(env["store"].load_scenes(outcome.video_id)) == 1


def test_counter_keyframe_timestamps_are_frame_pts(env: dict) -> None:
    outcome = ingest(env, shared_media("pyscenedetect/counter.mp4"))
    frames = env["store"].load_keyframes(outcome.video_id)
    assert frames
    for frame in frames:
        assert abs(frame.timestamp_s * 10 - round(frame.timestamp_s * 10)) < 1e-6


def test_jfk_audio_under_a_video_transcribes(env: dict, jfk_testvideo: str) -> None:
    text = words(" ".join(s.text for s in env["store"].load_transcript(jfk_testvideo)))
    assert text == (
        "and so my fellow americans ask not what your country can do for you "
        "ask what you can do for your country"
    )  # word-exact with Whisper base
    assert env["store"].video_languages(jfk_testvideo) == ["en"]
    hit = query(env, "ask not what your country can do for you")[0]
    assert hit.video_id == jfk_testvideo and hit.kind == "segment"


def test_jfk_over_testvideo_has_content(env: dict, jfk_testvideo: str) -> None:
    ctx = assert_content_sound(env["store"], jfk_testvideo)
    assert len(ctx.scenes) >= 2
    content = bodies(env["store"], jfk_testvideo)
    assert "country" in content["tags"]["tags"]
    assert "ask not what your country can do for you" in content["x_post"]["post"].lower()


def test_ocr_of_phototest_matches_its_text(env: dict, tmp_path: Path) -> None:
    import difflib

    page = shared_media("tesseract/phototest.tif")
    expected = " ".join(shared_media("tesseract/phototest.txt").read_text().split())
    video = tmp_path / "phototest.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-loop",
            "1",
            "-i",
            str(page),
            "-t",
            "4",
            "-r",
            "30",
            "-vf",
            "pad=ceil(iw/2)*2:ceil(ih/2)*2,format=yuv420p",
            "-c:v",
            "libx264",
            str(video),
        ],
        check=True,
    )
    outcome = ingest(env, video)
    texts = env["store"].load_ocr_texts(outcome.video_id)
    assert len(texts) == 1, "one page shown for 4 s is one OCR text"
    got = " ".join(texts[0].text.split())
    assert difflib.SequenceMatcher(None, got, expected).ratio() >= 0.9, got


# What makes these edge cases is in their streams (rotation side data, non-square pixels,
# subtitle and attachment streams, HEVC without audio), not their length: the long ones
# are processed as their first EDGE_CASE_SECONDS, stream-copied (streams, rotation and
# aspect ratio unchanged; ffprobe agrees), the 2 s split copy as it is.
EDGE_CASE_SECONDS = 5


def first_seconds(source: Path, out_dir: Path) -> Path:
    """``source``'s first EDGE_CASE_SECONDS, every stream copied as it is."""
    cut = out_dir / source.name
    ffmpeg("-i", str(source), "-map", "0", "-c", "copy", "-t", str(EDGE_CASE_SECONDS), str(cut))
    return cut


@pytest.mark.parametrize(
    ("relative", "shorten"),
    [
        ("pyscenedetect/edge_cases/issue-134-rotate.mp4", True),  # 10 s
        ("pyscenedetect/edge_cases/issue-195-aspect-ratio.mp4", True),  # 25 s
        ("pyscenedetect/edge_cases/issue-236-split-copy.mkv", False),  # 2 s
        ("popeye/popeye_T03-4_pgs.mkv", True),  # 62 s
    ],
)
def test_edge_cases_reach_ready(env: dict, relative: str, shorten: bool, tmp_path: Path) -> None:
    source = shared_media(relative)
    outcome = ingest(env, first_seconds(source, tmp_path) if shorten else source)
    video = env["store"].get_video(outcome.video_id)
    assert video.status == "ready"
    if "popeye" in relative:
        assert not video.has_audio and env["store"].load_transcript(video.video_id) == []


def test_audio_only_file_processes_its_audio_stages(env: dict, tmp_path: Path) -> None:
    audio = tmp_path / "jfk speech.flac"
    audio.write_bytes(shared_media("audio/jfk.flac").read_bytes())
    outcome = ingest(env, audio)
    states = {s.stage: s.status for s in outcome.stages}
    assert states["transcript"] == "succeeded" and states["scenes"] == "skipped"


def test_bad_inputs_are_rejected_cleanly(env: dict, tmp_path: Path) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video\n" * 100)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for path in (empty, tmp_path / "missing.mp4"):  # refused without reading
        outcome = ingest_file(path, "standard_audio_visual", load_config(), env["instance"])
        assert outcome.status == "rejected" and outcome.error
        assert outcome.video_id is None
        if path == empty:
            assert outcome.error.startswith("empty.mp4: empty file (0 bytes)")
    # Unreadable: registered, then refused by the run's first asset, as the sensor's runs
    # are (before, ingest probed it first and gave no id).
    outcome = ingest_file(fake, "standard_audio_visual", load_config(), env["instance"])
    assert outcome.status == "rejected" and outcome.error.startswith("rejected fake.mp4: ")
    assert outcome.video_id is not None
    assert env["store"].get_video(outcome.video_id).status == "failed"
