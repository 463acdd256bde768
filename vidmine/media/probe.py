"""What a media file contains (ffprobe), and its content hash.

Everything later stages need to decide how to convert a file is worked out here once:
display size after rotation and non-square pixels, frame rate, which streams count.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path
from typing import Any

from vidmine.media.ffmpeg import MediaError, run_ffmpeg, run_ffprobe_json
from vidmine.models import ProbeResult

_HASH_CHUNK = 1024 * 1024


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of the file's bytes, read in chunks so large videos use little memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


FINGERPRINT_SAMPLES = 3  # 1 MiB at the start, the middle and the end


def quick_fingerprint(path: Path) -> str:
    """Hex SHA-256 of the file's size and three 1 MiB samples (all of a file up to 3 MiB).

    Reads at most 3 MiB however large the file, so the upload sensor can key a
    several-GB upload inside its tick. Equal files always agree; different videos
    differ unless they share size, head, middle and tail. ``source_video`` hashes the
    whole file, and that full hash is what duplicates are judged by.
    """
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as handle:
        if size <= FINGERPRINT_SAMPLES * _HASH_CHUNK:
            digest.update(handle.read())
        else:
            for offset in (0, size // 2 - _HASH_CHUNK // 2, size - _HASH_CHUNK):
                handle.seek(offset)
                digest.update(handle.read(_HASH_CHUNK))
    return digest.hexdigest()


def parse_rate(text: str | None) -> float | None:
    """``"30000/1001"`` -> 29.97; ``"0/0"``, ``"N/A"`` and missing -> None."""
    if not text:
        return None
    try:
        rate = Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None
    return float(rate) if rate > 0 else None


def parse_sample_aspect_ratio(text: str | None) -> Fraction | None:
    """``"16:11"`` -> 16/11; unknown (``"0:1"``, ``"N/A"``, missing) -> None."""
    if not text or ":" not in text:
        return None
    num, _, den = text.partition(":")
    try:
        n, d = int(num), int(den)
    except ValueError:
        return None
    return Fraction(n, d) if n > 0 and d > 0 else None


def is_real_video_stream(stream: dict[str, Any]) -> bool:
    """A picture stream, not cover art (an attached picture is stored as a one-frame video)."""
    if stream.get("codec_type") != "video":
        return False
    return not stream.get("disposition", {}).get("attached_pic")


def main_video_stream(probe: ProbeResult) -> dict[str, Any] | None:
    """The ffprobe stream entry of the picture stream ``probe`` describes, if any."""
    streams = probe.raw.get("streams") or []
    return next((s for s in streams if is_real_video_stream(s)), None)


def clockwise_rotation(stream: dict[str, Any]) -> int:
    """Degrees (0/90/180/270) the decoded picture must be turned clockwise to be upright.

    ffprobe reports the display matrix angle counter-clockwise, so it is negated, as
    ffmpeg's own autorotation does; the legacy ``rotate`` tag is already clockwise.
    """
    degrees: float | None = None
    for side_data in stream.get("side_data_list") or []:
        if side_data.get("side_data_type") == "Display Matrix" and "rotation" in side_data:
            degrees = -float(side_data["rotation"])
            break
    if degrees is None:
        tag = (stream.get("tags") or {}).get("rotate")
        if tag is None:
            return 0
        try:
            degrees = float(tag)
        except ValueError:
            return 0
    return (round(degrees / 90) * 90) % 360


def _float_or_none(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def probe_media(path: Path) -> ProbeResult:
    """Describe the media file at ``path``; raise MediaError when it cannot be processed."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: file not found; check the path or upload the file again.")
    if not path.is_file():
        raise MediaError(f"{path}: is not a regular file; upload a video or audio file.")
    size = path.stat().st_size
    if size == 0:
        raise MediaError(
            f"{path}: the file is empty (0 bytes), probably an interrupted upload or copy; "
            "upload it again."
        )
    info = run_ffprobe_json(path)
    streams: list[dict[str, Any]] = info.get("streams") or []
    fmt: dict[str, Any] = info.get("format") or {}
    video = next((s for s in streams if is_real_video_stream(s)), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None and audio is None:
        kinds = sorted({str(s.get("codec_type")) for s in streams}) or ["none"]
        raise MediaError(
            f"{path}: contains no video or audio stream (streams found: {', '.join(kinds)}); "
            "upload a file with a picture or sound track."
        )

    duration = _float_or_none(fmt.get("duration"))
    if duration is None:
        durations = [_float_or_none(s.get("duration")) for s in (video, audio) if s]
        duration = max((d for d in durations if d is not None), default=0.0)

    width = height = None
    fps = None
    rotation = 0
    sar_text = None
    if video is not None:
        coded_w, coded_h = _int_or_none(video.get("width")), _int_or_none(video.get("height"))
        sar = parse_sample_aspect_ratio(video.get("sample_aspect_ratio"))
        sar_text = f"{sar.numerator}:{sar.denominator}" if sar else None
        rotation = clockwise_rotation(video)
        if coded_w and coded_h:
            # Non-square pixels stretch the stored width; rotation then swaps the axes.
            shown_w = round(coded_w * sar) if sar else coded_w
            width, height = (coded_h, shown_w) if rotation in (90, 270) else (shown_w, coded_h)
        fps = parse_rate(video.get("avg_frame_rate")) or parse_rate(video.get("r_frame_rate"))

    return ProbeResult(
        path=path,
        format_name=str(fmt.get("format_name", "")),
        duration_s=duration,
        size_bytes=size,
        has_video=video is not None,
        has_audio=audio is not None,
        width=width,
        height=height,
        fps=fps,
        rotation=rotation,
        video_codec=video.get("codec_name") if video else None,
        audio_codec=audio.get("codec_name") if audio else None,
        audio_sample_rate=_int_or_none(audio.get("sample_rate")) if audio else None,
        audio_channels=_int_or_none(audio.get("channels")) if audio else None,
        sample_aspect_ratio=sar_text,
        raw=info,
    )


def check_complete(path: Path) -> None:
    """Raise MediaError when the file ends before its own index says it does: a copy or
    download cut short. Such a file often probes fine (an MP4 with its index first
    describes the whole video) and then yields only its first part.

    ffmpeg reads every packet without decoding (half a second for 180 MB here), and its
    demuxer reports the packets that lie past the end of the file.
    """
    path = Path(path)
    stderr = run_ffmpeg(
        ["-v", "error", "-i", str(path), "-map", "0", "-c", "copy", "-f", "null", "-"],
        what=f"read {path}",
    )
    cut = [line for line in stderr.splitlines() if "partial file" in line]
    if cut:
        raise MediaError(
            f"{path.name} is incomplete: it ends before the end its index describes "
            f"({cut[0].split('] ')[-1].strip()}). The copy or download was probably cut "
            "short; copy the file again."
        )
