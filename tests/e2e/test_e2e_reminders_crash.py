"""SIGKILL in the middle of a batch of reminders (R-D1): the real `python -m bot`, its clock moved to the
morning of the 7-day deadline reminder, owes it to 16 applicants with drafts; it is killed at several points
of the batch (as the next reminder reaches the Bot API, before it is taken) and restarted. Every applicant
gets the reminder exactly once: each one is marked sent before the next goes out, and the job that runs
again after the restart finds every reminder recorded and owes nothing new.
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from storage import repo
from storage.db import Database
from storage.models import Application

from .driver import SH, prepare
from .fake_api import FakeTelegramServer

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]

DRAFTS = 16
BASE = 1200
KILL_AS_ARRIVES = (4, 9, 15)  # the n-th reminder to reach the Bot API kills the bot instead of going out
REMINDER = "申报还没有提交"  # ping.draft.open (zh)


async def drafts(data_dir: Path, year: int, created: datetime) -> None:
    """The season of `year` with the federation's dates (deadline 31 July) and one draft per applicant."""
    db = Database(Settings(bot_token="1:x", data_dir=data_dir).database_url)  # type: ignore[arg-type]
    try:
        async with db.session() as s:
            await repo.ensure_season(s, year)
            for i in range(DRAFTS):
                uid = BASE + i
                await repo.upsert_user(s, uid, f"U{uid}", None, None, "zh-hans", created)
                s.add(Application(season_year=year, applicant_id=uid, status="draft", answers={}, wizard={},
                                  created_at=created, updated_at=created))
            await s.commit()
    finally:
        await db.dispose()


def reminders(api: FakeTelegramServer) -> dict[int, int]:
    """How many reminders each applicant received."""
    got = {BASE + i: 0 for i in range(DRAFTS)}
    for c in api.calls:
        if c.method == "sendMessage" and c.status == 200 and REMINDER in str(c.params.get("text")):
            got[int(c.params["chat_id"])] += 1
    return got


@pytest.mark.timeout(300)
async def test_a_kill_in_a_batch_of_reminders_repeats_none(fake_api, bot_process_factory, tmp_path, capsys):
    """R-D1, R-F9: 16 drafts, the 7-day deadline reminder going out, SIGKILL as the 4th, the 9th and the 15th
    reminder reach the Bot API, restart each time: each applicant gets the reminder exactly once."""
    year = datetime.now(SH).year + 1
    morning = datetime.combine(date(year, 7, 24), time(10, 30), tzinfo=SH)  # 7 days before 31 July
    shift = (morning - datetime.now(UTC)).total_seconds()
    data_dir = tmp_path / "data"
    await prepare(data_dir)
    await drafts(data_dir, year, datetime.now(UTC))
    for i in range(DRAFTS):
        fake_api.user(BASE + i, first_name="王建国")
    bot = await bot_process_factory(data_dir=data_dir, start=False,
                                    command=[sys.executable, "-m", "tests.e2e.shifted_bot", str(shift)])
    arrived = 0
    kills: list[int] = []

    def count(p: dict[str, Any]) -> bool:
        nonlocal arrived
        if REMINDER not in str(p.get("text")):
            return False
        arrived += 1
        return arrived in KILL_AS_ARRIVES

    def kill(_: dict[str, Any]) -> None:
        kills.append(arrived)
        if bot.is_running():
            assert bot.pid is not None
            os.kill(bot.pid, signal.SIGKILL)

    fake_api.inject("sendMessage", drop=True, times=len(KILL_AS_ARRIVES), when=count, run=kill)
    await bot.start(wait_ready=False)  # a kill may come before it polls
    for _ in range(len(KILL_AS_ARRIVES)):
        await fake_api.wait_for(lambda: not bot.is_running() or all(reminders(fake_api).values()), timeout=60)
        if bot.is_running():
            break
        await bot.kill()  # reaped
        await bot.start(wait_ready=False)
    await fake_api.wait_for(lambda: all(reminders(fake_api).values()), timeout=60)
    await fake_api.wait_idle(quiet=2.0, timeout=30)
    got = reminders(fake_api)
    with capsys.disabled():
        print(f"\nreminders to {DRAFTS} drafts, SIGKILL as reminders {kills} arrived: "
              f"{sum(got.values()) - DRAFTS} duplicates")
    assert kills == list(KILL_AS_ARRIVES)
    assert sorted(set(got.values())) == [1], got
    await bot.stop()
