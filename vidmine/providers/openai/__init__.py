"""Providers that talk to OpenAI or any OpenAI-compatible server, via the official client.

One module per AI stage, each with one class: :class:`OpenAITranscriber`
(``transcription``), :class:`OpenAICaptioner` (``captions``), :class:`OpenAIEmbedder`
(``embeddings``) and :class:`OpenAITextGenerator` (``generation``). What they share, the
client, the request with its records and the cache/parallel/store batch loop, is
:mod:`vidmine.providers.openai.client`; JSON answers under a schema are
:mod:`vidmine.providers.openai.structured`.
"""

from vidmine.providers.openai.captions import OpenAICaptioner, jpeg_for_upload
from vidmine.providers.openai.client import OpenAIProvider, api_key_from_env
from vidmine.providers.openai.embeddings import OpenAIEmbedder
from vidmine.providers.openai.generation import OpenAITextGenerator
from vidmine.providers.openai.transcription import OpenAITranscriber

__all__ = [
    "OpenAICaptioner",
    "OpenAIEmbedder",
    "OpenAIProvider",
    "OpenAITextGenerator",
    "OpenAITranscriber",
    "api_key_from_env",
    "jpeg_for_upload",
]
