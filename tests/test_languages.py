"""Every language, offline (issue #11): speech transcribed in the language spoken in each
stretch, stored with its language and words, searched in its language, subtitled.

The two-language recording is made at test time: jfk.flac from ../shared/media, a pause,
then a German sentence spoken by espeak-ng."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from media_helpers import english_then_german
from typer.testing import CliRunner

from local_runtime.cli import app
from vidmine.config import parse_config
from vidmine.db.models import SearchItem
from vidmine.db.store import Store
from vidmine.indexing import search_texts
from vidmine.languages import guess_text_language, ocr_languages, speech_seconds, ts_config
from vidmine.models import OcrText, TranscriptSegment, Word
from vidmine.providers import local, whisper_models
from vidmine.providers.base import MemoryRecorder, ProviderError
from vidmine.providers.language_runs import (
    DetectionWindow,
    LanguageGuess,
    SpeechRegion,
    detection_windows,
    language_clips,
    smooth_languages,
)
from vidmine.providers.registry import transcriber_for
from vidmine.search import search
from vidmine.transcript import subtitle_cues, to_srt, to_vtt

JFK = "and so my fellow americans ask not what your country can do for you ask what you can do for your country"


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-zäöüß ]", " ", text.lower()).split())


# --- planning the language runs (pure) -----------------------------------------------------


def test_regions_join_into_windows_at_short_pauses_only():
    regions = [SpeechRegion(0, 2), SpeechRegion(2.5, 5), SpeechRegion(7, 9), SpeechRegion(9.2, 40)]
    windows = detection_windows(regions)
    assert [w.regions for w in windows] == [(0, 1), (2,), (3,)]  # 2 s pause; 30 s window cap
    assert (windows[0].start_s, windows[0].end_s) == (0, 5)


def test_an_unsure_short_window_takes_its_nearest_sure_neighbours_language():
    windows = [
        DetectionWindow(0, 10, (0,)),
        DetectionWindow(10.5, 11, (1,)),
        DetectionWindow(14, 20, (2,)),
    ]
    guesses = [LanguageGuess("en", 0.99), LanguageGuess("nn", 0.3), LanguageGuess("de", 0.95)]
    assert smooth_languages(windows, guesses) == ["en", "en", "de"]
    unsure = [LanguageGuess("en", 0.4), LanguageGuess("de", 0.2), LanguageGuess("de", 0.3)]
    assert smooth_languages(windows, unsure) == ["en"] * 3  # most seconds x probability


def test_clips_never_span_two_languages_nor_30_seconds():
    regions = [SpeechRegion(0, 5), SpeechRegion(6, 10), SpeechRegion(12, 20), SpeechRegion(21, 45)]
    clips = language_clips(regions, ["en", "en", "de", "de"])
    assert clips == [("en", 0, 10), ("de", 12, 20), ("de", 21, 45)]


# --- languages, OCR packs, subtitles (pure) ------------------------------------------------


def test_language_helpers():
    assert (
        ts_config("de") == "german" and ts_config("ja") == "simple" and ts_config(None) == "simple"
    )
    segments = [
        TranscriptSegment(0, 0, 3, "a", "de"),
        TranscriptSegment(1, 3, 10, "b", "en"),
        TranscriptSegment(2, 10, 12, "c", "de"),
        TranscriptSegment(3, 12, 13, "d"),
    ]
    assert speech_seconds(segments) == {"en": 7, "de": 5}
    assert ocr_languages(["de", "ja", "fr"], frozenset({"eng", "deu"})) == ["eng", "deu"]
    assert guess_text_language("Der Weg und die Stadt", ["en", "de"]) == "de"
    assert guess_text_language("QUARTERLY RESULTS", ["en", "de"]) is None


def test_subtitles_end_at_sentences_and_keep_two_lines_and_seven_seconds():
    words = tuple(
        Word(f"word{i}" + ("." if i == 3 else ""), i * 0.5, i * 0.5 + 0.4) for i in range(40)
    )
    segment = TranscriptSegment(0, 0.0, 20.0, " ".join(w.word for w in words), "en", words)
    cues = subtitle_cues([segment])
    assert cues[0].lines == ("word0 word1 word2 word3.",)  # the sentence end closes a cue
    for cue in cues:
        assert len(cue.lines) <= 2 and all(len(line) <= 42 for line in cue.lines)
        assert cue.end_s - cue.start_s <= 7.0
    assert " ".join(" ".join(c.lines) for c in cues) == segment.text  # no word lost
    vtt = to_vtt([segment])
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.900\nword0 word1 word2 word3.\n")
    assert to_srt([segment]).startswith("1\n00:00:00,000 --> 00:00:01,900\n")
    # Without word times the words share the segment's time.
    (cue,) = subtitle_cues([TranscriptSegment(0, 1.0, 3.0, "Hello there.")])
    assert (cue.start_s, cue.end_s, cue.lines) == (1.0, 3.0, ("Hello there.",))


def test_a_configured_language_is_checked_and_normalized(tmp_path):
    config = parse_config({"stages": {"transcribe": {"language": "German"}}}, tmp_path / "v.yaml")
    transcriber = transcriber_for(config, None, MemoryRecorder())
    assert (transcriber.model, transcriber.language) == ("base", "de")
    with pytest.raises(ValueError, match=r"stages\.transcribe.*language: 'klingon'"):
        parse_config({"stages": {"transcribe": {"language": "klingon"}}}, tmp_path / "v.yaml")
    with pytest.raises(ValueError, match=r"stages\.embed\.language"):
        parse_config({"stages": {"embed": {"language": "de"}}}, tmp_path / "v.yaml")
    with pytest.raises(ProviderError, match="English only"):
        local.LocalTranscriber(model="tiny.en", language="de")


# --- the Whisper base cache ----------------------------------------------------------------


def test_whisper_base_is_assembled_checked_and_rebuilt_when_damaged(tmp_path, monkeypatch):
    monkeypatch.setattr(whisper_models, "_cache_roots", lambda: [tmp_path / "models"])
    folder = whisper_models.base_model_dir()
    weights = folder / "model.bin"
    assert weights.stat().st_size == whisper_models.BASE_MODEL_BYTES
    assert {p.name for p in folder.iterdir()} >= {"config.json", "tokenizer.json", "vocabulary.txt"}
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    with weights.open("r+b") as handle:  # damage it: same size, one byte changed
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    assert not whisper_models.is_verified(folder)  # the mtime moved: hashed again, wrong
    assert whisper_models.base_model_dir() == folder
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert digest == whisper_models.BASE_MODEL_SHA256
    weights.write_bytes(b"truncated")
    assert whisper_models.base_model_dir() == folder and whisper_models.is_verified(folder)


# --- storage and search in each language (real PostgreSQL) --------------------------------


def _two_language_rows(store: Store) -> None:
    store.register_video("v", file_name="v.mp4", source_path="/v.mp4", sha256="0", size_bytes=1)
    words = (Word("Die", 20.0, 20.2), Word("neuen", 20.2, 20.6), Word("Häuser", 20.6, 21.1),
             Word("am", 21.1, 21.3), Word("Rhein.", 21.3, 22.0))  # fmt: skip
    segments = [
        TranscriptSegment(0, 0.0, 8.0, "We talked about houses by the river.", "en"),
        TranscriptSegment(1, 20.0, 22.0, "Die neuen Häuser am Rhein.", "de", words),
    ]
    store.replace_transcript("v", segments)
    ocr = [OcrText(0, 30.0, 32.0, "Öffnungszeiten der Häuser", 90.0, language="de")]
    store.replace_ocr_texts("v", ocr)
    texts = search_texts("v", store.load_transcript("v"), store.load_ocr_texts("v"), [], [], [])
    items = [
        SearchItem(t.item_id, t.kind, t.source_id, t.start_s, t.end_s, t.text, None, t.language)
        for t in texts
    ]
    store.replace_search_items("v", items, "none", 3)


def test_segments_keep_language_and_words_and_the_video_its_languages(store: Store):
    _two_language_rows(store)
    loaded = store.load_transcript("v")
    assert [s.language for s in loaded] == ["en", "de"]
    assert loaded[1].words[2] == Word("Häuser", 20.6, 21.1)
    assert store.video_languages("v") == ["en", "de"]  # 8 s of English, 2 s of German
    assert store.get_video("v").languages == ["en", "de"]
    assert store.load_ocr_texts("v")[0].language == "de"


def test_german_query_is_stemmed_as_german_and_hits_span_the_matched_words(store: Store):
    _two_language_rows(store)
    hits = search(store, "Haus", None, model="none", dim=3, mode="text")
    # "Haus" finds "Häuser" only through the German stemmer (English and simple keep "häuser").
    by_id = {h.item_id: h for h in hits}
    assert set(by_id) == {"v_segment_001", "v_ocr_000"}
    spoken = by_id["v_segment_001"]
    assert (spoken.start_s, spoken.end_s) == (20.6, 21.1)  # the word, not the segment
    assert "**Häuser**" in spoken.snippet
    english = search(store, "houses", None, model="none", dim=3, mode="text")
    assert [h.item_id for h in english] == ["v_segment_000"]
    assert (english[0].start_s, english[0].end_s) == (0.0, 8.0)  # no word times: the segment
    with store.connection() as conn:
        configs = dict(conn.execute("SELECT item_id, ts_config FROM search_items").fetchall())
    assert configs == {"v_segment_000": "english", "v_segment_001": "german", "v_ocr_000": "german"}


# --- real speech: English then German -------------------------------------------------------


@pytest.fixture(scope="module")
def mixed_speech(tmp_path_factory) -> tuple[Path, float]:
    return english_then_german(tmp_path_factory.mktemp("speech"))


def test_each_part_is_transcribed_in_its_own_language(mixed_speech):
    wav, german_start = mixed_speech
    segments = local.LocalTranscriber(MemoryRecorder()).transcribe(wav)
    # Whisper's segment may start a little before the German does (in the pause).
    english = [s for s in segments if (s.start_s + s.end_s) / 2 < german_start]
    german = [s for s in segments if (s.start_s + s.end_s) / 2 >= german_start]
    assert {s.language for s in english} == {"en"} and {s.language for s in german} == {"de"}
    assert _words(" ".join(s.text for s in english)) == JFK  # word-exact, as with tiny.en
    german_text = _words(" ".join(s.text for s in german))
    assert "bürgermeister" in german_text and "fahrradweg" in german_text, german_text
    for segment in segments:
        assert segment.words and segment.words[0].start_s >= segment.start_s - 0.5
        assert all(w.start_s <= w.end_s for w in segment.words)
    assert [s.index for s in segments] == list(range(len(segments)))


def test_a_configured_language_forces_one(mixed_speech):
    wav, _ = mixed_speech
    segments = local.LocalTranscriber(language="en").transcribe(wav)
    assert {s.language for s in segments} == {"en"}


@pytest.mark.slow
def test_two_language_recording_through_the_pipeline(pipeline_env, mixed_speech):
    wav, german_start = mixed_speech
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", str(wav), "--profile", "fast_audio_only", "--json"])
    assert result.exit_code == 0, result.output
    (video,) = json.loads(result.output)["videos"]
    status = json.loads(runner.invoke(app, ["status", "--json"]).output)
    (row,) = [v for v in status["videos"] if v["video_id"] == video["video_id"]]
    assert row["languages"] == ["en", "de"]  # most spoken first

    def first_hit(query: str) -> dict:
        out = runner.invoke(app, ["search", query, "--video", video["video_id"], "--json"])
        assert out.exit_code == 0, out.output
        return json.loads(out.output)["hits"][0]

    german = first_hit("Bürgermeister zufrieden")
    assert german["kind"] == "segment"
    assert german_start - 0.5 <= german["start_s"] < german["end_s"] <= german_start + 10
    assert german["end_s"] - german["start_s"] < 3  # the matched words, not the sentence
    english = first_hit("ask not what your country can do for you")
    assert 0 <= english["start_s"] < english["end_s"] <= german_start
    folder = pipeline_env["home"] / "media" / video["video_id"]
    vtt = (folder / "transcript.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "Bürgermeister" in vtt
    assert "Bürgermeister" in (folder / "transcript.srt").read_text()


def test_speech_after_a_windows_last_heard_word_is_decoded_again():
    """Whisper may end a window early (its end-of-text after the first speaker): the
    speech the voice activity holds after the last heard segment is a clip of its own."""
    from vidmine.providers.language_runs import SpeechRegion, unheard_tails

    regions = [SpeechRegion(0.0, 10.5), SpeechRegion(11.0, 17.0), SpeechRegion(17.5, 28.8)]
    clips = [("en", 0.0, 28.8)]
    stopped_early = [(0.0, 5.0), (5.2, 10.4), (11.1, 16.9)]
    assert unheard_tails(clips, stopped_early, regions) == [("en", 17.5, 28.8)]
    heard_all = [*stopped_early, (17.6, 28.6)]
    assert unheard_tails(clips, heard_all, regions) == []
    # a word's own tail (within 0.2 s) or under a second of speech is not decoded again
    assert unheard_tails(clips, [(0.0, 28.0)], [SpeechRegion(0.0, 28.8)]) == []
    # a window where nothing was heard (music taken for speech) is not decoded again
    assert unheard_tails([("de", 40.0, 45.0)], [], [SpeechRegion(40.2, 44.0)]) == []


def test_a_looped_decode_is_found_per_segment_and_cut_into_shorter_clips():
    from vidmine.providers.language_runs import (
        SpeechRegion,
        compression_ratio,
        looped_clips,
        shorter_clips,
    )

    sentence = "And so my fellow Americans ask not what your country can do for you."
    assert compression_ratio(sentence) < 1.5
    clips = [("en", 0.0, 29.9), ("en", 29.9, 59.7)]
    # One segment holding the sentence ten times: a loop. Three segments of it, each
    # said once (a speaker who repeats himself): not one.
    heard = [(0.0, 29.9, " ".join([sentence] * 10))]
    heard += [(30.0 + 9 * i, 38.0 + 9 * i, sentence) for i in range(3)]
    assert looped_clips(clips, heard) == [clips[0]]
    pieces = shorter_clips([clips[0]], [SpeechRegion(0.5, 12.0), SpeechRegion(13.0, 29.0)])
    assert pieces == [("en", 0.5, 6.25), ("en", 6.25, 12.0), ("en", 13.0, 21.0), ("en", 21.0, 29.0)]
    assert all(end - start <= 10.0 for _, start, end in pieces)
    assert shorter_clips([("de", 0.0, 25.0)], []) == [
        ("de", 0.0, 25.0 / 3), ("de", 25.0 / 3, 50.0 / 3), ("de", 50.0 / 3, 25.0)
    ]  # fmt: skip


def test_jfk_looped_for_thirty_seconds_is_heard_once_per_time_it_is_said(tmp_path):
    """jfk.flac played back to back for 30 s: the batched decode of that window repeated
    its sentence ten times (208 words where about 60 were said); the looped window is
    decoded again in shorter pieces."""
    from media_helpers import ffmpeg, shared_media

    from vidmine.providers.language_runs import LOOP_COMPRESSION_RATIO, compression_ratio

    wav = tmp_path / "jfk_looped.wav"
    ffmpeg("-stream_loop", "-1", "-i", str(shared_media("audio/jfk.flac")), "-t", "30",
           "-ac", "1", "-ar", "16000", str(wav))  # fmt: skip
    segments = local.LocalTranscriber(language="en").transcribe(wav)
    words = sum(len(s.text.split()) for s in segments)
    said = 30 / 11.0 * 22  # jfk.flac: 22 words in 11 s
    assert 0.7 * said <= words <= 1.25 * said, [s.text for s in segments]
    assert all(compression_ratio(s.text) <= LOOP_COMPRESSION_RATIO for s in segments)
