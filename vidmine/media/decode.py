"""One decode of the source feeds every stage that reads its pictures and sound.

Decoding is the floor of what processing a video costs, so it is done once for the
analysis: a single ffmpeg process decodes the source and splits the decoded frames into

- small frames piped to PySceneDetect's AdaptiveDetector (scene detection);
- the OCR samples, one frame per ``1/ocr_fps`` seconds at up to 720 lines (see
  :mod:`vidmine.media.ocr`);
- keyframe candidates, two frames a second at up to 720 lines, from which the keyframes
  stage picks each scene's frames once the scenes are known
  (:mod:`vidmine.media.keyframes`);
- the 16 kHz mono wav that speech recognition reads.

Sampled frames are JPEGs with their exact presentation times (:mod:`vidmine.media.sampling`).
The 720p playback copy is not made here: re-encoding costs about as much as decoding
again, and nothing that makes the video searchable reads it (see
:mod:`vidmine.media.normalize`).

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

from vidmine.media.ffmpeg import (
    JPEG_QUALITY,
    MediaError,
    atomic_output,
    require_tool,
    square_pixels_filter,
    stderr_tail,
)
from vidmine.media.normalize import AUDIO_SAMPLE_RATE
from vidmine.media.probe import main_video_stream
from vidmine.media.sampling import collect_frames, rate_select_filter
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
class FrameSampling:
    """Frames to sample during the pass: ``fps`` a second, at most ``max_height`` lines,
    into ``folder`` named ``name`` (with ``{index}``)."""

    fps: float
    max_height: int
    folder: Path
    name: str


@dataclass(frozen=True)
class DecodeResult:
    """What one pass produced; None for the outputs that were not asked for."""

    audio_path: Path | None
    scenes: list[Scene] | None
    samples: dict[str, list[tuple[float, Path]]]  # by the key of each FrameSampling asked
    frames_decoded: int  # frames the scene detector read (0 when it did not run)
    seconds: float  # wall time of the pass


def decode_once(
    src: Path,
    probe: ProbeResult,
    *,
    audio_path: Path | None = None,
    detect_scenes: bool = False,
    samplings: dict[str, FrameSampling] | None = None,
) -> DecodeResult:
    """Decode ``src`` once and make the outputs asked for (see the module docstring)."""
    src = Path(src)
    samplings = {key: s for key, s in (samplings or {}).items() if s.fps > 0}
    video = main_video_stream(probe)
    if (detect_scenes or samplings) and (video is None or not probe.width or not probe.height):
        raise MediaError(f"{src}: has no video stream; it is audio only.")
    if audio_path is not None and not probe.has_audio:
        raise MediaError(f"{src}: has no audio stream to extract.")

    # Work files go beside the outputs (the source's folder may be read-only), so the
    # final renames stay on one file system.
    first_output = next(
        (p for p in (audio_path, *(s.folder for s in samplings.values())) if p is not None), None
    )
    if first_output is not None:
        first_output.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(
        tempfile.mkdtemp(prefix=".decode-", dir=first_output.parent if first_output else None)
    )
    branches: list[str] = []  # filter-graph chains fed by the split
    outputs: list[str] = []
    size = detection_size(probe.width or 1, probe.height or 1)
    if detect_scenes:
        branches.append(f"{detection_filter(size)}[scenes]")
        outputs += ["-map", "[scenes]", "-fps_mode", "passthrough", "-f", "rawvideo", "pipe:1"]
    for key, sampling in samplings.items():
        (scratch / key).mkdir()
        branches.append(
            f"{rate_select_filter(sampling.fps)},showinfo@{key},"
            f"{square_pixels_filter(sampling.max_height)}[{key}]"
        )
        outputs += ["-map", f"[{key}]", "-fps_mode", "passthrough", "-q:v", JPEG_QUALITY]
        outputs.append(str(scratch / key / "%05d.jpg"))
    if audio_path is not None:
        outputs += ["-map", "0:a:0", "-vn", "-sn", "-dn", "-map_metadata", "-1", "-ac", "1"]
        outputs += ["-ar", str(AUDIO_SAMPLE_RATE), "-c:a", "pcm_s16le", "-f", "wav"]
        outputs.append(str(scratch / "audio.wav"))
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
        samples = {
            key: collect_frames(
                stderr, key, scratch / key, sampling.folder, sampling.name, what=f"{key} of {src}"
            )
            for key, sampling in samplings.items()
        }
        if audio_path is not None:
            with atomic_output(audio_path) as final_tmp:
                (scratch / "audio.wav").replace(final_tmp)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return DecodeResult(
        audio_path=audio_path,
        scenes=scenes,
        samples=samples,
        frames_decoded=frames,
        seconds=time.monotonic() - started,
    )
