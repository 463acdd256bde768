"""The images of the smoke run (deploy/smoke.py), built without a registry: the base
image (a registry's when the engine has it, else one made with mmdebstrap by
images/base-image.sh), the wheelhouse (images/wheelhouse.sh), then the stack's images with
the legacy builder.
"""

from __future__ import annotations

import sys
import time

from smoke_compose import DEPLOY, Compose
from smoke_engine import Engine, has_image, run

LOCAL_BASE_IMAGE = "vidmine-python:3.11-bookworm"
REGISTRY_BASE_IMAGE = "python:3.11-slim-bookworm"
USER_CODE_IMAGE = "vidmine-user-code:latest"


def build_images(engine: Engine, compose: Compose, base_image: str | None) -> tuple[str, dict]:
    """Base image (a registry's, or one made with mmdebstrap), wheelhouse, then the stack's
    images with the legacy builder (BuildKit would fetch its frontend from a registry)."""
    timings: dict[str, float] = {}
    if base_image is None:
        base_image = (
            REGISTRY_BASE_IMAGE if has_image(engine, REGISTRY_BASE_IMAGE) else LOCAL_BASE_IMAGE
        )
    if base_image == LOCAL_BASE_IMAGE and not has_image(engine, LOCAL_BASE_IMAGE):
        started = time.monotonic()
        # Their output goes to stderr: stdout carries only the JSON summary.
        run(
            ["bash", str(DEPLOY / "images" / "base-image.sh"), LOCAL_BASE_IMAGE],
            env=engine.env(),
            stdout=sys.stderr,
        )
        timings["base_image_s"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    run(["bash", str(DEPLOY / "images" / "wheelhouse.sh"), "--local-models"], stdout=sys.stderr)
    timings["wheelhouse_s"] = round(time.monotonic() - started, 1)
    compose.env["VIDMINE_PYTHON_IMAGE"] = base_image
    started = time.monotonic()
    compose("build", "-q")
    timings["images_s"] = round(time.monotonic() - started, 1)
    return base_image, timings
