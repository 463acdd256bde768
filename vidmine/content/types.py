"""The ten kinds of written content vidmine makes for each video.

Each kind has a JSON schema sent as the structured-output format of a ``generate``
call, a system prompt and a short description. The schemas stay inside the subset
OpenAI's strict mode accepts (and other OpenAI-compatible servers usually do): every
object lists all its properties in ``required`` and forbids others, and there are no
length or count keywords. Those limits live here as constants instead; the prompts
state them and ``vidmine.content.validate`` enforces them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TITLE_MIN_COUNT = 3
TITLE_MAX_COUNT = 5
TITLE_MAX_CHARS = 100  # YouTube's limit
DESCRIPTION_MAX_CHARS = 5000  # YouTube's limit
LINKEDIN_POST_MAX_CHARS = 3000  # LinkedIn's limit
X_POST_MAX_CHARS = 280  # X's limit for a standard account
X_THREAD_MAX_POSTS = 10
CHAPTER_SNAP_TOLERANCE_S = 2.0  # how far a chapter start may sit from a scene/segment start


@dataclass(frozen=True)
class ContentSpec:
    """One kind of content: what to ask for and what shape the answer has."""

    name: str
    label: str  # heading in Markdown and the UI
    description: str
    system_prompt: str
    schema: dict[str, Any]


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _strings(description: str) -> dict[str, Any]:
    return {"type": "array", "description": description, "items": {"type": "string"}}


def _number(description: str) -> dict[str, Any]:
    return {"type": "number", "description": description}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


_COMMON_RULES = (
    "You write content about one video, working only from the timestamped digest of "
    "its speech, on-screen text and frames that the user sends. State nothing the "
    "digest does not support: no invented names, numbers, quotes, outcomes or calls to "
    "action. Write in the language of the speech (English when there is none). Times "
    "are seconds from the start of the video and must lie within its duration."
)


def _spec(
    name: str, label: str, description: str, task: str, properties: dict[str, Any]
) -> ContentSpec:
    return ContentSpec(
        name=name,
        label=label,
        description=description,
        system_prompt=f"{_COMMON_RULES}\n\nTask: {task}",
        schema=_object(properties),
    )


_SPECS: tuple[ContentSpec, ...] = (
    _spec(
        "title_set",
        "Titles",
        "3-5 alternative titles for the video.",
        f"Propose {TITLE_MIN_COUNT} to {TITLE_MAX_COUNT} distinct titles for the video, "
        f"each at most {TITLE_MAX_CHARS} characters, specific to what it shows and says. "
        "No clickbait the content does not bear out.",
        {"titles": _strings(f"{TITLE_MIN_COUNT} to {TITLE_MAX_COUNT} distinct titles")},
    ),
    _spec(
        "description",
        "Description",
        "A video description for a hosting page such as YouTube.",
        "Write a description for the video's page: a short opening paragraph on what "
        "the video covers, then its main points in order. Plain text, at most "
        f"{DESCRIPTION_MAX_CHARS} characters; no chapter list and no hashtags.",
        {"description": _string("the description, plain text")},
    ),
    _spec(
        "chapters",
        "Chapters",
        "Chapter markers with start times.",
        "Divide the video into chapters in time order. The first chapter starts at 0. "
        "Every other chapter starts exactly at one of the allowed start times listed in "
        "the digest (a scene start or the start of a speech segment). Prefer chapters of "
        "at least 10 seconds and titles of at most 60 characters.",
        {
            "chapters": {
                "type": "array",
                "description": "chapters in time order, the first at 0",
                "items": _object(
                    {
                        "start_s": _number("start time in seconds from the video start"),
                        "title": _string("chapter title"),
                    }
                ),
            }
        },
    ),
    _spec(
        "tags",
        "Tags",
        "Search tags / keywords.",
        "List 5 to 15 search tags for the video: lowercase topics, names and terms that "
        "appear in the digest, each one to three words, no '#', no duplicates.",
        {"tags": _strings("lowercase tags")},
    ),
    _spec(
        "linkedin_post",
        "LinkedIn post",
        "A LinkedIn post about the video.",
        "Write a LinkedIn post presenting the video: a first line that makes a reader "
        "stop, two to four key points from the video, and at most three hashtags at the "
        f"end. At most {LINKEDIN_POST_MAX_CHARS} characters; no claims about the author.",
        {"post": _string("the post text")},
    ),
    _spec(
        "x_post",
        "X post",
        "A single post for X (Twitter).",
        f"Write one post for X about the video, at most {X_POST_MAX_CHARS} characters "
        "including any hashtags (at most two).",
        {"post": _string(f"the post, at most {X_POST_MAX_CHARS} characters")},
    ),
    _spec(
        "x_thread",
        "X thread",
        "A thread of posts for X (Twitter).",
        f"Write a thread for X of 3 to {X_THREAD_MAX_POSTS} posts walking through the "
        f"video's main points in order, each post at most {X_POST_MAX_CHARS} characters. "
        "The first post says what the thread is about.",
        {"posts": _strings(f"the posts in order, each at most {X_POST_MAX_CHARS} characters")},
    ),
    _spec(
        "article_brief",
        "Article brief",
        "A brief for a written article based on the video.",
        "Write a brief for a writer turning the video into an article: a working "
        "headline, the angle the article should take, the key points it must cover (in "
        "the video's order) and who it is for.",
        {
            "headline": _string("working headline"),
            "angle": _string("the article's angle, one or two sentences"),
            "key_points": _strings("key points to cover, in order"),
            "audience": _string("who the article is for"),
        },
    ),
    _spec(
        "newsletter_summary",
        "Newsletter summary",
        "A summary for a newsletter.",
        "Summarise the video for a newsletter: a paragraph of two to four sentences and "
        "three to six bullet points with its main takeaways.",
        {
            "summary": _string("a paragraph of two to four sentences"),
            "bullets": _strings("three to six takeaways"),
        },
    ),
    _spec(
        "short_clip_plan",
        "Short clip plan",
        "Moments to cut into short vertical clips.",
        "Pick one to five moments that would work as short clips (Shorts, Reels, "
        "TikTok) of 15 to 60 seconds each. Each range lies inside the video with start "
        "before end; the hook is the clip's opening line or on-screen moment and the "
        "reason says why it stands alone.",
        {
            "clips": {
                "type": "array",
                "description": "clips, best first",
                "items": _object(
                    {
                        "start_s": _number("clip start in seconds"),
                        "end_s": _number("clip end in seconds, after start_s"),
                        "hook": _string("the opening line or moment"),
                        "reason": _string("why this moment works as a clip"),
                    }
                ),
            }
        },
    ),
)

CONTENT_SPECS: dict[str, ContentSpec] = {spec.name: spec for spec in _SPECS}
CONTENT_TYPES: tuple[str, ...] = tuple(spec.name for spec in _SPECS)


def content_spec(content_type: str) -> ContentSpec:
    """The spec of one content type; a clear error for an unknown name."""
    try:
        return CONTENT_SPECS[content_type]
    except KeyError:
        raise ValueError(
            f"unknown content type {content_type!r}; expected one of {', '.join(CONTENT_TYPES)}"
        ) from None
