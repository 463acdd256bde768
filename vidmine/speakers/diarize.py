"""Who speaks when: speech stretches, voice embeddings per window, clusters, turns.

Plain functions over plain data (no database, no Dagster): the ``speakers`` asset and the
benchmark call :func:`diarize` and :func:`assign_speakers`.

How it works, and why:

- **Speech** is where the transcript heard words: its words' own times, joined when less
  than ``join_gap_s`` apart. The transcriber already ran voice-activity detection
  (faster-whisper's Silero VAD) to find them, so no second detector runs here, and what
  is labelled is exactly what was transcribed.
- **Windows** of 1.6 s (the length resemblyzer's encoder was trained on) slide over each
  stretch every ``hop_s``; a stretch shorter than a window is repeated to fill one, so a
  short "Hello?" is judged on its own voice rather than on its neighbours'.
- **How many**: the eigengap of the windows' similarity matrix (see
  :func:`estimate_speakers`); a given ``num_speakers`` skips the estimate.
- **Clusters**: agglomerative clustering (average linkage, cosine distance) of the
  embeddings centred on the recording's mean (see :func:`centred`). Each window then moves to its nearest
  cluster centre (a few k-means steps), which cleans up average linkage's chaining.
- **Turns**: every 50 ms of speech (each stretch widened by ``pad_s``) takes the cluster
  whose centre the windows covering it resemble most, a median filter removes flickers shorter than ``min_turn_s``, and runs
  of one speaker are turns. Speakers are numbered by first appearance: "1", "2", ...
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from vidmine.models import TranscriptSegment, Word
from vidmine.speakers.encoder import (
    MEL_BANDS,
    MEL_HOP,
    PARTIAL_FRAMES,
    SAMPLE_RATE,
    SpeakerEncoder,
    mel_frames,
    normalize_volume,
)
from vidmine.transcript import segment_words

FRAME_S = 0.05  # resolution of the turns
WINDOW_S = PARTIAL_FRAMES / 100  # 1.6 s


@dataclass(frozen=True)
class DiarizationSettings:
    num_speakers: int | None = None  # None: estimated
    max_speakers: int = 8
    hop_s: float = (
        0.8  # windows overlap by half: 0.4 was no better on the benchmark, twice the cost
    )
    join_gap_s: float = 0.5
    min_stretch_s: float = 0.2  # shorter speech takes its neighbours' speaker
    min_gap: float = 1.5  # eigengap below it: one speaker (jfk.flac alone 1.13, sample.wav 1.77)
    split_gap: float = 1.5  # see more_speakers
    second_voice_gap: float = 1.8
    min_turn_s: float = 0.35
    fill_gap_s: float = 1.5  # a pause shorter than this between one speaker's turns is theirs
    # Speech reaches past the transcript's word times (Whisper's word ends come early): each
    # stretch's turn is widened by this much each side, to the middle of a shorter silence.
    # 0 / 0.2 / 0.3 / 0.5 s: lowest right-speaker share of the two-speaker cases 87.0 / 91.4
    # / 92.0 / 92.0 %, the call's DER 9.3 / 10.1 / 10.5 / 11.5 % (its silences labelled).
    pad_s: float = 0.3


@dataclass(frozen=True)
class SpeakerTurn:
    speaker: str  # "1", "2", ... by first appearance
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Diarization:
    turns: list[SpeakerTurn]
    speakers: int
    windows: int
    eigengap: float | None  # what the speaker count was estimated from; None: given


def speech_stretches(
    segments: Sequence[TranscriptSegment], join_gap_s: float = 0.3
) -> list[tuple[float, float]]:
    """Where the transcript heard speech: its words' spans, joined across short gaps."""
    spans = sorted(
        (w.start_s, max(w.end_s, w.start_s)) for segment in segments for w in segment_words(segment)
    )
    stretches: list[list[float]] = []
    for start, end in spans:
        if stretches and start - stretches[-1][1] <= join_gap_s:
            stretches[-1][1] = max(stretches[-1][1], end)
        else:
            stretches.append([start, end])
    return [(s, e) for s, e in stretches if e > s]


def padded_stretches(
    stretches: Sequence[tuple[float, float]], pad_s: float, duration_s: float
) -> list[tuple[float, float]]:
    """``stretches`` widened by ``pad_s`` each side, never past the middle of the silence to
    the next one nor outside the recording."""
    bounds = [0.0] + [(e + s) / 2 for (_, e), (s, _) in itertools.pairwise(stretches)]
    bounds.append(duration_s)
    return [
        (max(bounds[i], start - pad_s), min(bounds[i + 1], end + pad_s))
        for i, (start, end) in enumerate(stretches)
    ]


