"""Sample videos made from nothing but ffmpeg: coloured scenes with hard cuts, large
captions drawn on screen, and English speech from ffmpeg's flite voice.

The voice is flite's ``rms``: of flite's and espeak-ng's English voices, the one Whisper
base heard best here (word error 0.09 on the demo and web sentences, against 0.11 for
``slt``, 0.26 for ``awb`` and 0.22 to 0.42 for espeak-ng at two rates), and the same with
int8 and float32 kernels, which stand in for the kernel differences between CPUs. Spoken
words are plain English: an invented name ("vidmine") is heard differently everywhere.

Used by ``make demo`` and by tests that need a video whose content they know.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)


@dataclass(frozen=True)
class SampleScene:
    colour: str  # ffmpeg colour name or #rrggbb
    caption: str  # drawn large in the middle of the screen
    speech: str  # spoken over the scene ("" for silence)
    min_seconds: float = 3.0


# flite's clearest English voice for Whisper (see the module docstring).
SAMPLE_VOICE = "rms"

DEMO_SCENES = (
    SampleScene("navy", "VIDMINE DEMO", "Welcome to the demo video."),
    SampleScene("darkgreen", "OCEAN TIDES", "The ocean tides are pulled by the moon."),
    SampleScene("maroon", "QUARTERLY RESULTS", "Revenue grew by twelve percent this quarter."),
    SampleScene("black", "THANK YOU", "Thank you for watching, and goodbye."),
)


def _font() -> str:
    for candidate in FONT_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    raise FileNotFoundError(
        "no DejaVu font found for drawtext; install fonts-dejavu-core (scripts/install.sh does)"
    )


def _run(args: list[str]) -> None:
    proc = subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed making a sample video: {proc.stderr.strip()[-800:]}")


def _duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return float(out)


def make_sample_video(
    out_path: Path,
    scenes: tuple[SampleScene, ...] = DEMO_SCENES,
    *,
    size: str = "1280x720",
    fps: int = 30,
) -> Path:
    """Write an H.264/AAC mp4 with one hard cut between consecutive scenes."""
    if shutil.which("ffmpeg") is None:
        raise FileNotFoundError("ffmpeg is not installed; run `make install`")
    font = _font()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vidmine-sample-") as tmp_name:
        tmp = Path(tmp_name)
        parts = []
        for i, scene in enumerate(scenes):
            caption_file = tmp / f"caption{i}.txt"
            caption_file.write_text(scene.caption)
            speech = tmp / f"speech{i}.wav"
            if scene.speech:
                speech_file = tmp / f"speech{i}.txt"
                speech_file.write_text(scene.speech)
                _run(
                    [
                        "-f",
                        "lavfi",
                        "-i",
                        f"flite=textfile={speech_file}:voice={SAMPLE_VOICE}",
                        "-ar",
                        "16000",
                        "-ac",
                        "1",
                        str(speech),
                    ]
                )
                seconds = max(scene.min_seconds, _duration(speech) + 0.8)
            else:
                _run(["-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "1", str(speech)])
                seconds = scene.min_seconds
            part = tmp / f"part{i}.mp4"
            draw = (
                f"drawtext=fontfile={font}:textfile={caption_file}:fontcolor=white:"
                "fontsize=h/9:x=(w-text_w)/2:y=(h-text_h)/2:box=1:boxcolor=black@0.35:boxborderw=20"
            )
            _run(
                [
                    "-f",
                    "lavfi",
                    "-i",
                    f"color=c={scene.colour}:s={size}:r={fps}:d={seconds:.3f}",
                    "-i",
                    str(speech),
                    "-filter_complex",
                    f"[0:v]{draw},format=yuv420p[v];[1:a]apad,aresample=44100[a]",
                    "-map",
                    "[v]",
                    "-map",
                    "[a]",
                    "-t",
                    f"{seconds:.3f}",
                    "-c:v",
                    "libx264",
                    "-preset",
                    "veryfast",
                    "-crf",
                    "23",
                    "-g",
                    str(fps),
                    "-c:a",
                    "aac",
                    "-b:a",
                    "96k",
                    "-ac",
                    "1",
                    str(part),
                ]
            )
            parts.append(part)
        listing = tmp / "parts.txt"
        listing.write_text("".join(f"file '{p}'\n" for p in parts))
        tmp_out = tmp / "sample.mp4"
        _run(
            [
                "-f",
                "concat",
                "-safe",
                "0",
                "-i",
                str(listing),
                "-c",
                "copy",
                "-movflags",
                "+faststart",
                str(tmp_out),
            ]
        )
        shutil.move(str(tmp_out), out_path)
    return out_path
