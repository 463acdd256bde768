"""Per-video written content: schemas, prompt digest, extractive writer, validation, batch generation.

Pure and fast: contexts are built by hand, and the language model is a small in-test
object implementing vidmine's own ``TextGenerator`` protocol.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import random
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from vidmine.content import (
    CONTENT_KINDS,
    CONTENT_TYPES,
    ContentValidationError,
    VideoContext,
    build_prompt,
    build_video_context,
    chapter_boundaries,
    content_markdown,
    extractive_contents,
    format_timestamp,
    generate_content,
    keyframe_times,
    validate_content,
)
from vidmine.content.kinds.x_post import X_POST_MAX_CHARS
from vidmine.models import FrameCaption, Keyframe, OcrText, Scene, TranscriptSegment
from vidmine.providers.base import GenerationRequest, GenerationResult

SPEECH = [
    (1.0, 6.0, "Welcome to this tutorial about baking sourdough bread at home."),
    (6.5, 12.0, "First we feed the sourdough starter with flour and water."),
    (12.5, 20.0, "The starter needs about eight hours to become active and bubbly."),
    (25.0, 33.0, "Next, mix the flour, water and salt into a shaggy dough."),
    (33.5, 41.0, "Stretch and fold the dough every thirty minutes for two hours."),
    (48.0, 55.0, "Shape the loaf and let it proof overnight in the fridge."),
    (56.0, 63.0, "Bake the sourdough bread in a hot dutch oven for forty minutes."),
    (64.0, 70.0, "Let it cool before slicing. Thanks for watching!"),
]
SCENES = [(0.0, 22.0), (22.0, 24.0), (24.0, 47.0), (47.0, 72.0)]
DURATION = 72.0


def _segments() -> list[TranscriptSegment]:
    return [TranscriptSegment(i, s, e, t) for i, (s, e, t) in enumerate(SPEECH)]


def _scenes(spans: list[tuple[float, float]] = SCENES, fps: int = 30) -> list[Scene]:
    return [Scene(i, s, e, int(s * fps), int(e * fps)) for i, (s, e) in enumerate(spans)]


def _ocr() -> list[OcrText]:
    return [
        OcrText(0, 2.0, 8.0, "SOURDOUGH 101", 91.0),
        OcrText(1, 26.0, 30.0, "Flour 500g  Water 350g\nSalt 10g", 85.0),
    ]


def _keyframes() -> list[Keyframe]:
    times = [5.0, 23.0, 35.0, 60.0]
    return [
        Keyframe(i, i, t, Path(f"/kf/{i}.jpg"), "0" * 16, 640, 360) for i, t in enumerate(times)
    ]


def _captions() -> list[FrameCaption]:
    return [
        FrameCaption(
            0, "A jar of bubbly starter on a kitchen counter", ["jar"], "", "m", "m", False
        ),
        FrameCaption(2, "Hands folding dough in a glass bowl", [], "", "m", "m", False),
        FrameCaption(3, "dark frame, 1 face", [], "", "local", "descriptor", True),
        FrameCaption(9, "a frame with no keyframe", [], "", "m", "m", False),
    ]


def full_context() -> VideoContext:
    return build_video_context(
        video_id="bread_ab12",
        file_name="sourdough_basics-final.mp4",
        duration_s=DURATION,
        segments=_segments(),
        scenes=_scenes(),
        ocr_texts=_ocr(),
        captions=_captions(),
        frame_times=keyframe_times(_keyframes()),
    )


def silent_context() -> VideoContext:
    return build_video_context(
        video_id="slides_cd34",
        file_name="slides.mov",
        duration_s=DURATION,
        scenes=_scenes(),
        ocr_texts=_ocr(),
        captions=_captions(),
        frame_times=keyframe_times(_keyframes()),
    )


def audio_only_context() -> VideoContext:
    return build_video_context(
        video_id="pod_ef56", file_name="podcast.m4a", duration_s=DURATION, segments=_segments()
    )


def empty_context(duration_s: float = 5.0) -> VideoContext:
    return build_video_context(video_id="img_0001", file_name="IMG_0001.MP4", duration_s=duration_s)


CONTEXTS = {
    "full": full_context,
    "silent": silent_context,
    "audio_only": audio_only_context,
    "empty": empty_context,
    "empty_zero_length": lambda: empty_context(0.0),
}


# --- schemas ---------------------------------------------------------------------------

UNSUPPORTED_IN_STRICT_MODE = {
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "default",
}


def _walk(schema: dict[str, Any], where: str) -> None:
    assert not UNSUPPORTED_IN_STRICT_MODE & set(schema), where
    if schema.get("type") == "object":
        assert schema["additionalProperties"] is False, where
        assert schema["required"] == list(schema["properties"]), where
        for name, sub in schema["properties"].items():
            _walk(sub, f"{where}.{name}")
    if schema.get("type") == "array":
        _walk(schema["items"], f"{where}[]")


def test_content_types_in_order_with_strict_mode_schemas() -> None:
    assert CONTENT_TYPES == (
        "title_set",
        "description",
        "chapters",
        "tags",
        "linkedin_post",
        "x_post",
        "x_thread",
        "article_brief",
        "newsletter_summary",
        "short_clip_plan",
    )
    for name, spec in CONTENT_KINDS.items():
        Draft202012Validator.check_schema(spec.schema)
        assert spec.schema["type"] == "object"
        _walk(spec.schema, name)
        assert spec.system_prompt and spec.description and spec.label


def test_a_kind_version_follows_its_prompt_and_schema() -> None:
    versions = {name: kind.version for name, kind in CONTENT_KINDS.items()}
    assert len(set(versions.values())) == len(versions)  # one per kind
    assert all(len(v) == 12 and int(v, 16) >= 0 for v in versions.values())
    chapters = CONTENT_KINDS["chapters"]
    assert dataclasses.replace(chapters).version == chapters.version  # stable for the same kind
    reworded = dataclasses.replace(chapters, task=chapters.task + " Be brief.")
    reshaped = dataclasses.replace(chapters, schema={**chapters.schema, "description": "x"})
    revised = dataclasses.replace(chapters, revision=chapters.revision + 1)
    others = {reworded.version, reshaped.version, revised.version}
    assert len(others) == 3 and chapters.version not in others


# --- context and prompt ----------------------------------------------------------------


def test_context_places_captions_through_keyframes_and_clamps_times() -> None:
    ctx = build_video_context(
        video_id="v",
        file_name="a.mp4",
        duration_s=30.0,
        segments=[TranscriptSegment(0, 28.0, 31.5, "  the end  ")],
        captions=_captions(),
        frame_times=keyframe_times(_keyframes()),
    )
    assert [(c.frame_index, c.timestamp_s) for c in ctx.captions] == [
        (0, 5.0),
        (2, 30.0),
        (3, 30.0),
    ]
    assert ctx.segments[0].end_s == 30.0 and ctx.segments[0].text == "the end"
    # An unknown duration comes from the latest fact.
    assert (
        build_video_context(
            video_id="v", file_name="", duration_s=0, segments=_segments()
        ).duration_s
        == 70.0
    )


def test_prompt_is_a_timestamped_digest_with_rules() -> None:
    prompt = build_prompt(full_context(), "chapters")
    assert "Duration: 72.0 s" in prompt
    assert "[scene 2 24.0-47.0s]" in prompt
    assert "[1.0-6.0s] speech: Welcome to this tutorial" in prompt
    assert "[26.0-30.0s] on screen: Flour 500g Water 350g Salt 10g" in prompt
    assert "[35.0s] frame: Hands folding dough" in prompt
    assert "frame descriptor (no vision model)" in prompt
    assert "within 0..72.0" in prompt
    assert "0.0, 1.0, 6.5, 12.5, 22.0, 24.0, 25.0, 33.5, 47.0, 48.0, 56.0, 64.0" in prompt
    assert "start_s < end_s <= 72.0" in build_prompt(full_context(), "short_clip_plan")


def test_prompt_budget_samples_the_whole_video_evenly() -> None:
    segments = [
        TranscriptSegment(i, i * 10.0, i * 10.0 + 8.0, f"sentence number {i} " + "word " * 20)
        for i in range(300)
    ]
    ctx = build_video_context(
        video_id="v", file_name="long.mp4", duration_s=3000.0, segments=segments
    )
    full = build_prompt(ctx, "description", max_chars=10**6)
    short = build_prompt(ctx, "description", max_chars=4000)
    assert len(short) < 4800 < len(full)
    assert "sampled:" in short
    assert "sentence number 0 " in short and "sentence number 299 " in short
    kept = [
        int(line.split("sentence number ")[1].split()[0])
        for line in short.splitlines()
        if "speech:" in line
    ]
    gaps = [b - a for a, b in itertools.pairwise(kept)]
    assert max(gaps) <= 2 * min(gaps) + 1  # even spread, not a cut tail


# --- extractive content ----------------------------------------------------------------


def _check_body(content_type: str, body: dict[str, Any], ctx: VideoContext) -> None:
    duration = ctx.duration_s
    if content_type == "chapters":
        starts = [c["start_s"] for c in body["chapters"]]
        assert starts[0] == 0.0
        assert starts == sorted(set(starts))
        assert set(starts) <= set(chapter_boundaries(ctx))
        assert all(0 <= s <= duration for s in starts)
        assert all(c["title"] for c in body["chapters"])
    elif content_type == "short_clip_plan":
        for clip in body["clips"]:
            assert 0 <= clip["start_s"] < clip["end_s"] <= duration
    elif content_type == "tags":
        assert len({t.casefold() for t in body["tags"]}) == len(body["tags"])
        assert all(t == t.strip().lower() and t for t in body["tags"])
    elif content_type == "x_post":
        assert 0 < len(body["post"]) <= X_POST_MAX_CHARS
    elif content_type == "x_thread":
        assert body["posts"] and all(0 < len(p) <= X_POST_MAX_CHARS for p in body["posts"])
    elif content_type == "title_set":
        assert 3 <= len(body["titles"]) <= 5


@pytest.mark.parametrize("name", list(CONTEXTS))
def test_extractive_content_is_valid_for_every_type(name: str) -> None:
    ctx = CONTEXTS[name]()
    bodies = extractive_contents(ctx)
    assert list(bodies) == list(CONTENT_TYPES)
    for content_type, body in bodies.items():
        # Already clean: validation changes nothing.
        assert validate_content(content_type, copy.deepcopy(body), ctx) == body, content_type
        _check_body(content_type, body, ctx)
        assert content_markdown(content_type, body).startswith("## ")


def test_extractive_is_deterministic_whatever_the_input_order() -> None:
    first = extractive_contents(full_context())
    assert extractive_contents(full_context()) == first
    shuffled = [_segments(), _scenes(), _ocr(), _captions()]
    for items in shuffled:
        random.Random(7).shuffle(items)
    ctx = build_video_context(
        video_id="bread_ab12",
        file_name="sourdough_basics-final.mp4",
        duration_s=DURATION,
        segments=shuffled[0],
        scenes=shuffled[1],
        ocr_texts=shuffled[2],
        captions=shuffled[3],
        frame_times=keyframe_times(_keyframes()),
    )
    assert extractive_contents(ctx) == first


def test_extractive_content_comes_from_the_video() -> None:
    bodies = extractive_contents(full_context())
    assert "sourdough" in bodies["tags"]["tags"]
    assert "sourdough bread" in bodies["tags"]["tags"]  # a phrase said twice
    assert not {"the", "and", "500g"} & set(bodies["tags"]["tags"])
    chapters = bodies["chapters"]["chapters"]
    assert chapters[0]["title"].startswith("Welcome to this tutorial")
    assert len(chapters) >= 3
    # Chapters respect the minimum length, the last one included.
    ends = [c["start_s"] for c in chapters[1:]] + [DURATION]
    assert all(e - c["start_s"] >= 10 for c, e in zip(chapters, ends, strict=True))
    # The densest speech is chosen for clips and quoted as the hook.
    clips = bodies["short_clip_plan"]["clips"]
    assert clips and clips[0]["hook"].strip("“”") in {t for _, _, t in SPEECH}
    # A descriptor nobody looked through never becomes content.
    assert all("dark frame" not in str(body) for body in bodies.values())
    assert "Frame descriptions:" in bodies["description"]["description"]


def test_extractive_content_for_a_silent_video_uses_what_is_on_screen() -> None:
    bodies = extractive_contents(silent_context())
    description = bodies["description"]["description"]
    assert "no transcribed speech" in description
    assert "SOURDOUGH 101" in description
    seen = {o.text for o in silent_context().ocr_texts} | {c.caption for c in _captions()}
    assert set(bodies["title_set"]["titles"][:1]) <= seen
    assert bodies["short_clip_plan"]["clips"]
    assert "“" not in bodies["short_clip_plan"]["clips"][0]["reason"]


def test_extractive_content_for_an_empty_video_is_minimal_and_true() -> None:
    ctx = empty_context()
    bodies = extractive_contents(ctx)
    assert bodies["title_set"]["titles"][0] == "IMG 0001"
    assert (
        "no transcribed speech, on-screen text or frame descriptions"
        in (bodies["description"]["description"])
    )
    assert bodies["chapters"]["chapters"] == [{"start_s": 0.0, "title": "Part 1"}]
    assert bodies["short_clip_plan"]["clips"][0]["end_s"] == 5.0
    assert extractive_contents(empty_context(0.0))["short_clip_plan"]["clips"] == []


def test_many_short_scenes_merge_into_chapters() -> None:
    spans = [(i * 2.0, i * 2.0 + 2.0) for i in range(60)]  # a cut every 2 s for 2 minutes
    ctx = build_video_context(
        video_id="v", file_name="cuts.mp4", duration_s=120.0, scenes=_scenes(spans)
    )
    chapters = extractive_contents(ctx, ["chapters"])["chapters"]["chapters"]
    starts = [c["start_s"] for c in chapters] + [120.0]
    assert 3 <= len(chapters) <= 12
    assert all(b - a >= 10 for a, b in itertools.pairwise(starts))
    assert [c["title"] for c in chapters[:2]] == ["Part 1", "Part 2"]


# --- validation of model answers -------------------------------------------------------


def test_chapters_snap_to_boundaries_sort_and_start_at_zero() -> None:
    ctx = full_context()
    answer = {
        "chapters": [
            {"start_s": 47.4, "title": "  Shaping and baking "},
            {"start_s": 1.2, "title": "Intro"},
            {"start_s": 23.0, "title": "Mixing"},
            {"start_s": 24.5, "title": "Also mixing"},
        ]
    }
    checked = validate_content("chapters", answer, ctx)
    assert checked["chapters"] == [
        {"start_s": 0.0, "title": "Intro"},
        {"start_s": 22.0, "title": "Mixing"},
        {"start_s": 24.0, "title": "Also mixing"},
        {"start_s": 47.0, "title": "Shaping and baking"},
    ]
    assert answer["chapters"][0]["start_s"] == 47.4  # the input is not modified


@pytest.mark.parametrize(
    ("chapters", "message"),
    [
        ([{"start_s": 0, "title": "A"}, {"start_s": 44.0, "title": "B"}], "more than 2 s from any"),
        ([{"start_s": 0, "title": "A"}, {"start_s": 90.0, "title": "B"}], "outside the video"),
        (
            [{"start_s": 0, "title": "A"}, {"start_s": math.nan, "title": "B"}],
            "not a finite number",
        ),
        ([{"start_s": 0, "title": "   "}], "empty title"),
        ([], "no chapters"),
        (
            [{"start_s": "0:00", "title": "A"}],
            "chapters[0].start_s: '0:00' is not of type 'number'",
        ),
        ([{"start_s": 0, "title": "A", "end_s": 5}], "Additional properties are not allowed"),
    ],
)
def test_unusable_chapters_are_rejected_with_the_reason(chapters: list[Any], message: str) -> None:
    with pytest.raises(ContentValidationError) as info:
        validate_content("chapters", {"chapters": chapters}, full_context())
    assert info.value.content_type == "chapters"
    assert message in str(info.value)
    assert str(info.value).startswith("chapters: ")


def test_clip_ranges_are_clipped_into_the_video_and_empty_ones_dropped() -> None:
    answer = {
        "clips": [
            {"start_s": 60.0, "end_s": 95.0, "hook": " Bake ", "reason": "ending"},
            {"start_s": 80.0, "end_s": 90.0, "hook": "after the end", "reason": "x"},
            {"start_s": 10.0, "end_s": 10.0, "hook": "empty", "reason": "x"},
            {"start_s": -3.0, "end_s": 20.0, "hook": "start", "reason": "opening"},
        ]
    }
    checked = validate_content("short_clip_plan", answer, full_context())
    assert checked["clips"] == [
        {"start_s": 60.0, "end_s": 72.0, "hook": "Bake", "reason": "ending"},
        {"start_s": 0.0, "end_s": 20.0, "hook": "start", "reason": "opening"},
    ]
    with pytest.raises(ContentValidationError, match="none of the 1 clips"):
        validate_content(
            "short_clip_plan",
            {"clips": [{"start_s": 100, "end_s": 120, "hook": "h", "reason": "r"}]},
            full_context(),
        )


def test_tags_titles_and_posts_are_repaired_or_rejected() -> None:
    ctx = full_context()
    tags = validate_content(
        "tags", {"tags": [" Sourdough ", "#sourdough", "bread  baking", "", "Bread baking"]}, ctx
    )
    assert tags == {"tags": ["Sourdough", "bread baking"]}
    titles = validate_content("title_set", {"titles": ["A", "a ", "B", "C", "D", "E", "F"]}, ctx)
    assert titles == {"titles": ["A", "B", "C", "D", "E"]}
    with pytest.raises(ContentValidationError, match="2 distinct titles"):
        validate_content("title_set", {"titles": ["A", "a", "B"]}, ctx)
    with pytest.raises(ContentValidationError, match="281 characters; the limit is 280"):
        validate_content("x_post", {"post": "x" * 281}, ctx)
    with pytest.raises(ContentValidationError, match="post 2 has 300 characters"):
        validate_content("x_thread", {"posts": ["ok", "y" * 300]}, ctx)
    with pytest.raises(ContentValidationError, match="'headline' is a required property"):
        validate_content("article_brief", {"angle": "a", "key_points": ["k"], "audience": "b"}, ctx)
    with pytest.raises(ContentValidationError, match="unknown content type"):
        validate_content("poem", {}, ctx)


# --- generation ------------------------------------------------------------------------


class FakeGenerator:
    """A provider answering each content type with a canned answer, all in one batch."""

    provider = "fake-llm"
    model = "fake-1"

    def __init__(self, answers: dict[str, GenerationResult]) -> None:
        self.answers = answers
        self.batches: list[list[GenerationRequest]] = []

    def generate_json(
        self, *, system: str, user: str, schema_name: str, schema: dict[str, Any]
    ) -> dict[str, Any]:
        raise AssertionError("content generation must go through generate_many")

    def generate_many(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        self.batches.append(list(requests))
        return [self.answers[r.key] for r in reversed(requests) if r.key in self.answers]


def _good_answers() -> dict[str, dict[str, Any]]:
    return {
        "title_set": {"titles": ["Sourdough at home", "Bake sourdough bread", "Starter to loaf"]},
        "description": {"description": "How to bake sourdough bread at home, step by step."},
        "chapters": {
            "chapters": [{"start_s": 0, "title": "Starter"}, {"start_s": 24.2, "title": "Dough"}]
        },
        "tags": {"tags": ["sourdough", "bread", "Sourdough"]},
        "linkedin_post": {"post": "Sourdough from starter to loaf, in one video."},
        "x_post": {"post": "Sourdough, start to finish. #sourdough"},
        "x_thread": {"posts": ["A thread on sourdough.", "Feed the starter.", "Bake hot."]},
        "article_brief": {
            "headline": "Sourdough at home",
            "angle": "A practical walk-through.",
            "key_points": ["Feed the starter", "Fold the dough"],
            "audience": "Home bakers",
        },
        "newsletter_summary": {
            "summary": "Sourdough, step by step.",
            "bullets": ["Feed", "Fold", "Bake"],
        },
        "short_clip_plan": {
            "clips": [{"start_s": 56, "end_s": 70, "hook": "Bake it", "reason": "payoff"}]
        },
    }


def test_generate_content_batches_once_and_one_bad_answer_fails_alone() -> None:
    answers = {key: GenerationResult(key, value) for key, value in _good_answers().items()}
    answers["chapters"] = GenerationResult(
        "chapters", {"chapters": [{"start_s": "zero", "title": "Starter"}]}
    )
    generator = FakeGenerator(answers)
    ctx = full_context()
    results = generate_content(ctx, generator)

    assert len(generator.batches) == 1  # the provider bounds concurrency, not us
    batch = generator.batches[0]
    assert [r.key for r in batch] == list(CONTENT_TYPES)
    for request in batch:
        assert request.schema == CONTENT_KINDS[request.key].schema
        assert request.schema_name == request.key
        assert request.system == CONTENT_KINDS[request.key].system_prompt
        assert "Duration: 72.0 s" in request.user

    assert list(results) == list(CONTENT_TYPES)
    failed = results["chapters"]
    assert failed.body is None and failed.markdown == ""
    assert failed.error is not None
    assert failed.error.startswith("invalid answer: answer does not match the schema: ")
    assert "chapters[0].start_s: 'zero' is not of type 'number'" in failed.error
    ok = [r for r in results.values() if r.error is None]
    assert len(ok) == 9
    for result in ok:
        assert result.extractive is False
        assert (result.provider, result.model) == ("fake-llm", "fake-1")
        assert result.markdown.startswith("## ")
    assert results["tags"].body == {"tags": ["sourdough", "bread"]}


def test_generate_content_reports_provider_errors_and_missing_answers_per_type() -> None:
    answers = {key: GenerationResult(key, value) for key, value in _good_answers().items()}
    answers["x_post"] = GenerationResult("x_post", None, error="rate limited after 5 retries")
    del answers["tags"]
    results = generate_content(full_context(), FakeGenerator(answers))
    assert results["x_post"].error == "generation failed: rate limited after 5 retries"
    assert results["tags"].error == "the provider returned no answer for this request"
    chapters = results["chapters"].body
    assert chapters is not None and chapters["chapters"][1]["start_s"] == 24.0  # snapped
    assert sum(r.error is None for r in results.values()) == 8


def test_generate_content_is_extractive_without_a_language_model() -> None:
    ctx = audio_only_context()
    results = generate_content(ctx, None, types=["chapters", "tags", "chapters"])
    assert list(results) == ["chapters", "tags"]
    assert all(r.extractive and r.error is None and r.provider == "local" for r in results.values())
    assert results["chapters"].model == "extractive"

    results = generate_content(ctx, None)
    assert len(results) == 10 and all(r.extractive and r.body for r in results.values())
    with pytest.raises(ValueError, match="unknown content type 'poem'"):
        generate_content(ctx, None, types=["poem"])


# --- markdown --------------------------------------------------------------------------


def test_markdown_uses_mm_ss_for_chapters_and_clips() -> None:
    chapters = {
        "chapters": [{"start_s": 0.0, "title": "Intro"}, {"start_s": 125.7, "title": "Main"}]
    }
    assert content_markdown("chapters", chapters) == "## Chapters\n\n00:00 Intro\n02:05 Main\n"
    clips = {"clips": [{"start_s": 56.0, "end_s": 70.4, "hook": "Bake it", "reason": "payoff"}]}
    assert "**00:56–01:10** Bake it" in content_markdown("short_clip_plan", clips)
    assert format_timestamp(3723.9) == "1:02:03"
    assert format_timestamp(-1) == "00:00"
