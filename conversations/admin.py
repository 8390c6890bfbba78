"""Administration (filled in below)."""

from __future__ import annotations

from telegram.ext import Application

from bot.runtime import Rq


async def accept_invitation(rq: Rq, code: str) -> bool:
    return False


def register(app: Application) -> None:  # type: ignore[type-arg]
    return None
