"""A fake OpenAI-compatible HTTP server for tests and benchmarks, on 127.0.0.1 only.

It lives beside the tests, not in the installed package: nothing vidmine ships needs it.
Tests import it as ``fake_openai`` (pytest puts ``tests/`` on ``sys.path``); the bench
scripts put ``tests/`` there themselves.

It answers the four endpoints vidmine uses, deterministically and without any model, one
module each:

- ``POST /v1/audio/transcriptions`` (multipart, ``transcription``): ``verbose_json``
  segments derived from the uploaded audio's length (one per ``segment_s`` seconds), or
  ``transcript_text`` spread over them; ``diarized_json`` the same segments with speakers
  "A" and "B" taking turns of two segments;
- ``POST /v1/chat/completions`` (``chat``, images included): with a ``json_schema``
  response format, a JSON object generated from the schema (so it validates), seeded by
  the prompt; token usage from the text length;
- ``POST /v1/embeddings`` (``embeddings``): unit vectors from a hash of each input,
  honouring ``dimensions`` and ``encoding_format``;
- ``GET /v1/models`` (``server``).

Misbehaviour (``failures``) can be injected at start or at run time
(:meth:`FakeOpenAI.configure`, or ``POST /_control`` with a JSON body of the same options):
a fixed latency, a number of upcoming 429s (with ``Retry-After``), an overload (a 429 to
every request that arrives while more than ``throttle_above`` are in flight, as a server at
capacity answers; ``None`` turns it off), upcoming 5xx, hangs (a sleep past the client's
timeout), malformed chat answers (N times, or whenever the prompt holds a marker), and a
required API key (a wrong one gets a 401 that echoes it, as a leak trap). Counters
(``GET /_control/stats``, :meth:`FakeOpenAI.stats`): requests in total and per endpoint,
requests in flight now and at most, injected failures served, answers completed (status
200). A benchmark drives phases (a storm of 429s, slow answers) by changing the behaviour
while it runs.

A request counts as in flight from when its body has been read until just before its
answer is written, so a client that never has more than N requests open can never make
the server count more than N (except hung requests the client gave up on).

Use :func:`running_fake_openai` in tests; ``python -m fake_openai --port N --latency-ms L
...`` (from ``tests/``, or with ``PYTHONPATH=tests``) runs it standalone and prints its
base URL.
"""

from fake_openai.chat import example_from_schema
from fake_openai.embeddings import fake_embedding
from fake_openai.failures import Behaviour
from fake_openai.server import FakeOpenAI, running_fake_openai
from fake_openai.transcription import audio_duration_s

__all__ = [
    "Behaviour",
    "FakeOpenAI",
    "audio_duration_s",
    "example_from_schema",
    "fake_embedding",
    "running_fake_openai",
]
