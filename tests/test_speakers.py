"""The speakers stage and Ask on real recordings, through the real pipeline, ffmpeg,
Whisper and PostgreSQL: a conversation built from jfk.flac and a caller of sample.wav
(../shared/media), labelled, shown by the CLI, searched by speaker, exported, renamed;
questions answered offline, against the project's fake OpenAI-compatible server, and
skipped at once when that server's request slots are full."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fake_openai import FakeOpenAI, running_fake_openai
from media_helpers import ffmpeg, shared_media
from pipeline_helpers import ingest_ready
from typer.testing import CliRunner

from assets.tags import FORCE_TAG
from local_runtime.cli import app
from vidmine.ask import NOT_SAID, ask
from vidmine.config import ProviderConfig
from vidmine.db.speakers import load_speakers, load_turns, rename_speaker
from vidmine.providers.local import LocalEmbedder
from vidmine.providers.openai import OpenAITextGenerator

pytestmark = pytest.mark.slow  # Whisper and the speaker encoder on a real recording
runner = CliRunner()


def build_conversation(folder: Path) -> Path:
    """jfk.flac, Sheila (sample.wav 21.9-27.8 s, where she alone speaks), jfk.flac again:
    two real voices, turns known, 0.5 s of silence between them."""
    jfk = shared_media("audio/jfk.flac")
    call = shared_media("diarization/sample.wav")
    out = folder / "two voices.wav"
    ffmpeg(
        "-i", str(jfk), "-i", str(call),
        "-filter_complex",
        "[0:a]aformat=sample_rates=16000:channel_layouts=mono,loudnorm=I=-20,apad=pad_dur=0.5[a];"
        "[1:a]atrim=21.9:27.8,asetpts=N/SR/TB,aformat=sample_rates=16000:channel_layouts=mono,"
        "loudnorm=I=-20,apad=pad_dur=0.5[b];"
        "[0:a]aformat=sample_rates=16000:channel_layouts=mono,loudnorm=I=-20[c];"
        "[a][b][c]concat=n=3:v=0:a=1[out]",
        "-map", "[out]", "-ar", "16000", "-ac", "1", str(out),
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def env(pipeline_env: dict) -> dict:
    return pipeline_env


@pytest.fixture(scope="module")
def talk(env: dict, tmp_path_factory) -> str:
    path = build_conversation(tmp_path_factory.mktemp("speakers"))
    outcome = ingest_ready(env, path, "fast_audio_only")
    stages = {s.stage: s for s in outcome.stages}
    assert stages["speakers"].status == "succeeded", stages["speakers"].error
    return outcome.video_id


def jfk_and_sheila(env: dict, talk: str) -> tuple[set[str], set[str]]:
    """The speakers of the segments in the two jfk parts and in Sheila's part."""
    segments = env["store"].load_transcript(talk)
    # jfk.flac is 11 s, then 0.5 s of silence, Sheila's 5.9 s, 0.5 s, jfk.flac again
    mid = {s.index: (s.start_s + s.end_s) / 2 for s in segments}
    sheila = {s.speaker for s in segments if 11.0 < mid[s.index] < 17.5}
    jfk = {s.speaker for s in segments if not 11.0 < mid[s.index] < 17.5}
    return jfk, sheila


def test_two_voices_are_two_speakers_and_every_word_has_one(env: dict, talk: str) -> None:
    store = env["store"]
    speakers = load_speakers(store, talk)
    assert 2 <= len(speakers) <= 3
    assert sum(s.talk_s for s in speakers) > 15  # about 22 s of speech
    segments = store.load_transcript(talk)
    assert segments and all(s.speaker for s in segments)
    assert all(w.speaker for s in segments for w in s.words)
    jfk, sheila = jfk_and_sheila(env, talk)
    assert jfk and sheila and not jfk & sheila, (jfk, sheila)
    turns = load_turns(store, talk)
    assert len(turns) >= 3 and all(t.end_s > t.start_s for t in turns)


