"""Drive the real bot process over HTTP like a person would, through the fake Bot API."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.callbacks import Wiz, WizardOp, decode
from bot.clock import SystemClock
from bot.config import Settings
from storage import repo
from storage.db import Database
from storage.models import RoleGrant, Season

from .fake_api import FakeTelegramServer

SH = ZoneInfo("Asia/Shanghai")


async def prepare(data_dir: Path, grants: list[tuple[int, str, bool]] | None = None) -> dict[str, Any]:
    """Create the database before the bot starts: a season open today, and reviewers' roles.

    `grants`: (user id, role, bound to the first union?).
    """
    settings = Settings(bot_token="1:x", data_dir=data_dir)  # type: ignore[arg-type]
    db = Database(settings.database_url)
    from bot.app import prepare_database

    await prepare_database(db, SystemClock(), settings)
    today = datetime.now(SH).date()
    async with db.session() as s:
        season = await s.get(Season, today.year)
        assert season is not None
        season.opens_on, season.deadline = date(today.year, 1, 1), date(today.year, 12, 31)
        union = (await repo.active_unions(s))[0]
        for uid, role, bound in grants or []:
            await repo.upsert_user(s, uid, f"U{uid}", None, None, "zh-hans", datetime.now(SH))
            s.add(RoleGrant(user_id=uid, role=role, union_id=union.id if bound else None,
                            granted_at=datetime.now(SH)))
        await s.commit()
        info = {"union_id": union.id, "union_name": union.name_zh, "year": today.year}
    await db.dispose()
    return info


def wiz_data(api: FakeTelegramServer, chat: Any, op: WizardOp, v: str | None = None) -> tuple[int, str]:
    """(message id, callback data) of the newest visible button for `op`."""
    for msg in reversed(api.chat(chat)):
        for row in msg.inline_keyboard:
            for b in row:
                d = decode(b.get("callback_data"))
                if isinstance(d, Wiz) and d.op is op and (v is None or d.v == v):
                    return msg.message_id, b["callback_data"]
    raise AssertionError(f"no {op} button; chat:\n{api.transcript(chat)}")


async def tap(api: FakeTelegramServer, u: Any, op: WizardOp, v: str | None = None) -> None:
    mid, data = wiz_data(api, u, op, v)
    since = api.mark()
    api.press(u, mid, data)
    await api.wait_reply(u, since=since, timeout=15)


async def say(api: FakeTelegramServer, u: Any, text: str) -> str:
    since = api.mark()
    api.send_text(u, text)
    msgs = await api.wait_reply(u, since=since, timeout=15)
    return msgs[-1].text or ""


async def press_data(api: FakeTelegramServer, u: Any, data: str) -> None:
    """Press the newest message carrying a button with exactly this callback data."""
    for msg in reversed(api.chat(u)):
        if any(b.get("callback_data") == data for row in msg.inline_keyboard for b in row):
            since = api.mark()
            api.press(u, msg.message_id, data)
            await api.wait_reply(u, since=since, timeout=15)
            return
    raise AssertionError(f"no button {data}; chat:\n{api.transcript(u)}")