def window_spans(
    stretches: Sequence[tuple[float, float]], hop_s: float, min_stretch_s: float
) -> list[tuple[float, float]]:
    """The spans embedded: 1.6 s windows every ``hop_s`` inside each stretch (a shorter
    stretch is one window of itself)."""
    spans = []
    for start, end in stretches:
        length = end - start
        if length < min_stretch_s:
            continue
        if length <= WINDOW_S:
            spans.append((start, end))
            continue
        count = int(np.ceil((length - WINDOW_S) / hop_s)) + 1
        starts = np.linspace(start, end - WINDOW_S, count)
        spans.extend((float(s), float(s) + WINDOW_S) for s in starts)
    return spans


def window_mels(
    samples: np.ndarray,
    stretches: Sequence[tuple[float, float]],
    spans: Sequence[tuple[float, float]],
) -> np.ndarray:
    """(n, 160, 40) mel windows of ``spans`` (each inside one of ``stretches``); a span shorter
    than 1.6 s is repeated to fill its window.

    Each stretch's spectrogram is computed once and the windows are its slices, as
    resemblyzer's ``embed_utterance`` does: overlapping windows computed one by one cost
    twice the FFTs, and the spectrogram was half of the stage's CPU (0.16 of 0.29 s a run
    on sample.wav, 2026-12-06)."""
    mels = np.zeros((len(spans), PARTIAL_FRAMES, MEL_BANDS), dtype=np.float32)
    if not spans:
        return mels
    span_starts = np.array([s for s, _ in spans])
    frames_per_s = SAMPLE_RATE / MEL_HOP
    for start, end in stretches:
        first, last = np.searchsorted(span_starts, [start - 1e-6, end + 1e-6])
        if first == last:
            continue
        frames = mel_frames(samples[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)])
        for i in range(first, last):
            offset = round((spans[i][0] - start) * frames_per_s)
            count = max(1, round((spans[i][1] - spans[i][0]) * frames_per_s))
            piece = frames[offset : offset + min(count, PARTIAL_FRAMES)]
            if len(piece):
                mels[i] = np.resize(piece, (PARTIAL_FRAMES, MEL_BANDS))
    return mels


def centred(embeddings: np.ndarray) -> np.ndarray:
    """Embeddings minus the recording's mean, L2-normed again. Every window of a recording
    shares its channel (a telephone line, a room): raw embeddings of two callers are 0.68
    alike against 0.76 within one (sample.wav); centred, -0.16 against 0.16."""
    if len(embeddings) < 2:
        return embeddings
    moved = embeddings - embeddings.mean(axis=0)
    return moved / np.linalg.norm(moved, axis=1, keepdims=True).clip(1e-9)


def estimate_speakers(raw: np.ndarray, max_speakers: int, min_gap: float) -> tuple[int, float]:
    """How many voices the raw (uncentred) embeddings hold, and the eigengap that says so.

    The eigenvalues of the windows' cosine-similarity matrix: k voices give k large ones.
    The count is the k with the largest ratio between the k-th and the (k+1)-th, each
    floored at 1 (one window's own weight on the diagonal: a smaller eigenvalue is noise);
    one voice when no ratio reaches ``min_gap``.
    """
    values = np.linalg.eigvalsh(raw @ raw.T)[::-1]
    floored = np.maximum(values, 1.0)
    best_k, best_gap = 1, 0.0
    for k in range(2, min(max_speakers, len(values) - 1) + 1):
        gap = float(floored[k - 1] / floored[k])
        if gap > best_gap:
            best_k, best_gap = k, gap
    return (best_k, best_gap) if best_gap >= min_gap else (1, best_gap)


def more_speakers(embeddings: np.ndarray, k: int, settings: DiarizationSettings) -> int:
    """The speaker count once the channel is gone: ``k`` (the raw eigengap's count, 1 or
    more) raised while the next principal direction of the centred ``embeddings`` stands out:
    the k-th eigenvalue of their similarity matrix at least ``split_gap`` times the
    (k+1)-th (``second_voice_gap`` from one voice to two).

    k voices around their mean span k - 1 directions. Two callers of one telephone line
    share most of their raw embedding with the line, so the raw eigengap counts the line
    once (jfk, Diane and Sheila: 2; Diane and Sheila alone: 1); centred, the callers'
    direction stands out. On the benchmark's recordings the ratio was 1.65 to 2.19 where a
    voice was added (2.16 from one to two), 1.04 to 1.35 where none was; one voice whose
    windows take in its pauses varies along one direction too (jfk.flac as one stretch:
    1.57), hence the higher bar for a second voice.
    """
    values = np.linalg.eigvalsh(embeddings @ embeddings.T)[::-1]
    while k < min(settings.max_speakers, len(values) - 1):
        gap = settings.second_voice_gap if k == 1 else settings.split_gap
        if values[k - 1] < gap * values[k]:
            break
        k += 1
    return k


