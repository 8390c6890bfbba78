"""The R-W4 job: a not-approved application's materials go back to the applicant (the archive), and the
federation's copy is removed when its period is over (see `bot.services.retention`).

Runs a minute after start-up and then every few hours; every run works out from the database what is due,
so a restart loses nothing. An archive that could not be delivered is tried again at the next run; at the end
of the period the files are removed anyway (recorded as not returned).
"""

from __future__ import annotations

import asyncio
import logging

from telegram.ext import Application

from bot import effects
from bot.runtime import services_of
from bot.services import retention
from storage import repo

log = logging.getLogger(__name__)

JOB_NAME = "materials-returns"
INTERVAL_SECONDS = 6 * 3600
FIRST_SECONDS = 60
_LOCK = "returns_lock"


def schedule(app: Application, *, interval: float = INTERVAL_SECONDS,
             first: float = FIRST_SECONDS) -> None:
    """Start the repeating job that returns materials (R-W4), replacing one already scheduled."""
    from bot.jobs import repeat

    repeat(app, JOB_NAME, run_returns, interval=interval, first=first, what="returned materials")


async def run_returns(application: Application) -> tuple[int, int]:
    """Send every due archive, then remove every copy whose period is over: (sent, removed)."""
    lock = application.bot_data.setdefault(_LOCK, asyncio.Lock())
    async with lock:
        return await _send_archives(application), await _remove_due(application)


async def _send_archives(application: Application) -> int:
    """Owe each due archive to its applicant: recorded with the obligation, built and sent by the sender
    (the `returned` render of `bot.exports.telegram_io`), so a crash neither loses nor repeats one."""
    from bot.exports import service

    svc = services_of(application)
    settings = svc.settings
    now = svc.clock.now()
    rows = []
    async with svc.db.session() as s:
        due = await retention.due_returns(s, settings.returned_materials_days, settings.tz)
        for item in due:
            app = await repo.get_application(s, item.app_id)
            if app is None:
                continue
            name = service.file_name("申报材料", app.number, (app.answers or {}).get("leader_name"), "zip",
                                     fallback=f"draft{app.id}")
            retention.record_sent(s, item.app_id, item.applicant_id, now, name=name, sha256="", size=0)
            owed = effects.render(item.applicant_id, "returned", app=item.app_id, remove_on=item.remove_on.isoformat(),
                                  once=f"returned:{item.applicant_id}:{item.app_id}")
            row = await effects.write_once(s, owed, f"r{item.app_id}", now)
            if row is not None:
                rows.append(row)
        await s.commit()
    await svc.db.durable(s)
    svc.sender.push(rows)
    if rows:
        log.info("owed the returned materials of %d application(s) to their applicants", len(rows))
    return len(rows)


async def _remove_due(application: Application) -> int:
    svc = services_of(application)
    settings = svc.settings
    now = svc.clock.now()
    removed = 0
    async with svc.db.session() as s:
        apps = await retention.due_removals(s, now, settings.returned_materials_days, settings.tz)
        for app in apps:
            paths = await retention.remove_materials(s, app, now)
            await s.commit()  # recorded first: a file without its row is never served again
            gone = await asyncio.to_thread(retention.unlink_all, settings.data_dir, paths)
            log.info("application %s: removed %d returned material file(s)", app.id, gone)
            removed += 1
    return removed
