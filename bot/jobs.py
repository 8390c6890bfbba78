"""Background jobs: the reminders (R-D1…R-D5, R-O) sent from a repeating JobQueue job.

Nothing is scheduled per reminder: every run asks the database what is due now
(`bot.services.pings.due_pings`), records each ping before sending it (`Ping.key` is unique) and
sends it. A restart therefore neither loses a reminder (it is still due at the next run) nor
repeats one (its key is recorded). Quiet hours and mutes are part of "due".

Wiring: `schedule(app)` once at start-up (after the JobQueue exists). Tests call
`send_due_pings(app)` directly with a moved clock.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application, ContextTypes

from bot import callbacks as cb
from bot.notify import Unreachable, send_text
from bot.runtime import services_of
from bot.services import pings as svc_pings
from storage.models import User

log = logging.getLogger(__name__)

JOB_NAME = "due-pings"
INTERVAL_SECONDS = 300  # every 5 minutes
FIRST_SECONDS = 5  # first run a few seconds after start-up
_LOCK = "pings_lock"


def schedule(app: Application, *, interval: float = INTERVAL_SECONDS,  # type: ignore[type-arg]
             first: float = FIRST_SECONDS) -> None:
    """Start the repeating reminders job (replacing one already scheduled)."""
    jq = app.job_queue
    if jq is None:
        log.warning("no JobQueue (install python-telegram-bot[job-queue]): reminders are not sent")
        return
    for job in jq.get_jobs_by_name(JOB_NAME):
        job.schedule_removal()
    jq.run_repeating(pings_job, interval=interval, first=first, name=JOB_NAME)


def unschedule(app: Application) -> None:  # type: ignore[type-arg]
    jq = app.job_queue
    if jq is not None:
        for job in jq.get_jobs_by_name(JOB_NAME):
            job.schedule_removal()


async def pings_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    try:
        await send_due_pings(context.application)
    except Exception:  # noqa: BLE001 - the next run tries again; never kill the repeating job
        log.exception("reminders run failed")


def _keyboard(t: Any, composed: svc_pings.Composed) -> InlineKeyboardMarkup | None:
    if composed.resume_app is not None:
        data = cb.Wiz(composed.resume_app, cb.WizardOp.RESUME).encode()
        return InlineKeyboardMarkup([[InlineKeyboardButton(t.plain("ping.button.resume"), callback_data=data)]])
    if composed.report_studio is not None:
        data = cb.ReportBtn(cb.ReportOp.START, composed.report_studio).encode()
        return InlineKeyboardMarkup([[InlineKeyboardButton(t.plain("ping.button.report"), callback_data=data)]])
    return None


async def send_due_pings(application: Application) -> list[str]:  # type: ignore[type-arg]
    """Send every ping due now and not yet sent; the keys sent. Safe to run concurrently."""
    svc = services_of(application)
    lock = application.bot_data.setdefault(_LOCK, asyncio.Lock())
    sent: list[str] = []
    async with lock:
        now = svc.clock.now()
        async with svc.db.session() as s:
            due = await svc_pings.due_pings(s, now, svc.settings)
            await s.commit()
            for ping in due:
                user = await s.get(User, ping.recipient)
                t = svc.i18n.get(svc.i18n.pick(user.locale if user else None, user.language_code if user else None))
                composed = await svc_pings.compose(s, t, ping, svc.settings, now)
                if composed is None:
                    continue
                if not await svc_pings.claim(s, ping):
                    continue  # another run got there first
                await s.commit()  # recorded before sending: a crash after this never repeats it
                try:
                    await send_text(application.bot, ping.recipient, composed.text, _keyboard(t, composed))
                except Unreachable:
                    log.info("ping %s: recipient unreachable", ping.key)
                    await svc_pings.mark_blocked(s, ping.recipient, now)
                    await s.commit()
                    continue
                except (NetworkError, TimedOut, RetryAfter) as exc:
                    if isinstance(exc, BadRequest):
                        log.error("ping %s refused by Telegram: %s", ping.key, exc)
                        continue
                    log.warning("ping %s not sent, retried next run: %s", ping.key, exc)
                    await svc_pings.release(s, ping.key)
                    await s.commit()
                    continue
                await svc_pings.mark_sent(s, ping.key, now)
                await s.commit()
                sent.append(ping.key)
    if sent:
        log.info("sent %d reminders", len(sent))
    return sent
