"""The speaker encoder without torch: resemblyzer's weights read from its legacy PyTorch
file by vidmine's own reader, and the LSTM run in ONNX Runtime, give what torch gives."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from vidmine.speakers.checkpoint import CheckpointError, read_legacy_checkpoint
from vidmine.speakers.encoder import (
    EMBEDDING_SIZE,
    HIDDEN_SIZE,
    LAYERS,
    MEL_BANDS,
    PARTIAL_FRAMES,
    SpeakerEncoder,
    weights_path,
)

torch = pytest.importorskip("torch", reason="torch (the reference) is installed by make install")


def test_the_weights_read_without_torch_are_torchs_to_the_bit():
    ours = read_legacy_checkpoint(weights_path())["model_state"]
    theirs = torch.load(weights_path(), map_location="cpu", weights_only=True)["model_state"]
    assert ours.keys() == theirs.keys()
    for name, tensor in theirs.items():
        assert np.array_equal(ours[name], tensor.numpy()), name


def test_onnx_embeddings_equal_torchs_lstm():
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)["model_state"]
    lstm = torch.nn.LSTM(MEL_BANDS, HIDDEN_SIZE, LAYERS, batch_first=True)
    linear = torch.nn.Linear(HIDDEN_SIZE, EMBEDDING_SIZE)
    lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
    linear.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("linear.")})
    mels = (np.random.default_rng(7).random((5, PARTIAL_FRAMES, MEL_BANDS)) ** 3).astype(np.float32)
    with torch.inference_mode():
        _, (hidden, _) = lstm(torch.from_numpy(mels))
        raw = torch.relu(linear(hidden[-1]))
        expected = (raw / raw.norm(dim=1, keepdim=True)).numpy()
    got = SpeakerEncoder().embed_mels(mels, batch=2)  # batches of 2, 2 and 1
    assert got.shape == (5, EMBEDDING_SIZE)
    assert np.abs(got - expected).max() < 1e-5


def test_a_file_that_would_run_code_or_is_cut_short_is_refused(tmp_path):
    hostile = tmp_path / "hostile.pt"
    with hostile.open("wb") as file:
        for part in (0x1950A86A20F9469CFC6C, 1001, {}):
            pickle.dump(part, file)
        file.write(b"cos\nsystem\n(S'echo hi'\ntR.")  # os.system("echo hi")
    with pytest.raises(CheckpointError, match="no place in a checkpoint"):
        read_legacy_checkpoint(hostile)
    hostile.write_bytes(b"cos\nsystem\n(S'echo hi'\ntR.")  # in place of the magic number
    with pytest.raises(CheckpointError, match="no place in a checkpoint"):
        read_legacy_checkpoint(hostile)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(weights_path().read_bytes()[:-1000])
    with pytest.raises(CheckpointError, match="cut short"):
        read_legacy_checkpoint(cut)
    other = tmp_path / "other.pt"
    other.write_bytes(pickle.dumps({"not": "a checkpoint"}))
    with pytest.raises(CheckpointError, match="not a legacy PyTorch checkpoint"):
        read_legacy_checkpoint(other)
