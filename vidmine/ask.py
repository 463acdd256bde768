"""Ask the library: the best moments for a question, and an answer that cites them.

:func:`ask` retrieves moments with the hybrid search, then answers in one of two ways:

- **written**, on an OpenAI-compatible ``generate`` provider: the model gets the question
  and the numbered moments only, and must answer from them alone, citing each claim as
  ``[1]``, ``[2]`` ...; when the moments do not answer the question it says so ("The
  videos don't say") instead of answering from its own knowledge. Citations it gives that
  are not among the moments are dropped;
- **extractive**, offline (the ``local`` provider), or at once when the provider's request
  slots are all taken: the best few passages in their own words, each with its citation,
  and a note saying the answer is extractive. A full provider is never waited on (the
  request is skipped, not queued: :func:`vidmine.providers.limits.without_waiting`), so a
  page asking a question answers in the time of a search, and the question can be asked
  again for the written answer.

This module must not render HTML or know URLs: the web layer adds links to the citations.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal

from vidmine.db.store import Store
from vidmine.models import SearchHit
from vidmine.providers.base import Embedder, ProviderError, TextGenerator
from vidmine.providers.limits import SlotsBusyError, without_waiting
from vidmine.search import search_text

AnswerMode = Literal["written", "extractive"]
MOMENTS = 6  # moments a written answer is written from
EXTRACTIVE_PASSAGES = 3  # passages an extractive answer stitches
NOT_SAID = "The videos don't say."
_CITATION = re.compile(r"\[(\d{1,2})\]")
_MARKS = re.compile(r"\*\*")

SYSTEM_PROMPT = """You answer questions about a library of videos. You are given the
question and numbered moments from the videos (what was said, shown on screen, or seen).
Answer from those moments only, in at most four sentences, in the question's language.
After every claim put the number of the moment that supports it in square brackets,
e.g. "She moved to Texas [2]." Never state anything the moments do not support, and never
use your own knowledge of the world. If the moments do not answer the question, set
"supported" to false and answer exactly: "The videos don't say." List in "citations" the
numbers of the moments you cited."""


@dataclass(frozen=True)
class Citation:
    n: int  # the [n] in the answer
    video_id: str
    file_name: str
    start_s: float
    end_s: float
    kind: str  # segment | ocr | caption
    text: str
    speaker: str | None = None
    item_id: str = ""


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str  # with [n] citations
    mode: AnswerMode
    citations: list[Citation]
    note: str = ""  # why the answer is what it is (extractive, busy, unsupported)
    busy: bool = False  # the written answer was skipped: the provider's slots were full
    supported: bool = True  # False: the moments do not answer the question
    provider: str = "local"
    model: str = "extractive"
    seconds: float = 0.0
    moments: list[Citation] = field(default_factory=list)  # every moment retrieved


def passage(hit: SearchHit) -> str:
    """A hit's text without search's match marks."""
    return " ".join(_MARKS.sub("", hit.snippet).split())


def as_citations(hits: Sequence[SearchHit]) -> list[Citation]:
    return [
        Citation(
            n=i,
            video_id=h.video_id,
            file_name=h.file_name,
            start_s=h.start_s,
            end_s=h.end_s,
            kind=h.kind,
            text=passage(h),
            speaker=h.speaker,
            item_id=h.item_id,
        )
        for i, h in enumerate(hits, start=1)
    ]


def distinct_moments(hits: Sequence[SearchHit]) -> list[SearchHit]:
    """Hits without repeats: the same text, or a moment overlapping an earlier one of the
    same video (a segment and the OCR of the same second say one thing twice)."""
    kept: list[SearchHit] = []
    for hit in hits:
        text = passage(hit).lower()
        if any(passage(k).lower() == text for k in kept):
            continue
        if any(
            k.video_id == hit.video_id
            and k.kind == hit.kind
            and min(k.end_s, hit.end_s) > max(k.start_s, hit.start_s)
            for k in kept
        ):
            continue
        kept.append(hit)
    return kept


def extractive_answer(question: str, hits: Sequence[SearchHit], note: str = "") -> Answer:
    """The best passages in their own words, each cited; honest that it is extractive."""
    moments = as_citations(distinct_moments(hits))
    chosen = moments[:EXTRACTIVE_PASSAGES]
    if not chosen:
        return Answer(
            question,
            f"{NOT_SAID} Nothing in the library matches the question.",
            "extractive",
            [],
            note=note or "extractive: no moment matched",
            supported=False,
        )
    body = " ".join(f"“{c.text}” [{c.n}]" for c in chosen)
    explained = "extractive: the passages that match the question best, in their own words"
    return Answer(
        question,
        body,
        "extractive",
        chosen,
        note=f"{note} {explained}".strip() if note else explained,
        moments=moments,
    )


def answer_schema(moments: int) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "answer": {"type": "string"},
            "citations": {
                "type": "array",
                "items": {"type": "integer", "minimum": 1, "maximum": max(1, moments)},
            },
            "supported": {"type": "boolean"},
        },
        "required": ["answer", "citations", "supported"],
    }


def moments_prompt(question: str, moments: Sequence[Citation]) -> str:
    lines = [f"Question: {question}", "", "Moments:"]
    for c in moments:
        who = f", {c.speaker}" if c.speaker else ""
        what = {"segment": "said", "ocr": "on screen", "caption": "seen"}.get(c.kind, c.kind)
        lines.append(
            f"[{c.n}] {c.file_name} at {c.start_s:.1f}-{c.end_s:.1f} s ({what}{who}): {c.text}"
        )
    return "\n".join(lines)


def written_answer(question: str, hits: Sequence[SearchHit], generator: TextGenerator) -> Answer:
    """The model's answer from the moments only; raises SlotsBusyError when the provider's
    slots are all taken (never waits for one), ProviderError when it fails."""
    moments = as_citations(distinct_moments(hits)[:MOMENTS])
    if not moments:
        return extractive_answer(question, [])
    with without_waiting():
        value = generator.generate_json(
            system=SYSTEM_PROMPT,
            user=moments_prompt(question, moments),
            schema_name="cited_answer",
            schema=answer_schema(len(moments)),
        )
    by_number = {c.n: c for c in moments}
    text = " ".join(str(value.get("answer", "")).split())
    # Only moments that exist can be cited: drop [n] markers the model made up.
    text = _CITATION.sub(lambda m: m.group(0) if int(m.group(1)) in by_number else "", text)
    cited = sorted(
        {int(n) for n in _CITATION.findall(text)}
        | {n for n in value.get("citations", []) if isinstance(n, int) and n in by_number}
    )
    supported = bool(value.get("supported")) and bool(cited)
    if not supported:
        return Answer(
            question,
            NOT_SAID,
            "written",
            [],
            note="the moments found do not answer the question",
            supported=False,
            provider=generator.provider,
            model=generator.model,
            moments=moments,
        )
    if not _CITATION.search(text):  # cited in the list only: say which, after the answer
        text = f"{text} " + "".join(f"[{n}]" for n in cited)
    return Answer(
        question,
        text.strip(),
        "written",
        [by_number[n] for n in cited],
        note="written from the cited moments only",
        provider=generator.provider,
        model=generator.model,
        moments=moments,
    )


def ask(
    store: Store,
    embedder: Embedder,
    question: str,
    *,
    generator: TextGenerator | None = None,
    video_id: str | None = None,
    embed_lock: AbstractContextManager[object] | None = None,
) -> Answer:
    """Answer ``question`` from the library's moments (see the module docstring).
    ``generator`` None (the local provider has no language model) answers extractively."""
    started = time.monotonic()
    question = " ".join(question.split())
    hits = search_text(
        store, embedder, question, video_id=video_id, limit=MOMENTS * 2, embed_lock=embed_lock
    )
    if generator is None:  # no language model (the local provider)
        answer = extractive_answer(question, hits)
    else:
        try:
            answer = written_answer(question, hits, generator)
        except SlotsBusyError:
            answer = extractive_answer(
                question,
                hits,
                note=f"the written answer is busy ({generator.provider}'s request slots are "
                "all taken); ask again in a moment for it;",
            )
            answer = dataclasses.replace(answer, busy=True)
        except ProviderError as err:
            answer = extractive_answer(question, hits, note=f"the written answer failed ({err});")
    return dataclasses.replace(answer, seconds=round(time.monotonic() - started, 3))


def answer_json(answer: Answer) -> dict[str, Any]:
    """An answer as `vidmine ask --json` prints it (the HTTP API adds links to each citation)."""
    payload = dataclasses.asdict(answer)
    payload.pop("moments", None)
    return payload
