"""Downloading materials into DATA_DIR under generated names, with size, type and SHA-256."""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from telegram import Bot, Message
from telegram.error import BadRequest

from bot.services import StoredFile

MAX_DOWNLOAD = 20 * 1024 * 1024  # the public Bot API's getFile limit

DOC_TYPES = {
    "application/pdf": ".pdf",
    "application/msword": ".doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/heic": ".heic",
}
IMAGE_TYPES = {k: v for k, v in DOC_TYPES.items() if k.startswith("image/")}
VIDEO_TYPES = {"video/mp4": ".mp4", "video/quicktime": ".mov", "video/x-matroska": ".mkv", "video/webm": ".webm"}
_EXT_TO_MIME = {v: k for k, v in {**DOC_TYPES, **VIDEO_TYPES}.items()} | {".jpeg": "image/jpeg"}


class FileRefused(Exception):
    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass
class Incoming:
    """A file a message carries, before download."""

    file_id: str
    file_unique_id: str
    kind: str  # photo | video | document
    mime_type: str
    size: int | None
    original_name: str | None


def stored(item: Incoming, rel: str, size: int, sha256: str) -> StoredFile:
    """The record of a file `download` fetched."""
    return StoredFile(kind=item.kind, telegram_file_id=item.file_id, file_unique_id=item.file_unique_id,
                      original_name=item.original_name, mime_type=item.mime_type, size=size, sha256=sha256,
                      stored_path=rel)


def safe_name(name: str | None) -> str | None:
    """The user's file name for display only: no path parts, no control characters."""
    if not name:
        return None
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip(" .")
    return base[:120] or None


def _mime_of(mime: str | None, name: str | None) -> str:
    if mime and mime != "application/octet-stream":
        return mime.lower()
    guessed = mimetypes.guess_type(name or "")[0]
    if guessed:
        return guessed
    ext = Path(name or "").suffix.lower()
    return _EXT_TO_MIME.get(ext, "application/octet-stream")


def incoming(msg: Message, want: str) -> Incoming | None:
    """The file in `msg` if it is of the kind wanted (`photo`, `video` or `document`)."""
    if want == "photo":
        if msg.photo:
            p = msg.photo[-1]
            return Incoming(p.file_id, p.file_unique_id, "photo", "image/jpeg", p.file_size, None)
        if msg.document and _mime_of(msg.document.mime_type, msg.document.file_name) in IMAGE_TYPES:
            d = msg.document
            return Incoming(d.file_id, d.file_unique_id, "photo", _mime_of(d.mime_type, d.file_name),
                            d.file_size, safe_name(d.file_name))
        return None
    if want == "video":
        v = msg.video or msg.video_note
        if v is not None:
            return Incoming(v.file_id, v.file_unique_id, "video", getattr(v, "mime_type", None) or "video/mp4",
                            v.file_size, safe_name(getattr(v, "file_name", None)))
        if msg.document and _mime_of(msg.document.mime_type, msg.document.file_name) in VIDEO_TYPES:
            d = msg.document
            return Incoming(d.file_id, d.file_unique_id, "video", _mime_of(d.mime_type, d.file_name),
                            d.file_size, safe_name(d.file_name))
        return None
    if msg.document:
        d = msg.document
        mime = _mime_of(d.mime_type, d.file_name)
        if mime not in DOC_TYPES:
            raise FileRefused("file.doc_type")
        return Incoming(d.file_id, d.file_unique_id, "document", mime, d.file_size, safe_name(d.file_name))
    if msg.photo:
        p = msg.photo[-1]
        return Incoming(p.file_id, p.file_unique_id, "document", "image/jpeg", p.file_size, None)
    return None


async def download(bot: Bot, item: Incoming, data_dir: Path, folder: str,
                   max_bytes: int = MAX_DOWNLOAD) -> tuple[str, int, str]:
    """Fetch the file to `DATA_DIR/materials/<folder>/<uuid><ext>`; returns (relative path, size, sha256)."""
    if item.size and item.size > max_bytes:
        raise FileRefused("file.too_big", mb=max_bytes // (1024 * 1024))
    try:
        tg_file = await bot.get_file(item.file_id)
    except BadRequest as exc:
        if "too big" in str(exc).lower():
            raise FileRefused("file.too_big", mb=max_bytes // (1024 * 1024)) from None
        raise
    ext = {**DOC_TYPES, **VIDEO_TYPES}.get(item.mime_type, ".bin")
    rel = Path("materials") / folder / f"{uuid.uuid4().hex}{ext}"
    target = data_dir / rel  # generated name: the user's file name never reaches the path
    data = bytes(await tg_file.download_as_bytearray())
    if len(data) > max_bytes:
        raise FileRefused("file.too_big", mb=max_bytes // (1024 * 1024))
    await asyncio.to_thread(_write, target, data)
    return rel.as_posix(), len(data), hashlib.sha256(data).hexdigest()


def _write(target: Path, data: bytes) -> None:
    """Write via a temporary name so a crash never leaves a half file under the final name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".part")
    tmp.write_bytes(data)
    tmp.replace(target)
