"""``POST /v1/audio/transcriptions``: segments from the uploaded audio's length (or
``transcript_text`` spread over them), as ``json``, ``text``, ``verbose_json`` (with word
times when asked) or ``diarized_json`` (speakers "A" and "B" in turns of two segments)."""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import math
import wave

from fake_openai.failures import Behaviour, error_body

PCM_16K_MONO_BYTES_PER_S = 32_000  # length estimate for uploads that are not WAV


def multipart_fields(body: bytes, content_type: str) -> dict[str, tuple[bytes, str | None]]:
    """Form fields of a multipart/form-data body: name -> (bytes, file name or None)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, tuple[bytes, str | None]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name is None:
            continue
        payload = part.get_payload(decode=True) or b""
        if str(name) in fields:  # a list, e.g. timestamp_granularities[]: values joined by ","
            payload = fields[str(name)][0] + b"," + payload
        fields[str(name)] = (payload, part.get_filename())
    return fields


def audio_duration_s(data: bytes) -> float:
    """Length of WAV audio from its header; other formats estimated as 16 kHz mono PCM."""
    try:
        with wave.open(io.BytesIO(data)) as reader:
            return reader.getnframes() / float(reader.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError):
        return len(data) / PCM_16K_MONO_BYTES_PER_S


def transcription(body: bytes, content_type: str, plan: Behaviour) -> tuple[int, bytes, str]:
    fields = multipart_fields(body, content_type)
    if "file" not in fields:
        return (
            400,
            error_body("missing form field 'file'", "invalid_request_error"),
            "application/json",
        )
    duration = audio_duration_s(fields["file"][0])
    response_format = fields.get("response_format", (b"json", None))[0].decode() or "json"
    count = math.ceil(duration / plan.segment_s) if duration > 0 else 0
    words = plan.transcript_text.split() if plan.transcript_text else []
    segments = []
    for i in range(count):
        start, end = i * plan.segment_s, min((i + 1) * plan.segment_s, duration)
        if words:
            share = words[len(words) * i // count : len(words) * (i + 1) // count]
            text = " " + " ".join(share)
        else:
            text = f" Fake transcript segment {i + 1}."
        segments.append(
            {
                "id": i,
                "seek": 0,
                "start": round(start, 3),
                "end": round(end, 3),
                "text": text,
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": -0.1,
                "compression_ratio": 1.0,
                "no_speech_prob": 0.01,
            }
        )
    # Asked for word times, each segment's words share its time evenly.
    want_words = b"word" in fields.get("timestamp_granularities[]", (b"", None))[0]
    word_times = []
    for segment in segments if want_words else []:
        tokens = segment["text"].split()
        step = (segment["end"] - segment["start"]) / max(1, len(tokens))
        word_times += [
            {
                "word": token,
                "start": round(segment["start"] + n * step, 3),
                "end": round(segment["start"] + (n + 1) * step, 3),
            }
            for n, token in enumerate(tokens)
        ]
    full_text = "".join(s["text"] for s in segments).strip()
    if response_format == "diarized_json":
        # gpt-4o-transcribe-diarize's shape: segments with a speaker, here "A", "B" in
        # turns of two segments (a conversation with a known truth to check against).
        diarized = {
            "task": "transcribe",
            "duration": round(duration, 3),
            "text": full_text,
            "segments": [
                {
                    "type": "transcript.text.segment",
                    "id": f"seg_{s['id']}",
                    "start": s["start"],
                    "end": s["end"],
                    "text": s["text"],
                    "speaker": "AB"[(s["id"] // 2) % 2],
                }
                for s in segments
            ],
            "usage": {"type": "duration", "seconds": math.ceil(duration)},
        }
        return 200, json.dumps(diarized).encode(), "application/json"
    if response_format == "text":
        return 200, full_text.encode(), "text/plain"
    if response_format != "verbose_json":
        return 200, json.dumps({"text": full_text}).encode(), "application/json"
    answer = {
        "task": "transcribe",
        "language": plan.transcript_language,
        "duration": round(duration, 3),
        "text": full_text,
        "segments": segments,
        **({"words": word_times} if want_words else {}),
        "usage": {"type": "duration", "seconds": math.ceil(duration)},
    }
    return 200, json.dumps(answer).encode(), "application/json"
