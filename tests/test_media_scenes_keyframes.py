"""Scene detection against PySceneDetect's own goldens, and keyframe extraction: exact
frame timestamps (checked against the frame numbers printed in counter.mp4), rotation,
scaling and perceptual-hash deduplication."""

from __future__ import annotations

import functools
import itertools
import json
import re
from pathlib import Path

import numpy as np
import pytesseract
import pytest
from media_helpers import ffmpeg, shared_media
from PIL import Image

from vidmine.media.decode import decode_once
from vidmine.media.keyframes import extract_keyframes, keyframe_targets
from vidmine.media.probe import probe_media
from vidmine.media.scenes import scene_cuts
from vidmine.models import Scene


def _scenes(path: Path) -> list[Scene]:
    """The scenes the decode pass finds (the one ffmpeg pass that feeds the detector)."""
    return decode_once(path, probe_media(path), detect_scenes=True).scenes or []


@functools.cache
def _detected(video: str) -> tuple[Path, list[Scene]]:
    """Scenes of a shared test video, detected once per test session (it takes seconds)."""
    path = shared_media(f"pyscenedetect/{video}")
    return path, _scenes(path)


def _golden_cuts(video: str) -> list[int]:
    golden = shared_media(f"pyscenedetect/goldens/{video}.AdaptiveDetector.default.json")
    return json.loads(golden.read_text(encoding="utf-8"))["cuts"]


@pytest.mark.parametrize("video", ["testvideo.mp4", "counter.mp4", "fades.mp4"])
def test_cuts_match_pyscenedetect_goldens(video: str) -> None:
    _, scenes = _detected(video)
    assert scene_cuts(scenes) == _golden_cuts(video)


def test_scenes_cover_the_whole_video() -> None:
    _, scenes = _detected("testvideo.mp4")
    assert scene_cuts(scenes) == [30, 180, 394, 691]
    assert [s.index for s in scenes] == list(range(len(scenes)))
    assert scenes[0].start_frame == 0 and scenes[0].start_s == 0.0
    assert scenes[-1].end_frame == 720  # 24.02 s at 29.97 fps
    for before, after in itertools.pairwise(scenes):
        assert before.end_frame == after.start_frame
        assert before.end_s == pytest.approx(after.start_s)
    # Seconds follow the source's frame rate (30000/1001).
    assert scenes[1].start_s == pytest.approx(30 * 1001 / 30000)


def test_video_without_cuts_is_one_scene() -> None:
    _, scenes = _detected("fades.mp4")
    assert scenes == [Scene(index=0, start_s=0.0, end_s=10.0, start_frame=0, end_frame=250)]


def test_keyframe_targets_middle_and_long_scenes() -> None:
    scenes = [
        Scene(index=0, start_s=0.0, end_s=4.0, start_frame=0, end_frame=120),
        Scene(index=1, start_s=4.0, end_s=34.0, start_frame=120, end_frame=1020),
    ]
    one = keyframe_targets(scenes, per_scene=3, long_scene_s=10.0)
    assert [(t.scene_index, t.time_s) for t in one] == [(0, 2.0), (1, 9.0), (1, 19.0), (1, 29.0)]
    middle_only = keyframe_targets(scenes, per_scene=1, long_scene_s=10.0)
    assert [t.time_s for t in middle_only] == [2.0, 19.0]


