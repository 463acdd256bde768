"""The benchmark's own long video, built from the third-party media in ``../shared/media``.

About 8.4 minutes of real footage (PySceneDetect's ``testvideo.mp4`` and the Popeye clip,
scaled and padded to the target height, one after the other and repeated) with
``jfk.flac`` looped under it as speech: H.264 + AAC, like a phone or screen recording.
Built once per height and kept in ``bench/out/`` (git ignores it), since encoding it
takes a few minutes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_MEDIA = REPO.parent / "shared" / "media"
OUT = REPO / "bench" / "out"
LONG_VIDEO_SECONDS = 504.0  # 8.4 minutes
_REPEATS = 6  # (24 s + 62 s) x 6 = 516 s, cut to LONG_VIDEO_SECONDS


def shared_media(relative: str) -> Path:
    path = SHARED_MEDIA / relative
    if not path.is_file():
        raise SystemExit(
            f"{path} is missing: the benchmark builds its video from ../shared/media "
            "(the third-party test media beside the repository)"
        )
    return path


# The sources a browser cannot play as they are, so their playback copy is re-encoded:
# variant -> (file name suffix, ffmpeg video arguments applied to the H.264 30 fps file).
REENCODED_VARIANTS = {
    "hevc": (
        "_hevc",
        (
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-crf",
            "26",
            "-tag:v",
            "hvc1",
            "-x265-params",
            "log-level=error",
        ),
    ),
    "60fps": (
        "_60fps",
        ("-vf", "fps=60000/1001", "-c:v", "libx264", "-preset", "veryfast", "-crf", "21"),
    ),
}
VARIANTS = ("h264", *REENCODED_VARIANTS)


def long_speech_video(height: int = 1080, variant: str = "h264") -> Path:
    """``bench/out/long_speech_{height}p{suffix}.mp4``, made on first use. ``variant``:
    ``h264`` (29.97 fps, what phones and screen recorders make), ``hevc`` (the same
    pictures as H.265) or ``60fps`` (the same pictures at 59.94 fps, H.264)."""
    if variant != "h264":
        suffix, video_args = REENCODED_VARIANTS[variant]
        target = OUT / f"long_speech_{height}p{suffix}.mp4"
        if not target.is_file():
            source = long_speech_video(height)
            partial = target.with_name(f".{target.stem}.part.mp4")
            _ffmpeg(
                "-i",
                str(source),
                *video_args,
                "-c:a",
                "copy",
                "-movflags",
                "+faststart",
                str(partial),
            )
            partial.replace(target)
        return target
    target = OUT / f"long_speech_{height}p.mp4"
    if target.is_file():
        return target
    OUT.mkdir(parents=True, exist_ok=True)
    width = height * 16 // 9
    clips = [
        shared_media("pyscenedetect/testvideo.mp4"),
        shared_media("popeye/popeye_T03-4_pgs.mkv"),
    ]
    fit = (
        f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,fps=30000/1001,setsar=1,format=yuv420p"
    )
    # One cycle of both clips is encoded once; the long video repeats it without
    # re-encoding (a split of a decoded stream would hold every frame in memory).
    cycle = OUT / f".cycle_{height}p.mp4"
    inputs = [arg for clip in clips for arg in ("-i", str(clip))]
    graph = ";".join(f"[{i}:v:0]{fit}[v{i}]" for i in range(len(clips)))
    graph += ";" + "".join(f"[v{i}]" for i in range(len(clips))) + "concat=n=2:v=1:a=0[v]"
    _ffmpeg(
        *inputs,
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "21",
        "-g",
        "250",
        str(cycle),
    )
    partial = target.with_name(f".{target.stem}.part.mp4")
    _ffmpeg(
        "-stream_loop",
        str(_REPEATS - 1),
        "-i",
        str(cycle),
        "-stream_loop",
        "-1",
        "-i",
        str(shared_media("audio/jfk.flac")),
        "-map",
        "0:v:0",
        "-map",
        "1:a:0",
        "-t",
        f"{LONG_VIDEO_SECONDS:g}",
        "-c:v",
        "copy",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-ac",
        "2",
        "-movflags",
        "+faststart",
        str(partial),
    )
    cycle.unlink()
    partial.replace(target)
    return target


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-nostdin", *args], check=True)
