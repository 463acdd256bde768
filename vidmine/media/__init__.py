"""Media processing without Dagster: probing, normalization, scenes, keyframes, OCR and
simple visual facts. Each module wraps one external tool (ffmpeg, PySceneDetect,
tesseract, OpenCV) behind plain functions that return the dataclasses in
:mod:`vidmine.models` and raise :class:`vidmine.media.ffmpeg.MediaError` with a message
a user can act on."""
