"""Frames sampled at a fixed rate, with their exact presentation times.

The decode pass (:mod:`vidmine.media.decode`) writes such frames for the stages after
it: the OCR samples and the keyframe candidates. Each set is a folder of JPEGs plus a
manifest of their times and rate, read (and consumed) by the stage that uses them; a
stage re-run alone finds no manifest and samples the video itself.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

from vidmine.files import atomic_write_text
from vidmine.media.ffmpeg import MediaError

MANIFEST = "samples.json"


def rate_select_filter(fps: float) -> str:
    """ffmpeg's select expression keeping the first frame of each ``1/fps`` step.

    The epsilon stops a frame that sits exactly on a step boundary from falling into the
    step before. Unlike ffmpeg's fps filter, which stamps whichever frame it picks with
    the grid time, this keeps each frame's real presentation time (read back from a
    showinfo filter after it), and works on variable frame rate video.
    """
    if fps <= 0:
        raise ValueError(f"a sample rate must be above 0 frames per second, got {fps}")
    return f"select='isnan(prev_t)+gt(floor(t*{fps:g}+1e-6)\\,floor(prev_t*{fps:g}+1e-6))'"


def showinfo_times(stderr: str, instance: str) -> list[float]:
    """Seconds of each frame the ``showinfo@{instance}`` filter logged, in order."""
    name = re.escape(instance)
    time_base = re.search(rf"\[showinfo@{name} @ [^\]]+\] config in time_base: (\d+)/(\d+)", stderr)
    if time_base is None:
        return []
    base = Fraction(int(time_base[1]), int(time_base[2]))
    frames = re.finditer(rf"\[showinfo@{name} @ [^\]]+\] n:\s*\d+ pts:\s*(-?\d+)", stderr)
    return [max(float(int(m[1]) * base), 0.0) for m in frames]


def collect_frames(
    stderr: str,
    instance: str,
    written_dir: Path,
    out_dir: Path,
    name: str,
    *,
    what: str,
) -> list[tuple[float, Path]]:
    """Move the frames ffmpeg wrote to ``written_dir`` (``00001.jpg``...) to ``out_dir``
    named ``name`` (e.g. ``sample_{index:05d}.jpg``), with their times from the
    ``showinfo@{instance}`` lines of ``stderr``. Frames of that name left in ``out_dir``
    by an earlier run are removed first."""
    if f"[showinfo@{instance} @" not in stderr:
        raise MediaError(f"{what}: ffmpeg reported no frames to sample")
    times = showinfo_times(stderr, instance)
    out_dir.mkdir(parents=True, exist_ok=True)
    stale = re.compile(re.sub(r"\\\{index[^}]*\\\}", r"\\d+", re.escape(name)))
    for old in out_dir.iterdir():
        if stale.fullmatch(old.name):
            old.unlink()
    frames = []
    for index, seconds in enumerate(times):
        written = written_dir / f"{index + 1:05d}.jpg"
        if not written.exists():
            break
        final = out_dir / name.format(index=index)
        written.replace(final)
        frames.append((seconds, final))
    return frames


def write_manifest(out_dir: Path, fps: float, frames: list[tuple[float, Path]]) -> Path:
    """Record which frames ``out_dir`` holds and at what rate, for a later stage."""
    manifest = {"fps": fps, "frames": [[seconds, path.name] for seconds, path in frames]}
    return atomic_write_text(out_dir / MANIFEST, json.dumps(manifest))


def read_manifest(out_dir: Path, fps: float) -> list[tuple[float, Path]] | None:
    """The frames a decode pass left in ``out_dir`` at rate ``fps``, consuming the record
    (the stage may delete frames it does not keep); None when there are none, they were
    taken at another rate, or some are gone."""
    path = out_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    path.unlink(missing_ok=True)
    if manifest.get("fps") != fps:
        return None
    frames = [(float(seconds), out_dir / name) for seconds, name in manifest["frames"]]
    if not all(frame.is_file() for _, frame in frames):
        return None
    return frames
