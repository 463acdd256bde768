"""Receiving an upload into ``VIDMINE_HOME/uploads`` so the sensor never sees half a file.

The multipart body is parsed as it streams in (python-multipart): the ``file`` part is
written in chunks to a hidden temporary file in the uploads folder (the sensor skips
names starting with "."), the size limit is checked as bytes arrive, and only a complete
file is linked to its final, safe, de-duplicated name. A refused or broken upload leaves
nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import unicodedata
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from vidmine.settings import MEDIA_EXTENSIONS
from vidmine.web.errors import WebError

UPLOAD_FIELD = "file"
PROFILE_FIELD = "profile"
MAX_NAME_CHARS = 120
DEFAULT_MAX_UPLOAD_MB = 2048
_UNSAFE_CHARS = re.compile(r"[^\w .()+,=@-]")


@dataclass(frozen=True)
class SavedUpload:
    path: Path
    file_name: str
    size_bytes: int
    profile: str | None


def safe_file_name(raw_name: str) -> str:
    """The file's own name, made safe: no folders, no control or shell-special characters,
    no leading dot (the sensor would skip it), at most MAX_NAME_CHARS characters."""
    name = unicodedata.normalize("NFC", raw_name).replace("\\", "/").split("/")[-1]
    stem, dot, extension = _UNSAFE_CHARS.sub("_", name).rpartition(".")
    suffix = f".{extension.strip().lower()}" if dot else ""
    if suffix not in MEDIA_EXTENSIONS:
        shown = suffix or "none"
        raise WebError(
            415,
            f"{raw_name!r}: not a video or audio file (extension {shown!r}); "
            f"vidmine takes {', '.join(sorted(MEDIA_EXTENSIONS))}",
        )
    stem = stem.strip().lstrip(".").strip()[: MAX_NAME_CHARS - len(suffix)].strip()
    return (stem or "upload") + suffix


def _publish(temp: Path, folder: Path, file_name: str) -> Path:
    """Give the complete temporary file its final name, never replacing an existing file:
    ``talk.mp4``, else ``talk (1).mp4``, ``talk (2).mp4`` ..."""
    stem, suffix = os.path.splitext(file_name)
    for attempt in range(1000):
        target = folder / (file_name if attempt == 0 else f"{stem} ({attempt}){suffix}")
        try:
            # A hard link appears atomically and fails if the name is taken: no race with
            # another upload of the same name, and the sensor sees only whole files.
            os.link(temp, target)
        except FileExistsError:
            continue
        temp.unlink()
        return target
    raise WebError(409, f"too many files named like {file_name!r} in {folder}")


class _UploadReceiver:
    """python-multipart callbacks that stream the ``file`` part into a temporary file."""

    def __init__(self, uploads: Path, max_bytes: int) -> None:
        self.uploads = uploads
        self.max_bytes = max_bytes
        self.header_field = b""
        self.header_value = b""
        self.headers: dict[bytes, bytes] = {}
        self.part_name: str | None = None
        self.fields: dict[str, str] = {}
        self.field_bytes = b""
        self.file_name: str | None = None
        self.temp: Path | None = None
        self.out: BinaryIO | None = None
        self.size = 0

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self.headers = {}
        self.part_name = None
        self.field_bytes = b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def _header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field = self.header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.part_name = options.get(b"name", b"").decode("utf-8", "replace")
        if self.part_name != UPLOAD_FIELD:
            return
        if self.out is not None:
            raise WebError(400, "send one file per upload (one 'file' field)")
        raw_name = options.get(b"filename", b"").decode("utf-8", "replace")
        if not raw_name:
            raise WebError(400, "the 'file' field has no file name")
        self.file_name = safe_file_name(raw_name)
        self.uploads.mkdir(parents=True, exist_ok=True)
        # Hidden and with a partial-download suffix: the sensor ignores it either way.
        self.temp = self.uploads / f".upload-{uuid.uuid4().hex}.part"
        self.out = self.temp.open("xb")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part_name == UPLOAD_FIELD and self.out is not None:
            self.size += end - start
            if self.size > self.max_bytes:
                raise WebError(413, _too_large(self.max_bytes))
            self.out.write(data[start:end])
        elif self.part_name:
            self.field_bytes += data[start:end]
            if len(self.field_bytes) > 1000:
                raise WebError(400, f"form field {self.part_name!r} is too long")

    def _part_end(self) -> None:
        if self.part_name == UPLOAD_FIELD and self.out is not None:
            self.out.close()
        elif self.part_name:
            self.fields[self.part_name] = self.field_bytes.decode("utf-8", "replace")

    def discard(self) -> None:
        if self.out is not None:
            self.out.close()
        if self.temp is not None:
            with contextlib.suppress(FileNotFoundError):
                self.temp.unlink()


def _too_large(max_bytes: int) -> str:
    return (
        f"the file is larger than the upload limit of {max_bytes / 1_000_000:g} MB; "
        "raise VIDMINE_MAX_UPLOAD_MB for `vidmine serve` or copy the file into uploads/"
    )


async def receive_upload(
    content_type: str,
    content_length: int | None,
    body: AsyncIterator[bytes],
    uploads: Path,
    *,
    max_bytes: int,
    known_profiles: set[str],
    profile: str | None = None,
    check: Callable[[Path], str | None] | None = None,
) -> SavedUpload:
    """Stream a multipart body into ``uploads`` (or ``uploads/<profile>``). ``check`` reads
    the complete file before it appears under its name; a reason it gives refuses it (422)."""
    media_type, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise WebError(400, "send the file as multipart/form-data in a field named 'file'")
    # Multipart framing adds a little to the file; refuse obvious oversizes before reading.
    if content_length is not None and content_length > max_bytes + 64 * 1024:
        raise WebError(413, _too_large(max_bytes))
    receiver = _UploadReceiver(uploads, max_bytes)
    parser = MultipartParser(boundary, receiver.callbacks())
    try:
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
        if receiver.temp is None or receiver.file_name is None:
            raise WebError(400, "no file: send it in a multipart field named 'file'")
        if receiver.size == 0:
            raise WebError(400, f"{receiver.file_name}: the file is empty (0 bytes)")
        profile = profile or receiver.fields.get(PROFILE_FIELD) or None
        folder = uploads
        if profile is not None:
            if profile not in known_profiles:
                raise WebError(
                    400, f"unknown profile {profile!r}; choose one of {sorted(known_profiles)}"
                )
            folder = uploads / profile
            folder.mkdir(parents=True, exist_ok=True)
        problem = await run_in_threadpool(check, receiver.temp) if check is not None else None
        if problem:
            raise WebError(422, problem.replace(receiver.temp.name, receiver.file_name))
        final = _publish(receiver.temp, folder, receiver.file_name)
    finally:
        receiver.discard()
    return SavedUpload(final, final.name, receiver.size, profile)
