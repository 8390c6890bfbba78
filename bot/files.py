"""Downloading materials into DATA_DIR under generated names, with size, type and SHA-256.

A document is what it claims or it is refused: its first bytes must be those of its type (a PDF starts with
`%PDF-`, a DOCX is a ZIP holding `word/document.xml`, a DOC or a WPS Writer file an OLE container, a video
an MP4/QuickTime or Matroska container), and images are decoded with Pillow. Files are written 0600 in folders 0700.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import mimetypes
import os
import re
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from telegram import Bot, Message
from telegram.error import BadRequest

from bot.services import StoredFile

MAX_DOWNLOAD = 20 * 1024 * 1024  # the public Bot API's getFile limit

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
WPS = "application/vnd.ms-works"  # WPS Writer (.wps), the word processor of many Chinese offices
WPS_ALIASES = {"application/kswps", "application/wps-office.wps", "application/wps", "application/x-wps"}
DOC_TYPES = {
    "application/pdf": ".pdf",
    "application/msword": ".doc",
    DOCX: ".docx",
    WPS: ".wps",
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
    declared: bool = True  # the type is the sender's word (a document), not Telegram's own photo or video


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
    if (mime or "").lower() in WPS_ALIASES or (Path(name or "").suffix.lower() == ".wps"
                                               and (mime or "").lower() not in DOC_TYPES):
        return WPS  # clients name it in several ways, most often by its extension alone
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
            return Incoming(p.file_id, p.file_unique_id, "photo", "image/jpeg", p.file_size, None, declared=False)
        if msg.document and _mime_of(msg.document.mime_type, msg.document.file_name) in IMAGE_TYPES:
            d = msg.document
            return Incoming(d.file_id, d.file_unique_id, "photo", _mime_of(d.mime_type, d.file_name),
                            d.file_size, safe_name(d.file_name))
        return None
    if want == "video":
        v = msg.video or msg.video_note
        if v is not None:
            return Incoming(v.file_id, v.file_unique_id, "video", getattr(v, "mime_type", None) or "video/mp4",
                            v.file_size, safe_name(getattr(v, "file_name", None)), declared=False)
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
        return Incoming(p.file_id, p.file_unique_id, "document", "image/jpeg", p.file_size, None, declared=False)
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
    data = bytes(await tg_file.download_as_bytearray())
    if len(data) > max_bytes:
        raise FileRefused("file.too_big", mb=max_bytes // (1024 * 1024))
    if item.declared:  # Telegram's own photos and videos are made by Telegram; documents are checked
        item.mime_type = await asyncio.to_thread(checked_type, item.mime_type, data)
    ext = {**DOC_TYPES, **VIDEO_TYPES}.get(item.mime_type, ".bin")
    rel = Path("materials") / folder / f"{uuid.uuid4().hex}{ext}"
    target = data_dir / rel  # generated name: the user's file name never reaches the path
    await asyncio.to_thread(_write, target, data)
    return rel.as_posix(), len(data), hashlib.sha256(data).hexdigest()


class Held(Protocol):
    """A file already attached (an application's material, a report's file)."""

    @property
    def file_unique_id(self) -> str | None: ...

    @property
    def sha256(self) -> str | None: ...


async def take(bot: Bot, item: Incoming, existing: Sequence[Held], data_dir: Path, folder: str, *,
               room: tuple[int, FileRefused] | None = None) -> tuple[str, int, str]:
    """The rules of every upload, then the download: room left (`room`: at most so many files, else that
    refusal), and never the same file twice (by Telegram's id before the download, by content after)."""
    if room is not None and len(existing) >= room[0]:
        raise room[1]
    if any(x.file_unique_id == item.file_unique_id for x in existing):
        raise FileRefused("file.duplicate")
    rel, size, sha = await download(bot, item, data_dir, folder)
    if any(x.sha256 == sha for x in existing):
        (data_dir / rel).unlink(missing_ok=True)
        raise FileRefused("file.duplicate")
    return rel, size, sha


def _write(target: Path, data: bytes) -> None:
    """Write via a temporary name so a crash never leaves a half file under the final name; 0600."""
    for parent in reversed(target.parents):
        if not parent.exists():
            parent.mkdir(mode=0o700, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(target)


# --------------------------------------------------------------------------- content checks

PIL_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "MPO": "image/jpeg"}
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
QT_ATOMS = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
OLE = bytes.fromhex("d0cf11e0a1b11ae1")
EBML = bytes.fromhex("1a45dfa3")
DECODE_BOX = (1024, 1024)  # JPEGs are decoded at a reduced scale: enough to prove they are images


def label(mime: str) -> str:
    """The type as the user knows it: PDF, DOCX, JPG …"""
    return {**DOC_TYPES, **VIDEO_TYPES}.get(mime, ".bin").lstrip(".").upper()


def checked_type(mime: str, data: bytes) -> str:
    """The file's real type when its content is one of the accepted kinds of its family (an image sent
    as `.png` that is a JPEG is stored as a JPEG); `FileRefused("file.bad_content")` otherwise."""
    if mime in IMAGE_TYPES and mime != "image/heic":
        real = _decoded_image(data)
    else:
        real = mime if _content_is(mime, data) else None
    if real is None:
        raise FileRefused("file.bad_content", kind=label(mime))
    return real


def _content_is(mime: str, data: bytes) -> bool:
    """Whether the bytes begin as a file of that type does (images other than HEIC are decoded instead)."""
    if mime == "image/heic":
        return data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS
    if mime == "application/pdf":
        return b"%PDF-" in data[:1024]
    if mime in ("application/msword", WPS):
        return data.startswith(OLE)
    if mime == DOCX:
        return data.startswith(b"PK\x03\x04") and _is_docx(data)
    if mime in ("video/mp4", "video/quicktime"):
        return data[4:8] in QT_ATOMS
    if mime in ("video/x-matroska", "video/webm"):
        return data.startswith(EBML)
    if mime.startswith("video/"):
        return data[4:8] in QT_ATOMS or data.startswith(EBML)
    return False


def _decoded_image(data: bytes) -> str | None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format or ""
            if fmt not in PIL_FORMATS:
                return None
            if fmt in ("JPEG", "MPO"):
                im.draft("RGB", DECODE_BOX)
            im.load()
    except Exception:  # noqa: BLE001 - Pillow raises many kinds for a file that is not a sound image
        return None
    return PIL_FORMATS[fmt]


def _is_docx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return False
    return "word/document.xml" in names and "[Content_Types].xml" in names
