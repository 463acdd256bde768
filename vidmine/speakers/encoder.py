"""The offline speaker encoder: resemblyzer's pretrained network, loaded without resemblyzer.

resemblyzer 0.1.4 ships its encoder's weights in its wheel (``resemblyzer/pretrained.pt``,
Apache-2.0): a three-layer LSTM over 40-band mel spectrograms of 1.6 s whose last hidden
state, through a linear layer and a ReLU, is a 256-value voice embedding (L2-normed).
Importing the package would import its ``audio`` module, which needs ``webrtcvad`` (an
sdist that must be compiled) and ``librosa`` (numba, llvmlite), none of which this
network needs; so the package is never imported: its weights file is found on the import
path and read without torch (:mod:`vidmine.speakers.checkpoint`), the network runs in
ONNX Runtime (already there for faster-whisper's voice activity model), built from those
weights with ``onnx`` when the encoder loads: the same outputs as torch's ``nn.LSTM`` to
1e-5, and a process that never imports torch saves 1.4 s of CPU and 220 MB. The mel
spectrogram is computed with numpy as librosa computes it (Slaney mel scale and norm,
power spectrum, centred frames).

This module must not decide anything about speakers: it turns samples into embeddings.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from vidmine.speakers.checkpoint import read_legacy_checkpoint

SAMPLE_RATE = 16_000
MEL_WINDOW = 400  # 25 ms at 16 kHz
MEL_HOP = 160  # 10 ms
MEL_BANDS = 40
PARTIAL_FRAMES = 160  # 1.6 s: the length the encoder was trained on
EMBEDDING_SIZE = 256
HIDDEN_SIZE = 256
LAYERS = 3
AUDIO_NORM_DBFS = -30.0  # resemblyzer raises quiet audio to this level before encoding


class SpeakerModelMissing(RuntimeError):
    """The resemblyzer wheel (which holds the weights) is not installed."""


def weights_path() -> Path:
    """``pretrained.pt`` inside the installed resemblyzer package, found without importing it."""
    spec = importlib.util.find_spec("resemblyzer")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        path = Path(folder) / "pretrained.pt"
        if path.is_file():
            return path
    raise SpeakerModelMissing(
        "the speaker encoder weights are missing: install the local extra "
        "(`make install`, or `pip install --no-deps resemblyzer==0.1.4`), which ships "
        "resemblyzer/pretrained.pt"
    )


@lru_cache(maxsize=1)
def mel_filters() -> np.ndarray:
    """librosa.filters.mel(sr=16000, n_fft=400, n_mels=40): Slaney scale, Slaney norm."""

    def hz_to_mel(hz: np.ndarray) -> np.ndarray:
        hz = np.asarray(hz, dtype=np.float64)
        mel = hz / (200.0 / 3)
        log_region = hz >= 1000.0
        mel[log_region] = 15.0 + np.log(hz[log_region] / 1000.0) / (np.log(6.4) / 27.0)
        return mel

    def mel_to_hz(mel: np.ndarray) -> np.ndarray:
        hz = mel * (200.0 / 3)
        log_region = mel >= 15.0
        hz[log_region] = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel[log_region] - 15.0))
        return hz

    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, 1 + MEL_WINDOW // 2)
    top = hz_to_mel(np.array([SAMPLE_RATE / 2]))[0]
    mel_freqs = mel_to_hz(np.linspace(0.0, top, MEL_BANDS + 2))
    spacing = np.diff(mel_freqs)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / spacing[:-1, None]
    upper = ramps[2:] / spacing[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_freqs[2:] - mel_freqs[:-2]))[:, None]
    return weights.astype(np.float32)


def mel_frames(samples: np.ndarray, block: int = 4096) -> np.ndarray:
    """Mel power spectrogram, one row of 40 bands per 10 ms (as resemblyzer feeds its network).

    Frames are taken ``block`` at a time, so a long stretch of speech never holds its whole
    (frames, 400) matrix of samples at once (an hour would be 0.6 GB)."""
    samples = np.asarray(samples, dtype=np.float32)
    padded = np.pad(samples, MEL_WINDOW // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, MEL_WINDOW)[::MEL_HOP]
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(MEL_WINDOW) / MEL_WINDOW)).astype(np.float32)
    out = np.empty((len(frames), MEL_BANDS), dtype=np.float32)
    for first in range(0, len(frames), block):
        spectrum = np.fft.rfft(frames[first : first + block] * window, axis=1)
        power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
        out[first : first + block] = power @ mel_filters().T
    return out


def normalize_volume(samples: np.ndarray) -> np.ndarray:
    """Raise quiet audio to -30 dBFS (never lower loud audio), as resemblyzer does."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
    if rms <= 0:
        return samples
    change = AUDIO_NORM_DBFS - 20 * np.log10(rms)
    return samples * (10 ** (change / 20)) if change > 0 else samples


