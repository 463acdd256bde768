"""The OCR stage's CPU and wall seconds on the benchmark video, this checkout against
another, in one run.

    .venv/bin/python bench/ocr_speed.py [--baseline-repo ../vidmine-before] [--height 1080]
        [--repeat 3] [--fps 0.5]

The video's OCR samples are taken once (as the decode pass takes them, at up to 720 lines)
and each checkout's ``ocr_samples`` reads a fresh copy of them, in a process of its own
importing that checkout's ``vidmine`` (``PYTHONPATH``) with this virtual environment. The
checkouts take turns, ``--repeat`` times; the figures are medians. CPU seconds are the
reading process's and all its children's (the OCR workers and their tesseract processes).
A checkout that has the text detector reads through it (``detect_text=True``). Frames read
are those tesseract read; frames without text, those the text detector found nothing on and
so were not read (0 for a checkout without the detector).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def measure(samples_dir: Path, fps: float, duration: float) -> dict:
    """One reading of the samples in ``samples_dir`` by the ``vidmine`` on the path."""
    from quality import with_text_detector

    from vidmine.media.ocr import ocr_samples

    listing = json.loads((samples_dir / "samples.json").read_text())
    with tempfile.TemporaryDirectory(prefix="vidmine-ocr-speed-") as scratch:
        samples = []
        for seconds, name in listing:
            shutil.copy(samples_dir / name, Path(scratch) / name)
            samples.append((seconds, Path(scratch) / name))
        wall = time.perf_counter()
        cpu = _cpu_seconds()
        result = ocr_samples(samples, fps, duration, **with_text_detector(ocr_samples))
        cpu = _cpu_seconds() - cpu
        wall = time.perf_counter() - wall
    return {
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "frames_sampled": result.frames_sampled,
        "frames_read": result.frames_ocred,
        "frames_without_text": getattr(result, "frames_without_text", 0),
        "texts": len(result.texts),
        "distinct_texts": len({" ".join(t.text.split()) for t in result.texts}),
    }


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def take_samples(height: int, fps: float, out: Path) -> float:
    """The benchmark video's OCR samples in ``out`` (``samples.json`` lists them); its
    duration in seconds."""
    sys.path.insert(0, str(REPO / "bench"))
    from media import long_speech_video

    from vidmine.media.ocr import sample_frames
    from vidmine.media.probe import probe_media

    video = long_speech_video(height)
    samples = sample_frames(video, fps, out)
    listing = [(seconds, path.name) for seconds, path in samples]
    (out / "samples.json").write_text(json.dumps(listing))
    return probe_media(video).duration_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-repo", type=Path, help="another vidmine checkout")
    parser.add_argument("--height", type=int, default=1080, help="the benchmark video's height")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fps", type=float, default=0.5, help="OCR samples per second")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # one reading, as JSON
    parser.add_argument("--duration", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.fps, args.duration)))
        return 0

    checkouts = {"after": REPO}
    if args.baseline_repo:
        checkouts = {"before": args.baseline_repo.resolve(), **checkouts}
    runs: dict[str, list[dict]] = {name: [] for name in checkouts}
    with tempfile.TemporaryDirectory(prefix="vidmine-ocr-samples-") as samples_name:
        samples_dir = Path(samples_name)
        duration = take_samples(args.height, args.fps, samples_dir)
        for _ in range(args.repeat):
            for name, repo in checkouts.items():
                command = [sys.executable, __file__, "--measure", str(samples_dir)]
                command += ["--fps", str(args.fps), "--duration", str(duration)]
                env = {**os.environ, "PYTHONPATH": str(repo)}
                done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
                runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    names = list(checkouts)
    print(
        f"OCR of the {args.height}p benchmark video's samples at {args.fps:g}/s, "
        f"median of {args.repeat} run(s) each"
    )
    print(f"{'figure':<22}" + "".join(f"{n:>12}" for n in names))
    for key in runs[names[0]][0]:
        cells = "".join(
            f"{statistics.median(run[key] for run in runs[name]):>12g}" for name in names
        )
        print(f"{key:<22}{cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
