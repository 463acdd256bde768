"""One decode of the source feeds every stage that reads its pictures and sound.

Decoding is the floor of what processing a video costs, so it is done once: a single
ffmpeg process decodes the source and splits the decoded frames into

- the normalized video (720p H.264, see :mod:`vidmine.media.normalize`), or a remux when
  the source already conforms;
- small frames piped to PySceneDetect's AdaptiveDetector (scene detection);
- the OCR samples, one frame per ``1/ocr_fps`` seconds at up to 1080 lines, written as
  JPEG with their exact presentation times (see :mod:`vidmine.media.ocr`);
- the 16 kHz mono wav that speech recognition reads.

Every output is optional, so a stage re-run alone decodes only for itself. Outputs are
written beside their final names and renamed when the pass succeeds: a failure leaves
the previous files in place.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from vidmine.media import ocr
from vidmine.media.ffmpeg import (
    MediaError,
    atomic_output,
    require_tool,
    square_pixels_filter,
    stderr_tail,
)
from vidmine.media.normalize import (
    AUDIO_SAMPLE_RATE,
    VideoNormalization,
    encoder_args,
    normalization_filter,
    probe_normalized,
    video_conforms,
)
from vidmine.media.probe import main_video_stream
from vidmine.media.scenes import (
    PipedFrames,
    detection_filter,
    detection_size,
    scene_manager,
    scenes_found,
    source_frame_rate,
)
from vidmine.models import ProbeResult, Scene

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecodeResult:
    """What one pass produced; None for the outputs that were not asked for."""

    normalized: VideoNormalization | None
    audio_path: Path | None
    scenes: list[Scene] | None
    ocr_samples: list[tuple[float, Path]] | None
    frames_decoded: int  # frames the scene detector read (0 when it did not run)
    seconds: float  # wall time of the pass


def decode_once(
    src: Path,
    probe: ProbeResult,
    *,
    normalized_path: Path | None = None,
    audio_path: Path | None = None,
    detect_scenes: bool = False,
    ocr_fps: float | None = None,
    ocr_dir: Path | None = None,
    x264_preset: str | None = None,
) -> DecodeResult:
    """Decode ``src`` once and make the outputs asked for (see the module docstring)."""
    src = Path(src)
    video = main_video_stream(probe)
    wants_pictures = normalized_path is not None or detect_scenes or ocr_fps
    if wants_pictures and (video is None or not probe.width or not probe.height):
        raise MediaError(f"{src}: has no video stream; it is audio only.")
    if audio_path is not None and not probe.has_audio:
        raise MediaError(f"{src}: has no audio stream to extract.")
    if ocr_fps is not None and (ocr_fps <= 0 or ocr_dir is None):
        raise ValueError("OCR sampling needs a rate above 0 and a folder for the samples")

    branches: list[str] = []  # filter-graph chains fed by the split
    outputs: list[str] = []
    # Work files go beside the outputs (the source's folder may be read-only), so the
    # final renames stay on one file system.
    first_output = next((p for p in (normalized_path, audio_path, ocr_dir) if p is not None), None)
    if first_output is not None:
        first_output.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(
        tempfile.mkdtemp(prefix=".decode-", dir=first_output.parent if first_output else None)
    )
    temps: dict[str, Path] = {}
    reencode = normalized_path is not None and not video_conforms(probe)
    if normalized_path is not None:
        temps["normalized"] = scratch / "normalized.mp4"
        if reencode:
            branches.append(f"{normalization_filter(probe)}[norm]")
            outputs += ["-map", "[norm]", *encoder_args(x264_preset)]
        else:
            outputs += ["-map", f"0:{video['index']}", "-c:v", "copy"]
        outputs += ["-an", "-sn", "-dn", "-map_metadata", "-1", "-movflags", "+faststart"]
        outputs += ["-f", "mp4", str(temps["normalized"])]
    size = detection_size(probe.width or 1, probe.height or 1)
    if detect_scenes:
        branches.append(f"{detection_filter(size)}[scenes]")
        outputs += ["-map", "[scenes]", "-fps_mode", "passthrough", "-f", "rawvideo", "pipe:1"]
    if ocr_fps:
        (scratch / "ocr").mkdir()
        branches.append(
            f"{ocr.sample_select_filter(ocr_fps)},showinfo@ocr,"
            f"{square_pixels_filter(ocr.SAMPLE_MAX_HEIGHT)}[ocr]"
        )
        outputs += ["-map", "[ocr]", "-fps_mode", "passthrough", "-q:v", ocr.JPEG_QUALITY]
        outputs.append(str(scratch / "ocr" / "%05d.jpg"))
    if audio_path is not None:
        temps["audio"] = scratch / "audio.wav"
        outputs += ["-map", "0:a:0", "-vn", "-sn", "-dn", "-map_metadata", "-1", "-ac", "1"]
        outputs += ["-ar", str(AUDIO_SAMPLE_RATE), "-c:a", "pcm_s16le", "-f", "wav"]
        outputs.append(str(temps["audio"]))
    if not outputs:
        raise ValueError("decode_once needs at least one output")

    graph: list[str] = []
    if branches:
        labels = "".join(f"[b{i}]" for i in range(len(branches)))
        graph.append(f"[0:{video['index']}]split={len(branches)}{labels}")
        graph += [f"[b{i}]{chain}" for i, chain in enumerate(branches)]
    cmd = [require_tool("ffmpeg"), "-hide_banner", "-nostdin", "-y", "-nostats"]
    cmd += ["-loglevel", "info", "-i", str(src)]
    if graph:
        cmd += ["-filter_complex", ";".join(graph)]
    cmd += outputs

    manager = scene_manager()
    started = time.monotonic()
    frames = 0
    try:
        with tempfile.TemporaryFile(dir=scratch) as stderr_file:
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE if detect_scenes else subprocess.DEVNULL,
                stderr=stderr_file,
            )
            try:
                if detect_scenes:
                    stream = PipedFrames(proc.stdout, size, source_frame_rate(probe), src)
                    frames = manager.detect_scenes(video=stream)
                    # Whatever the detector did not read must still be drained.
                    threading.Thread(target=proc.stdout.read, daemon=True).start()
                returncode = proc.wait()
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            stderr_file.seek(0)
            stderr = stderr_file.read().decode("utf-8", "replace")
        if returncode != 0:
            raise MediaError(
                f"decode {src}: ffmpeg failed (exit {returncode}). The file may be damaged or "
                "in a format ffmpeg cannot convert; re-export it (e.g. as H.264 MP4) and upload "
                f"it again.\nffmpeg said:\n{stderr_tail(stderr)}"
            )
        scenes = scenes_found(manager, frames) if detect_scenes else None
        if detect_scenes and not scenes:
            raise MediaError(
                f"{src}: no video frame could be decoded for scene detection. Re-export it as "
                "H.264 MP4 and upload it again."
            )
        samples = None
        if ocr_fps and ocr_dir is not None:
            samples = ocr.collect_samples(stderr, scratch / "ocr", ocr_dir, what=str(src))
        normalized = None
        if normalized_path is not None:
            with atomic_output(normalized_path) as final_tmp:
                temps["normalized"].replace(final_tmp)
                normalized = probe_normalized(src, final_tmp, normalized_path, reencode)
        if audio_path is not None:
            with atomic_output(audio_path) as final_tmp:
                temps["audio"].replace(final_tmp)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return DecodeResult(
        normalized=normalized,
        audio_path=audio_path,
        scenes=scenes,
        ocr_samples=samples,
        frames_decoded=frames,
        seconds=time.monotonic() - started,
    )
