"""The JSON shapes of the HTTP API, built from Store records.

Stable like the CLI's JSON: keys are only ever added. Hits are the hits of
``vidmine search --json`` plus URLs; no absolute server path is ever included.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from starlette.responses import JSONResponse

from vidmine.ask import Answer, Citation
from vidmine.db.models import RejectionRecord, StageState, VideoRecord
from vidmine.db.speakers import load_speakers
from vidmine.db.store import Store
from vidmine.models import SearchHit

KIND_LABELS = {"segment": "speech", "ocr": "on-screen text", "caption": "caption"}
# An absolute path: what remains of one after the known paths were replaced.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s/:'\"]+/)+(?=[^\s/:'\"]*)")
# vidmine.models.ocr_id: "<video id>_ocr_007".
_OCR_INDEX = re.compile(r"_ocr_(\d+)$")
AUDIO_ICON_URL = "/static/audio.svg"
# ffmpeg's log prefix: "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x557f2c4a1b40] ".
_FFMPEG_CONTEXT = re.compile(r"\[[^\]\n]* @ 0x[0-9a-fA-F]+\]\s*")


def jsonable(value: Any) -> Any:
    """``value`` with its dates as ISO text and its paths as file names only."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return value.name
    return value


def json_answer(payload: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(jsonable(payload), status_code=status)


def file_name_of(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def reason_for_people(reason: str | None, path: str | None = None) -> str | None:
    """An error or rejection reason as a client may see it: the file named by its name
    (never a folder of the server), ffmpeg's log prefixes gone, on one line."""
    if reason is None:
        return None
    text = reason
    if path:
        text = text.replace(path, file_name_of(path))
    text = _ABSOLUTE_PATH.sub("", text)
    text = _FFMPEG_CONTEXT.sub("", text)
    return " ".join(text.split())


def _seconds(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def video_url(video_id: str, at_s: float | None = None) -> str:
    url = f"/media/{quote(video_id, safe='')}/video"
    return url if at_s is None else f"{url}#t={_seconds(at_s)}"


def thumbnail_url(video_id: str, at_s: float = 0.0, until_s: float | None = None) -> str:
    url = f"/media/{quote(video_id, safe='')}/thumbnail?t={_seconds(at_s)}"
    return url if until_s is None else f"{url}&end={_seconds(until_s)}"


def transcript_url(video_id: str, fmt: str = "vtt", *, download: bool = False) -> str:
    url = f"/media/{quote(video_id, safe='')}/transcript.{fmt}"
    return f"{url}?download" if download else url


def keyframe_url(video_id: str, index: int) -> str:
    return f"/media/{quote(video_id, safe='')}/keyframes/{index}"


def page_url(video_id: str, at_s: float | None = None) -> str:
    url = f"/videos/{quote(video_id, safe='')}"
    return url if at_s is None else f"{url}?{urlencode({'t': _seconds(at_s)})}"


def poster_url(video_id: str) -> str:
    return f"/media/{quote(video_id, safe='')}/poster"


def ocr_frame_url(video_id: str, index: int) -> str:
    return f"/media/{quote(video_id, safe='')}/ocr/{index}"


def hit_thumbnail_url(hit: SearchHit) -> str:
    """The picture of a hit: an on-screen text's own frame (the one it was read from), else
    the keyframe of the moment."""
    index = _OCR_INDEX.search(hit.item_id) if hit.kind == "ocr" else None
    if index is not None:
        return ocr_frame_url(hit.video_id, int(index.group(1)))
    return thumbnail_url(hit.video_id, hit.start_s, hit.end_s)


def hit_payload(hit: SearchHit) -> dict[str, Any]:
    return {
        **dataclasses.asdict(hit),
        "video_url": video_url(hit.video_id, hit.start_s),
        "thumbnail_url": hit_thumbnail_url(hit),
        "page_url": page_url(hit.video_id, hit.start_s),
    }


SPEAKER_COLOURS = 8  # app.css has .speaker-1 ... .speaker-8


def speaker_colour(speaker: str | None) -> int:
    """The palette entry of a speaker key ("1", "2" ...), the same on every page."""
    try:
        return (int(speaker or "1") - 1) % SPEAKER_COLOURS + 1
    except ValueError:
        return 1


def citation_payload(citation: Citation) -> dict[str, Any]:
    return {
        **dataclasses.asdict(citation),
        "video_url": video_url(citation.video_id, citation.start_s),
        "thumbnail_url": thumbnail_url(citation.video_id, citation.start_s, citation.end_s),
        "page_url": page_url(citation.video_id, citation.start_s),
    }


def answer_payload(answer: Answer) -> dict[str, Any]:
    """`vidmine ask --json` plus the links of each citation (page_url plays the moment)."""
    payload = dataclasses.asdict(answer)
    payload.pop("moments", None)
    payload["citations"] = [citation_payload(c) for c in answer.citations]
    return payload


def failed_stage(states: dict[str, StageState]) -> dict[str, Any] | None:
    """The first stage that failed, with its error, or None."""
    for state in states.values():
        if state.status == "failed":
            return {"stage": state.stage, "error": reason_for_people(state.error)}
    return None


def video_summary(video: VideoRecord, states: dict[str, StageState]) -> dict[str, Any]:
    return {
        "video_id": video.video_id,
        "file_name": video.file_name,
        "profile": video.profile,
        "status": video.status,
        "error": reason_for_people(video.error, video.source_path),
        "failed_stage": failed_stage(states),
        "duration_s": video.duration_s,
        "languages": video.languages,
        "created_at": video.created_at,
        "updated_at": video.updated_at,
        "stages": {name: state.status for name, state in states.items()},
        "page_url": page_url(video.video_id),
        "video_url": video_url(video.video_id),
        # A representative keyframe; an icon for sound without pictures.
        "thumbnail_url": poster_url(video.video_id)
        if video.has_video is not False
        else AUDIO_ICON_URL,
        "has_video": video.has_video,
    }


def rejection_payload(rejection: RejectionRecord) -> dict[str, Any]:
    # The file name only: the server's folders are none of the client's business.
    return {
        "file_name": file_name_of(rejection.path),
        "reason": reason_for_people(rejection.reason, rejection.path),
        "size_bytes": rejection.size_bytes,
        "rejected_at": rejection.rejected_at,
    }


def video_detail(store: Store, video: VideoRecord) -> dict[str, Any]:
    """Everything vidmine knows about one video."""
    vid = video.video_id
    states = store.stage_states(vid)
    keyframes = store.load_keyframes(vid)
    first_keyframe_of_scene: dict[int, int] = {}
    for keyframe in keyframes:
        first_keyframe_of_scene.setdefault(keyframe.scene_index, keyframe.index)
    summary = video_summary(video, states)
    summary.update(
        {
            "size_bytes": video.size_bytes,
            "sha256": video.sha256,
            "width": video.width,
            "height": video.height,
            "fps": video.fps,
            "rotation": video.rotation,
            "has_video": video.has_video,
            "has_audio": video.has_audio,
            "video_codec": video.video_codec,
            "audio_codec": video.audio_codec,
        }
    )
    return {
        "video": summary,
        "stages": [
            {
                "stage": s.stage,
                "status": s.status,
                "started_at": s.started_at,
                "finished_at": s.finished_at,
                "seconds": s.seconds,
                "error": reason_for_people(s.error, video.source_path),
                "metadata": s.metadata,
            }
            for s in states.values()
        ],
        "transcript": [dataclasses.asdict(s) for s in store.load_transcript(vid)],
        # who speaks, most talk first; "colour" is 1..SPEAKER_COLOURS (the page's palette)
        "speakers": [
            {**dataclasses.asdict(s), "colour": speaker_colour(s.speaker)}
            for s in load_speakers(store, vid)
        ],
        "scenes": [
            {
                **dataclasses.asdict(scene),
                "thumbnail_url": keyframe_url(vid, first_keyframe_of_scene[scene.index])
                if scene.index in first_keyframe_of_scene
                else thumbnail_url(vid, scene.start_s),
            }
            for scene in store.load_scenes(vid)
        ],
        "keyframes": [
            {
                "index": k.index,
                "scene_index": k.scene_index,
                "timestamp_s": k.timestamp_s,
                "width": k.width,
                "height": k.height,
                "url": keyframe_url(vid, k.index),
            }
            for k in keyframes
        ],
        "ocr_texts": [
            {
                "index": t.index,
                "start_s": t.start_s,
                "end_s": t.end_s,
                "text": t.text,
                "confidence": t.confidence,
            }
            for t in store.load_ocr_texts(vid)
        ],
        "captions": [dataclasses.asdict(c) for c in store.load_captions(vid)],
        "content": {
            c.content_type: {
                "body": c.body,
                "markdown": c.markdown,
                "extractive": c.extractive,
                "provider": c.provider,
                "model": c.model,
            }
            for c in store.load_content(vid)
        },
        "provider_calls": store.provider_call_summary(vid),
    }
