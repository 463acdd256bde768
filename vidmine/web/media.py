"""Which file on disk a media URL means, decided from ids in the database only.

No part of a request path ever becomes part of a file path: a URL names a video id and
an index, the database says where that video's file is, and the resolved path (after
following symlinks) must lie under ``VIDMINE_HOME/media``, or be the video's registered
source file for videos that have no normalized copy. Anything else is refused.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path

from vidmine.db.models import VideoRecord
from vidmine.db.store import Store
from vidmine.media.normalize import NORMALIZED_VIDEO_NAME
from vidmine.models import Keyframe
from vidmine.settings import MEDIA_EXTENSIONS, VidmineHome
from vidmine.web.errors import WebError

# Video ids are partition keys: slug plus hash (see vidmine.uploads.video_key). Anything
# else in a URL is refused before it reaches the database.
VIDEO_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


@dataclass(frozen=True)
class MediaFile:
    path: Path
    media_type: str


def checked_video(store: Store, video_id: str) -> VideoRecord:
    """The video with this id, or WebError(404) for an unknown or malformed id."""
    if not VIDEO_ID_PATTERN.match(video_id) or ".." in video_id:
        raise WebError(404, f"no video {video_id!r}; GET /api/videos lists the ids")
    video = store.get_video(video_id)
    if video is None:
        raise WebError(404, f"no video {video_id!r}; GET /api/videos lists the ids")
    return video


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def confined(path: Path, home: VidmineHome) -> Path:
    """``path`` resolved, if it is a regular file under the media folder; else WebError."""
    resolved = path.resolve()
    if not _inside(resolved, home.media.resolve()):
        raise WebError(403, "refused: the file lies outside VIDMINE_HOME/media")
    if not resolved.is_file():
        raise WebError(404, f"the file for this media ({path.name}) is missing on disk")
    return resolved


def playable_video(store: Store, home: VidmineHome, video_id: str) -> MediaFile:
    """The normalized video, or the registered source file when there is none."""
    video = checked_video(store, video_id)
    normalized = home.video_dir(video.video_id) / NORMALIZED_VIDEO_NAME
    if normalized.exists() or normalized.is_symlink():
        return MediaFile(confined(normalized, home), "video/mp4")
    source = Path(video.source_path)
    resolved = source.resolve()
    # The source may live anywhere (vidmine ingest takes any path); it is served only as
    # exactly the file registered for this video, and only if it is a media file.
    if resolved.suffix.lower() not in MEDIA_EXTENSIONS or not resolved.is_file():
        raise WebError(
            404, f"{video.file_name}: no normalized video yet and the source file is not available"
        )
    if source.is_symlink() and not _inside(resolved, home.root.resolve()):
        raise WebError(403, "refused: the source file is a symlink out of VIDMINE_HOME")
    return MediaFile(resolved, _media_type(resolved))


_IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}


def poster_image(store: Store, home: VidmineHome, video_id: str) -> MediaFile:
    """The keyframe that best stands for the video: the one whose JPEG is largest, i.e.
    holds the most detail (a black or blank frame compresses to almost nothing, and the
    first frame of most videos is one)."""
    video = checked_video(store, video_id)
    sized = [
        (k.path.stat().st_size, k.index, k)
        for k in store.load_keyframes(video.video_id)
        if k.path.is_file()
    ]
    if not sized:
        raise WebError(404, f"{video.file_name} has no keyframe (yet)")
    chosen = max(sized, key=lambda item: (item[0], -item[1]))[2]
    return MediaFile(confined(chosen.path, home), "image/jpeg")


def ocr_frame(store: Store, home: VidmineHome, video_id: str, index: int) -> MediaFile:
    """The sampled frame an on-screen text was read from; the keyframe nearest its time
    when that frame is not kept."""
    video = checked_video(store, video_id)
    text = next((t for t in store.load_ocr_texts(video.video_id) if t.index == index), None)
    if text is None:
        raise WebError(404, f"{video.file_name} has no on-screen text {index}")
    if text.frame_path is not None and text.frame_path.is_file():
        path = confined(text.frame_path, home)
        return MediaFile(path, _IMAGE_TYPES.get(path.suffix.lower(), "image/jpeg"))
    return keyframe_image(store, home, video_id, index=None, at_s=text.start_s, until_s=text.end_s)


SUBTITLE_TYPES = {"vtt": "text/vtt; charset=utf-8", "srt": "application/x-subrip; charset=utf-8"}


def transcript_subtitles(store: Store, home: VidmineHome, video_id: str, fmt: str) -> MediaFile:
    """The transcript as WebVTT (the player's captions) or SRT, written by the transcript
    stage beside the video's other files."""
    if fmt not in SUBTITLE_TYPES:
        raise WebError(404, f"no transcript format {fmt!r}; use vtt or srt")
    video = checked_video(store, video_id)
    path = home.video_dir(video.video_id) / f"transcript.{fmt}"
    if not (path.exists() or path.is_symlink()):
        raise WebError(404, f"{video.file_name} has no transcript (yet)")
    return MediaFile(confined(path, home), SUBTITLE_TYPES[fmt])


def _media_type(path: Path) -> str:
    return {
        ".mp4": "video/mp4",
        ".m4v": "video/mp4",
        ".mov": "video/quicktime",
        ".webm": "video/webm",
        ".mkv": "video/x-matroska",
        ".mp3": "audio/mpeg",
        ".m4a": "audio/mp4",
        ".wav": "audio/wav",
        ".ogg": "audio/ogg",
        ".opus": "audio/ogg",
        ".flac": "audio/flac",
    }.get(path.suffix.lower(), "application/octet-stream")


def nearest_keyframe(
    keyframes: list[Keyframe], at_s: float, until_s: float | None = None
) -> Keyframe | None:
    """The keyframe that shows the moment ``at_s``: the first one inside
    [``at_s``, ``until_s``] when the moment is a range, else the closest in time."""
    if not keyframes:
        return None
    ordered = sorted(keyframes, key=lambda k: k.timestamp_s)
    if until_s is not None:
        # A hit that starts just before a cut is about what follows it: a frame from
        # inside its range beats a closer one from the previous scene.
        inside = [k for k in ordered if at_s <= k.timestamp_s <= until_s]
        if inside:
            return inside[0]
    times = [k.timestamp_s for k in ordered]
    i = bisect_left(times, at_s)
    candidates = ordered[max(0, i - 1) : i + 1]
    return min(candidates, key=lambda k: abs(k.timestamp_s - at_s))


def keyframe_image(
    store: Store,
    home: VidmineHome,
    video_id: str,
    *,
    index: int | None,
    at_s: float | None,
    until_s: float | None = None,
) -> MediaFile:
    """A keyframe JPEG by index, or the one showing the moment ``at_s`` (to ``until_s``)."""
    video = checked_video(store, video_id)
    keyframes = store.load_keyframes(video.video_id)
    if index is not None:
        chosen = next((k for k in keyframes if k.index == index), None)
    else:
        chosen = nearest_keyframe(keyframes, at_s or 0.0, until_s)
    if chosen is None:
        raise WebError(404, f"{video.file_name} has no keyframe here (yet)")
    return MediaFile(confined(chosen.path, home), "image/jpeg")
