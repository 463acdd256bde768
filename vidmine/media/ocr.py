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

With ``detect_text`` (the profile setting ``ocr_text_detector``), tesseract reads only what
may be text: PP-OCRv4's text detector (:mod:`vidmine.media.text_regions`) looks at each frame
first, in the same worker process on one ONNX Runtime thread; a frame where it finds nothing
is not read at all, and otherwise tesseract reads the detected regions, cut out and enlarged
to a size it reads well, instead of the whole frame enlarged 2x. The readings of the regions
are put back together in reading order: rows top to bottom, each row left to right. It is
off by default: its readings are better against what is on screen but not the same texts
as whole-frame readings, and the speed issue's quality bar asks for the same texts (figures
in docs/performance.md).
"""

from __future__ import annotations

import functools
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
from vidmine.media.text_regions import TextDetector, TextRegion, model_path
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
# A detected line (the detector's margin included, 2-3x the height of its letters) is
# enlarged to about this height before reading: a 720p caption's regions are ~50 px, read
# at 1.6x; a phototest line (~33 px) at 2.4x. No region is shrunk or enlarged past 4x.
# 80 read phototest exactly with margins of 10-25%; 100 and 120 misread a letter in some.
_REGION_READ_HEIGHT = 80
_REGION_MAX_FACTOR = 4.0
# ...with a margin of this share of its height: letters that touch the edge of the picture
# read worse (tesseract's phototest page read "fox." as "Tox." without it).
_REGION_MARGIN = 0.15
# Regions are read as blocks of text: one region can hold more than one line (regions
# that overlap are read as one).
_REGION_TESSERACT_CONFIG = "--psm 6"


@dataclass(frozen=True)
class OcrResult:
    """The merged texts and how much work reading them took."""

    texts: list[OcrText]
    frames_sampled: int
    frames_ocred: int  # frames tesseract read
    frames_without_text: int = 0  # frames the text detector found no text on: not read
    text_detector: bool = False  # whether a text detector chose what tesseract read


@dataclass(frozen=True)
class FrameText:
    """What tesseract read on one picture."""

    text: str
    confidence: float  # mean word confidence, 0..100; 0 when nothing was read
    read: bool = True  # False: the text detector found nothing, so tesseract did not read it


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


def _tesseract_data(input_path: Path, lang: str, config: str = "") -> dict[str, list]:
    """Tesseract's word table (TSV) for an image, or for the images a list file names."""
    try:
        return pytesseract.image_to_data(
            str(input_path), lang=lang, config=config, output_type=pytesseract.Output.DICT
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


Lines = dict[tuple[int, int, int], list[tuple[str, float]]]


def _read_pages(pictures: list[Image.Image], lang: str, config: str = "") -> list[Lines]:
    """Tesseract's words on each picture, by line, from one tesseract process (a list file
    names them all, so its language models load once: about 0.3 s of CPU)."""
    if not pictures:
        return []
    with tempfile.TemporaryDirectory(prefix="vidmine-ocr-") as scratch:
        names = []
        for i, picture in enumerate(pictures):
            name = Path(scratch) / f"{i:04d}.pgm"  # uncompressed: quick to write and read
            picture.save(name)
            names.append(str(name))
        listing = Path(scratch) / "images.txt"
        listing.write_text("\n".join(names) + "\n")
        data = _tesseract_data(listing, lang, config)
    # Lines keyed by (page, block, paragraph, line); tesseract numbers the pages from 1.
    pages: list[Lines] = [{} for _ in pictures]
    for i, word in enumerate(data["text"]):
        confidence = float(data["conf"][i])
        word = word.strip()
        if word and confidence >= 0:
            key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
            pages[data["page_num"][i] - 1].setdefault(key, []).append((word, confidence))
    return pages


def read_images(
    images: list[Image.Image], *, lang: str = "eng", detect_text: bool = False
) -> list[FrameText]:
    """Tesseract's reading of each image, in order: lines in reading order and mean word
    confidence, all read by one tesseract process.

    With ``detect_text`` tesseract reads only the regions the text detector finds, and an
    image where it finds none is not read (``FrameText.read`` is False); without (the
    default, see the module docstring), it reads each whole image, grayscale and enlarged
    when small."""
    if not images:
        return []
    if not detect_text:
        return [
            _frame_text(lines)
            for lines in _read_pages([prepare_for_ocr(image) for image in images], lang)
        ]
    detector = _text_detector()
    regions = [_merge_overlapping(detector.regions(image)) for image in images]
    crops = [
        _region_picture(image, region)
        for image, found in zip(images, regions, strict=True)
        for region in found
    ]
    pages = iter(_read_pages(crops, lang, _REGION_TESSERACT_CONFIG))
    readings = []
    for found in regions:
        if not found:
            readings.append(FrameText(text="", confidence=0.0, read=False))
            continue
        readings.append(_regions_text([(region, next(pages)) for region in found]))
    return readings


@dataclass(frozen=True)
class _Region:
    """Detected regions that overlap, as one rectangle, with the height of the shortest."""

    left: int
    top: int
    right: int
    bottom: int
    line_height: int


def _merge_overlapping(found: list[TextRegion]) -> list[_Region]:
    """The detector's regions with those that overlap joined, top to bottom then left to
    right: overlapping regions read separately would read the text they share twice."""
    merged = [_Region(r.left, r.top, r.right, r.bottom, r.height) for r in found]
    joined = True
    while joined:
        joined = False
        for i, a in enumerate(merged):
            for j in range(i + 1, len(merged)):
                b = merged[j]
                if a.left < b.right and b.left < a.right and a.top < b.bottom and b.top < a.bottom:
                    merged[i] = _Region(
                        min(a.left, b.left),
                        min(a.top, b.top),
                        max(a.right, b.right),
                        max(a.bottom, b.bottom),
                        min(a.line_height, b.line_height),
                    )
                    del merged[j]
                    joined = True
                    break
            if joined:
                break
    return sorted(merged, key=lambda r: (r.top, r.left))


def _region_picture(image: Image.Image, region: _Region) -> Image.Image:
    """The region cut from ``image`` with a margin, grayscale, enlarged to read
    (``_REGION_READ_HEIGHT``)."""
    margin = max(2, round(region.line_height * _REGION_MARGIN))
    box = (
        max(0, region.left - margin),
        max(0, region.top - margin),
        min(image.width, region.right + margin),
        min(image.height, region.bottom + margin),
    )
    crop = ImageOps.grayscale(image.crop(box))
    factor = min(_REGION_MAX_FACTOR, max(1.0, _REGION_READ_HEIGHT / max(region.line_height, 1)))
    if factor > 1.0:
        crop = crop.resize(
            (round(crop.width * factor), round(crop.height * factor)), Image.Resampling.LANCZOS
        )
    return crop


def _regions_text(readings: list[tuple[_Region, Lines]]) -> FrameText:
    """One frame's text from its regions' readings: regions whose heights overlap by half
    form a row; rows top to bottom, a row's regions left to right, and a row whose regions
    read one line each is one line (a caption's words can be detected as two regions)."""
    rows: list[list[tuple[_Region, Lines]]] = []
    for region, lines in sorted(readings, key=lambda item: (item[0].top, item[0].left)):
        row = rows[-1] if rows else None
        if row is not None and _same_row(row[0][0], region):
            row.append((region, lines))
        else:
            rows.append([(region, lines)])
    text_lines: list[list[tuple[str, float]]] = []
    for row in rows:
        kept = [
            [words for words in lines.values() if _is_real_line(words)]
            for _, lines in sorted(row, key=lambda item: item[0].left)
        ]
        kept = [lines for lines in kept if lines]
        if all(len(lines) == 1 for lines in kept):
            joined = [word for lines in kept for word in lines[0]]
            text_lines += [joined] if joined else []
        else:
            text_lines += [words for lines in kept for words in lines]
    return _frame_text({(0, 0, i): words for i, words in enumerate(text_lines)})


def _same_row(first: _Region, other: _Region) -> bool:
    overlap = min(first.bottom, other.bottom) - max(first.top, other.top)
    return overlap >= 0.5 * min(first.bottom - first.top, other.bottom - other.top)


@functools.cache
def _text_detector() -> TextDetector:
    # One per process: OCR's worker processes each load the model once.
    return TextDetector()


def _frame_text(lines: Lines) -> FrameText:
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


def _read_files(paths: list[Path], lang: str, detect_text: bool) -> list[FrameText]:
    with ExitStack() as stack:
        return read_images(
            [stack.enter_context(Image.open(path)) for path in paths],
            lang=lang,
            detect_text=detect_text,
        )


def read_frames(
    paths: list[Path],
    *,
    lang: str = "eng",
    workers: int | None = None,
    detect_text: bool = False,
) -> list[FrameText]:
    """Tesseract's reading of each image, in order, by single-threaded worker processes,
    each reading batches of up to ``READ_BATCH`` frames with one tesseract process (and,
    with ``detect_text``, finding their text regions first; see :func:`read_images`)."""
    if not paths:
        return []
    if detect_text:
        model_path()  # a missing model fails here, once, not in every worker
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
            for batch in pool.map(
                _read_files, batches, [lang] * len(batches), [detect_text] * len(batches)
            )
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
    detect_text: bool = False,
) -> OcrResult:
    """Read the text on screen in ``video_path``, sampling ``fps`` frames per second.

    Samples go to ``work_dir``; only those referenced by a returned text are kept.
    """
    video_path = Path(video_path)
    duration = probe_media(video_path).duration_s
    samples = sample_frames(video_path, fps, work_dir)
    return ocr_samples(
        samples, fps, duration, hash_distance=hash_distance, lang=lang, detect_text=detect_text
    )


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
    detect_text: bool = False,
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
    frame_texts = read_frames(
        [samples[i][1] for i in to_read], lang=lang, workers=workers, detect_text=detect_text
    )
    candidates = pack_languages(lang)
    readings = [
        (seconds, path, frame_texts[reading_of[i]]) for i, (seconds, path) in enumerate(samples)
    ]
    frames_ocred = sum(reading.read for reading in frame_texts)

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
    return OcrResult(
        texts=texts,
        frames_sampled=len(samples),
        frames_ocred=frames_ocred,
        frames_without_text=len(frame_texts) - frames_ocred,
        text_detector=detect_text,
    )
