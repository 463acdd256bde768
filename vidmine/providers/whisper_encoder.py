"""Whisper's encoder run once per stretch of speech, not twice.

Telling a stretch's language and transcribing it both start by encoding its audio, and
the encoder is most of what Whisper base costs on a CPU: on the speed benchmark's 504 s
of speech, telling the languages of its 20 windows took 26 s, as long again as encoding
them to transcribe. :class:`EncoderReusingWhisperModel` keeps the encoder outputs of the
features it encodes while :meth:`~EncoderReusingWhisperModel.remembering`, and answers a
later ``encode`` of the same features from them. Transcribing exactly the windows whose
language was told (same audio, so the same features) then encodes nothing again.

Imported only where faster-whisper runs (it imports faster-whisper and CTranslate2).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel


def _digest(features: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(features).tobytes(), digest_size=16).digest()


class EncoderReusingWhisperModel(WhisperModel):
    """A WhisperModel whose ``encode`` reuses the outputs kept while remembering."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept: dict[bytes, np.ndarray] | None = None

    @contextmanager
    def remembering(self) -> Iterator[None]:
        """Keep every encoder output computed inside the block (float32, 1500x512 for base:
        3 MB per 30 s window); forgotten when the block ends. The model is shared by the
        process: a block ending while another thread's is open only costs that thread
        encodes, never a wrong output (outputs are found by their features)."""
        self._kept = {}
        try:
            yield
        finally:
            self._kept = None

    def encode(self, features: np.ndarray) -> ctranslate2.StorageView:
        kept = self._kept
        if kept is None:
            return super().encode(features)
        batch = features if features.ndim == 3 else features[np.newaxis]
        keys = [_digest(row) for row in batch]
        if all(key in kept for key in keys):
            return ctranslate2.StorageView.from_array(np.stack([kept[key] for key in keys]))
        output = super().encode(batch)
        rows = np.asarray(output)  # on the CPU the output is a float32 array view
        for key, row in zip(keys, rows, strict=True):
            kept[key] = row.copy()
        return output
