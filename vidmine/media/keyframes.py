"""Keyframes: representative JPEG frames per scene, deduplicated by perceptual hash.

Each scene gets its middle frame; a scene longer than ``long_scene_s`` gets
``per_scene`` frames evenly spaced through it. Frames come from the source video
(upright, square pixels, at most ``max_height`` lines high) and each keyframe's
timestamp is the presentation time of the frame actually written, read back from
ffmpeg's showinfo filter, so a timestamp always names a real frame.

Two ways to get the frames, chosen by cost: an accurate seek per frame (cheap when
frames are sparse, it decodes only from the previous key frame) or one decoding pass
that picks all frames at once (cheaper when scenes are short and frames are dense).
Frames a seek cannot reach (some MPEG-TS files) are taken by the decoding pass.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import imagehash
from PIL import Image

from vidmine.media.ffmpeg import JPEG_QUALITY, MediaError, run_ffmpeg, square_pixels_filter
from vidmine.media.probe import probe_media
from vidmine.models import Keyframe, Scene

log = logging.getLogger(__name__)

KEYFRAME_NAME = "frame_{index:03d}.jpg"
# Frames the decode pass samples for this stage to pick from (see pick_candidates): two
# a second put one within a quarter second of any moment.
CANDIDATES_DIR = "keyframe_candidates"
CANDIDATE_NAME = "candidate_{index:05d}.jpg"
CANDIDATE_FPS = 2.0
_KEYFRAME_PATTERN = re.compile(r"frame_\d{3,}\.jpg")
# Measured on a 1080p HEVC film: one accurate seek costs about as much as decoding
# 7-8 s of video, so one pass wins once there is a frame per ~8 s of video.
_SEEK_COST_VIDEO_S = 8.0
_SEEKS_PER_FFMPEG = 8  # inputs per ffmpeg process; each holds a decoder in memory
_INFO = re.compile(r"\[showinfo@kf(\d+) @ [^\]]+\] config in time_base: (\d+)/(\d+)")
_FRAME = re.compile(r"\[showinfo@kf(\d+) @ [^\]]+\] n:\s*(\d+) pts:\s*(-?\d+)")


@dataclass(frozen=True)
class KeyframeTarget:
    """Where to take a keyframe: a time (seconds from the video start) in a scene."""

    scene_index: int
    time_s: float


@dataclass(frozen=True)
class _Extracted:
    target: KeyframeTarget
    path: Path
    pts_s: float  # seconds from the video start


def keyframe_targets(
    scenes: list[Scene], *, per_scene: int = 1, long_scene_s: float = 10.0
) -> list[KeyframeTarget]:
    """The times to take keyframes at: each scene's middle, or ``per_scene`` evenly
    spaced times (the middles of equal parts) in scenes longer than ``long_scene_s``."""
    targets = []
    for scene in scenes:
        length = max(scene.end_s - scene.start_s, 0.0)
        count = per_scene if length > long_scene_s else 1
        targets.extend(
            KeyframeTarget(scene.index, scene.start_s + length * (k + 0.5) / count)
            for k in range(max(count, 1))
        )
    return targets


def _seconds_arg(seconds: float) -> str:
    # Rounded down: rounding up could step past the frame the time was aimed at.
    return f"{math.floor(seconds * 1e6) / 1e6:.6f}"


def _frame_times(stderr: str) -> dict[int, list[Fraction]]:
    """Per showinfo instance ``kfN``: the times (seconds, absolute) of the frames it saw."""
    time_bases = {int(m[1]): Fraction(int(m[2]), int(m[3])) for m in _INFO.finditer(stderr)}
    times: dict[int, list[Fraction]] = {}
    for m in _FRAME.finditer(stderr):
        instance = int(m[1])
        times.setdefault(instance, []).append(int(m[3]) * time_bases[instance])
    return times


def _extract_by_seeking(
    video_path: Path,
    targets: list[KeyframeTarget],
    seek_times: list[float],
    start_time: float,
    work: Path,
    max_height: int,
) -> dict[int, _Extracted]:
    extracted = {}
    for first in range(0, len(targets), _SEEKS_PER_FFMPEG):
        batch = list(enumerate(targets[first : first + _SEEKS_PER_FFMPEG], start=first))
        inputs: list[str] = []
        graph: list[str] = []
        outputs: list[str] = []
        for slot, (i, _target) in enumerate(batch):
            # -copyts keeps the source timestamps so showinfo reports the real PTS.
            inputs += ["-ss", _seconds_arg(seek_times[i]), "-copyts", "-i", str(video_path)]
            graph.append(f"[{slot}:v:0]showinfo@kf{i},{square_pixels_filter(max_height)}[o{i}]")
            outputs += ["-map", f"[o{i}]", "-frames:v", "1", "-q:v", JPEG_QUALITY]
            outputs.append(str(work / f"seek_{i:05d}.jpg"))
        stderr = run_ffmpeg(
            [
                "-nostats",
                "-loglevel",
                "info",
                *inputs,
                "-filter_complex",
                ";".join(graph),
                *outputs,
            ],
            what=f"extract keyframes from {video_path}",
        )
        times = _frame_times(stderr)
        for i, target in batch:
            path = work / f"seek_{i:05d}.jpg"
            if path.exists() and times.get(i):
                extracted[i] = _Extracted(target, path, float(times[i][0]) - start_time)
    return extracted


def _extract_in_one_pass(
    video_path: Path,
    targets: list[KeyframeTarget],
    seek_times: list[float],
    start_time: float,
    work: Path,
    max_height: int,
) -> dict[int, _Extracted]:
    # Select, for each target, the first frame at or after it (prev_t is NAN on the first
    # frame, so not(gte(...)) is then true).
    wanted = sorted({_seconds_arg(seek + start_time) for seek in seek_times}, key=float)
    terms = "+".join(f"gte(t,{w})*not(gte(prev_t,{w}))" for w in wanted)
    script = work / "select.filter"
    script.write_text(
        f"select='{terms.replace(',', chr(92) + ',')}',showinfo@kf0,{square_pixels_filter(max_height)}",
        encoding="utf-8",
    )
    stderr = run_ffmpeg(
        [
            "-nostats",
            "-loglevel",
            "info",
            "-copyts",
            "-i",
            str(video_path),
            "-map",
            "0:v:0",
            "-filter_script:v",
            str(script),
            "-fps_mode",
            "passthrough",
            "-q:v",
            JPEG_QUALITY,
            str(work / "scan_%05d.jpg"),
        ],
        what=f"extract keyframes from {video_path}",
    )
    frame_times = [float(t) for t in _frame_times(stderr).get(0, [])]
    extracted = {}
    for i, (target, seek) in enumerate(zip(targets, seek_times, strict=True)):
        wanted_abs = float(_seconds_arg(seek + start_time))
        match = next((n for n, t in enumerate(frame_times) if t >= wanted_abs), None)
        path = work / f"scan_{(match or 0) + 1:05d}.jpg"
        if match is not None and path.exists():
            extracted[i] = _Extracted(target, path, frame_times[match] - start_time)
    return extracted


def _extract(
    video_path: Path,
    targets: list[KeyframeTarget],
    seek_times: list[float],
    start_time: float,
    work: Path,
    max_height: int,
    *,
    seek: bool,
) -> list[_Extracted]:
    found: dict[int, _Extracted] = {}
    if seek and targets:
        try:
            found = _extract_by_seeking(
                video_path, targets, seek_times, start_time, work, max_height
            )
        except MediaError as err:
            log.warning("seeking in %s failed, decoding it whole instead: %s", video_path, err)
    # Seeking finds nothing in some files (e.g. MPEG-TS with sparse key frames); one
    # decoding pass always reaches every frame.
    missing = [i for i in range(len(targets)) if i not in found]
    if missing:
        scanned = _extract_in_one_pass(
            video_path,
            [targets[i] for i in missing],
            [seek_times[i] for i in missing],
            start_time,
            work,
            max_height,
        )
        found.update({missing[j]: item for j, item in scanned.items()})
    for i, target in enumerate(targets):
        if i not in found:
            log.warning("no frame at %.3f s in %s (past the end?)", target.time_s, video_path)
    return list(found.values())


def pick_candidates(
    targets: list[KeyframeTarget], scenes: list[Scene], candidates: list[tuple[float, Path]]
) -> dict[int, tuple[float, Path]]:
    """For each target (by index), the candidate frame inside its scene nearest to it;
    targets whose scene holds no candidate (a scene shorter than the sampling step) are
    left out."""
    bounds = {scene.index: (scene.start_s, scene.end_s) for scene in scenes}
    chosen: dict[int, tuple[float, Path]] = {}
    for i, target in enumerate(targets):
        start, end = bounds.get(target.scene_index, (target.time_s, target.time_s))
        inside = [c for c in candidates if start <= c[0] < end]
        if inside:
            chosen[i] = min(inside, key=lambda c: abs(c[0] - target.time_s))
    return chosen


def extract_keyframes(
    video_path: Path,
    scenes: list[Scene],
    out_dir: Path,
    *,
    per_scene: int = 1,
    long_scene_s: float = 10.0,
    hash_distance: int = 4,
    max_height: int = 720,
    method: Literal["auto", "seek", "scan"] = "auto",
    candidates: list[tuple[float, Path]] | None = None,
) -> list[Keyframe]:
    """Write ``frame_000.jpg``... to ``out_dir`` and return them in time order.

    ``candidates`` (time, JPEG) are frames sampled while the video was decoded (see
    :mod:`vidmine.media.decode`): a target takes the one in its scene nearest to it, and
    only targets with none are extracted from ``video_path``. A frame whose pHash is
    within ``hash_distance`` bits of an already kept frame is dropped, and the kept ones
    are numbered 0..n-1. ``method`` forces seeking per frame or one decoding pass for the
    frames extracted; ``auto`` picks the cheaper one.
    """
    video_path = Path(video_path)
    targets = keyframe_targets(scenes, per_scene=per_scene, long_scene_s=long_scene_s)
    out_dir.mkdir(parents=True, exist_ok=True)
    picked = pick_candidates(targets, scenes, candidates or [])
    from_video = [i for i in range(len(targets)) if i not in picked]
    extracted = [_Extracted(targets[i], path, seconds) for i, (seconds, path) in picked.items()]
    if from_video:
        probe = probe_media(video_path)
        if not probe.has_video:
            raise MediaError(f"{video_path}: has no video stream, so it has no keyframes.")
        start_time = float(probe.raw.get("format", {}).get("start_time") or 0.0)
        # Aim half a frame early so rounding can never skip to the next frame.
        half_frame = 0.5 / probe.fps if probe.fps else 0.0
        seek_times = [max(targets[i].time_s - half_frame, 0.0) for i in from_video]
        if method == "auto":
            dense = len(from_video) * _SEEK_COST_VIDEO_S >= probe.duration_s
            method = "scan" if dense else "seek"
    work = Path(tempfile.mkdtemp(prefix=".keyframes-", dir=out_dir))
    try:
        if from_video:
            extracted += _extract(
                video_path,
                [targets[i] for i in from_video],
                seek_times,
                start_time,
                work,
                max_height,
                seek=method == "seek",
            )
        kept: list[tuple[_Extracted, imagehash.ImageHash]] = []
        seen_paths: set[Path] = set()
        for item in sorted(extracted, key=lambda e: e.pts_s):
            if item.path in seen_paths:
                continue
            seen_paths.add(item.path)
            with Image.open(item.path) as image:
                phash = imagehash.phash(image)
            if all(phash - other > hash_distance for _, other in kept):
                kept.append((item, phash))
        keyframes = []
        for index, (item, phash) in enumerate(kept):
            final = out_dir / KEYFRAME_NAME.format(index=index)
            with Image.open(item.path) as image:
                width, height = image.size
            item.path.replace(final)
            keyframes.append(
                Keyframe(
                    index=index,
                    scene_index=item.target.scene_index,
                    timestamp_s=round(max(item.pts_s, 0.0), 6),
                    path=final,
                    phash=str(phash),
                    width=width,
                    height=height,
                )
            )
        # Frames left from an earlier run with more keyframes would be mistaken for ours.
        keep_names = {k.path.name for k in keyframes}
        for stale in out_dir.iterdir():
            if _KEYFRAME_PATTERN.fullmatch(stale.name) and stale.name not in keep_names:
                stale.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return keyframes
