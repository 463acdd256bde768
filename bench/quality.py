"""The quality figures a speed change must not trade away, measured on third-party media
with ground truth (``../shared/media``), before and after in one run.

    .venv/bin/python bench/quality.py [--baseline-repo ../vidmine-before] [--long-video 1080]
        [--long-speech]

- speech: JFK word-exact (Whisper base, the default); word error rate against the human
  transcript of a real two-person phone call (``diarization/sample.stm``); the German half
  of English-then-German speech told as German (and its word error rate); with
  ``--long-speech``, the speed benchmark video's 504 s of speech (jfk.flac back to back):
  its words, their error rate against what was said and against the baseline's
  transcript, and the segments whose text compresses like a repetition loop (over 2.4);
- OCR: tesseract's reading of ``phototest.tif`` against its exact text (character error
  rate); with ``--long-video``, the distinct texts found on the speed benchmark's video
  (``bench/media.py``) and the share of the baseline's texts found again, and against what
  is on screen: the character error rate of the samples that show ``testvideo.mp4``'s
  watermark, and the samples where something was read though nothing is written there;
  on the Popeye clip with its human-written subtitles burned in (as
  ``bench/search_library.py`` makes it), each sample's reading against the subtitle shown;
- scenes: every PySceneDetect AdaptiveDetector golden, cut for cut.
- search: precision@1 of the labelled search benchmark (``bench/search_quality.py``) when
  it is there.

Each checkout is measured in a process of its own, importing that checkout's ``vidmine``
(``PYTHONPATH``) with this virtual environment, so the two columns come from one run. OCR
reads through the text detector (``detect_text=True``) in a checkout that has one.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "media"
sys.path.insert(0, str(REPO / "tests"))  # the WER helper and the German speech maker

JFK = (
    "and so my fellow americans ask not what your country can do for you "
    "ask what you can do for your country"
)
GOALS = {
    "jfk_word_exact": "yes",
    "call_wer": "<= before",
    "german_told": "yes",
    "german_wer": "<= before",
    "phototest_cer": "0",
    "scene_goldens_exact": "all",
    "long_video_texts": "",
    "long_video_texts_recall": ">= 0.98",
    "long_video_watermark_cer": "<= before",
    "long_video_false_texts": "<= before",
    "subtitle_cer": "<= before",
    "subtitle_samples_missed": "<= before",
    "subtitle_false_texts": "<= before",
    "search_precision_at_1": ">= before",
    "long_speech_words": "",
    "long_speech_wer_vs_said": "",
    "long_speech_wer_vs_before": "<= 0.03",
    "long_speech_loops": "0",
    "long_speech_cpu_s": "",
}


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())


def character_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = " ".join(reference.split()), " ".join(hypothesis.split())
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        diagonal, row[0] = row[0], i
        for j, h in enumerate(hyp, start=1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (r != h))
    return row[len(hyp)] / max(len(ref), 1)


def speech_figures(scratch: Path) -> dict:
    from media_helpers import english_then_german, ffmpeg, word_error_rate

    from vidmine.providers.local import LocalTranscriber

    transcriber = LocalTranscriber()
    jfk_wav = scratch / "jfk.wav"
    ffmpeg("-i", str(SHARED / "audio/jfk.flac"), "-ac", "1", "-ar", "16000", str(jfk_wav))
    jfk = " ".join(s.text for s in transcriber.transcribe(jfk_wav))
    call_wav = SHARED / "diarization/sample.wav"
    reference = " ".join(
        line.split(None, 5)[5]
        for line in sorted(
            (SHARED / "diarization/sample.stm").read_text().splitlines(),
            key=lambda line: float(line.split()[3]),
        )
        if len(line.split(None, 5)) > 5
    )
    call = " ".join(s.text for s in transcriber.transcribe(call_wav))
    mixed, german_start = english_then_german(scratch)
    german = [s for s in transcriber.transcribe(mixed) if (s.start_s + s.end_s) / 2 >= german_start]
    from media_helpers import GERMAN_SENTENCE

    return {
        "jfk_word_exact": "yes" if _words(jfk) == JFK else f"no: {jfk!r}",
        "call_wer": round(word_error_rate(reference, call), 3),
        "german_told": "yes" if german and {s.language for s in german} == {"de"} else "no",
        "german_wer": round(word_error_rate(GERMAN_SENTENCE, " ".join(s.text for s in german)), 3),
    }


def with_text_detector(function) -> dict:
    """The keyword that turns the text detector on, where ``function`` (this checkout's
    ``ocr_samples``, ``read_images``...) has it: ``detect_text=True``."""
    return {"detect_text": True} if "detect_text" in inspect.signature(function).parameters else {}


def ocr_figures() -> dict:
    from PIL import Image

    from vidmine.media.ocr import read_images

    page = SHARED / "tesseract/phototest.tif"
    (reading,) = read_images([Image.open(page)], **with_text_detector(read_images))
    truth = (SHARED / "tesseract/phototest.txt").read_text()
    return {"phototest_cer": round(character_error_rate(truth, reading.text), 4)}


def _subtitle_cues(srt: Path) -> list[tuple[float, float, str]]:
    def seconds(stamp: str) -> float:
        clock, millis = stamp.strip().split(",")
        hours, minutes, secs = (int(part) for part in clock.split(":"))
        return hours * 3600 + minutes * 60 + secs + int(millis) / 1000

    cues = []
    for block in srt.read_text(encoding="utf-8-sig").strip().split("\n\n"):
        lines = block.strip().splitlines()
        start, end = lines[1].split("-->")
        text = re.sub(r"<[^>]+>", "", " ".join(lines[2:]))
        cues.append((seconds(start), seconds(end), " ".join(text.split())))
    return cues


def subtitle_figures(scratch: Path) -> dict:
    """OCR of the first 58 s of the Popeye clip with ``popeye_p1.eng.srt`` burned in (as
    ``bench/search_library.py`` makes it), one sample a second, each sample's reading
    against the cue on screen; samples within 0.25 s of a cue's start or end are left out."""
    from vidmine.media.ocr import ocr_samples, sample_frames

    srt = SHARED / "popeye/popeye_p1.eng.srt"
    video = scratch / "popeye_subtitled.mp4"
    plain = scratch / "subs.srt"  # the subtitles filter parses its argument: a plain name
    plain.write_bytes(srt.read_bytes())
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-nostdin", "-i",
         str(SHARED / "popeye/popeye_T03-4_pgs.mkv"), "-t", "58",
         "-vf", f"scale=960:-2,subtitles={plain}:force_style='Fontsize=28'",
         "-an", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(video)],
        check=True,
    )  # fmt: skip
    samples = sample_frames(video, 1.0, scratch / "subtitle_samples")
    result = ocr_samples(samples, 1.0, 58.0, **with_text_detector(ocr_samples))
    cues = _subtitle_cues(srt)
    errors, missed, false_texts = [], 0, 0
    for seconds, _ in samples:
        if any(abs(seconds - edge) < 0.25 for start, end, _ in cues for edge in (start, end)):
            continue
        read = " ".join(t.text for t in result.texts if t.start_s <= seconds < t.end_s)
        read = " ".join(read.split())
        shown = [text for start, end, text in cues if start <= seconds < end]
        if shown:
            errors.append(character_error_rate(shown[0], read))
            missed += not read
        elif read:
            false_texts += 1
    return {
        "subtitle_cer": round(sum(errors) / max(len(errors), 1), 4),
        "subtitle_samples_missed": f"{missed}/{len(errors)}",
        "subtitle_false_texts": false_texts,
    }


