"""What the upload-folder sensor decides, as plain functions.

The sensor (``sensors/uploads.py``) only glues these to Dagster: list the files
in ``VIDMINE_HOME/uploads``, wait until each has stopped growing, refuse what is
plainly not a video (extension, empty, unknown profile folder), and key it by a
readable slug plus a short content fingerprint. Reading the file (probe, full hash)
is the first asset's work, not the sensor's. Nothing here raises for a bad file: a bad
file is an outcome, not an error.
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from vidmine.settings import MEDIA_EXTENSIONS

if TYPE_CHECKING:
    from vidmine.config import MediaLimits
    from vidmine.models import ProbeResult

# Names that browsers, rsync and editors use while a file is still being written.
PARTIAL_SUFFIXES = frozenset({".part", ".crdownload", ".tmp", ".partial", ".download", ".swp"})
KEY_HASH_CHARS = 10
MAX_SLUG_CHARS = 40
# Files dropped under uploads/backfill/ (or uploads/backfill/<profile>/) are bulk work.
BACKFILL_FOLDER = "backfill"
# Dagster's queue starts the runs of higher priority first (the dagster/priority tag).
INTERACTIVE_PRIORITY = 10
BULK_PRIORITY = -10


@dataclass(frozen=True)
class UploadFile:
    path: Path
    size_bytes: int
    mtime: float
    profile: str | None  # the sub-folder of uploads/ it was dropped into, if any
    # When the file arrived or last changed (rename, copy, write): unlike mtime, no copy
    # tool can set it to the past, so the sensor's cursor can be a watermark on it.
    ctime_ns: int = 0
    backfill: bool = False  # dropped under uploads/backfill/: bulk work

    @property
    def signature(self) -> str:
        """Changes whenever the file's content may have changed."""
        return f"{self.size_bytes}:{self.mtime:.6f}"


def slugify(name: str) -> str:
    """A readable, ASCII, lowercase slug of a file name (without its extension)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:MAX_SLUG_CHARS].strip("-") or "video"


def video_key(file_name: str, sha256: str) -> str:
    """The partition key of a video: ``<slug>-<first 10 hex of its fingerprint>``
    (``vidmine.media.probe.quick_fingerprint``).

    The same content under the same name is one video; different content under
    the same name gives two keys.
    """
    return f"{slugify(Path(file_name).stem)}-{sha256[:KEY_HASH_CHARS]}"


def scan_uploads(uploads_dir: Path) -> list[UploadFile]:
    """Every regular file under ``uploads_dir`` (one level of profile sub-folders, and the
    same again under ``backfill/``), skipping hidden files and names of files still being
    downloaded."""
    if not uploads_dir.is_dir():
        return []
    found: list[UploadFile] = []
    for path in sorted(uploads_dir.rglob("*")):
        rel = path.relative_to(uploads_dir)
        backfill = len(rel.parts) > 1 and rel.parts[0] == BACKFILL_FOLDER
        if backfill:
            rel = Path(*rel.parts[1:])
        if any(part.startswith(".") for part in rel.parts) or len(rel.parts) > 2:
            continue
        if path.suffix.lower() in PARTIAL_SUFFIXES:
            continue
        try:
            stat = path.stat()
        except OSError:  # deleted between listing and stat
            continue
        if not path.is_file():
            continue
        profile = rel.parts[0] if len(rel.parts) == 2 else None
        found.append(
            UploadFile(path, stat.st_size, stat.st_mtime, profile, stat.st_ctime_ns, backfill)
        )
    return found


def run_priority(upload: UploadFile, files_arriving: int, bulk_files: int) -> int:
    """A person who drops or uploads a few files should not wait behind a backfill: a file
    under ``uploads/backfill/``, or one of more than ``bulk_files`` arriving together, is
    bulk work; anything else is interactive and starts first."""
    if upload.backfill or files_arriving > bulk_files:
        return BULK_PRIORITY
    return INTERACTIVE_PRIORITY


def priority_label(priority: int | None) -> str | None:
    if priority is None:
        return None
    return "interactive" if priority > 0 else "bulk" if priority < 0 else "normal"


def unsupported_reason(upload: UploadFile, known_profiles: set[str]) -> str | None:
    """Why a file can't be taken before even opening it, or None."""
    if upload.profile is not None and upload.profile not in known_profiles:
        return (
            f"{upload.path.parent.name}/ is not a profile folder; "
            f"use one of {sorted(known_profiles)} or drop the file directly into uploads/"
        )
    ext = upload.path.suffix.lower()
    if ext not in MEDIA_EXTENSIONS:
        return (
            f"not a video or audio file (extension {ext or 'none'!r}); "
            f"vidmine takes {', '.join(sorted(MEDIA_EXTENSIONS))}"
        )
    if upload.size_bytes == 0:
        return "empty file (0 bytes); copy the video again"
    return None


def limits_problem(probe: ProbeResult, limits: MediaLimits) -> str | None:
    """Why a readable file is over the configured media limits (vidmine.yaml ``limits``),
    or None."""
    if limits.max_duration_s is not None and probe.duration_s > limits.max_duration_s:
        return (
            f"{probe.path.name} lasts {probe.duration_s / 60:.0f} min, longer than the limit of "
            f"{limits.max_duration_s / 60:g} min; cut it into parts, or raise "
            "limits.max_duration_s in vidmine.yaml"
        )
    too_wide = limits.max_width is not None and (probe.width or 0) > limits.max_width
    too_high = limits.max_height is not None and (probe.height or 0) > limits.max_height
    if too_wide or too_high:
        return (
            f"{probe.path.name} is {probe.width}x{probe.height}, beyond the limit of "
            f"{limits.max_width}x{limits.max_height}; scale it down, or raise "
            "limits.max_width / limits.max_height in vidmine.yaml"
        )
    return None


def is_settled(
    upload: UploadFile, previous_signature: str | None, now: float, settle_s: float
) -> bool:
    """A file is taken only when two looks saw the same size and mtime, and it has not
    been modified for ``settle_s`` seconds: a file still being written is left alone."""
    return previous_signature == upload.signature and now - upload.mtime >= settle_s


def look_again(
    uploads: list[UploadFile], now: float, settle_s: float, pause_s: float
) -> dict[str, str]:
    """The second look at files seen for the first time, so that one tick can take them.

    Of ``uploads``, those not modified for ``settle_s`` seconds are looked at again after
    ``pause_s`` (one pause for all of them). Returns path -> signature of those whose
    size and mtime did not change; the others wait for the next tick. The second look
    guards against a clock that makes a file still being written look old (a network
    share's mtime comes from the server's clock).
    """
    quiet = [u for u in uploads if now - u.mtime >= settle_s]
    if not quiet:
        return {}
    time.sleep(pause_s)
    unchanged: dict[str, str] = {}
    for upload in quiet:
        try:
            stat = upload.path.stat()
        except OSError:  # gone meanwhile
            continue
        now_seen = replace(upload, size_bytes=stat.st_size, mtime=stat.st_mtime)
        if now_seen.signature == upload.signature:
            unchanged[str(upload.path)] = upload.signature
    return unchanged
