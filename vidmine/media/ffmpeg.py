"""Running the ffmpeg and ffprobe command-line tools, with errors a user can act on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"
_STDERR_TAIL_LINES = 12
JPEG_QUALITY = "2"  # ffmpeg's mjpeg -q:v scale: 2 is near the best, files stay small


class MediaError(Exception):
    """A media file could not be read or converted; the message names the file and what to do."""


def stderr_tail(stderr: str) -> str:
    """The last lines of ffmpeg's stderr, for an error message."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return "\n".join(lines[-_STDERR_TAIL_LINES:])


def require_tool(tool: str) -> str:
    """The path of ``tool`` (ffmpeg, ffprobe), or a MediaError saying how to install it."""
    found = shutil.which(tool)
    if found is None:
        raise MediaError(
            f"{tool} is not installed or not on PATH; install ffmpeg "
            "(Debian: apt-get install ffmpeg, or run scripts/install.sh)"
        )
    return found


def run_ffmpeg(
    args: list[str], *, what: str, timeout_s: float | None = None, niceness: int = 0
) -> str:
    """Run ``ffmpeg`` with ``args`` and return its stderr (filters such as showinfo log there).

    ``what`` says in words what the call does and names the file, e.g. ``"normalize
    /x/a.mp4"``; it starts the error message when ffmpeg fails or runs past ``timeout_s``.
    ``niceness`` > 0 runs it at lower CPU priority (work that nothing waits for).
    """
    cmd = [require_tool(FFMPEG), "-hide_banner", "-nostdin", "-y", *args]
    lower_priority = (lambda: os.nice(niceness)) if niceness > 0 else None
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            preexec_fn=lower_priority,  # only os.nice: safe between fork and exec
        )
    except subprocess.TimeoutExpired as err:
        raise MediaError(
            f"{what}: ffmpeg did not finish within {timeout_s:g} s; the file may be very long "
            "or damaged. Try a shorter or re-exported file, or raise the time limit."
        ) from err
    if proc.returncode != 0:
        raise MediaError(
            f"{what}: ffmpeg failed (exit {proc.returncode}). The file may be damaged or in a "
            f"format ffmpeg cannot convert; re-export it (e.g. as H.264 MP4) and upload it again.\n"
            f"ffmpeg said:\n{stderr_tail(proc.stderr)}"
        )
    return proc.stderr


def run_ffprobe_json(path: Path, *, timeout_s: float | None = 60.0) -> dict[str, Any]:
    """``ffprobe``'s JSON description (format and streams) of the media file at ``path``."""
    cmd = [
        require_tool(FFPROBE),
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        str(path),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as err:
        raise MediaError(
            f"{path}: ffprobe did not finish within {timeout_s:g} s; the file may be damaged. "
            "Re-export or re-upload it."
        ) from err
    if proc.returncode != 0:
        raise MediaError(
            f"{path}: ffprobe cannot read this file as audio or video: it is damaged, "
            "incomplete (e.g. an interrupted upload or copy) or not a media file. "
            f"Re-export or upload it again.\nffprobe said:\n{stderr_tail(proc.stderr)}"
        )
    try:
        return json.loads(proc.stdout or "{}")
    except json.JSONDecodeError as err:
        raise MediaError(f"{path}: ffprobe printed output that is not JSON: {err}") from err


def square_pixels_filter(max_height: int) -> str:
    """Square pixels, at most ``max_height`` high, never upscaled, even sides (JPEG chroma)."""
    return (
        f"scale=w='2*trunc(iw*sar*min(1\\,{max_height}/ih)/2)'"
        f":h='2*trunc(min(ih\\,{max_height})/2)',setsar=1"
    )


@contextmanager
def atomic_output(final_path: Path) -> Iterator[Path]:
    """A temp path beside ``final_path`` (same suffix, so ffmpeg picks the same muxer),
    renamed onto ``final_path`` when the block succeeds and removed when it fails."""
    final_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        dir=final_path.parent, prefix=f".{final_path.stem}.", suffix=f".part{final_path.suffix}"
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, final_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
