"""Speaker turns and answers, as plain functions on small inputs (no database, no Dagster),
and the offline encoder on the real recordings with ground truth in ../shared/media."""

from __future__ import annotations

import wave
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from media_helpers import shared_media

from vidmine.ask import NOT_SAID, as_citations, distinct_moments, extractive_answer, moments_prompt
from vidmine.models import SearchHit, TranscriptSegment, Word
from vidmine.speakers.diarize import (
    DiarizationSettings,
    SpeakerTurn,
    assign_speakers,
    centred,
    cluster_embeddings,
    diarize,
    estimate_speakers,
    frame_turns,
    mode_filter,
    more_speakers,
    padded_stretches,
    speaker_at,
    speech_stretches,
    talk_seconds,
    window_spans,
    word_segments,
)
from vidmine.speakers.encoder import mel_filters, mel_frames, shared_encoder
from vidmine.speakers.label import provider_speakers
from vidmine.transcript import subtitle_cues, to_srt, to_vtt


def seg(index, start, end, text, words=(), speaker=None) -> TranscriptSegment:
    return TranscriptSegment(index, start, end, text, "en", tuple(words), speaker)


# --- speech, windows, clusters -----------------------------------------------------------


def test_speech_is_the_words_joined_across_short_gaps() -> None:
    words = [Word("a", 0.0, 0.5), Word("b", 0.6, 1.0), Word("c", 2.0, 2.4)]
    assert speech_stretches([seg(0, 0, 2.4, "a b c", words)], join_gap_s=0.3) == [
        (0.0, 1.0),
        (2.0, 2.4),
    ]


def test_windows_cover_each_stretch_and_a_short_one_is_its_own_window() -> None:
    spans = window_spans([(0.0, 4.0), (5.0, 5.8), (7.0, 7.1)], hop_s=0.5, min_stretch_s=0.2)
    long = [s for s in spans if s[0] < 4.0]
    assert long[0] == (0.0, 1.6) and long[-1][1] == pytest.approx(4.0)
    assert all(b - a == pytest.approx(1.6) for a, b in long)
    assert (5.0, 5.8) in spans
    assert all(a >= 5.0 or b <= 4.0 for a, b in spans)  # nothing spans the silence
    assert not any(a >= 7.0 for a, _ in spans)  # 0.1 s is too short to embed


def test_stretches_widen_to_the_middle_of_a_short_silence_and_stay_in_the_recording() -> None:
    stretches = [(0.1, 2.0), (2.2, 4.0), (6.0, 7.9)]
    assert padded_stretches(stretches, 0.3, 8.0) == [
        (0.0, pytest.approx(2.1)),
        (pytest.approx(2.1), 4.3),
        (5.7, 8.0),
    ]
    assert padded_stretches([], 0.3, 8.0) == []


def test_two_separate_voices_are_counted_and_split() -> None:
    rng = np.random.default_rng(0)
    # Non-negative like the encoder's (ReLU) output: what all windows of a recording share
    # (the channel), plus each voice's own part, plus noise.
    shared, voice_a, voice_b = np.abs(rng.normal(size=(3, 256)))

    def windows(voice: np.ndarray, n: int) -> np.ndarray:
        noisy = np.clip(shared + 2 * voice + rng.normal(size=(n, 256)), 0, None)
        return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)

    raw = np.vstack([windows(voice_a, 12), windows(voice_b, 9)])
    labels, gap = cluster_embeddings(raw, DiarizationSettings())
    assert gap is not None and gap >= 1.5
    assert len(set(labels[:12])) == 1 and len(set(labels[12:])) == 1
    assert labels[0] != labels[12]
    # One voice: no split.
    assert estimate_speakers(windows(voice_a, 15), 8, 1.5)[0] == 1
    # A given count is used as given.
    forced, _ = cluster_embeddings(raw, DiarizationSettings(num_speakers=3))
    assert len(set(forced)) == 3


