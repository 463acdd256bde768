"""Shot boundaries with PySceneDetect's AdaptiveDetector, on frames ffmpeg decodes.

Detection reads the source video, so scene frame numbers are the source's own frames
(the normalized copy has a different frame rate). The frames come from the same ffmpeg
decode that makes the other outputs (:mod:`vidmine.media.decode`), already downscaled
to the width PySceneDetect compares at by default; its regression goldens for the
AdaptiveDetector hold on them (see :func:`detection_filter`).
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import numpy as np
from scenedetect import AdaptiveDetector, FrameTimecode, SceneManager
from scenedetect.common import Timecode
from scenedetect.video_stream import VideoStream

from vidmine.media.ffmpeg import MediaError
from vidmine.media.probe import main_video_stream
from vidmine.models import ProbeResult, Scene

log = logging.getLogger(__name__)

# PySceneDetect downscales frames to this width before comparing them (its default,
# DEFAULT_MIN_WIDTH); ffmpeg does it here so only small frames cross the pipe.
DETECTION_WIDTH = 256
ADAPTIVE_THRESHOLD = 3.0
MIN_SCENE_LEN = 15
_DEFAULT_FPS = 30


class PipedFrames(VideoStream):
    """Frames ffmpeg writes to a pipe as raw BGR, read as a PySceneDetect video stream.

    Frame numbers count the source's frames (ffmpeg passes them through unchanged) and
    positions assume its stated frame rate, as PySceneDetect's OpenCV backend does.
    """

    BACKEND_NAME = "vidmine-pipe"

    def __init__(self, pipe, size: tuple[int, int], fps: Fraction, path: Path) -> None:
        self._pipe = pipe
        self._size = size
        self._fps = fps
        self._path = path
        self._frame_bytes = size[0] * size[1] * 3
        self._frames = 0

    @property
    def path(self) -> str:
        return str(self._path)

    @property
    def name(self) -> str:
        return self._path.stem

    @property
    def is_seekable(self) -> bool:
        return False

    @property
    def frame_rate(self) -> Fraction:
        return self._fps

    @property
    def duration(self) -> FrameTimecode | None:
        return None

    @property
    def frame_size(self) -> tuple[int, int]:
        return self._size

    @property
    def aspect_ratio(self) -> float:
        return 1.0

    @property
    def position(self) -> FrameTimecode:
        if self._frames < 1:
            return self.base_timecode
        pts = (self._frames - 1) * self._fps.denominator
        return FrameTimecode(
            Timecode(pts=pts, time_base=Fraction(1, self._fps.numerator)), self._fps
        )

    @property
    def position_ms(self) -> float:
        return max(self._frames - 1, 0) * 1000.0 / float(self._fps)

    @property
    def frame_number(self) -> int:
        return self._frames

    def read(self, decode: bool = True) -> np.ndarray | bool:
        data = self._pipe.read(self._frame_bytes)
        if len(data) < self._frame_bytes:
            return False
        self._frames += 1
        if not decode:
            return True
        width, height = self._size
        return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)

    def reset(self) -> None:
        raise MediaError("a piped frame stream cannot be rewound")

    def seek(self, target) -> None:
        raise MediaError("a piped frame stream cannot seek")


def detection_filter(size: tuple[int, int]) -> str:
    """The ffmpeg filters that turn decoded frames into what the detector compares.

    fast_bilinear, like OpenCV's INTER_LINEAR that PySceneDetect downscales with, does
    not smooth: with smoothing (bilinear, area) fades and noise read as cuts and the
    detector's golden cuts no longer hold.
    """
    return f"scale={size[0]}:{size[1]}:flags=fast_bilinear,format=bgr24"


def scene_manager(
    adaptive_threshold: float = ADAPTIVE_THRESHOLD, min_scene_len: int = MIN_SCENE_LEN
) -> SceneManager:
    """A SceneManager with the AdaptiveDetector, for frames already at detection size."""
    manager = SceneManager()
    manager.auto_downscale = False
    manager.add_detector(
        AdaptiveDetector(adaptive_threshold=adaptive_threshold, min_scene_len=min_scene_len)
    )
    return manager


def detection_size(width: int, height: int) -> tuple[int, int]:
    """The frame size PySceneDetect would compare at (its automatic downscale)."""
    if width <= DETECTION_WIDTH:
        return width, height
    return DETECTION_WIDTH, max(1, round(height * DETECTION_WIDTH / width))


def source_frame_rate(probe: ProbeResult) -> Fraction:
    stream = main_video_stream(probe) or {}
    for key in ("r_frame_rate", "avg_frame_rate"):
        try:
            rate = Fraction(stream.get(key) or "0")
        except (ValueError, ZeroDivisionError):
            continue
        if rate > 0:
            return rate.limit_denominator(1001 * 1000)
    return Fraction(_DEFAULT_FPS)


def scenes_found(manager: SceneManager, frames: int) -> list[Scene]:
    if frames <= 0:
        return []
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


def scene_cuts(scenes: list[Scene]) -> list[int]:
    """Start frames of every scene but the first: where the cuts are."""
    return [scene.start_frame for scene in scenes[1:]]
