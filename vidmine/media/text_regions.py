"""Where a picture may have text: PP-OCRv4's text detector, so that tesseract reads only that.

The detector is PaddleOCR's PP-OCRv4 detection network (DB, "Differentiable Binarization"),
the 4.7 MB ONNX file that the ``rapidocr-onnxruntime`` wheel ships. vidmine runs the file in
its own ONNX Runtime session and does DB's post-processing itself (threshold the text
probability map, find its contours, grow each contour's rectangle by DB's unclip distance):
the wheel's own detector class would import its whole package, whose recognizer, Shapely,
pyclipper, PyYAML and tqdm vidmine has no use for. Growing a rectangle by the unclip distance
with rounded corners and taking the rectangle around the result (what pyclipper does there)
is the rectangle grown by that distance on every side, so no polygon library is needed.

This module finds regions; it does not read them (tesseract does, in ``vidmine.media.ocr``),
and it never downloads anything: a missing model file is an error that says what to install.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from vidmine.media.ffmpeg import MediaError

MODEL_DISTRIBUTION = "rapidocr-onnxruntime"
MODEL_FILE = "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"
# A setting for tests and unusual installs: the detection model file to load instead.
MODEL_ENV = "VIDMINE_TEXT_DETECTOR_MODEL"
# DB's post-processing as PaddleOCR and RapidOCR configure it for PP-OCRv4 detection.
_PIXEL_THRESHOLD = 0.3  # a pixel is text when the network says so with this probability
_BOX_THRESHOLD = 0.5  # a region is kept when its pixels' mean probability reaches this
_UNCLIP_RATIO = 1.6  # the network marks a shrunk text core; grow it back by area*ratio/perimeter
_MIN_SIDE = 3  # pixels of the map: smaller specks are noise
_MAX_CANDIDATES = 1000
# The network's input sides are multiples of 32. Pictures are looked at with their longer
# side at most this long: a 1280x720 OCR sample at 736x416, 0.08-0.09 CPU-s a frame on one
# thread here, against 0.24 s at its own size, which also found "text" in cartoon shapes
# (45 of 62 Popeye samples; 5 at 736). At 736 a 720p frame's 12 px caption (DejaVu Sans)
# is still found; at 640 it was missed.
MAX_SIDE = 736


@dataclass(frozen=True)
class TextRegion:
    """An upright rectangle of a picture, in its pixels, that may hold text."""

    left: int
    top: int
    right: int
    bottom: int
    score: float  # the detector's mean text probability over the region

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left


def model_path() -> Path:
    """The PP-OCRv4 detection model file, from ``$VIDMINE_TEXT_DETECTOR_MODEL`` or the
    ``rapidocr-onnxruntime`` wheel."""
    configured = os.environ.get(MODEL_ENV)
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise MediaError(_missing_model(f"{MODEL_ENV} names {path}, which is not a file"))
        return path
    return packaged_model(MODEL_DISTRIBUTION)


def packaged_model(distribution: str) -> Path:
    """The detection model file that ``distribution`` installed, found without importing
    the package (importing rapidocr_onnxruntime would import its recognizer too)."""
    try:
        found = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError as err:
        raise MediaError(_missing_model(f"the package {distribution} is not installed")) from err
    path = Path(str(found.locate_file(MODEL_FILE)))
    if not path.is_file():
        raise MediaError(_missing_model(f"{path} is missing from {distribution}"))
    return path


def _missing_model(what: str) -> str:
    return (
        f"OCR's text detector needs the PP-OCRv4 detection model, and {what}. Install "
        "vidmine's local extra (scripts/install.sh), or just the model's wheel: "
        f"pip install --no-deps {MODEL_DISTRIBUTION}==1.4.4 (or set {MODEL_ENV} to a copy "
        "of ch_PP-OCRv4_det_infer.onnx)"
    )


class TextDetector:
    """PP-OCRv4 text detection on one ONNX Runtime thread.

    One thread: OCR runs one process per core (see ``vidmine.media.ocr``), and ONNX Runtime's
    default of a thread per core in each of them would only make them fight.
    """

    def __init__(self, path: Path | None = None, *, max_side: int = MAX_SIDE) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(path or model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        self.max_side = max_side

    def regions(self, image: Image.Image) -> list[TextRegion]:
        """The regions of ``image`` that may hold text, top to bottom, then left to right."""
        rgb = np.asarray(image.convert("RGB"))
        height, width = rgb.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        net_h = max(32, round(height * scale / 32) * 32)
        net_w = max(32, round(width * scale / 32) * 32)
        # PaddleOCR's networks were trained on BGR pictures (OpenCV's order).
        bgr = cv2.resize(rgb[:, :, ::-1], (net_w, net_h), interpolation=cv2.INTER_LINEAR)
        batch = (bgr.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[np.newaxis]
        probability = self._session.run(None, {self._input: batch})[0][0, 0]
        found = _regions_from_map(probability, width / net_w, height / net_h, width, height)
        return sorted(found, key=lambda r: (r.top, r.left))


def _regions_from_map(
    probability: np.ndarray, scale_x: float, scale_y: float, width: int, height: int
) -> list[TextRegion]:
    mask = (probability > _PIXEL_THRESHOLD).astype(np.uint8)
    mask = cv2.dilate(mask, np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(mask * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    map_h, map_w = probability.shape
    regions = []
    for contour in contours[:_MAX_CANDIDATES]:
        (cx, cy), (w, h), angle = cv2.minAreaRect(contour)
        if min(w, h) < _MIN_SIDE:
            continue
        corners = cv2.boxPoints(((cx, cy), (w, h), angle))
        score = _mean_inside(probability, corners)
        if score < _BOX_THRESHOLD:
            continue
        grow = w * h * _UNCLIP_RATIO / (2 * (w + h))
        w, h = w + 2 * grow, h + 2 * grow
        if min(w, h) < _MIN_SIDE + 2:
            continue
        corners = cv2.boxPoints(((cx, cy), (w, h), angle))
        xs = np.clip(corners[:, 0], 0, map_w) * scale_x
        ys = np.clip(corners[:, 1], 0, map_h) * scale_y
        left, right = int(max(0, np.floor(xs.min()))), int(min(width, np.ceil(xs.max())))
        top, bottom = int(max(0, np.floor(ys.min()))), int(min(height, np.ceil(ys.max())))
        if right - left > 3 and bottom - top > 3:
            regions.append(TextRegion(left, top, right, bottom, round(float(score), 3)))
    return regions


def _mean_inside(probability: np.ndarray, corners: np.ndarray) -> float:
    """The mean probability inside a polygon (DB's "fast" box score)."""
    h, w = probability.shape
    x0 = int(np.clip(np.floor(corners[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(corners[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(corners[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(corners[:, 1].max()), 0, h - 1))
    inside = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    cv2.fillPoly(inside, [(corners - [x0, y0]).astype(np.int32)], 1)
    return cv2.mean(probability[y0 : y1 + 1, x0 : x1 + 1], inside)[0]