def test_two_callers_on_one_line_are_told_apart_once_the_line_is_centred_away() -> None:
    rng = np.random.default_rng(2)
    shared, line, far, caller_a, caller_b = np.abs(rng.normal(size=(5, 256)))

    def windows(*parts: np.ndarray, n: int) -> np.ndarray:
        noisy = np.clip(shared + sum(parts) + 0.7 * rng.normal(size=(n, 256)), 0, None)
        return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)

    # A voice recorded elsewhere, and two callers whose line weighs more than their voices.
    three = np.vstack(
        [
            windows(3 * far, n=12),
            windows(3 * line, caller_a, n=8),
            windows(3 * line, caller_b, n=10),
        ]
    )
    settings = DiarizationSettings()
    assert estimate_speakers(three, 8, 1.5)[0] == 2  # the raw eigengap counts the line once
    assert more_speakers(centred(three), 2, settings) == 3
    assert more_speakers(centred(three), 2, replace(settings, max_speakers=2)) == 2
    labels, _ = cluster_embeddings(three, DiarizationSettings())
    assert len(set(labels)) == 3
    assert [len(set(labels[a:b])) for a, b in ((0, 12), (12, 20), (20, 30))] == [1, 1, 1]
    two = np.vstack([windows(3 * far, n=12), windows(3 * line, caller_a, n=10)])
    assert more_speakers(centred(two), 2, settings) == 2
    # The two callers alone: from the raw count's 1 to 2; one caller stays 1.
    callers = np.vstack([windows(3 * line, caller_a, n=10), windows(3 * line, caller_b, n=10)])
    assert more_speakers(centred(callers), 1, settings) == 2
    assert more_speakers(centred(windows(3 * line, caller_a, n=20)), 1, settings) == 1


def test_a_flicker_shorter_than_a_turn_takes_its_neighbours_speaker() -> None:
    labels = np.array([0, 0, 0, 1, 0, 0, 1, 1, 1, 1, 0, 2, 2])
    assert mode_filter(labels, 3).tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 2, 2]
    assert mode_filter(np.array([0, 1, 2]), 3).tolist() == [0, 1, 2]  # no label twice: kept
    assert mode_filter(np.array([1, 0]), 3).tolist() == [1, 0]  # shorter than the filter


def test_frames_take_the_speaker_of_the_windows_covering_them() -> None:
    stretches = [(0.0, 4.0), (6.0, 6.3)]
    spans = window_spans(stretches, hop_s=0.8, min_stretch_s=0.2)
    # the first windows sound like speaker A, the last and the short stretch like B
    likeness = np.array([[1.0, 0.0] if end <= 2.5 else [0.0, 1.0] for _, end in spans])
    turns = frame_turns(stretches, spans, likeness, DiarizationSettings())
    assert [t.speaker for t in turns] == ["1", "2", "2"]  # 2 s of silence: two turns
    assert turns[0].start_s == 0.0 and turns[-1].end_s == pytest.approx(6.3, abs=0.05)
    assert 1.2 < turns[0].end_s < 2.6


def test_centred_embeddings_stay_unit_length() -> None:
    raw = np.abs(np.random.default_rng(1).normal(size=(5, 8)))
    assert np.allclose(np.linalg.norm(centred(raw), axis=1), 1.0)


def test_words_and_segments_take_the_speaker_who_talks_over_them() -> None:
    turns = [SpeakerTurn("1", 0.0, 2.0), SpeakerTurn("2", 2.0, 5.0)]
    words = [Word("hi", 0.2, 0.6), Word("there", 1.8, 2.6), Word("yes", 3.0, 3.5)]
    (labelled,) = assign_speakers([seg(0, 0.2, 3.5, "hi there yes", words)], turns)
    assert [w.speaker for w in labelled.words] == ["1", "2", "2"]
    assert labelled.speaker == "2"  # most of its words' time
    assert speaker_at(turns, 10.0, 11.0) == "2"  # no overlap: the nearest turn
    assert speaker_at([], 0, 1) is None
    assert talk_seconds(turns) == {"2": 3.0, "1": 2.0}


