"""Registering an uploaded file as a video: probe it, fingerprint it, key it, and
write its ``videos`` row. Shared by the sensor and ``vidmine ingest``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidmine.db.store import Store
from vidmine.media.ffmpeg import MediaError
from vidmine.media.probe import probe_media, sha256_file
from vidmine.uploads import video_key


@dataclass(frozen=True)
class Registration:
    video_id: str | None  # None when rejected
    new: bool  # False when the same content was registered before
    rejected_reason: str | None = None
    rerun: bool = False  # the same content again, after its earlier processing failed


def register_upload(store: Store, path: Path, profile: str) -> Registration:
    """Probe and register ``path``. An unreadable file is a rejection, not an exception;
    database errors do raise (the caller tries again later)."""
    try:
        probe = probe_media(path)
    except MediaError as err:
        return Registration(None, False, str(err))
    sha = sha256_file(path)
    existing = store.find_video_by_sha256(sha)
    if existing is not None:
        return Registration(existing.video_id, False, rerun=existing.status == "failed")
    key = video_key(path.name, sha)
    new = store.register_video(
        key,
        file_name=path.name,
        source_path=str(path.resolve()),
        sha256=sha,
        size_bytes=probe.size_bytes,
        profile=profile,
    )
    store.update_probe(key, probe)
    return Registration(key, new)