def scene_figures() -> dict:
    from vidmine.media.decode import decode_once
    from vidmine.media.probe import probe_media
    from vidmine.media.scenes import scene_cuts

    goldens = sorted((SHARED / "pyscenedetect/goldens").glob("*.AdaptiveDetector.default.json"))
    exact = 0
    for golden in goldens:
        video = SHARED / "pyscenedetect" / golden.name.split(".AdaptiveDetector")[0]
        cuts = scene_cuts(decode_once(video, probe_media(video), detect_scenes=True).scenes or [])
        exact += cuts == json.loads(golden.read_text())["cuts"]
    return {"scene_goldens_exact": f"{exact}/{len(goldens)}"}


# What is written on the benchmark video, seen by eye: every frame of PySceneDetect's
# testvideo.mp4 (720 frames at 29.97 fps) carries this watermark, after a fade in from
# black that the first sample of each cycle shows; the Popeye clip (1440 frames at 24 fps)
# that follows it has nothing written on it.
WATERMARK = "Copyright © 2013 Brandon Castellano www.bcastell.com"
_TESTVIDEO_S = 720 * 1001 / 30000
_CYCLE_S = _TESTVIDEO_S + 1440 / 24
_WATERMARK_FROM_S = 1.0


def long_video_texts(height: int, scratch: Path) -> dict:
    """The distinct texts read on the long video, and what was read on each sample:
    [(seconds, text)]."""
    sys.path.insert(0, str(REPO / "bench"))
    from media import long_speech_video

    from vidmine.media.ocr import ocr_samples, sample_frames
    from vidmine.media.probe import probe_media

    video = long_speech_video(height)
    samples = sample_frames(video, 0.5, scratch / "samples")
    result = ocr_samples(
        samples, 0.5, probe_media(video).duration_s, **with_text_detector(ocr_samples)
    )
    shown = []
    for seconds, _ in samples:
        texts = [t.text for t in result.texts if t.start_s <= seconds < t.end_s]
        shown.append((seconds, " ".join(" ".join(texts).split())))
    return {"texts": sorted({" ".join(t.text.split()) for t in result.texts}), "shown": shown}


def watermark_figures(shown: list[tuple[float, str]]) -> dict:
    """Each sample's reading against what is written on it (see ``WATERMARK``)."""
    errors, false_texts = [], 0
    for seconds, text in shown:
        offset = seconds % _CYCLE_S
        if _WATERMARK_FROM_S <= offset < _TESTVIDEO_S:
            errors.append(character_error_rate(WATERMARK, text))
        elif text:
            false_texts += 1
    return {
        "long_video_watermark_cer": round(sum(errors) / max(len(errors), 1), 4),
        "long_video_false_texts": false_texts,
    }


