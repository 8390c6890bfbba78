"""Services: the procedure's rules applied to the database, without Telegram."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class Refused(Exception):
    """A change refused, nothing done; `key` is a locale key, `params` its placeholders."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def patched(data: dict[str, Any] | None, **changes: Any) -> dict[str, Any]:
    """A new dict with `changes` applied (None removes a key), so JSON columns are written."""
    out = dict(data or {})
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


@dataclass
class StoredFile:
    """A downloaded file as it is recorded (the same for application and report materials)."""

    kind: str  # photo | video | document
    telegram_file_id: str
    file_unique_id: str
    original_name: str | None
    mime_type: str | None
    size: int
    sha256: str
    stored_path: str  # relative to DATA_DIR, a generated name
