"""The user message that asks a language model for one content type of one video.

Video facts, then the digest of :mod:`vidmine.content.context` (sampled evenly over
the whole video when it would exceed the budget), then the rules the answer must
obey: those every kind shares and the kind's own ``prompt_rules``.
"""

from __future__ import annotations

from vidmine.content.context import VideoContext, digest_lines, seconds_text, select_evenly
from vidmine.content.kinds import content_kind

DEFAULT_PROMPT_CHARS = 24_000  # about 6k tokens of digest at ~4 characters a token


def build_prompt(
    ctx: VideoContext, content_type: str, *, max_chars: int = DEFAULT_PROMPT_CHARS
) -> str:
    """The user message for one content type: video facts, the digest, then the rules."""
    kind = content_kind(content_type)
    timed = digest_lines(ctx)
    lines = [line for _, line in timed]
    kept = select_evenly(lines, max_chars)
    header = [
        f"Video file: {ctx.file_name or ctx.video_id}",
        f"Duration: {seconds_text(ctx.duration_s)} s",
        f"Facts: {len(ctx.segments)} speech segments, {len(ctx.scenes)} scenes, "
        f"{len(ctx.ocr_texts)} on-screen texts, {len(ctx.captions)} frame captions.",
    ]
    if not lines:
        digest = "(nothing was found: no speech, scenes, on-screen text or frame captions)"
    else:
        digest = "\n".join(lines[i] for i in kept)
        if len(kept) < len(lines):
            digest = (
                f"(sampled: {len(kept)} of {len(lines)} lines, spread evenly over the video)\n"
                + digest
            )
    rules = [
        f"All times are seconds from the start, within 0..{seconds_text(ctx.duration_s)}.",
        "Use only what the digest says.",
        *kind.prompt_rules(ctx),
    ]
    return (
        "\n".join(header)
        + f"\n\nTask: {kind.description}\n\nDigest (time-ordered):\n{digest}\n\nRules:\n"
        + "\n".join(f"- {rule}" for rule in rules)
    )
