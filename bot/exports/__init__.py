"""Exports: the printed form (DOCX/PDF), the season's roster (XLSX), archives (ZIP) and statistics.

Only `bot.exports.telegram_io` imports Telegram; `send_form` is imported from there lazily, so the
document builders can be used (command line, tests) without it.
"""

from __future__ import annotations

from typing import Any


async def send_form(application: Any, app_id: int, chat_id: int) -> bool:
    """Send application `app_id`'s form (DOCX, and PDF when LibreOffice is installed) to `chat_id`."""
    from bot.exports.telegram_io import send_form as _send_form

    return await _send_form(application, app_id, chat_id)