def long_speech(scratch: Path) -> dict:
    """The speed benchmark video's speech (jfk.flac back to back for its whole length)
    transcribed: its words, their error rate against what was said, and the segments
    whose text compresses like a repetition loop."""
    sys.path.insert(0, str(REPO / "bench"))
    from media import long_speech_video
    from media_helpers import ffmpeg, word_error_rate

    from vidmine.media.probe import probe_media
    from vidmine.providers.local import LocalTranscriber

    wav = scratch / "long_speech.wav"
    ffmpeg("-i", str(long_speech_video(1080)), "-vn", "-ac", "1", "-ar", "16000", str(wav))
    transcriber = LocalTranscriber()
    transcriber.transcribe(scratch / "jfk.wav")  # the model loaded before the clock starts
    before = time.process_time()
    segments = transcriber.transcribe(wav)
    cpu_s = time.process_time() - before
    text = " ".join(s.text for s in segments)
    times_said = probe_media(wav).duration_s / probe_media(SHARED / "audio/jfk.flac").duration_s
    said = " ".join([JFK] * round(times_said))
    loops = sum(1 for s in segments if _compression(s.text) > 2.4)
    return {
        "long_speech_text": text,
        "long_speech_words": len(text.split()),
        "long_speech_wer_vs_said": round(word_error_rate(said, text), 3),
        "long_speech_loops": loops,
        "long_speech_cpu_s": round(cpu_s, 1),
    }


def _compression(text: str) -> float:
    import zlib

    data = text.encode()
    return len(data) / len(zlib.compress(data)) if data else 0.0


def search_figures(baseline: Path | None) -> dict[str, float | str]:
    """precision@1 of ``bench/search_quality.py`` per version ("before", "after"), from
    its own before/after run on one database."""
    script = REPO / "bench" / "search_quality.py"
    if not script.is_file():
        return {}
    command = [sys.executable, str(script), "--repeats", "1"]
    if baseline is not None:
        command += ["--baseline-repo", str(baseline)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"after": f"failed: {done.stderr.strip()[-120:]}"}
    values = re.findall(r"precision@1 ([0-9.]+)", done.stdout)
    names = ["before", "after"] if baseline is not None else ["after"]
    return dict(zip(names, (float(v) for v in values), strict=False))


def measure(long_video: int | None, speech: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="vidmine-quality-") as scratch_name:
        scratch = Path(scratch_name)
        figures = {
            **speech_figures(scratch),
            **ocr_figures(),
            **subtitle_figures(scratch),
            **scene_figures(),
        }
        if long_video:
            figures["long_video_texts"] = long_video_texts(long_video, scratch)
        if speech:
            figures.update(long_speech(scratch))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-repo", type=Path, help="another vidmine checkout")
    parser.add_argument("--long-video", type=int, metavar="HEIGHT", help="OCR the long video")
    parser.add_argument(
        "--long-speech", action="store_true", help="transcribe the long video's speech"
    )
    parser.add_argument("--json", action="store_true", help="print this checkout's figures")
    args = parser.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} is missing: the figures need ../shared/media")
    if args.json:
        print(json.dumps(measure(args.long_video, args.long_speech)))
        return 0
    columns = {}
    checkouts = {"after": REPO}
    if args.baseline_repo:
        checkouts = {"before": args.baseline_repo.resolve(), **checkouts}
    for name, repo in checkouts.items():
        command = [sys.executable, __file__, "--json"]
        if args.long_video:
            command += ["--long-video", str(args.long_video)]
        if args.long_speech:
            command.append("--long-speech")
        env = {**os.environ, "PYTHONPATH": str(repo), "HF_HUB_OFFLINE": "1"}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        columns[name] = json.loads(done.stdout.strip().splitlines()[-1])
    for name, precision in search_figures(args.baseline_repo).items():
        columns[name]["search_precision_at_1"] = precision
    if args.long_video:
        readings = {name: figures.pop("long_video_texts") for name, figures in columns.items()}
        texts = {name: set(reading["texts"]) for name, reading in readings.items()}
        for name, reading in readings.items():
            columns[name].update(watermark_figures(reading["shown"]))
        base = texts.get("before", texts["after"])
        for name, found in texts.items():
            columns[name]["long_video_texts"] = len(found)
            columns[name]["long_video_texts_recall"] = round(
                len(found & base) / max(len(base), 1), 3
            )
    if args.long_speech:
        from media_helpers import word_error_rate

        texts = {name: figures.pop("long_speech_text") for name, figures in columns.items()}
        for name, text in texts.items():
            columns[name]["long_speech_wer_vs_before"] = round(
                word_error_rate(texts.get("before", text), text), 3
            )
    names = list(columns)
    print(f"{'figure':<26}" + "".join(f"{n:>16}" for n in names) + f"{'goal':>16}")
    for key in GOALS:
        if any(key in figures for figures in columns.values()):
            cells = "".join(f"{columns[n].get(key, '-')!s:>16}" for n in names)
            print(f"{key:<26}{cells}{GOALS[key]:>16}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
