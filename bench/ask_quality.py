"""Ask the library: does the answer cite a right moment, and how long does it take?

A labelled set of 22 questions over real recordings from ../shared/media (never copied
into the repo; the recordings are ingested into a fresh VIDMINE_HOME in a temporary
folder): ``diarization/sample.wav`` (a 30 s telephone call; its ``sample.stm`` gives the
times of each sentence), ``audio/jfk.flac`` (11 s), and ``tesseract/phototest.tif`` made
into a 6 s video (its text is read by OCR). Each question names the moments a right
answer may cite (file, start, end, from the STM or the file); a citation is right when it
is in that file and overlaps one of them (0.5 s of slack either side).

Asked twice through ``vidmine.ask.ask``: offline (the extractive answer) and with the
``generate`` provider pointed at the project's fake OpenAI-compatible server (the real
``openai`` client; the server's answers are made from the schema, not by a model, so that
column measures the plumbing: retrieval, the request, the checking of the citations).
Printed: the share of questions whose citations include a right moment, the share whose
first citation is right, the share whose retrieved moments (what a written answer is
written from) include one, and latency p50/p95 (retrieval included).

    .venv/bin/python bench/ask_quality.py [--fake-latency-ms 300]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
VIDMINE = ROOT / ".venv" / "bin" / "vidmine"


@dataclass(frozen=True)
class Question:
    text: str
    moments: tuple[tuple[str, float, float], ...]  # (file name, start_s, end_s)


CALL, JFK, PAGE = "phone call.wav", "jfk.flac", "phototest.mp4"
QUESTIONS = (
    Question("Where is Diane calling from?", ((CALL, 12.54, 14.18), (CALL, 20.17, 21.48))),
    Question("Where does Sheila live?", ((CALL, 14.44, 17.77),)),
    Question("Where is Sheila originally from?", ((CALL, 14.44, 17.77),)),
    Question("Who else is originally from Chicago?", ((CALL, 17.79, 20.11),)),
    Question("What do people in Texas call Sheila?", ((CALL, 24.06, 28.43),)),
    Question("What did Diane hear before she spoke?", ((CALL, 10.78, 12.54),)),
    Question("Is there much difference between the two places?", ((CALL, 21.94, 23.98),)),
    Question("Did Diane know someone was on the line?", ((CALL, 8.92, 9.80),)),
    Question("Does Diane hear that word in New Jersey?", ((CALL, 28.45, 29.99),)),
    Question("How did the callers greet each other?", ((CALL, 6.68, 8.88),)),
    Question("Which state does Diane live in now?", ((CALL, 20.17, 21.48), (CALL, 12.54, 14.18))),
    Question("What did Sheila say when Diane did not know she was there?", ((CALL, 9.84, 10.78),)),
    Question("Who is called a Yankee?", ((CALL, 24.06, 28.43),)),
    Question("What should Americans not ask?", ((JFK, 0.0, 11.0),)),
    Question("What did the president tell his fellow Americans?", ((JFK, 0.0, 11.0),)),
    Question("What can you do for your country?", ((JFK, 0.0, 11.0),)),
    Question("Ask not what your country can do for you", ((JFK, 0.0, 11.0),)),
    Question("What did the quick brown dog jump over?", ((PAGE, 0.0, 6.0),)),
    Question("What point size is the test text?", ((PAGE, 0.0, 6.0),)),
    Question("What is the text on the page testing?", ((PAGE, 0.0, 6.0),)),
    Question("Does the OCR work on all types of file format?", ((PAGE, 0.0, 6.0),)),
    Question("Which animal is lazy?", ((PAGE, 0.0, 6.0),)),
)


def prepare(folder: Path) -> list[Path]:
    call = folder / CALL
    shutil.copyfile(MEDIA / "diarization" / "sample.wav", call)
    jfk = folder / JFK
    shutil.copyfile(MEDIA / "audio" / "jfk.flac", jfk)
    page = folder / PAGE
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(MEDIA / "tesseract" / "phototest.tif"),
         "-t", "6", "-r", "5", "-vf", "scale=1280:-2,format=yuv420p", "-c:v", "libx264", str(page)],
        check=True,
    )  # fmt: skip
    return [call, jfk, page]


def right(citations, question: Question) -> list[bool]:
    return [
        any(
            c.file_name == name and c.start_s < end + 0.5 and c.end_s > start - 0.5
            for name, start, end in question.moments
        )
        for c in citations
    ]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run(label: str, store, embedder, generator) -> dict:
    from vidmine.ask import ask

    cited_right, first_right, latencies, modes, busy, recall = 0, 0, [], [], 0, 0
    missed: list[str] = []
    for question in QUESTIONS:
        started = time.monotonic()
        answer = ask(store, embedder, question.text, generator=generator)
        latencies.append(time.monotonic() - started)
        marks = right(answer.citations, question)
        cited_right += any(marks)
        if not any(marks):
            missed.append(question.text)
        first_right += bool(marks and marks[0])
        recall += any(right(answer.moments or answer.citations, question))
        modes.append(answer.mode if answer.supported else f"{answer.mode} (not supported)")
        busy += answer.busy
    n = len(QUESTIONS)
    return {
        "label": label,
        "cited_right": cited_right / n,
        "first_right": first_right / n,
        "recall": recall / n,
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * percentile(latencies, 0.95),
        "modes": {m: modes.count(m) for m in sorted(set(modes))},
        "busy": busy,
        "missed": missed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fake-latency-ms", type=float, default=0.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary VIDMINE_HOME")
    args = parser.parse_args()
    if not MEDIA.is_dir():
        sys.exit(f"{MEDIA} is absent: this benchmark needs the shared media with ground truth")
    home = Path(tempfile.mkdtemp(prefix="vidmine-ask-"))
    env = {**os.environ, "VIDMINE_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    env.pop("DATABASE_URL", None)
    env.pop("VIDMINE_CONFIG", None)
    (home / "sources").mkdir()
    files = prepare(home / "sources")
    ingest = subprocess.run(
        [str(VIDMINE), "ingest", *map(str, files), "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    outcome = json.loads(ingest.stdout)
    for video in outcome["videos"]:
        print(f"ingested {Path(video['path']).name}: {video['status']} in {video['seconds']:.1f} s")
    os.environ.update({k: env[k] for k in ("VIDMINE_HOME", "DAGSTER_HOME")})
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("VIDMINE_CONFIG", None)
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests"))  # tests/fake_openai
    from fake_openai import running_fake_openai

    from resources.database import open_store
    from vidmine.config import ProviderConfig, load_config
    from vidmine.providers.base import MemoryRecorder
    from vidmine.providers.openai import OpenAITextGenerator
    from vidmine.providers.registry import embedder_for

    store = open_store()
    embedder = embedder_for(load_config(), None, MemoryRecorder(), store)
    embedder.embed(["warm up"])
    rows = [run("offline (extractive)", store, embedder, None)]
    with running_fake_openai(latency_ms=args.fake_latency_ms) as fake:
        generator = OpenAITextGenerator(
            provider="fake",
            model="gpt-4o-mini",
            config=ProviderConfig(base_url=fake.base_url, max_retries=0, timeout_s=10),
            slots_database_url=store.url,
        )
        rows.append(
            run(f"fake server, {args.fake_latency_ms:.0f} ms latency", store, embedder, generator)
        )
    print(f"\n{len(QUESTIONS)} questions over {', '.join(p.name for p in files)}\n")
    print(
        "| answers | citations include a right moment | first citation right "
        "| moments retrieved include one | p50 | p95 | answers given |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        modes = ", ".join(f"{k}: {v}" for k, v in row["modes"].items())
        print(
            f"| {row['label']} | {row['cited_right']:.0%} | {row['first_right']:.0%} | "
            f"{row['recall']:.0%} | {row['p50_ms']:.0f} ms | {row['p95_ms']:.0f} ms | {modes} |"
        )
    for row in rows:
        if row["missed"]:
            print(f"{row['label']}: no right moment cited for: " + "; ".join(row["missed"]))
    if not args.keep:
        subprocess.run([str(VIDMINE.parent / "python"), "-c",
                        "from vidmine.db.connection import stop_embedded; from vidmine.settings import VidmineHome; "
                        f"stop_embedded(VidmineHome(__import__('pathlib').Path({str(home)!r})))"],
                       env=env, check=False)  # fmt: skip
        shutil.rmtree(home, ignore_errors=True)
    else:
        print(f"kept {home}")


if __name__ == "__main__":
    main()
