"""Background jobs: the reminders (R-D1…R-D5, R-O) sent from a repeating JobQueue job.

Nothing is scheduled per reminder: every run asks the database what is due now
(`bot.services.pings.due_pings`) and records each ping (`Ping.key` is unique) with its message, an
effect keyed by kind, recipient, subject and occasion (`Effect.once` is unique), in one transaction;
`bot.sender` delivers it, each marked before the next goes out. A restart therefore neither loses a
reminder (it is still due at the next run, or its message is still owed) nor repeats one (its key is
recorded, its message marked as soon as Telegram took it). Quiet hours and mutes are part of "due".

Wiring: `schedule(app)` once at start-up (after the JobQueue exists). Tests call
`send_due_pings(app)` directly with a moved clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.ext import Application, ContextTypes

from bot import callbacks as cb
from bot import effects
from bot.runtime import services_of
from bot.services import pings as svc_pings
from storage.models import User

log = logging.getLogger(__name__)

JOB_NAME = "due-pings"
INTERVAL_SECONDS = 300  # every 5 minutes
FIRST_SECONDS = 5  # first run a few seconds after start-up
_LOCK = "pings_lock"


def repeat(app: Application, name: str, run: Callable[[Application], Awaitable[Any]],
           *, interval: float, first: float, what: str) -> None:
    """Run `run(app)` every `interval` seconds from `first` on, as the JobQueue job `name` (replacing one
    already scheduled); a failed run is logged and the next one tries again."""
    jq = app.job_queue
    if jq is None:
        log.warning("no JobQueue (install python-telegram-bot[job-queue]): %s not sent", what)
        return
    for job in jq.get_jobs_by_name(name):
        job.schedule_removal()

    async def tick(context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await run(context.application)
        except Exception:
            log.exception("%s run failed", what)

    jq.run_repeating(tick, interval=interval, first=first, name=name)


def schedule(app: Application, *, interval: float = INTERVAL_SECONDS,
             first: float = FIRST_SECONDS) -> None:
    """Start the repeating reminders job (replacing one already scheduled)."""
    repeat(app, JOB_NAME, send_due_pings, interval=interval, first=first, what="reminders")


def unschedule(app: Application) -> None:
    jq = app.job_queue
    if jq is not None:
        for job in jq.get_jobs_by_name(JOB_NAME):
            job.schedule_removal()


def _keyboard(t: Any, composed: svc_pings.Composed) -> InlineKeyboardMarkup | None:
    if composed.resume_app is not None:
        data = cb.Wiz(composed.resume_app, cb.WizardOp.RESUME).encode()
        return InlineKeyboardMarkup([[InlineKeyboardButton(t.plain("ping.button.resume"), callback_data=data)]])
    if composed.report_studio is not None:
        data = cb.ReportBtn(cb.ReportOp.START, composed.report_studio).encode()
        return InlineKeyboardMarkup([[InlineKeyboardButton(t.plain("ping.button.report"), callback_data=data)]])
    return None


async def send_due_pings(application: Application) -> list[str]:
    """Owe every ping due now and not yet recorded; the keys. Each ping is recorded together with its
    message (an effect the sender delivers), so a crash neither loses nor repeats one. Safe to run
    concurrently."""
    svc = services_of(application)
    lock = application.bot_data.setdefault(_LOCK, asyncio.Lock())
    sent: list[str] = []
    rows: list[Any] = []
    async with lock:
        now = svc.clock.now()
        async with svc.db.session() as s:
            due = await svc_pings.due_pings(s, now, svc.settings)
            for ping in due:
                user = await s.get(User, ping.recipient)
                t = svc.translator(user)
                composed = await svc_pings.compose(s, t, ping, svc.settings, now)
                if composed is None:
                    continue
                if not await svc_pings.claim(s, ping):
                    continue  # another run got there first
                await svc_pings.mark_sent(s, ping.key, now)
                owed = effects.message(ping.recipient, composed.text, _keyboard(t, composed),
                                       once=svc_pings.once_key(ping))
                row = await effects.write_once(s, owed, f"p:{ping.key}"[:64], now)
                if row is None:
                    continue  # owed already
                rows.append(row)
                sent.append(ping.key)
            await s.commit()
        await svc.db.durable(s)
    svc.sender.push(rows)
    if sent:
        log.info("owed %d reminders", len(sent))
    return sent
