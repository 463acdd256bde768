"""Reading the stage's 16 kHz mono wav into float samples (the only audio format it gets)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from vidmine.speakers.encoder import SAMPLE_RATE


def read_wav(path: Path) -> np.ndarray:
    """Samples in [-1, 1] of a 16-bit mono 16 kHz wav (what ``audio_wav`` writes)."""
    with wave.open(str(path)) as reader:
        if (reader.getframerate(), reader.getnchannels(), reader.getsampwidth()) != (
            SAMPLE_RATE,
            1,
            2,
        ):
            raise ValueError(
                f"{path}: the speakers stage reads 16 kHz mono 16-bit wav, got "
                f"{reader.getframerate()} Hz, {reader.getnchannels()} channels, "
                f"{8 * reader.getsampwidth()}-bit; re-run audio_wav"
            )
        data = reader.readframes(reader.getnframes())
    return np.frombuffer(data, dtype=np.int16).astype(np.float32) / 32768.0
