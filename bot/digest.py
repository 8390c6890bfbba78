"""A reviewer's day in one message: each working-day morning, inside working hours, every reviewer with
applications waiting for them gets one digest (how many, the oldest, what falls due in the coming week)
with a button into /pending — not one message per application.

Like the reminders (`bot.jobs`), nothing is scheduled per person: a repeating job asks the database who
has work waiting, and records each digest as a `Ping` row (`digest:<user>:<day>`, unique) in the same
transaction as its message (an effect under the same key), so a restart neither loses the day's digest
nor sends it twice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from telegram.ext import Application

from bot import effects
from bot.domain.workflow import Role, Status
from bot.runtime import services_of
from bot.services import review as svc_review
from bot.views import review as views
from storage import repo
from storage.models import Ping, RoleGrant, User

log = logging.getLogger(__name__)

JOB_NAME = "review-digest"
INTERVAL_SECONDS = 900
FIRST_SECONDS = 30
KIND = "digest"
_LOCK = "digest_lock"
WORKING_DAYS = range(5)  # Monday to Friday


def schedule(app: Application, *, interval: float = INTERVAL_SECONDS,
             first: float = FIRST_SECONDS) -> None:
    """Start the repeating digest job (replacing one already scheduled)."""
    from bot.jobs import repeat

    repeat(app, JOB_NAME, send_digests, interval=interval, first=first, what="reviewers' digests")


def in_working_hours(local: datetime, start_hour: int, end_hour: int) -> bool:
    """A working day, after the quiet hours end and before they start again."""
    return local.weekday() in WORKING_DAYS and start_hour <= local.hour < end_hour


def key_of(user_id: int, local: datetime) -> str:
    return f"{KIND}:{user_id}:{local.date().isoformat()}"


async def send_digests(application: Application) -> list[int]:
    """Owe today's digest to every reviewer with work waiting who has not had it; whom."""
    svc = services_of(application)
    settings = svc.settings
    now = svc.clock.now()
    local = now.astimezone(settings.tz)
    if not in_working_hours(local, settings.quiet_end_hour, settings.quiet_start_hour):
        return []
    lock = application.bot_data.setdefault(_LOCK, asyncio.Lock())
    sent: list[int] = []
    rows: list[Any] = []
    async with lock:
        async with svc.db.session() as s:
            q = (select(RoleGrant.user_id).where(RoleGrant.revoked_at.is_(None),
                                                 RoleGrant.role.in_([Role.DISTRICT.value, Role.CITY.value]))
                 .distinct())
            for uid in sorted((await s.scalars(q)).all()):
                key = key_of(uid, local)
                if await s.scalar(select(Ping.id).where(Ping.key == key)) is not None:
                    continue
                user = await s.get(User, uid)
                if user is None or user.blocked_at is not None:
                    continue
                roles = await repo.roles_of(s, uid, settings.admin_ids)
                apps = await svc_review.waiting_for(s, uid, roles)
                if not apps:
                    continue
                items = []
                for app in apps:
                    since = (app.status_since or app.submitted_at or now).astimezone(settings.tz).date()
                    inspection = app.inspection_on if app.status == Status.INSPECTION_SCHEDULED.value else None
                    items.append(views.Waiting(app.number or "", since,
                                               since + timedelta(days=settings.review_escalate_days), inspection))
                text, markup = views.digest(svc.translator(user), items, local.date())
                row = await effects.write_once(s, effects.message(uid, text, markup, once=key), key[:64], now)
                if row is None:
                    continue  # owed already
                s.add(Ping(key=key, kind=KIND, recipient_id=uid, due_at=now, sent_at=now))
                rows.append(row)
                sent.append(uid)
            await s.commit()
        await svc.db.durable(s)
    svc.sender.push(rows)
    if sent:
        log.info("owed %d reviewers' digests", len(sent))
    return sent
