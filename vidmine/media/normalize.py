"""Normalization: the video and audio forms every later stage reads.

``normalized.mp4`` is the playback copy: H.264 yuv420p, upright, square pixels, at a
constant frame rate of at most 30 fps, with ``+faststart`` so it streams. A source that
browsers already play (H.264 yuv420p, at most ``PlaybackConfig.remux_max_height`` lines,
1080 by default, in MP4 or MOV) is remuxed, which takes about a second; anything else is
re-encoded at most ``encode_max_height`` lines high (720; never upscaled) at low CPU
priority, since nothing waits for it (it is made after the video is ready); it carries the source's first audio track as AAC (copied when it already is AAC
or MP3, which every browser plays in MP4), so the player has sound. A constant-rate source
of 30 fps or less keeps its
rate (29.97, 25 and 24 fps stay as shot, without duplicated frames); a faster or
variable-rate one is brought to a constant 30 fps. ``audio.wav`` is 16 kHz mono 16-bit
PCM, what speech recognisers expect. A source that already meets the video rules is
remuxed instead of re-encoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidmine.config import PlaybackConfig
from vidmine.media.ffmpeg import MediaError, atomic_output, run_ffmpeg
from vidmine.media.probe import (
    main_video_stream,
    parse_rate,
    parse_sample_aspect_ratio,
    probe_media,
)
from vidmine.models import ProbeResult

MAX_HEIGHT = 720  # of a re-encoded copy, unless PlaybackConfig says otherwise
# A re-encode runs after ready; at this niceness it yields the CPU to the analysis of the
# next video in a backlog.
ENCODE_NICENESS = 10
MAX_FPS = 30.0
FPS_TOLERANCE = 0.01
# The average rate of a constant-rate file drifts from its base rate when its last frame
# is held longer (e.g. to match the audio); that is not variable frame rate.
AVERAGE_FPS_TOLERANCE = 0.05
AUDIO_SAMPLE_RATE = 16_000
NORMALIZED_VIDEO_NAME = "normalized.mp4"
_REMUXABLE_FORMATS = ("mov", "mp4")
# Audio codecs every browser plays inside MP4: copied as they are, any other is encoded.
_PLAYABLE_AUDIO_CODECS = frozenset({"aac", "mp3"})
# AAC-LC at 128 kb/s: transparent enough for speech and music, a few percent of the
# video's size. More than two channels are folded to stereo, which every browser plays.
_AAC_ARGS = ["-c:a", "aac", "-b:a", "128k"]
# The fastest preset: the copy is for playback, and on two cores even ultrafast costs
# about as much as decoding the source (veryfast took half as long again).
X264_PRESET = "ultrafast"
# crf 23 is x264's visually-fine default. A key frame every 2 s keeps seeking cheap, for
# players and for keyframe extraction.
_X264_ARGS = ["-c:v", "libx264", "-crf", "23", "-pix_fmt", "yuv420p", "-g", "60"]


@dataclass(frozen=True)
class VideoNormalization:
    """The normalized video file and what it turned out to be."""

    path: Path
    reencoded: bool
    width: int
    height: int
    fps: float
    has_audio: bool = False


def target_size(
    display_width: int, display_height: int, max_height: int = MAX_HEIGHT
) -> tuple[int, int]:
    """Output (width, height): display aspect kept, at most ``max_height`` high, never
    upscaled, both even (yuv420p needs even dimensions)."""
    height = min(display_height, max_height)
    height -= height % 2
    width = round(display_width * height / display_height / 2) * 2
    return max(width, 2), max(height, 2)


def kept_frame_rate(probe: ProbeResult) -> float | None:
    """The source's frame rate when the normalized video keeps it: constant and at most
    ``MAX_FPS``. None when the video must be brought to a constant ``MAX_FPS``."""
    stream = main_video_stream(probe)
    if stream is None or not probe.fps:
        return None
    # A variable frame rate video's average differs from its base rate.
    base_fps = parse_rate(stream.get("r_frame_rate")) or probe.fps
    if abs(probe.fps - base_fps) > AVERAGE_FPS_TOLERANCE or base_fps > MAX_FPS + FPS_TOLERANCE:
        return None
    return base_fps


def video_conforms(probe: ProbeResult, max_height: int = MAX_HEIGHT) -> bool:
    """True when the source video can be remuxed as is instead of re-encoded: browsers
    play it, and it is at most ``max_height`` lines high."""
    stream = main_video_stream(probe)
    if stream is None or probe.width is None or probe.height is None or probe.fps is None:
        return False
    sar = parse_sample_aspect_ratio(stream.get("sample_aspect_ratio"))
    container = set(probe.format_name.split(","))
    return (
        probe.video_codec == "h264"
        and stream.get("pix_fmt") == "yuv420p"
        and probe.height <= max_height
        and probe.width % 2 == 0
        and probe.height % 2 == 0
        and kept_frame_rate(probe) is not None
        and probe.rotation == 0
        and (sar is None or sar == 1)
        and any(name in container for name in _REMUXABLE_FORMATS)
    )


def normalization_filter(probe: ProbeResult, max_height: int = MAX_HEIGHT) -> str:
    """The filter chain that makes a re-encoded normalized video from the decoded source.

    ffmpeg turns the picture upright itself (autorotate) before these filters run, so
    the scale target is already in display orientation.
    """
    if not probe.width or not probe.height:
        raise MediaError(f"{probe.path}: has no video stream to normalize; it is audio only.")
    width, height = target_size(probe.width, probe.height, max_height)
    # bilinear: a downscale for playback, 12% faster than bicubic on the whole encode
    scale = f"scale={width}:{height}:flags=bilinear,setsar=1"
    if kept_frame_rate(probe) is not None:
        return scale
    return f"fps={MAX_FPS:g},{scale}"


def encoder_args(preset: str | None = None) -> list[str]:
    """x264 arguments of the normalized video."""
    return [*_X264_ARGS, "-preset", preset or X264_PRESET]


def probe_normalized(
    src: Path, written: Path, out_path: Path, reencoded: bool
) -> VideoNormalization:
    """Check the normalized video just written at ``written`` (to be renamed ``out_path``)."""
    result = probe_media(written)
    if result.width is None or result.height is None or result.fps is None:
        raise MediaError(f"{src}: normalization produced no readable video in {out_path}")
    return VideoNormalization(
        path=out_path,
        reencoded=reencoded,
        width=result.width,
        height=result.height,
        fps=result.fps,
        has_audio=result.has_audio,
    )


def audio_args(probe: ProbeResult) -> list[str]:
    """ffmpeg arguments for the playback copy's audio: the source's first audio track,
    copied when browsers play its codec in MP4, encoded as AAC otherwise; none without
    audio."""
    if not probe.has_audio:
        return ["-an"]
    if probe.audio_codec in _PLAYABLE_AUDIO_CODECS:
        return ["-map", "0:a:0", "-c:a", "copy"]
    downmix = ["-ac", "2"] if (probe.audio_channels or 0) > 2 else []
    return ["-map", "0:a:0", *_AAC_ARGS, *downmix]


def _duration_args(max_duration_s: float | None) -> list[str]:
    return ["-t", f"{max_duration_s:.3f}"] if max_duration_s is not None else []


def normalize_video(
    src: Path,
    probe: ProbeResult,
    out_path: Path,
    *,
    max_duration_s: float | None = None,
    timeout_s: float | None = None,
    playback: PlaybackConfig | None = None,
) -> VideoNormalization:
    """Write the normalized video of ``src`` to ``out_path`` (atomically).

    ``max_duration_s`` keeps only the start of the video (for previews and tests).
    ``playback`` None keeps the copy at most ``MAX_HEIGHT`` lines, remuxed or not.
    """
    remux_max_height = playback.remux_max_height if playback else MAX_HEIGHT
    encode_max_height = playback.encode_max_height if playback else MAX_HEIGHT
    stream = main_video_stream(probe)
    if stream is None or not probe.width or not probe.height:
        raise MediaError(f"{src}: has no video stream to normalize; it is audio only.")
    video_map = ["-map", f"0:{stream['index']}"]
    reencode = not video_conforms(probe, remux_max_height)
    with atomic_output(out_path) as tmp:
        if reencode:
            codec_args = ["-vf", normalization_filter(probe, encode_max_height), *encoder_args()]
        else:
            codec_args = ["-c:v", "copy"]
        run_ffmpeg(
            [
                "-i",
                str(src),
                *video_map,
                *_duration_args(max_duration_s),
                *codec_args,
                *audio_args(probe),
                "-sn",
                "-dn",
                "-map_metadata",
                "-1",
                "-movflags",
                "+faststart",
                "-f",
                "mp4",
                str(tmp),
            ],
            what=f"normalize the video of {src}",
            timeout_s=timeout_s,
            niceness=ENCODE_NICENESS if reencode else 0,
        )
        return probe_normalized(src, tmp, out_path, reencode)


def extract_audio_wav(
    src: Path,
    out_path: Path,
    *,
    max_duration_s: float | None = None,
    timeout_s: float | None = None,
) -> Path:
    """Write the first audio track of ``src`` as 16 kHz mono PCM wav to ``out_path``."""
    with atomic_output(out_path) as tmp:
        run_ffmpeg(
            [
                "-i",
                str(src),
                "-map",
                "0:a:0",
                *_duration_args(max_duration_s),
                "-vn",
                "-sn",
                "-dn",
                "-map_metadata",
                "-1",
                "-ac",
                "1",
                "-ar",
                str(AUDIO_SAMPLE_RATE),
                "-c:a",
                "pcm_s16le",
                "-f",
                "wav",
                str(tmp),
            ],
            what=f"extract the audio of {src}",
            timeout_s=timeout_s,
        )
    return out_path