def _label(image: Image.Image) -> Image.Image:
    """The lower right corner where counter.mp4 prints "Frame = N" and "PTS = T s"."""
    width, height = image.size
    return image.crop((width * 2 // 3, height * 3 // 4, width, height)).convert("L")


def _pts_label_shown(image_path: Path) -> float:
    # The "PTS = 1.0s" line reads reliably; tesseract misreads this font's "1" in the
    # frame number as "I", so the frame itself is identified by pixels below.
    with Image.open(image_path) as image:
        text = pytesseract.image_to_string(_label(image))
    found = re.search(r"PTS\s*=\s*(\d+\.\d)\s*s", text)
    assert found, f"no PTS label read in {image_path}: {text!r}"
    return float(found[1])


def _closest_source_frame(image_path: Path, video: Path, around: int, work: Path) -> int:
    """Which source frame (0-based decode order number, ``around`` or a neighbour) the
    keyframe shows, judged by the pixels of the label."""
    with Image.open(image_path) as image:
        shown = np.asarray(_label(image), dtype=float)
    ffmpeg(
        *(
            "-i",
            str(video),
            "-vf",
            f"select=between(n\\,{around - 1}\\,{around + 1}),scale=1280:720",
        ),
        *("-fps_mode", "passthrough", str(work / f"ref_{around}_%d.png")),
    )
    differences = {}
    for offset in (-1, 0, 1):
        with Image.open(work / f"ref_{around}_{offset + 2}.png") as image:
            reference = np.asarray(_label(image), dtype=float)
        differences[around + offset] = np.abs(reference - shown).mean()
    return min(differences, key=differences.__getitem__)


@pytest.mark.parametrize("method", ["seek", "scan"])
def test_keyframe_timestamps_are_the_frames_written(tmp_path: Path, method: str) -> None:
    # counter.mp4: 10 fps, frame N (1-based) has PTS (N-1)/10 and shows "Frame = N".
    video, scenes = _detected("counter.mp4")
    frames = extract_keyframes(video, scenes, tmp_path / "kf", method=method)
    assert [f.timestamp_s for f in frames] == [1.0, 2.5]  # middles of [0, 2) and [2, 3)
    assert [f.scene_index for f in frames] == [0, 1]
    refs = tmp_path / "refs"
    refs.mkdir()
    for frame in frames:
        assert frame.timestamp_s * 10 == pytest.approx(round(frame.timestamp_s * 10))
        assert _pts_label_shown(frame.path) == frame.timestamp_s
        index = round(frame.timestamp_s * 10)  # frame N = index + 1
        assert _closest_source_frame(frame.path, video, index, refs) == index
        assert (frame.width, frame.height) == (1280, 720)  # 1080p scaled to 720
        assert re.fullmatch(r"[0-9a-f]{16}", frame.phash)
    assert sorted(p.name for p in (tmp_path / "kf").iterdir()) == ["frame_000.jpg", "frame_001.jpg"]


@pytest.mark.parametrize("method", ["seek", "scan"])
def test_keyframes_of_mpeg_ts_with_a_start_offset(tmp_path: Path, method: str) -> None:
    # MPEG-TS starts its clock at 1.6 s here and has one key frame, which defeats
    # ffmpeg's seeking; times must still count from the video's start.
    ts = tmp_path / "counter.ts"
    ffmpeg("-i", str(shared_media("pyscenedetect/counter.mp4")), "-c", "copy", str(ts))
    scenes = _scenes(ts)
    assert scene_cuts(scenes) == [20]
    frames = extract_keyframes(ts, scenes, tmp_path / "kf", method=method)
    assert [f.timestamp_s for f in frames] == [1.0, 2.5]
    assert [_pts_label_shown(f.path) for f in frames] == [1.0, 2.5]


def test_keyframes_on_real_footage(tmp_path: Path) -> None:
    video, scenes = _detected("testvideo.mp4")
    frames = extract_keyframes(video, scenes, tmp_path / "kf")
    assert 1 <= len(frames) <= len(scenes)
    assert [f.index for f in frames] == list(range(len(frames)))
    fps = 30000 / 1001
    for frame in frames:
        scene = scenes[frame.scene_index]
        assert scene.start_s <= frame.timestamp_s < scene.end_s
        # A real frame time of the 29.97 fps source, to showinfo's microseconds.
        assert frame.timestamp_s * fps == pytest.approx(round(frame.timestamp_s * fps), abs=1e-3)
        assert frame.path == tmp_path / "kf" / f"frame_{frame.index:03d}.jpg"
    distances = [
        bin(int(a.phash, 16) ^ int(b.phash, 16)).count("1")
        for i, a in enumerate(frames)
        for b in frames[i + 1 :]
    ]
    assert all(d > 4 for d in distances)


def test_rotated_keyframes_are_upright_and_scaled(tmp_path: Path) -> None:
    video = shared_media("pyscenedetect/edge_cases/issue-134-rotate.mp4")
    scene = Scene(index=0, start_s=0.0, end_s=4.0, start_frame=0, end_frame=96)
    frames = extract_keyframes(video, [scene], tmp_path, max_height=360)
    assert len(frames) == 1
    assert (frames[0].width, frames[0].height) == (152, 360)  # portrait display, 544x1280
    with Image.open(frames[0].path) as image:
        assert image.size == (152, 360)


def test_identical_frames_are_dropped_and_renumbered(tmp_path: Path) -> None:
    # A still picture with a little changing noise, cut into four "scenes": the four
    # keyframes are near-identical but not byte-equal.
    picture = tmp_path / "picture.png"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1", "-update", "1", str(picture)
    )
    still = tmp_path / "still.mp4"
    ffmpeg(
        *("-loop", "1", "-framerate", "10", "-i", str(picture), "-t", "4"),
        *("-vf", "noise=alls=6:allf=t+u", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(still)),
    )
    scenes = [
        Scene(index=i, start_s=float(i), end_s=i + 1.0, start_frame=10 * i, end_frame=10 * i + 10)
        for i in range(4)
    ]
    out = tmp_path / "kf"
    out.mkdir()
    (out / "frame_007.jpg").write_bytes(b"left over from an earlier run")
    frames = extract_keyframes(still, scenes, out, hash_distance=4)
    assert len(frames) == 1
    assert frames[0].index == 0 and frames[0].scene_index == 0
    assert frames[0].timestamp_s == 0.5
    assert sorted(p.name for p in out.iterdir()) == ["frame_000.jpg"]

    kept_all = extract_keyframes(still, scenes, out, hash_distance=-1)
    assert [f.index for f in kept_all] == [0, 1, 2, 3]
    assert [f.timestamp_s for f in kept_all] == [0.5, 1.5, 2.5, 3.5]