def cluster_embeddings(
    raw: np.ndarray, settings: DiarizationSettings
) -> tuple[np.ndarray, float | None]:
    """Cluster labels per window (0..k-1) and the eigengap behind the count (None: given)."""
    from sklearn.cluster import AgglomerativeClustering

    n = len(raw)
    if n < 3 or settings.num_speakers == 1:
        return np.zeros(n, dtype=int), None
    if settings.num_speakers:
        k, gap = min(settings.num_speakers, n), None
    else:
        k, gap = estimate_speakers(raw, settings.max_speakers, settings.min_gap)
    embeddings = centred(raw)
    if not settings.num_speakers:
        k = more_speakers(embeddings, k, settings)
    if k == 1:
        return np.zeros(n, dtype=int), gap
    model = AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average")
    return _refine(embeddings, model.fit_predict(embeddings)), gap


def _refine(embeddings: np.ndarray, labels: np.ndarray, steps: int = 5) -> np.ndarray:
    """A few k-means steps (cosine) from the agglomerative labels; empty clusters vanish."""
    for _ in range(steps):
        keys = np.unique(labels)
        centres = np.stack([embeddings[labels == k].mean(axis=0) for k in keys])
        centres /= np.linalg.norm(centres, axis=1, keepdims=True).clip(1e-9)
        moved = keys[np.argmax(embeddings @ centres.T, axis=1)]
        if np.array_equal(moved, labels):
            break
        labels = moved
    _, dense = np.unique(labels, return_inverse=True)
    return dense


def diarize(
    samples: np.ndarray,
    segments: Sequence[TranscriptSegment],
    encoder: SpeakerEncoder,
    settings: DiarizationSettings = DiarizationSettings(),
) -> Diarization:
    """Speaker turns of 16 kHz mono ``samples`` over the speech ``segments`` heard."""
    stretches = speech_stretches(segments, settings.join_gap_s)
    spans = window_spans(stretches, settings.hop_s, settings.min_stretch_s)
    if not spans:
        turns = [SpeakerTurn("1", float(s), float(e)) for s, e in stretches]
        return Diarization(_merge(turns), 1 if turns else 0, 0, None)
    samples = normalize_volume(np.asarray(samples, dtype=np.float32))
    raw = encoder.embed_mels(window_mels(samples, stretches, spans))
    labels, gap = cluster_embeddings(raw, settings)
    embeddings = centred(raw) if len(set(labels)) > 1 else raw
    keys = np.unique(labels)
    centres = np.stack([embeddings[labels == k].mean(axis=0) for k in keys])
    centres /= np.linalg.norm(centres, axis=1, keepdims=True).clip(1e-9)
    likeness = embeddings @ centres.T  # (windows, speakers)
    duration_s = len(samples) / SAMPLE_RATE
    turns = frame_turns(
        padded_stretches(stretches, settings.pad_s, duration_s), spans, likeness, settings
    )
    return Diarization(turns, len({t.speaker for t in turns}), len(spans), gap)


