"""Time each stage on one video against a bare ``ffmpeg -f null`` decode of the same file.

    .venv/bin/python bench/stage_times.py [VIDEO] [--repeat 3]

Without VIDEO it makes the demo sample. Every figure is the median of --repeat runs,
all measured in this one run, so the ratios compare like with like on a noisy machine.
Models are loaded once before timing (their load time is printed apart).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from vidmine.captions import caption_inputs
from vidmine.media.decode import decode_once
from vidmine.media.keyframes import extract_keyframes
from vidmine.media.normalize import extract_audio_wav, normalize_video
from vidmine.media.ocr import ocr_video
from vidmine.media.probe import probe_media, sha256_file
from vidmine.providers.base import MemoryRecorder
from vidmine.providers.local import LocalCaptioner, LocalEmbedder, LocalTranscriber
from vidmine.samples import make_sample_video


def bare_decode(path: Path) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "null", "-"], check=True
    )


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ocr-fps", type=float, default=0.5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="vidmine-bench-"))
    video = args.video or make_sample_video(work / "sample.mp4")
    probe = probe_media(video)
    print(
        f"video: {video} ({probe.duration_s:.1f} s, {probe.width}x{probe.height}, "
        f"{probe.video_codec}/{probe.audio_codec})"
    )

    load_start = time.perf_counter()
    recorder = MemoryRecorder()
    transcriber, embedder = LocalTranscriber(recorder=recorder), LocalEmbedder(recorder=recorder)
    captioner = LocalCaptioner(recorder=recorder)
    embedder.embed(["warm up"])
    print(f"model load (once, not in the table): {time.perf_counter() - load_start:.2f} s\n")

    decode_s, _ = timed(lambda: bare_decode(video), args.repeat)
    rows: list[tuple[str, float]] = []

    def stage(name: str, fn: Callable[[], object]) -> object:
        seconds, result = timed(fn, args.repeat)
        rows.append((name, seconds))
        return result

    stage("probe+sha256", lambda: (probe_media(video), sha256_file(video)))
    normalized = work / "normalized.mp4"
    wav = work / "audio.wav"
    stage("normalize video", lambda: normalize_video(video, probe, normalized))
    if probe.has_audio:
        stage("extract wav", lambda: extract_audio_wav(video, wav))
        stage("transcribe", lambda: transcriber.transcribe(wav))
    scenes = stage("scenes", lambda: decode_once(video, probe, detect_scenes=True).scenes or [])
    frames = stage("keyframes", lambda: extract_keyframes(video, scenes, work / "kf"))
    ocr = stage("ocr", lambda: ocr_video(normalized, args.ocr_fps, work / "ocr"))
    inputs = caption_inputs(frames, ocr.texts)
    stage("captions (descriptor)", lambda: captioner.caption(inputs))
    texts = [t.text for t in ocr.texts] + [f"sentence {i}" for i in range(50)]
    stage("embeddings (50+ texts)", lambda: embedder.embed(texts))

    total = sum(s for _, s in rows)
    print(f"{'stage':<24} {'median s':>9} {'x decode':>9}")
    print(f"{'bare ffmpeg decode':<24} {decode_s:>9.3f} {1.0:>9.2f}")
    for name, seconds in rows:
        print(f"{name:<24} {seconds:>9.3f} {seconds / decode_s:>9.2f}")
    print(f"{'all stages':<24} {total:>9.3f} {total / decode_s:>9.2f}")
    print(f"\nrealtime factor (all stages / video duration): {total / probe.duration_s:.2f}")


if __name__ == "__main__":
    main()
