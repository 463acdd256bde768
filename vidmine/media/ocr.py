"""On-screen text: frames sampled at a fixed rate and read by tesseract.

Reading a frame is the slow part, so a frame whose perceptual hash is within
``hash_distance`` bits of the frame read last is not read again: it shows the same
picture, and its text is carried over. Consecutive samples that read the same are merged
into one :class:`~vidmine.models.OcrText` spanning the time the text is on screen.

Frames are read by single-threaded tesseract processes side by side: tesseract's own
OpenMP threads fight each other on small machines (2.4x slower per frame on two cores,
tesseract issue #3109), so each worker process runs tesseract with
``OMP_THREAD_LIMIT=1`` and there is one worker per core. The limit is set in the worker
processes only: in this process it would also cap the OpenMP threads of the models.
Each tesseract process reads a batch of frames named in a list file, because starting
one per frame loaded the language models per frame: on the speed benchmark's samples that
took 0.71 s of CPU per frame, against 0.39 s in batches, with the same text read.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import re
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import imagehash
import pytesseract
from PIL import Image, ImageOps

from vidmine.languages import TESSERACT_LANGS, guess_text_language
from vidmine.media.ffmpeg import JPEG_QUALITY, MediaError, run_ffmpeg, square_pixels_filter
from vidmine.media.probe import probe_media
from vidmine.media.sampling import collect_frames, rate_select_filter
from vidmine.models import OcrText

log = logging.getLogger(__name__)

SAMPLES_DIR = "ocr_frames"  # beside the video's other derived files
SAMPLE_NAME = "sample_{index:05d}.jpg"
SHOWINFO = "ocr"  # the showinfo instance whose lines give the samples' times
# Tesseract reads best when capital letters are ~30 px tall; text in a 720p frame is
# often half that, so frames under this height are enlarged before reading.
_UPSCALE_BELOW_HEIGHT = 1080
_UPSCALE_FACTOR = 2
# Samples are taken at up to 720 lines and enlarged 2x for reading (prepare_for_ocr).
# Measured on the benchmark's footage: native 1080p frames read slower (22.6 s against
# 18.9 s for 44 samples) and missed a caption the enlarged 720p frames found.
SAMPLE_MAX_HEIGHT = 720
_MIN_ANCHOR_WORD_CONFIDENCE = 50.0
# Frames one tesseract process reads (it loads its language models once per process).
READ_BATCH = 16
_WORDLIKE = re.compile(r"[^\W_]{2}")


@dataclass(frozen=True)
class OcrResult:
    """The merged texts and how much work reading them took."""

    texts: list[OcrText]
    frames_sampled: int
    frames_ocred: int


@dataclass(frozen=True)
class FrameText:
    """What tesseract read on one picture."""

    text: str
    confidence: float  # mean word confidence, 0..100; 0 when nothing was read


def normalize_whitespace(text: str) -> str:
    return " ".join(text.split())


def sample_frames(video_path: Path, fps: float, out_dir: Path) -> list[tuple[float, Path]]:
    """Write one frame per ``1/fps`` seconds to ``out_dir`` as ``sample_00000.jpg``...

    The frame taken for each ``1/fps`` step is the first one shown at or after the step
    starts; the returned times (seconds from the video start, with the path) are the real
    presentation times of the frames written.
    """
    select = rate_select_filter(fps)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".samples-", dir=out_dir))
    try:
        stderr = run_ffmpeg(
            [
                "-nostats",
                "-loglevel",
                "info",
                "-i",
                str(video_path),
                "-map",
                "0:v:0",
                "-vf",
                f"{select},showinfo@{SHOWINFO},{square_pixels_filter(SAMPLE_MAX_HEIGHT)}",
                "-fps_mode",
                "passthrough",
                "-q:v",
                JPEG_QUALITY,
                str(work / "%05d.jpg"),
            ],
            what=f"sample frames for OCR from {video_path}",
        )
        return collect_frames(
            stderr, SHOWINFO, work, out_dir, SAMPLE_NAME, what=f"OCR samples of {video_path}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def prepare_for_ocr(image: Image.Image) -> Image.Image:
    """Grayscale, and enlarged when the frame is small (see ``_UPSCALE_BELOW_HEIGHT``)."""
    gray = ImageOps.grayscale(image)
    if gray.height < _UPSCALE_BELOW_HEIGHT:
        gray = gray.resize(
            (gray.width * _UPSCALE_FACTOR, gray.height * _UPSCALE_FACTOR),
            Image.Resampling.LANCZOS,
        )
    return gray


def _tesseract_data(input_path: Path, lang: str) -> dict[str, list]:
    """Tesseract's word table (TSV) for an image, or for the images a list file names."""
    try:
        return pytesseract.image_to_data(
            str(input_path), lang=lang, output_type=pytesseract.Output.DICT
        )
    except pytesseract.TesseractNotFoundError as err:
        raise MediaError(
            "tesseract is not installed or not on PATH; install it "
            "(Debian: apt-get install tesseract-ocr tesseract-ocr-eng, or run scripts/install.sh)"
        ) from err
    except pytesseract.TesseractError as err:
        raise MediaError(
            f"tesseract failed ({err}); check that the language pack for '{lang}' is "
            f"installed (Debian: apt-get install tesseract-ocr-{lang})"
        ) from err