def test_speakers_a_provider_told_are_renumbered_by_first_appearance() -> None:
    told = provider_speakers(
        [
            seg(0, 0, 1, "a", [Word("a", 0, 1)], speaker="B"),
            seg(1, 1.2, 2, "b", [Word("b", 1.2, 2)], speaker="A"),
            seg(2, 2.1, 3, "c", speaker="B"),
        ]
    )
    assert told is not None and told.engine == "transcript"
    assert [s.speaker for s in told.segments] == ["1", "2", "1"]
    assert told.segments[0].words[0].speaker == "1"
    assert provider_speakers([seg(0, 0, 1, "a")]) is None


# --- subtitles ---------------------------------------------------------------------------


def labelled_segments() -> list[TranscriptSegment]:
    words = [
        Word("Hello", 0.0, 0.4, "1"),
        Word("there", 0.5, 0.9, "1"),
        Word("hi", 1.0, 1.3, "2"),
        Word("back.", 1.4, 1.8, "2"),
    ]
    return [seg(0, 0.0, 1.8, "Hello there hi back.", words, speaker="1")]


def test_a_cue_never_holds_two_speakers_and_vtt_names_the_voice() -> None:
    segments = labelled_segments()
    cues = subtitle_cues(segments)
    assert [c.speaker for c in cues] == ["1", "2"]
    vtt = to_vtt(segments, {"2": "Sheila <ops>"})
    assert "<v Speaker 1>Hello there" in vtt
    assert "<v Sheila &lt;ops&gt;>hi back." in vtt  # the name escaped inside the voice tag
    srt = to_srt(segments, {"1": "Diane"})
    assert "Diane: Hello there" in srt and "Speaker 2: hi back." in srt


def test_one_speaker_gets_no_labels() -> None:
    words = [Word("Hello", 0.0, 0.4, "1"), Word("there.", 0.5, 0.9, "1")]
    segments = [seg(0, 0.0, 0.9, "Hello there.", words, speaker="1")]
    assert "<v " not in to_vtt(segments) and "Speaker" not in to_srt(segments)


# --- ask ---------------------------------------------------------------------------------


def hit(text, start, video="v1", kind="segment") -> SearchHit:
    return SearchHit(video, f"{video}.mp4", start, start + 2, kind, text, 0.03, f"{video}_{start}")


def test_extractive_answer_cites_distinct_passages_and_says_so() -> None:
    hits = [
        hit("I'm **Sheila** in Texas", 14.4),
        hit("I'm Sheila in Texas", 14.4, kind="ocr"),  # the same words again
        hit("originally from Chicago", 15.0),  # overlaps the first moment
        hit("They call me a Yankee", 24.0),
        hit("a beep", 11.0),
        hit("hello", 6.0),
    ]
    answer = extractive_answer("Where is Sheila?", hits)
    assert answer.mode == "extractive" and "extractive" in answer.note
    assert [c.n for c in answer.citations] == [1, 2, 3]
    assert answer.answer.startswith("“I'm Sheila in Texas” [1]")
    assert "**" not in answer.answer
    assert len(distinct_moments(hits)) == 4


def test_no_moment_means_the_videos_dont_say() -> None:
    answer = extractive_answer("What is the capital of France?", [])
    assert answer.answer.startswith(NOT_SAID) and not answer.citations and not answer.supported


def test_the_prompt_numbers_the_moments_with_their_speaker() -> None:
    moments = as_citations([hit("Hello", 1.0)])
    moments = [type(moments[0])(**{**moments[0].__dict__, "speaker": "Diane"})]
    assert "[1] v1.mp4 at 1.0-3.0 s (said, Diane): Hello" in moments_prompt("Who?", moments)


# --- the encoder on real recordings --------------------------------------------------------


def test_mel_filters_match_librosa_shape_and_cover_the_band() -> None:
    filters = mel_filters()
    assert filters.shape == (40, 201)
    assert (filters.sum(axis=1) > 0).all()
    frames = mel_frames(np.zeros(16000, dtype=np.float32))
    assert frames.shape == (101, 40)  # centred frames every 10 ms


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as reader:
        data = reader.readframes(reader.getnframes())
    return np.frombuffer(data, dtype=np.int16).astype(np.float32) / 32768


