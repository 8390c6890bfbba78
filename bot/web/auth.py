"""Who opened the page: Telegram's signed `initData`, checked as Telegram documents it.

secret = HMAC-SHA256(key="WebAppData", msg=bot token); the `hash` field must equal
hex(HMAC-SHA256(key=secret, msg=data-check-string)), the data-check-string being every other field as
`key=value`, sorted by key, joined by line feeds. `auth_date` older than `max_age` is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl

MAX_AGE = 3600  # seconds an initData stays good


class Unauthorized(Exception):
    """initData missing, forged or expired (`reason` says which, for the log)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class WebUser:
    id: int
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


def secret_key(token: str) -> bytes:
    return hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()


def data_check_string(fields: dict[str, str]) -> str:
    return "\n".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "hash")


def signature(fields: dict[str, str], token: str) -> str:
    return hmac.new(secret_key(token), data_check_string(fields).encode(), hashlib.sha256).hexdigest()


def verify(init_data: str | None, token: str, now: datetime, max_age: int = MAX_AGE) -> WebUser:
    """The user `init_data` names, or `Unauthorized`."""
    if not init_data:
        raise Unauthorized("missing")
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise Unauthorized("malformed") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise Unauthorized("malformed")
    given = fields.get("hash", "")
    if not hmac.compare_digest(given.encode(), signature(fields, token).encode()):
        raise Unauthorized("forged")
    try:
        auth_date = int(fields["auth_date"])
        user = json.loads(fields["user"])
        user_id = int(user["id"])
    except (KeyError, ValueError, TypeError):
        raise Unauthorized("malformed") from None
    age = now.timestamp() - auth_date
    if age > max_age or age < -300:
        raise Unauthorized("expired")
    return WebUser(id=user_id, first_name=str(user.get("first_name") or ""), last_name=user.get("last_name"),
                   username=user.get("username"), language_code=user.get("language_code"))
