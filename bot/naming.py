"""The daily run of the season's notice and naming (`bot.services.meeting.advance`): a notice whose period
is over ends; on the naming date the approved list is named together and everyone concerned is told.

Works out from the database what is due at every run, so a restart loses nothing; the outcomes are owed
in the transaction that records them.
"""

from __future__ import annotations

import asyncio
import logging

from telegram.ext import Application

from bot import effects, notify
from bot.runtime import services_of
from bot.services import meeting

log = logging.getLogger(__name__)

JOB_NAME = "season-naming"
INTERVAL_SECONDS = 3600
FIRST_SECONDS = 90
_LOCK = "naming_lock"


def schedule(app: Application, *, interval: float = INTERVAL_SECONDS,
             first: float = FIRST_SECONDS) -> None:
    """Start the repeating run (replacing one already scheduled)."""
    from bot.jobs import repeat

    repeat(app, JOB_NAME, run_naming, interval=interval, first=first, what="notice and naming")


async def run_naming(application: Application) -> int:
    """End the notices that are over, name what is due; how many were named."""
    svc = services_of(application)
    lock = application.bot_data.setdefault(_LOCK, asyncio.Lock())
    async with lock:
        now = svc.clock.now()
        async with svc.db.session() as s:
            named = await meeting.advance(s, now, svc.settings.tz, svc.settings.work_days())
            rows = effects.write(s, await notify.meeting_outcomes(s, svc, named), f"nm{now.timestamp():.0f}"[:64],
                                 now)
            await s.commit()
        await svc.db.durable(s)
    svc.sender.push(rows)
    if named:
        log.info("named %d studio(s) together", len(named))
    return len(named)
