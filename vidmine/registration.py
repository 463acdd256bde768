"""Registering an uploaded file as a video, and checking it once a run reads it.

Shared by the upload sensor and ``vidmine ingest``. Registration is cheap (a stat and
a quick fingerprint, see ``vidmine.media.probe.quick_fingerprint``) so the sensor can
take a several-GB file inside its tick; reading the file (ffprobe, the full sha256) is
``verify_source``'s work, called by the first asset of the video's run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidmine.config import MediaLimits
from vidmine.db.models import VideoRecord
from vidmine.db.store import Store
from vidmine.media.ffmpeg import MediaError
from vidmine.media.probe import (
    ProbeResult,
    check_complete,
    probe_media,
    quick_fingerprint,
    sha256_file,
)
from vidmine.uploads import limits_problem, video_key


@dataclass(frozen=True)
class Registration:
    video_id: str
    new: bool  # False when the same content was registered before


class SourceRejected(Exception):
    """The file is not a video vidmine can take; the message says why and what to do.
    ``twin``: the video whose content it repeats, when that is why (that video is good)."""

    def __init__(self, message: str, *, twin: str | None = None) -> None:
        super().__init__(message)
        self.twin = twin


def register_upload(store: Store, path: Path, profile: str) -> Registration:
    """Key ``path`` by its name and fingerprint and write its ``videos`` row, unless the
    same content is registered already. Database errors raise (the caller retries)."""
    fingerprint = quick_fingerprint(path)
    existing = store.find_video_by_fingerprint(fingerprint)
    if existing is not None:
        return Registration(existing.video_id, False)
    key = video_key(path.name, fingerprint)
    new = store.register_video(
        key,
        file_name=path.name,
        source_path=str(path.resolve()),
        size_bytes=path.stat().st_size,
        profile=profile,
        fingerprint=fingerprint,
    )
    return Registration(key, new)


@dataclass(frozen=True)
class VerifiedSource:
    probe: ProbeResult
    sha256: str


def verify_source(
    store: Store, video: VideoRecord, limits: MediaLimits | None = None
) -> VerifiedSource:
    """Probe and hash the video's file, store both, and raise ``SourceRejected`` for a file
    that is unreadable, incomplete (a copy cut short), changed since it was registered, or
    the same content as another video (judged by the full sha256). A file refused for what
    it is (unreadable, incomplete, a duplicate) is recorded in ``upload_rejections`` with
    the reason; one gone or changed since is not (what is at the path now is another
    upload, which the sensor takes on its own)."""
    path = Path(video.source_path)
    if not path.is_file():
        raise SourceRejected(
            f"source file {path} of video {video.video_id} is gone; "
            "put it back or drop it into uploads/ again"
        )
    stat = path.stat()
    try:
        probe = probe_media(path)
        check_complete(path)
    except MediaError as err:
        store.record_rejection(str(path), stat.st_size, stat.st_mtime, str(err))
        raise SourceRejected(str(err)) from None
    if limits is not None and (problem := limits_problem(probe, limits)):
        store.record_rejection(str(path), stat.st_size, stat.st_mtime, problem)
        raise SourceRejected(problem)
    sha = sha256_file(path)
    if video.sha256 and sha != video.sha256:
        raise SourceRejected(
            f"{path} changed since it was registered as {video.video_id} "
            "(different sha256); drop the new version as a new upload"
        )
    if video.fingerprint and quick_fingerprint(path) != video.fingerprint:
        raise SourceRejected(
            f"{path} changed since it was registered as {video.video_id}; "
            "drop the new version as a new upload"
        )
    twin = store.find_video_by_sha256(sha, other_than=video.video_id)
    if twin is not None:
        reason = (
            f"the same content as video {twin.video_id} ({twin.file_name}); not processed twice"
        )
        store.record_rejection(str(path), stat.st_size, stat.st_mtime, reason)
        raise SourceRejected(reason, twin=twin.video_id)
    store.set_video_sha256(video.video_id, sha)
    store.update_probe(video.video_id, probe)
    return VerifiedSource(probe, sha)