def test_subtitles_name_the_voices(env: dict, talk: str) -> None:
    folder = Path(env["home"]) / "media" / talk
    vtt = (folder / "transcript.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "<v Speaker 1>" in vtt and "<v Speaker 2>" in vtt
    assert "Speaker 2: " in (folder / "transcript.srt").read_text()


def test_status_json_lists_speakers_with_talk_time(env: dict, talk: str) -> None:
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    (video,) = [v for v in json.loads(result.stdout)["videos"] if v["video_id"] == talk]
    assert video["stages"]["speakers"] == "succeeded"
    assert {"speaker", "name", "talk_s", "turns"} <= set(video["speakers"][0])
    assert video["speakers"][0]["talk_s"] >= video["speakers"][-1]["talk_s"] > 0


def test_search_hits_carry_the_speaker_and_filter_by_it(env: dict, talk: str) -> None:
    result = runner.invoke(app, ["search", "country", "--json", "--video", talk])
    hits = json.loads(result.stdout)["hits"]
    speech = [h for h in hits if h["kind"] == "segment"]
    assert speech and all(h["speaker"].startswith("Speaker ") for h in speech)
    jfk_speaker = speech[0]["speaker"]
    only = runner.invoke(app, ["search", "country", "--json", "--speaker", jfk_speaker])
    assert {h["speaker"] for h in json.loads(only.stdout)["hits"]} == {jfk_speaker}
    other = next(s.name for s in load_speakers(env["store"], talk) if s.name != jfk_speaker)
    theirs = json.loads(
        runner.invoke(app, ["search", "country", "--json", "--speaker", other]).stdout
    )
    assert all(h["speaker"] == other for h in theirs["hits"])


def test_a_name_is_kept_everywhere_and_survives_running_the_stage_again(
    env: dict, talk: str, tmp_path: Path
) -> None:
    from pipeline_defs.definitions import defs

    store = env["store"]
    jfk, _ = jfk_and_sheila(env, talk)
    key = sorted(jfk)[0]
    assert rename_speaker(store, talk, key, "  John   Kennedy ").name == "John Kennedy"
    with pytest.raises(KeyError):
        rename_speaker(store, talk, "99", "Nobody")
    result = defs.resolve_job_def("label_speakers").execute_in_process(
        instance=env["instance"], partition_key=talk, tags={FORCE_TAG: "true"}
    )
    assert result.success
    names = {s.speaker: s.name for s in load_speakers(store, talk)}
    assert names[key] == "John Kennedy"
    vtt = (Path(env["home"]) / "media" / talk / "transcript.vtt").read_text()
    assert "<v John Kennedy>" in vtt
    hits = json.loads(
        runner.invoke(app, ["search", "country", "--json", "--speaker", "john kennedy"]).stdout
    )["hits"]
    assert hits and {h["speaker"] for h in hits} == {"John Kennedy"}
    out = tmp_path / "export"
    assert runner.invoke(app, ["export", talk, "--out", str(out)]).exit_code == 0
    segments = pd.read_csv(out / talk / f"{talk}_segments.csv")
    words = pd.read_csv(out / talk / f"{talk}_words.csv")
    assert "John Kennedy" in set(segments["speaker"]) and segments["speaker"].notna().all()
    assert "John Kennedy" in set(words["speaker"])
    rename_speaker(store, talk, key, "")  # back to "Speaker N" for the other tests
    assert {s.name for s in load_speakers(store, talk)} >= {f"Speaker {key}"}


# --- ask -------------------------------------------------------------------------------------


def test_ask_offline_is_extractive_and_cites_the_moment(env: dict, talk: str) -> None:
    answer = ask(env["store"], LocalEmbedder(), "What can you do for your country?")
    assert answer.mode == "extractive" and "extractive" in answer.note
    assert answer.citations and answer.citations[0].video_id == talk
    first = answer.citations[0]
    assert not 11.0 < (first.start_s + first.end_s) / 2 < 17.5  # jfk's words, not Sheila's
    assert "[1]" in answer.answer and first.speaker


def test_ask_cli_json(env: dict, talk: str) -> None:
    result = runner.invoke(app, ["ask", "what do they call her down there", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["mode"] == "extractive" and payload["citations"]
    assert {"n", "video_id", "start_s", "end_s", "text", "speaker"} <= set(payload["citations"][0])


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with running_fake_openai(latency_ms=300) as server:
        yield server


def generator(fake: FakeOpenAI, env: dict, **settings) -> OpenAITextGenerator:
    config = ProviderConfig(base_url=fake.base_url, max_retries=0, timeout_s=10, **settings)
    return OpenAITextGenerator(
        provider="fake-ask", model="gpt-4o-mini", config=config, slots_database_url=env["url"]
    )


def test_ask_with_a_provider_writes_from_the_cited_moments_only(
    env: dict, talk: str, fake: FakeOpenAI
) -> None:
    before = fake.stats()["requests"]
    answer = ask(
        env["store"], LocalEmbedder(), "What should you ask?", generator=generator(fake, env)
    )
    assert fake.stats()["requests"] == before + 1
    assert answer.mode == "written" and answer.provider == "fake-ask"
    numbers = {c.n for c in answer.moments}
    if answer.supported:  # the fake's boolean is a hash of the prompt
        assert answer.citations and {c.n for c in answer.citations} <= numbers
        assert all(f"[{c.n}]" in answer.answer for c in answer.citations)
    else:
        assert answer.answer == NOT_SAID and not answer.citations


def test_ask_skips_the_written_answer_at_once_when_the_slots_are_full(
    env: dict, talk: str, fake: FakeOpenAI
) -> None:
    busy = generator(fake, env, max_concurrent=1)
    fake.configure(latency_ms=3000)
    holder = threading.Thread(
        target=lambda: ask(env["store"], LocalEmbedder(), "Ask not what your country can do for you",
                           generator=busy),
    )  # fmt: skip
    try:
        holder.start()
        deadline = threading.Event()
        for _ in range(100):  # until the holder's request is at the server
            if fake.stats()["in_flight"] >= 1:
                break
            deadline.wait(0.05)
        # (the holder's question matches the library: a question nothing matches is
        # answered without asking the provider, and would hold no slot)
        assert fake.stats()["in_flight"] >= 1, "the holder's request never reached the server"
        answer = ask(
            env["store"], LocalEmbedder(), "What can you do for your country?", generator=busy
        )
    finally:
        holder.join()
        fake.configure(latency_ms=300)
    assert answer.busy and answer.mode == "extractive"
    assert "busy" in answer.note and answer.citations
    assert answer.seconds < 2.5  # answered without waiting for the 3 s request
