"""File names for exported documents: readable, carrying the number and the leader's name, and safe."""

from __future__ import annotations

import re
import unicodedata

_FORBIDDEN = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')
_SPACES = re.compile(r"\s+")
MAX_PART = 40


def clean(part: str | None, *, max_len: int = MAX_PART) -> str:
    """One part of a file name: no path separators, no reserved or control characters, no dots at the ends."""
    text = unicodedata.normalize("NFC", part or "")
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = _FORBIDDEN.sub("_", text)
    text = _SPACES.sub("_", text).strip("._ ")
    return text[:max_len].strip("._ ")


def file_name(prefix: str, number: str | None, leader: str | None, ext: str, *, fallback: str = "") -> str:
    """e.g. `申报表_2026-0001_王建国.docx`; parts that are empty are left out."""
    parts = [clean(prefix), clean(number) or clean(fallback), clean(leader)]
    stem = "_".join(p for p in parts if p) or "export"
    return f"{stem}.{ext.lstrip('.')}"