class SpeakerEncoder:
    """Voice embeddings of 1.6 s windows. Loading takes about 50 ms; the instance is shared
    by the steps of a process (see :func:`shared_encoder`)."""

    def __init__(self, path: Path | None = None) -> None:
        import onnxruntime

        state = read_legacy_checkpoint(path or weights_path())["model_state"]
        options = onnxruntime.SessionOptions()
        # One thread: each LSTM step is a small product, and splitting it over cores
        # costs more than it gains (measured with numpy's BLAS: on two busy cores, 2.7 ms
        # of CPU per window on one thread against 14 ms on two). It also leaves no thread
        # pool behind in the warm run process that forks the runs.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        self._session = onnxruntime.InferenceSession(
            encoder_model(state), options, providers=["CPUExecutionProvider"]
        )

    def embed_mels(self, mels: np.ndarray, batch: int = 256) -> np.ndarray:
        """Embeddings (n, 256) of ``mels`` shaped (n, 160, 40)."""
        if len(mels) == 0:
            return np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
        out = []
        for first in range(0, len(mels), batch):
            steps_first = np.asarray(mels[first : first + batch], np.float32).transpose(1, 0, 2)
            (raw,) = self._session.run(None, {"mels": np.ascontiguousarray(steps_first)})
            out.append(raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-9))
        return np.concatenate(out).astype(np.float32)


def encoder_model(state: dict[str, np.ndarray]) -> bytes:
    """The encoder as an ONNX model: three stacked LSTM layers over (steps, batch, 40),
    the last layer's final hidden state through the linear layer and a ReLU."""
    from onnx import TensorProto, helper, numpy_helper

    def gates(weights: np.ndarray) -> np.ndarray:
        # PyTorch orders an LSTM's gates (in, forget, cell, out); ONNX (in, out, forget, cell).
        i, f, g, o = np.split(weights, 4, axis=0)
        return np.concatenate([i, o, f, g], axis=0).astype(np.float32)

    weights = [numpy_helper.from_array(np.array([0], np.int64), "axis_0")]
    weights.append(numpy_helper.from_array(np.array([1], np.int64), "axis_1"))
    nodes = []
    sequence = "mels"
    for n in range(LAYERS):
        bias = np.concatenate(
            [gates(state[f"lstm.bias_ih_l{n}"]), gates(state[f"lstm.bias_hh_l{n}"])]
        )
        for name, value in (
            (f"w{n}", gates(state[f"lstm.weight_ih_l{n}"])),
            (f"r{n}", gates(state[f"lstm.weight_hh_l{n}"])),
            (f"b{n}", bias),
        ):
            weights.append(numpy_helper.from_array(value[None], name))
        nodes.append(
            helper.make_node(
                "LSTM", [sequence, f"w{n}", f"r{n}", f"b{n}"], [f"y{n}", f"h{n}"],
                hidden_size=HIDDEN_SIZE,
            )
        )  # fmt: skip
        nodes.append(helper.make_node("Squeeze", [f"y{n}", "axis_1"], [f"seq{n}"]))
        sequence = f"seq{n}"
    weights.append(numpy_helper.from_array(state["linear.weight"].astype(np.float32), "linear_w"))
    weights.append(numpy_helper.from_array(state["linear.bias"].astype(np.float32), "linear_b"))
    nodes += [
        helper.make_node("Squeeze", [f"h{LAYERS - 1}", "axis_0"], ["last"]),
        helper.make_node("Gemm", ["last", "linear_w", "linear_b"], ["linear"], transB=1),
        helper.make_node("Relu", ["linear"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes,
        "speaker_encoder",
        [
            helper.make_tensor_value_info(
                "mels", TensorProto.FLOAT, [PARTIAL_FRAMES, None, MEL_BANDS]
            )
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [None, EMBEDDING_SIZE])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


_shared: SpeakerEncoder | None = None
_shared_lock = threading.Lock()


def shared_encoder() -> SpeakerEncoder:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SpeakerEncoder()
        return _shared
