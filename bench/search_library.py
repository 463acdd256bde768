"""The search benchmark's library: real videos built from ``../shared/media`` and processed
once by ``vidmine ingest`` into a VIDMINE_HOME kept under ``bench/out/search_library/``.

Each video is chosen for the ground truth beside it, so a query's right answer is known
without looking at what the models made of it:

- ``jfk speech.mp4``: PySceneDetect's ``testvideo.mp4`` with ``jfk.flac`` under it (its
  transcript is known; the footage shows a copyright line OCR reads).
- ``phone call.mp4``: the pyannote telephone call (``sample.stm`` says who says what when)
  over a still colour.
- ``phototest page.mp4``: tesseract's ``phototest.tif`` held for 6 s (its exact text is
  ``phototest.txt``).
- ``popeye sinbad.mp4``: the first 58 s of the Popeye clip with its human-written subtitles
  (``popeye_p1.eng.srt``) burned in, so the words are on screen.
- ``harbour talk.mp4`` and ``marktplatz rundgang.mp4``: two short synthetic clips, the
  English one as the web tests make it (the "lighthouse keeper" that Whisper may hear as
  "light housekeeper") and a German one spoken by espeak-ng (no real German speech is in
  ``../shared/media``), whose "Marktplatz" Whisper may write as "Markt Platz".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from media import REPO, shared_media

LIBRARY = REPO / "bench" / "out" / "search_library"
BIN = Path(sys.executable).parent

GERMAN_SPEECH = (
    "Guten Morgen. Wir treffen uns heute um zehn Uhr auf dem Marktplatz vor dem Rathaus. "
    "Danach besuchen wir die alte Stadtbibliothek und essen zu Mittag im Gasthaus am Fluss."
)


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args], check=True
    )


_H264 = ("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p")


def make_videos(folder: Path) -> list[Path]:
    """The library's source videos, written into ``folder``."""
    from vidmine.samples import SampleScene, make_sample_video

    folder.mkdir(parents=True, exist_ok=True)
    jfk = folder / "jfk speech.mp4"
    _ffmpeg(
        "-i", str(shared_media("pyscenedetect/testvideo.mp4")),
        "-i", str(shared_media("audio/jfk.flac")),
        "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-shortest", str(jfk),
    )  # fmt: skip
    call = folder / "phone call.mp4"
    _ffmpeg(
        "-f", "lavfi", "-i", "color=c=darkslateblue:s=640x360:r=25",
        "-i", str(shared_media("diarization/sample.wav")),
        "-map", "0:v", "-map", "1:a", *_H264, "-c:a", "aac", "-shortest", str(call),
    )  # fmt: skip
    page = folder / "phototest page.mp4"
    _ffmpeg(
        "-loop", "1", "-i", str(shared_media("tesseract/phototest.tif")), "-t", "6", "-r", "5",
        "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", *_H264, str(page),
    )  # fmt: skip
    popeye = folder / "popeye sinbad.mp4"
    srt = shared_media("popeye/popeye_p1.eng.srt")
    with tempfile.TemporaryDirectory() as tmp:
        # the subtitles filter parses its argument; a plain copied name needs no escaping
        plain = Path(tmp) / "subs.srt"
        plain.write_bytes(srt.read_bytes())
        _ffmpeg(
            "-i", str(shared_media("popeye/popeye_T03-4_pgs.mkv")), "-t", "58",
            "-vf", f"scale=960:-2,subtitles={plain}:force_style='Fontsize=28'",
            "-an", *_H264, str(popeye),
        )  # fmt: skip
    harbour = make_sample_video(
        folder / "harbour talk.mp4",
        (
            SampleScene("navy", "HARBOUR MAP", "The lighthouse keeper counts the ships at night."),
            SampleScene("darkgreen", "OCEAN TIDES", "The ocean tides are pulled by the moon."),
            SampleScene(
                "maroon", "QUARTERLY RESULTS", "Revenue grew by twelve percent this quarter."
            ),
        ),
        size="640x360",
    )
    german = folder / "marktplatz rundgang.mp4"
    with tempfile.TemporaryDirectory() as tmp:
        speech = Path(tmp) / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", "de", "-s", "140", "-w", str(speech), GERMAN_SPEECH], check=True
        )
        _ffmpeg(
            "-f", "lavfi", "-i", "color=c=darkred:s=640x360:r=25", "-i", str(speech),
            "-map", "0:v", "-map", "1:a", *_H264, "-c:a", "aac", "-shortest", str(german),
        )  # fmt: skip
    return [jfk, call, page, popeye, harbour, german]


def library_env(home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "VIDMINE_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "HF_HUB_OFFLINE": "1",
    }
    for name in ("DATABASE_URL", "VIDMINE_CONFIG"):
        env.pop(name, None)
    return env


def ensure_library(library: Path = LIBRARY) -> Path:
    """The VIDMINE_HOME holding the processed library, made (minutes) on first use."""
    home = library / "home"
    done = library / "ingested.json"
    if done.is_file():
        return home
    videos = make_videos(library / "sources")
    out = subprocess.run(
        [str(BIN / "vidmine"), "ingest", "--json", *map(str, videos)],
        env=library_env(home),
        capture_output=True,
        text=True,
    )
    try:
        payload = json.loads(out.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"vidmine ingest failed:\n{out.stderr[-3000:]}") from None
    statuses = {Path(v["path"]).name: v["status"] for v in payload["videos"]}
    if set(statuses.values()) != {"ready"}:
        raise SystemExit(f"not every library video is ready: {statuses}\n{out.stderr[-3000:]}")
    done.write_text(json.dumps(payload, indent=1))
    return home


if __name__ == "__main__":
    print(ensure_library())