def read_images(images: list[Image.Image], *, lang: str = "eng") -> list[FrameText]:
    """Tesseract's reading of each image, in order: lines in reading order and mean word
    confidence. One tesseract process reads them all (from a list file), so its language
    models load once: loading costs about 0.3 s of CPU, half of what reading a frame does."""
    if not images:
        return []
    with tempfile.TemporaryDirectory(prefix="vidmine-ocr-") as scratch:
        names = []
        for i, image in enumerate(images):
            name = Path(scratch) / f"{i:04d}.pgm"  # uncompressed: quick to write and read
            prepare_for_ocr(image).save(name)
            names.append(str(name))
        listing = Path(scratch) / "images.txt"
        listing.write_text("\n".join(names) + "\n")
        data = _tesseract_data(listing, lang)
    # Lines keyed by (page, block, paragraph, line); tesseract numbers the pages from 1.
    pages: list[dict[tuple[int, int, int], list[tuple[str, float]]]] = [{} for _ in images]
    for i, word in enumerate(data["text"]):
        confidence = float(data["conf"][i])
        word = word.strip()
        if word and confidence >= 0:
            key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
            pages[data["page_num"][i] - 1].setdefault(key, []).append((word, confidence))
    return [_frame_text(lines) for lines in pages]


def _frame_text(lines: dict[tuple[int, int, int], list[tuple[str, float]]]) -> FrameText:
    kept = [words for words in lines.values() if _is_real_line(words)]
    text = "\n".join(" ".join(word for word, _ in words) for words in kept)
    confidences = [confidence for words in kept for _, confidence in words]
    confidence = sum(confidences) / len(confidences) if confidences else 0.0
    return FrameText(text=text, confidence=round(confidence, 2))


def _is_real_line(words: list[tuple[str, float]]) -> bool:
    """Tesseract reads textures and edges in natural footage as stray marks ("e", "_",
    "ss,"); a real line has at least one confidently read word of two letters or digits.
    Word confidence alone is no filter: tesseract gives short true tokens such as "1"
    a confidence of 0."""
    return any(
        confidence >= _MIN_ANCHOR_WORD_CONFIDENCE and _WORDLIKE.search(word)
        for word, confidence in words
    )


def _single_threaded_tesseract() -> None:
    # Inherited by the tesseract processes pytesseract starts from this worker.
    os.environ["OMP_THREAD_LIMIT"] = "1"


def _read_files(paths: list[Path], lang: str) -> list[FrameText]:
    with ExitStack() as stack:
        return read_images([stack.enter_context(Image.open(path)) for path in paths], lang=lang)


def read_frames(
    paths: list[Path], *, lang: str = "eng", workers: int | None = None
) -> list[FrameText]:
    """Tesseract's reading of each image, in order, by single-threaded worker processes,
    each reading batches of up to ``READ_BATCH`` frames with one tesseract process."""
    if not paths:
        return []
    workers = max(1, min(workers or os.cpu_count() or 1, len(paths)))
    # Batches small enough that every worker gets several (the last ones finish together).
    size = max(1, min(READ_BATCH, math.ceil(len(paths) / (workers * 3))))
    batches = [paths[i : i + size] for i in range(0, len(paths), size)]
    # spawn: a worker forked from a process that runs threads (Dagster, the models) could
    # inherit a lock held by one of them.
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_single_threaded_tesseract,
    ) as pool:
        return [
            text
            for batch in pool.map(_read_files, batches, [lang] * len(batches))
            for text in batch
        ]


