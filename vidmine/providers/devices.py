"""Where a local model runs: ``device`` in a local stage's settings (``auto``, ``cpu`` or
``cuda``). Whisper and MiniLM run on CTranslate2, which runs on a CUDA GPU when it finds
one: ``auto`` takes it, ``cuda`` insists on it, ``cpu`` never uses it."""

from __future__ import annotations

from dataclasses import dataclass

from vidmine.providers.base import ProviderError


@dataclass(frozen=True)
class ModelPlacement:
    device: str  # "cpu" or "cuda"
    compute_type: str  # CTranslate2's number format on that device


def cuda_devices() -> int:
    import ctranslate2

    return ctranslate2.get_cuda_device_count()


def place_model(
    setting: str, stage: str, *, cpu_compute_type: str, cuda_compute_type: str = "float16"
) -> ModelPlacement:
    """The device and number format for a local model of ``stage`` under ``setting``."""
    if setting not in ("auto", "cpu", "cuda"):
        raise ProviderError(f"stages.{stage}.device: {setting!r}; use auto, cpu or cuda")
    gpus = cuda_devices() if setting != "cpu" else 0
    if setting == "cuda" and gpus == 0:
        raise ProviderError(
            f"stages.{stage}.device: cuda, but CTranslate2 finds no CUDA device on this "
            "machine (no NVIDIA GPU or driver); set device: auto or cpu in vidmine.yaml"
        )
    if gpus > 0:
        return ModelPlacement("cuda", cuda_compute_type)
    return ModelPlacement("cpu", cpu_compute_type)