def stm_words(path: Path) -> list[Word]:
    words = []
    for line in path.read_text().splitlines():
        fields = line.split()
        start, end, tokens = float(fields[3]), float(fields[4]), fields[5:]
        for i, token in enumerate(tokens):
            words.append(
                Word(
                    token,
                    start + (end - start) * i / len(tokens),
                    start + (end - start) * (i + 1) / len(tokens),
                    fields[2],  # the reference speaker, kept for scoring
                )
            )
    return sorted(words, key=lambda w: w.start_s)


def test_the_telephone_call_has_two_speakers_told_apart() -> None:
    wav = shared_media("diarization/sample.wav")
    words = stm_words(wav.with_suffix(".stm"))
    truth = [w.speaker for w in words]
    segments = [
        seg(
            0,
            words[0].start_s,
            words[-1].end_s,
            "",
            [Word(w.word, w.start_s, w.end_s) for w in words],
        )
    ]
    result = diarize(read_wav(wav), segments, shared_encoder())
    assert result.speakers == 2
    (labelled,) = assign_speakers(segments, result.turns)
    found = [w.speaker for w in labelled.words]
    # The best one-to-one mapping of found speakers to Diane and Sheila.
    pairs = {(t, f) for t, f in zip(truth, found, strict=True)}
    best = max(
        sum(1 for t, f in zip(truth, found, strict=True) if mapping.get(t) == f)
        for mapping in ({"Diane": "1", "Sheila": "2"}, {"Diane": "2", "Sheila": "1"})
    )
    assert pairs and best / len(words) >= 0.7  # measured 0.8+ (bench/speakers_quality.py)


def test_one_voice_is_one_speaker() -> None:
    import subprocess

    flac = shared_media("audio/jfk.flac")
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(flac), "-ac", "1", "-ar", "16000", "-f", "s16le", "-"],
        check=True,
        capture_output=True,
    ).stdout
    samples = np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768
    # Speech where the words are (from faster-whisper's own word times, rounded).
    words = [Word(f"w{i}", 0.3 + 0.45 * i, 0.3 + 0.45 * i + 0.4) for i in range(22)]
    result = diarize(samples, word_segments(words), shared_encoder())
    assert result.speakers == 1


# --- a diarizing OpenAI-compatible transcriber fills the same fields ------------------------


def test_a_diarizing_transcriber_fills_the_speakers(tmp_path: Path) -> None:
    from fake_openai import running_fake_openai
    from media_helpers import ffmpeg

    from vidmine.config import ProviderConfig
    from vidmine.providers.openai import OpenAITranscriber
    from vidmine.speakers.label import label_speakers

    wav = tmp_path / "call.wav"
    ffmpeg(
        "-f", "lavfi", "-i", "sine=frequency=300:duration=12", "-ar", "16000", "-ac", "1", str(wav)
    )
    with running_fake_openai(segment_s=3.0, transcript_text="a b c d e f g h") as fake:
        segments = OpenAITranscriber(
            provider="fake-diarize",
            model="gpt-4o-transcribe-diarize",
            config=ProviderConfig(base_url=fake.base_url, max_retries=0),
        ).transcribe(wav)
    # The fake's truth: "A" and "B" take turns of two segments.
    assert [s.speaker for s in segments] == ["0:A", "0:A", "0:B", "0:B"]
    labels = label_speakers(wav, segments)
    assert labels.engine == "transcript"
    assert [s.speaker for s in labels.segments] == ["1", "1", "2", "2"]
    assert labels.talk_s == {"1": pytest.approx(6.0), "2": pytest.approx(6.0)}


def test_missing_weights_say_how_to_get_them(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from vidmine.speakers import encoder

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "resemblyzer" else real(name, *a),
    )
    with pytest.raises(encoder.SpeakerModelMissing, match=r"resemblyzer==0\.1\.4"):
        encoder.weights_path()
