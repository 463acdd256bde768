"""Shared helpers for the media tests: where the third-party test media is, and small
synthetic videos made with ffmpeg's lavfi sources."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

SHARED_MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def shared_media(relative: str) -> Path:
    """A file under ../shared/media, or skip the test when the folder is absent."""
    path = SHARED_MEDIA / relative
    if not path.exists():
        pytest.skip(
            f"../shared/media not found: third-party test media ({relative}) lives beside the "
            "repository, not in it"
        )
    return path


def ffmpeg(*args: str) -> None:
    """Run ffmpeg for test setup; fail the test with ffmpeg's message when it fails."""
    proc = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"test setup ffmpeg failed: {proc.stderr}"


def make_video(
    path: Path,
    *,
    duration: float = 1.0,
    size: str = "320x240",
    fps: float = 30,
    audio: bool = True,
    video_codec: list[str] | None = None,
    source: str = "testsrc2",
    extra: list[str] | None = None,
) -> Path:
    """A synthetic clip: ``source`` (a lavfi video source) with an optional sine tone.

    ``video_codec`` defaults to H.264 yuv420p; ``extra`` goes before the output name.
    """
    separator = ":" if "=" in source else "="  # source may carry options, e.g. color=c=navy
    args = ["-f", "lavfi", "-i", f"{source}{separator}size={size}:rate={fps}:duration={duration}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={duration}"]
    codec = video_codec or ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    args += codec
    if audio:
        args += ["-c:a", "aac", "-shortest"]
    ffmpeg(*args, *(extra or []), str(path))
    return path


def make_text_slides(path: Path, slides: list[str], *, seconds_each: float = 2.0) -> Path:
    """A 30 fps video of white slides with black text, one per entry in ``slides``
    (an empty string makes a blank slide)."""
    parts = []
    for n, text in enumerate(slides):
        drawn = f",drawtext=text='{text}':fontsize=56:fontcolor=black:x=60:y=150" if text else ""
        parts.append(f"color=c=white:size=960x540:rate=30:duration={seconds_each}{drawn}[s{n}]")
    joined = "".join(f"[s{n}]" for n in range(len(slides)))
    graph = ";".join(parts) + f";{joined}concat=n={len(slides)}:v=1:a=0[out]"
    ffmpeg(
        "-filter_complex",
        graph,
        "-map",
        "[out]",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        str(path),
    )
    return path


def jfk_over_testvideo(out_dir: Path) -> Path:
    """testvideo.mp4 with the JFK speech muxed under it: the scene cuts and the
    transcript of the two files both hold for the result (shared/media README). Not cut
    to the shorter stream: the picture is all of testvideo.mp4 (24 s, every golden cut),
    the speech its first 11 s."""
    muxed = out_dir / "jfk_over_testvideo.mp4"
    ffmpeg(
        "-i", str(shared_media("pyscenedetect/testvideo.mp4")),
        "-i", str(shared_media("audio/jfk.flac")),
        "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", str(muxed),
    )  # fmt: skip
    return muxed


GERMAN_SENTENCE = (
    "Die Stadtverwaltung hat heute den neuen Fahrradweg am Rhein eröffnet. "
    "Der Bürgermeister war sehr zufrieden."
)


def english_then_german(out_dir: Path, *, pause_s: float = 1.5) -> tuple[Path, float]:
    """jfk.flac, ``pause_s`` of silence, then a German sentence spoken by espeak-ng, as a
    16 kHz mono WAV; returns the file and the second the German starts at. Skips when
    espeak-ng or the shared media is missing."""

    jfk = shared_media("audio/jfk.flac")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng; scripts/install.sh)")
    german = out_dir / "german.wav"
    subprocess.run(
        ["espeak-ng", "-v", "de", "-s", "130", "-w", str(german), GERMAN_SENTENCE],
        check=True,
        capture_output=True,
    )
    # Each part as 16 kHz mono first, the way the JFK tests convert jfk.flac.
    parts = []
    for source in (jfk, german):
        part = out_dir / f"{source.stem}.16k.wav"
        ffmpeg("-i", str(source), "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", str(part))
        parts.append(part)
    mixed = out_dir / "english_then_german.wav"
    ffmpeg(
        "-i", str(parts[0]), "-f", "lavfi", "-t", str(pause_s), "-i", "anullsrc=r=16000:cl=mono",
        "-i", str(parts[1]), "-filter_complex", "[0:a][1:a][2:a]concat=n=3:v=0:a=1",
        "-c:a", "pcm_s16le", str(mixed),
    )  # fmt: skip
    jfk_seconds = float(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", jfk],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    return mixed, jfk_seconds + pause_s


def spoken_words(text: str) -> list[str]:
    """Lower-case words without punctuation; digits spelled as Whisper's normaliser would
    not, so "12%" and "twelve percent" count as the same words."""
    text = text.lower().replace("%", " percent ").replace("-", " ")
    words = re.sub(r"[^a-z0-9' ]", " ", text).split()
    return [_NUMBER_WORDS.get(word, word) for word in words]


_NUMBER_WORDS = {"12": "twelve"}


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance over the reference's word count."""
    ref, hyp = spoken_words(reference), spoken_words(hypothesis)
    distances = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        diagonal, distances[0] = distances[0], i
        for j, hyp_word in enumerate(hyp, start=1):
            diagonal, distances[j] = (
                distances[j],
                min(distances[j] + 1, distances[j - 1] + 1, diagonal + (ref_word != hyp_word)),
            )
    return distances[len(hyp)] / max(len(ref), 1)
