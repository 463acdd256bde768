"""Shot boundaries with PySceneDetect's AdaptiveDetector.

Detection reads the source video, so scene frame numbers are the source's own frames
(the normalized copy has a different frame rate). PySceneDetect downscales frames
before comparing them (its default): its regression goldens for the AdaptiveDetector
hold with and without it, and it halves the time on HD video.
"""

from __future__ import annotations

import logging
from pathlib import Path

from scenedetect import AdaptiveDetector, SceneManager, open_video
from scenedetect.video_stream import VideoOpenFailure, VideoStream

from vidmine.media.ffmpeg import MediaError
from vidmine.models import Scene

log = logging.getLogger(__name__)

# OpenCV decodes fastest; PyAV (FFmpeg's libraries) reads some files OpenCV's build cannot.
_BACKENDS = ("opencv", "pyav")


def _open(video_path: Path, backend: str, fps: float | None) -> VideoStream:
    return open_video(str(video_path), frame_rate=fps, backend=backend)


def _detect_with(
    video_path: Path, backend: str, fps: float | None, adaptive_threshold: float, min_scene_len: int
) -> list[Scene]:
    video = _open(video_path, backend, fps)
    manager = SceneManager()
    manager.add_detector(
        AdaptiveDetector(adaptive_threshold=adaptive_threshold, min_scene_len=min_scene_len)
    )
    frames_read = manager.detect_scenes(video)
    if frames_read <= 0:
        return []
    # start_in_scene: a video with no cut is one scene, not an empty list.
    found = manager.get_scene_list(start_in_scene=True)
    return [
        Scene(
            index=i,
            start_s=start.seconds,
            end_s=end.seconds,
            start_frame=start.frame_num,
            end_frame=end.frame_num,
        )
        for i, (start, end) in enumerate(found)
    ]


def detect_scenes(
    video_path: Path,
    *,
    fps: float | None = None,
    adaptive_threshold: float = 3.0,
    min_scene_len: int = 15,
) -> list[Scene]:
    """Scenes covering the whole video in order; a video without cuts is one scene.

    ``fps`` overrides the frame rate the container states (for files that state a wrong
    one); frame numbers and seconds then follow it.
    """
    video_path = Path(video_path)
    if not video_path.is_file():
        raise MediaError(f"{video_path}: file not found; cannot detect scenes.")
    failures: list[str] = []
    for backend in _BACKENDS:
        try:
            scenes = _detect_with(video_path, backend, fps, adaptive_threshold, min_scene_len)
        except VideoOpenFailure as err:
            failures.append(f"{backend}: {err}")
            continue
        if scenes:
            return scenes
        failures.append(f"{backend}: no frame could be decoded")
        log.warning("scene detection read no frames of %s with %s", video_path, backend)
    raise MediaError(
        f"{video_path}: cannot decode the video for scene detection ({'; '.join(failures)}). "
        "Re-export it as H.264 MP4 and upload it again."
    )


def scene_cuts(scenes: list[Scene]) -> list[int]:
    """Start frames of every scene but the first: where the cuts are."""
    return [scene.start_frame for scene in scenes[1:]]