def _frame_hash(path: Path) -> imagehash.ImageHash:
    with Image.open(path) as image:
        # The hash looks at a 32x32 grayscale thumbnail: let the JPEG decoder scale down.
        image.draft("L", (image.width // 8, image.height // 8))
        return imagehash.phash(image)


def ocr_video(
    video_path: Path,
    fps: float,
    work_dir: Path,
    *,
    hash_distance: int = 3,
    lang: str = "eng",
) -> OcrResult:
    """Read the text on screen in ``video_path``, sampling ``fps`` frames per second.

    Samples go to ``work_dir``; only those referenced by a returned text are kept.
    """
    video_path = Path(video_path)
    duration = probe_media(video_path).duration_s
    samples = sample_frames(video_path, fps, work_dir)
    return ocr_samples(samples, fps, duration, hash_distance=hash_distance, lang=lang)


def pack_languages(lang: str) -> list[str]:
    """The ISO 639-1 codes of a tesseract language string ("eng+deu" -> ["en", "de"])."""
    by_pack = {pack: code for code, pack in TESSERACT_LANGS.items()}
    return [by_pack[pack] for pack in lang.split("+") if pack in by_pack]


def ocr_samples(
    samples: list[tuple[float, Path]],
    fps: float,
    duration: float,
    *,
    hash_distance: int = 3,
    lang: str = "eng",
    workers: int | None = None,
) -> OcrResult:
    """Read the text on ``samples`` (time, JPEG) taken at ``fps`` from a video of
    ``duration`` seconds; only the samples a returned text refers to are kept.

    ``lang`` is tesseract's language string ("eng+deu"). A text read with one language
    pack is in that language; with several, its common words tell (None when they do not).
    """
    # Which samples to read: one whose picture differs from the last one read.
    to_read: list[int] = []
    reading_of: list[int] = []  # per sample, the index in to_read whose text it shows
    last_hash: imagehash.ImageHash | None = None
    for index, (_, path) in enumerate(samples):
        frame_hash = _frame_hash(path)
        if last_hash is None or frame_hash - last_hash > hash_distance:
            to_read.append(index)
            last_hash = frame_hash
        reading_of.append(len(to_read) - 1)
    frame_texts = read_frames([samples[i][1] for i in to_read], lang=lang, workers=workers)
    candidates = pack_languages(lang)
    readings = [
        (seconds, path, frame_texts[reading_of[i]]) for i, (seconds, path) in enumerate(samples)
    ]
    frames_ocred = len(to_read)

    texts: list[OcrText] = []
    # Runs of consecutive samples that read the same: [first, last] reading indexes.
    runs: list[list[int]] = []
    for i, (_, _, reading) in enumerate(readings):
        key = normalize_whitespace(reading.text)
        if not key:
            continue
        if runs and runs[-1][1] == i - 1 and normalize_whitespace(readings[i - 1][2].text) == key:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    for first, last in runs:
        start_s, frame_path, reading = readings[first]
        end_s = readings[last][0] + 1.0 / fps
        if duration > 0:
            end_s = min(end_s, duration)
        texts.append(
            OcrText(
                index=len(texts),
                start_s=round(start_s, 3),
                end_s=round(max(end_s, start_s), 3),
                text=reading.text,
                confidence=round(
                    sum(r[2].confidence for r in readings[first : last + 1]) / (last - first + 1), 2
                ),
                frame_path=frame_path,
                language=candidates[0]
                if len(candidates) == 1
                else guess_text_language(reading.text, candidates),
            )
        )

    keep = {t.frame_path for t in texts}
    for _, path, _ in readings:
        if path not in keep:
            path.unlink(missing_ok=True)
    return OcrResult(texts=texts, frames_sampled=len(samples), frames_ocred=frames_ocred)
