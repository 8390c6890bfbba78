"""Services: the procedure's rules applied to the database, without Telegram."""

from __future__ import annotations

from typing import Any


def patched(data: dict[str, Any] | None, **changes: Any) -> dict[str, Any]:
    """A new dict with `changes` applied (None removes a key), so JSON columns are written."""
    out = dict(data or {})
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out