def frame_turns(
    stretches: Sequence[tuple[float, float]],
    spans: Sequence[tuple[float, float]],
    likeness: np.ndarray,
    settings: DiarizationSettings,
) -> list[SpeakerTurn]:
    """Turns from 50 ms frames, each scored by the mean likeness of the windows covering it.

    In arrays rather than a loop per frame (an hour of speech is 72,000 frames): ``spans``
    are sorted and end in order, so the windows covering a frame are one run of indices,
    summed from the cumulative likeness."""
    if not stretches:
        return []
    span_starts = np.array([s for s, _ in spans])
    span_ends = np.array([e for _, e in spans])
    span_mids = (span_starts + span_ends) / 2
    times = np.concatenate([np.arange(s, e, FRAME_S) + FRAME_S / 2 for s, e in stretches])
    first = np.searchsorted(span_ends, times, side="left")
    last = np.searchsorted(span_starts, times, side="right")
    summed = np.vstack([np.zeros((1, likeness.shape[1])), np.cumsum(likeness, axis=0)])
    score = (summed[np.maximum(last, first)] - summed[first]) / np.maximum(last - first, 1)[:, None]
    # a frame no window covers (a stretch too short to embed, or its padding): the nearest
    # window's speaker
    nearest = np.abs(span_mids[None, :] - times[np.flatnonzero(last <= first), None]).argmin(1)
    score[last <= first] = likeness[nearest]
    labels = mode_filter(score.argmax(axis=1), int(settings.min_turn_s / FRAME_S) | 1)
    gaps = np.diff(times) - FRAME_S
    starts = np.flatnonzero(
        np.concatenate([[True], (labels[1:] != labels[:-1]) | (gaps >= settings.fill_gap_s + 1e-6)])
    )
    ends = np.append(starts[1:], len(times)) - 1
    # speakers numbered by first appearance
    order: dict[int, str] = {}
    turns = [
        SpeakerTurn(
            order.setdefault(int(labels[a]), str(len(order) + 1)),
            round(float(times[a] - FRAME_S / 2), 3),
            round(float(times[b] + FRAME_S / 2), 3),
        )
        for a, b in zip(starts, ends, strict=True)
    ]
    return _merge(turns)


def mode_filter(labels: np.ndarray, width: int) -> np.ndarray:
    """The most common label in a ``width``-frame neighbourhood of each frame (the lowest of
    a tie); a frame whose neighbourhood holds no label twice keeps its own."""
    if width <= 1 or len(labels) < width:
        return labels
    half = width // 2
    padded = np.pad(labels, half, mode="edge")
    onehot = np.zeros((len(padded) + 1, labels.max() + 1), dtype=np.int32)
    onehot[np.arange(1, len(padded) + 1), padded] = 1
    counts = np.cumsum(onehot, axis=0)
    counts = counts[width:] - counts[:-width]  # frame i: padded[i : i + width]
    return np.where(counts.max(axis=1) > 1, counts.argmax(axis=1), labels)


def _merge(turns: list[SpeakerTurn]) -> list[SpeakerTurn]:
    merged: list[SpeakerTurn] = []
    for turn in turns:
        if merged and merged[-1].speaker == turn.speaker and turn.start_s <= merged[-1].end_s:
            merged[-1] = replace(merged[-1], end_s=max(merged[-1].end_s, turn.end_s))
        else:
            merged.append(turn)
    return merged


def speaker_at(turns: Sequence[SpeakerTurn], start_s: float, end_s: float) -> str | None:
    """The speaker who talks most in [start_s, end_s] (the nearest turn's when none does)."""
    if not turns:
        return None
    overlap: dict[str, float] = {}
    for turn in turns:
        shared = min(end_s, turn.end_s) - max(start_s, turn.start_s)
        if shared > 0:
            overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
    if overlap:
        return max(overlap, key=lambda s: overlap[s])
    mid = (start_s + end_s) / 2
    nearest = min(turns, key=lambda t: min(abs(t.start_s - mid), abs(t.end_s - mid)))
    return nearest.speaker


def assign_speakers(
    segments: Sequence[TranscriptSegment], turns: Sequence[SpeakerTurn]
) -> list[TranscriptSegment]:
    """Each word its speaker (the one talking over it), each segment the speaker of most
    of its words' time. Segments without word times are judged over their own span."""
    labelled = []
    for segment in segments:
        words = tuple(
            replace(w, speaker=speaker_at(turns, w.start_s, w.end_s)) for w in segment.words
        )
        if words:
            talk: dict[str, float] = {}
            for w in words:
                if w.speaker is not None:
                    talk[w.speaker] = talk.get(w.speaker, 0.0) + max(w.end_s - w.start_s, 0.01)
            speaker = max(talk, key=lambda s: talk[s]) if talk else None
        else:
            speaker = speaker_at(turns, segment.start_s, segment.end_s)
        labelled.append(replace(segment, words=words, speaker=speaker))
    return labelled


def talk_seconds(turns: Sequence[SpeakerTurn]) -> dict[str, float]:
    """Seconds each speaker talks, most first."""
    totals: dict[str, float] = {}
    for turn in turns:
        totals[turn.speaker] = totals.get(turn.speaker, 0.0) + turn.end_s - turn.start_s
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def word_segments(words: Sequence[Word]) -> list[TranscriptSegment]:
    """Words as one segment (the benchmark's reference words have no segments)."""
    if not words:
        return []
    return [TranscriptSegment(0, words[0].start_s, words[-1].end_s, "", words=tuple(words))]
