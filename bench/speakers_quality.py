"""How well the offline speakers stage tells who speaks when, and what it costs.

Real recordings with ground truth from ../shared/media (never copied into the repo):
``diarization/sample.wav`` (a 30 s telephone call, two speakers, ``sample.rttm``), and
conversations built from real speech with a known speaker per turn: ``audio/jfk.flac``
cut in two at its quietest moment, alternating with the stretches of sample.wav where only
Diane or only Sheila speaks (0.4 s of silence between turns); and jfk.flac alone. Four more
were added after the settings were tuned on those five, to check they hold: Diane and
Sheila alone, the three voices in another order, jfk.flac twice, and the call then jfk.flac.

Each recording goes the stage's own way: the local transcriber (Whisper base) finds the
words, then ``diarize`` labels them. Printed per case: the diarization error rate
(pyannote.metrics, collar 0.25 s, overlap scored), the share of reference speech time
(where one person speaks) given to the right speaker under the best one-to-one mapping,
speakers found against the truth, and CPU seconds of the speakers stage against the
transcript's, per minute of speech.

    .venv/bin/pip install pyannote.metrics   # the benchmark's only extra (not locked)
    .venv/bin/python bench/speakers_quality.py [--baseline main]

``--baseline REF`` (default ``main``; ``none`` skips it) also runs the speakers code of that
git commit on the same words, in a child process whose import path starts with
``git archive REF vidmine`` (the repository's own objects: no other work tree is read), so
the table shows before and after from one run on the same transcripts.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# The child process that measures a baseline imports the speakers code from its own copy.
CODE = Path(os.environ.get("SPEAKERS_BENCH_CODE", ROOT))
sys.path.insert(0, str(CODE))

from vidmine.models import Word  # noqa: E402
from vidmine.providers.local import LocalTranscriber  # noqa: E402
from vidmine.speakers.audio import read_wav  # noqa: E402
from vidmine.speakers.diarize import (  # noqa: E402
    DiarizationSettings,
    SpeakerTurn,
    diarize,
    word_segments,
)
from vidmine.speakers.encoder import SAMPLE_RATE, shared_encoder  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
GAP_S = 0.4


def cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def read_rttm(path: Path) -> list[tuple[float, float, str]]:
    turns = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER":
            start, length = float(fields[3]), float(fields[4])
            turns.append((start, start + length, fields[7]))
    return turns


def solo_stretches(turns, min_s=1.5) -> list[tuple[float, float, str]]:
    """Stretches where exactly one reference speaker talks, at least ``min_s`` long."""
    edges = sorted({t for s, e, _ in turns for t in (s, e)})
    pieces = []
    for a, b in itertools.pairwise(edges):
        talking = {who for s, e, who in turns if s <= a and e >= b}
        if len(talking) == 1:
            who = next(iter(talking))
            if pieces and pieces[-1][2] == who and abs(pieces[-1][1] - a) < 1e-6:
                pieces[-1] = (pieces[-1][0], b, who)
            else:
                pieces.append((a, b, who))
    return [p for p in pieces if p[1] - p[0] >= min_s]


def load_any(path: Path) -> np.ndarray:
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-ac",
            "1",
            "-ar",
            str(SAMPLE_RATE),
            "-f",
            "s16le",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768.0


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(SAMPLE_RATE)
        writer.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())


def quietest_cut(samples: np.ndarray, lo_s: float, hi_s: float) -> float:
    hop = SAMPLE_RATE // 50
    lo, hi = int(lo_s * SAMPLE_RATE), int(hi_s * SAMPLE_RATE)
    energy = [float(np.mean(samples[i : i + hop] ** 2)) for i in range(lo, hi, hop)]
    return (lo + hop * int(np.argmin(energy))) / SAMPLE_RATE


def trim(samples: np.ndarray, level=0.02) -> np.ndarray:
    loud = np.flatnonzero(np.abs(samples) > level * np.abs(samples).max())
    return samples[loud[0] : loud[-1] + 1] if len(loud) else samples


def build(pieces: list[tuple[np.ndarray, str]]) -> tuple[np.ndarray, list]:
    gap = np.zeros(int(GAP_S * SAMPLE_RATE), dtype=np.float32)
    out, truth, t = [gap], [], GAP_S
    for samples, who in pieces:
        samples = samples / max(1e-6, float(np.abs(samples).max())) * 0.5
        out += [samples, gap]
        truth.append((t, t + len(samples) / SAMPLE_RATE, who))
        t += len(samples) / SAMPLE_RATE + GAP_S
    return np.concatenate(out), truth


def cases() -> list[tuple[str, np.ndarray, list]]:
    call = read_wav(MEDIA / "diarization" / "sample.wav")
    call_truth = read_rttm(MEDIA / "diarization" / "sample.rttm")
    solos = solo_stretches(call_truth)
    diane = [
        call[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)] for s, e, w in solos if w == "speaker90"
    ]
    sheila = [
        call[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)] for s, e, w in solos if w == "speaker91"
    ]
    jfk = trim(load_any(MEDIA / "audio" / "jfk.flac"))
    cut = int(quietest_cut(jfk, 3.0, 6.0) * SAMPLE_RATE)
    jfk_a, jfk_b = trim(jfk[:cut]), trim(jfk[cut:])
    built = {
        "jfk + Diane": [(jfk_a, "jfk"), (diane[0], "diane"), (jfk_b, "jfk"), (diane[1], "diane")],
        "jfk + Sheila": [
            (jfk_a, "jfk"),
            (sheila[0], "sheila"),
            (jfk_b, "jfk"),
            (sheila[1], "sheila"),
        ],
        "jfk + Diane + Sheila": [
            (jfk_a, "jfk"),
            (diane[0], "diane"),
            (sheila[0], "sheila"),
            (jfk_b, "jfk"),
            (diane[1], "diane"),
            (sheila[1], "sheila"),
        ],
        "jfk alone": [(jfk, "jfk")],
        # Added once the settings of the cases above were tuned, to check they hold.
        "Diane + Sheila": [
            (diane[0], "diane"),
            (sheila[0], "sheila"),
            (diane[1], "diane"),
            (sheila[1], "sheila"),
        ],
        "Sheila + jfk + Diane": [
            (sheila[1], "sheila"),
            (jfk_a, "jfk"),
            (diane[1], "diane"),
            (sheila[0], "sheila"),
            (jfk_b, "jfk"),
            (diane[0], "diane"),
        ],
        "jfk twice": [(jfk, "jfk"), (jfk, "jfk")],
    }
    out = [("sample.wav (call)", call, call_truth)]
    for name, pieces in built.items():
        samples, truth = build(pieces)
        out.append((name, samples, truth))
    after_call, jfk_truth = build([(jfk, "jfk")])
    shift = len(call) / SAMPLE_RATE
    out.append(
        (
            "the call, then jfk",
            np.concatenate([call, after_call]),
            call_truth + [(s + shift, e + shift, w) for s, e, w in jfk_truth],
        )
    )
    return out


def right_speaker_share(truth, turns, step=0.01) -> float:
    """Share of the time one reference speaker talks given to them, best 1:1 mapping."""
    from scipy.optimize import linear_sum_assignment

    end = max(e for _, e, _ in truth)
    times = np.arange(0, end, step) + step / 2
    refs = sorted({w for _, _, w in truth})
    hyps = sorted({t.speaker for t in turns}) or ["none"]
    ref_at = np.full(len(times), -1)
    count = np.zeros(len(times), dtype=int)
    for s, e, w in truth:
        inside = (times >= s) & (times < e)
        ref_at[inside] = refs.index(w)
        count[inside] += 1
    hyp_at = np.full(len(times), -1)
    for t in turns:
        hyp_at[(times >= t.start_s) & (times < t.end_s)] = hyps.index(t.speaker)
    solo = count == 1
    table = np.zeros((len(refs), len(hyps)))
    for r, h in zip(ref_at[solo], hyp_at[solo], strict=True):
        if h >= 0:
            table[r, h] += 1
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / max(1, solo.sum()))


def der(truth, turns) -> float:
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    reference, hypothesis = Annotation(), Annotation()
    for s, e, w in truth:
        reference[Segment(s, e)] = w
    for t in turns:
        hypothesis[Segment(t.start_s, t.end_s)] = t.speaker
    uem = Segment(0, max(e for _, e, _ in truth) + 1)
    from pyannote.core import Timeline

    return float(DiarizationErrorRate(collar=0.25)(reference, hypothesis, uem=Timeline([uem])))


def measure(recordings: list[tuple[Path, list]]) -> list[dict]:
    """The speakers stage's turns on each (wav, transcript segments), and its CPU seconds
    (the median of three runs: the machine is shared, and one run's CPU time varies)."""
    encoder = shared_encoder()
    # Warm up once, every path (the stage's process loads the encoder, torch's LSTM and
    # sklearn once for all the videos it labels): 10 s of noise "spoken" by two speakers.
    noise = np.random.default_rng(0).normal(scale=0.1, size=SAMPLE_RATE * 10).astype(np.float32)
    words = [Word(f"w{i}", i * 0.5, i * 0.5 + 0.4) for i in range(20)]
    diarize(noise, word_segments(words), encoder, DiarizationSettings(num_speakers=2))
    out = []
    for wav, segments in recordings:
        runs = []
        for _ in range(3):
            before, started = cpu(), time.monotonic()
            result = diarize(read_wav(wav), segments, encoder, DiarizationSettings())
            runs.append((cpu() - before, time.monotonic() - started))
        speakers_cpu, wall = sorted(runs)[1]
        out.append(
            {
                "turns": [(t.speaker, t.start_s, t.end_s) for t in result.turns],
                "speakers": result.speakers,
                "eigengap": result.eigengap,
                "cpu": speakers_cpu,
                "wall": wall,
            }
        )
    return out


def measure_baseline(ref: str, recordings: list[tuple[Path, list]], tmp: Path) -> list[dict]:
    """:func:`measure` with the speakers code of git commit ``ref``, in a child process."""
    code = tmp / "baseline"
    code.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "vidmine"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(code)], input=archive, check=True)
    jobs = tmp / "baseline.pkl"
    jobs.write_bytes(pickle.dumps(recordings))
    env = {**os.environ, "SPEAKERS_BENCH_CODE": str(code), "PYTHONDONTWRITEBYTECODE": "1"}
    child = subprocess.run(
        [sys.executable, __file__, "--measure", str(jobs)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(child.stdout.splitlines()[-1])


def scored(name: str, truth: list, transcript_cpu: float, run: dict) -> dict:
    turns = [SpeakerTurn(*t) for t in run["turns"]]
    speech_min = sum(e - s for s, e, _ in truth) / 60
    return {
        "name": name,
        "truth": len({w for _, _, w in truth}),
        "found": run["speakers"],
        "der": der(truth, turns),
        "share": right_speaker_share(truth, turns),
        "cpu_min": run["cpu"] / speech_min,
        "transcript_cpu_min": transcript_cpu / speech_min,
        "eigengap": run["eigengap"],
    }


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}\n")
    print(
        "| case | speakers (truth / found) | DER (collar 0.25 s) | speech time to the right "
        "speaker | speakers CPU s per speech min | transcript CPU s per speech min | ratio "
        "| eigengap |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        shown_gap = "given" if r["eigengap"] is None else f"{r['eigengap']:.2f}"
        print(
            f"| {r['name']} | {r['truth']} / {r['found']} | {r['der']:.1%} | {r['share']:.1%} "
            f"| {r['cpu_min']:.2f} | {r['transcript_cpu_min']:.1f} "
            f"| {r['cpu_min'] / r['transcript_cpu_min']:.1%} | {shown_gap} |"
        )
    two = [r for r in rows if r["truth"] == 2]
    print(
        f"\ntwo-speaker cases: mean DER {np.mean([r['der'] for r in two]):.1%}, speech time to "
        f"the right speaker {np.mean([r['share'] for r in two]):.1%} (lowest "
        f"{min(r['share'] for r in two):.1%}); speakers CPU / transcript CPU over all cases "
        f"{sum(r['cpu_min'] for r in rows) / sum(r['transcript_cpu_min'] for r in rows):.1%} "
        f"(highest {max(r['cpu_min'] / r['transcript_cpu_min'] for r in rows):.1%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="base", help="local Whisper model for the words")
    parser.add_argument(
        "--baseline", default="main", help="git commit to compare with ('none': no comparison)"
    )
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(pickle.loads(args.measure.read_bytes()))))
        return
    if not MEDIA.is_dir():
        sys.exit(f"{MEDIA} is absent: this benchmark needs the shared media with ground truth")
    transcriber = LocalTranscriber(model=args.model)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        recordings, transcribed = [], []
        for i, (name, samples, truth) in enumerate(cases()):
            wav = tmp / f"case{i}.wav"
            write_wav(wav, samples)
            if i == 0:  # Whisper loads once per process: not counted as a recording's cost
                transcriber.transcribe(wav)
            before = cpu()
            segments = transcriber.transcribe(wav)
            # Whisper's OpenMP threads spin for a moment after it returns; let them settle so
            # their CPU time is not counted as the speakers stage's.
            time.sleep(1.0)
            recordings.append((wav, segments))
            transcribed.append((name, truth, cpu() - before))
        if args.baseline != "none":
            before_runs = measure_baseline(args.baseline, recordings, tmp)
            print_table(
                f"before ({args.baseline}'s speakers code)",
                [scored(*t, run) for t, run in zip(transcribed, before_runs, strict=True)],
            )
        print_table(
            "after (this work tree)",
            [scored(*t, run) for t, run in zip(transcribed, measure(recordings), strict=True)],
        )


if __name__ == "__main__":
    main()
