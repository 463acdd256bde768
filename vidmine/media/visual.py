"""Cheap visual facts about a keyframe, for the offline caption descriptor: its dominant
colours with plain names, and how many frontal faces it shows."""

from __future__ import annotations

import colorsys
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from vidmine.media.ffmpeg import MediaError

_ANALYSIS_SIZE = (160, 160)  # colour shares barely change below full size, and it is fast
_FACE_CASCADE = "haarcascade_frontalface_default.xml"
# Hue ranges (degrees, upper bound exclusive) and the plain name of each.
_HUE_NAMES = (
    (15, "red"),
    (40, "orange"),
    (70, "yellow"),
    (160, "green"),
    (195, "teal"),
    (255, "blue"),
    (290, "purple"),
    (345, "magenta"),
    (360, "red"),
)
_GRAYS = (
    (0.12, "black"),
    (0.35, "dark gray"),
    (0.65, "gray"),
    (0.88, "light gray"),
    (1.01, "white"),
)


def colour_name(rgb: tuple[int, int, int]) -> str:
    """A plain name for ``rgb`` that a caption can use, e.g. "dark blue", "muted green",
    "brown", "light gray": hue, then lightness and saturation as modifiers."""
    hue, lightness, saturation = colorsys.rgb_to_hls(*(channel / 255 for channel in rgb))
    if saturation < 0.12 or lightness < 0.06 or lightness > 0.96:
        return next(name for limit, name in _GRAYS if lightness < limit)
    degrees = hue * 360
    name = next(name for limit, name in _HUE_NAMES if degrees < limit)
    if name in ("red", "orange", "yellow") and lightness < 0.4 and degrees < 50:
        return "brown"  # dark orange and red are what people call brown
    if name in ("orange", "yellow") and saturation < 0.4 and lightness >= 0.5:
        return "beige"
    if name in ("red", "magenta") and lightness >= 0.7:
        return "pink"
    if lightness < 0.3:
        name = f"dark {name}"
    elif lightness > 0.7:
        name = f"light {name}"
    return f"muted {name}" if saturation < 0.3 else name


def _open_rgb(image_path: Path) -> Image.Image:
    try:
        with Image.open(image_path) as image:
            return image.convert("RGB")
    except (OSError, ValueError) as err:
        raise MediaError(
            f"{image_path}: cannot read the image ({err}); is it a picture file?"
        ) from err


def dominant_colours(image_path: Path, k: int = 3) -> list[tuple[str, str, float]]:
    """Up to ``k`` main colours of the image, largest share first, as
    (plain name, ``#rrggbb``, share of the picture 0..1). Clusters that get the same
    plain name are reported once, with their shares added and the larger one's hex."""
    image = _open_rgb(image_path)
    image.thumbnail(_ANALYSIS_SIZE)
    # Median cut gives stable starting clusters; a few k-means passes refine them.
    quantized = image.quantize(colors=k, method=Image.Quantize.MEDIANCUT, kmeans=3)
    palette = quantized.getpalette() or []
    counts = quantized.getcolors() or []
    total = sum(count for count, _ in counts) or 1
    shares: dict[str, tuple[str, float]] = {}
    for count, index in sorted(counts, reverse=True):
        red, green, blue = palette[index * 3 : index * 3 + 3]
        name = colour_name((red, green, blue))
        hex_code, share = shares.get(name, (f"#{red:02x}{green:02x}{blue:02x}", 0.0))
        shares[name] = (hex_code, share + count / total)
    return [(name, hex_code, round(share, 3)) for name, (hex_code, share) in shares.items()]


@lru_cache(maxsize=1)
def _face_detector() -> cv2.CascadeClassifier:
    if not hasattr(cv2, "CascadeClassifier"):
        raise MediaError(
            f"OpenCV {cv2.__version__} has no Haar cascade face detector (OpenCV 5 removed it); "
            "install opencv-python<5, e.g. pip install 'opencv-python>=4.10,<5'"
        )
    cascade_path = Path(cv2.data.haarcascades) / _FACE_CASCADE
    detector = cv2.CascadeClassifier(str(cascade_path))
    if detector.empty():
        raise MediaError(
            f"{cascade_path}: the face detector file is missing or unreadable; "
            "reinstall opencv-python (pip install --force-reinstall 'opencv-python<5')"
        )
    return detector


def count_faces(image_path: Path) -> int:
    """How many frontal faces the Haar cascade finds in the image."""
    gray = np.asarray(_open_rgb(image_path).convert("L"))
    gray = cv2.equalizeHist(gray)
    # Tuned on keyframes of real footage: smaller windows and fewer neighbours found
    # "faces" in rock and foliage texture; faces worth a caption are not that small.
    min_side = max(24, min(gray.shape) // 12)
    faces = _face_detector().detectMultiScale(
        gray, scaleFactor=1.1, minNeighbors=7, minSize=(min_side, min_side)
    )
    return len(faces)
