"""Messages to other people: reviewers' cards, applicants' news, admins' warnings.

Sending goes through PTB's rate limiter (RetryAfter); network errors are retried; a person who
blocked the bot is skipped and recorded, and the others are still reached.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup, InputMediaPhoto
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.domain import workflow
from bot.domain.workflow import Role, Status
from bot.outbox import markup_json, message_params
from bot.runtime import services_of
from storage import repo
from storage.models import Application, Attachment, AuditEvent, OpinionRecord, ReviewMessage, User

log = logging.getLogger(__name__)
T = TypeVar("T")
SEND_TRIES = 4


class Unreachable(Exception):
    """The recipient blocked the bot or the chat is gone."""


async def deliver(fn: Callable[[], Awaitable[T]]) -> T:
    """Call the Bot API, retrying flood waits and network errors; `Unreachable` when blocked."""
    for attempt in range(SEND_TRIES):
        try:
            return await fn()
        except Forbidden as exc:
            raise Unreachable(str(exc)) from None
        except BadRequest as exc:
            if "chat not found" in str(exc).lower():
                raise Unreachable(str(exc)) from None
            raise
        except RetryAfter as exc:
            if attempt + 1 == SEND_TRIES:
                raise
            await asyncio.sleep(float(exc.retry_after if isinstance(exc.retry_after, int | float)
                                      else exc.retry_after.total_seconds()))
        except (TimedOut, NetworkError):
            if attempt + 1 == SEND_TRIES:
                raise
            await asyncio.sleep(0.3 * 2**attempt)
    raise AssertionError("unreachable")


async def send_text(bot: Any, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None) -> int:
    """Send an HTML message (through the outbox's raw call: nothing of the reply is parsed but its id);
    the sent message's id."""
    params = message_params(chat_id, text, markup_json(markup) if markup is not None else None)
    sent = await deliver(functools.partial(bot.do_api_request, "sendMessage", params))
    return int(sent["message_id"])


async def _mark_blocked(s: AsyncSession, user_id: int, now: Any) -> None:
    user = await s.get(User, user_id)
    if user is not None and user.blocked_at is None:
        user.blocked_at = now


_LAST_EVENT = (select(AuditEvent).where(AuditEvent.application_id == bindparam("app"))
               .order_by(AuditEvent.id.desc()).limit(1))


@dataclass
class Materials:
    """What every reviewer's card of one application shows, read once for all of them."""

    opinions: Sequence[OpinionRecord] | None = None
    attachments: Sequence[Attachment] | None = None

    async def load(self, s: AsyncSession, app_id: int) -> Materials:
        if self.opinions is None:
            self.opinions = await repo.opinions(s, app_id)
        if self.attachments is None:
            self.attachments = await repo.attachments(s, app_id)
        return self


async def after_transition(application: Any, app_id: int, action: str) -> None:
    """Everything people must hear after `action` moved application `app_id`."""
    from conversations import review as views

    svc = services_of(application)
    bot = application.bot
    async with svc.db.session() as s:
        app = await s.get(Application, app_id)
        if app is None:
            return
        last = await s.scalar(_LAST_EVENT, {"app": app_id})
        actor = await s.get(User, last.actor_id) if last and last.actor_id else None
        season = await repo.ensure_season(s, app.season_year)
        now = svc.clock.now()
        # 1. the cards sent for the previous status now say who decided, and lose their buttons
        if last is not None and last.from_status:
            for rm in await repo.review_messages(s, app_id, last.from_status):
                if rm.message_id is None:
                    continue
                reader = await s.get(User, rm.chat_id)
                t = svc.i18n.get(svc.i18n.pick(reader.locale if reader else None,
                                               reader.language_code if reader else None))
                text = t("review.decided", number=app.number or "", who=actor.display_name if actor else "",
                         when=svc.local(last.at).strftime("%Y-%m-%d %H:%M"), action=t(f"action.{action}"))
                edit = {**message_params(rm.chat_id, text), "message_id": rm.message_id}
                try:
                    await deliver(functools.partial(bot.do_api_request, "editMessageText", edit))
                except (Unreachable, BadRequest) as exc:
                    log.info("could not update card %s: %s", rm.id, exc)
        # 2. the applicant hears of every transition, with the opinion
        applicant = await s.get(User, app.applicant_id)
        if applicant is not None and action not in (workflow.Action.SUBMIT.value, workflow.Action.RESUBMIT.value):
            t = svc.i18n.get(svc.i18n.pick(applicant.locale, applicant.language_code))
            text = views.applicant_news(t, app, action, last.opinion if last else None)
            try:
                await send_text(bot, applicant.id, text, views.applicant_keyboard(t, app))
            except Unreachable:
                await _mark_blocked(s, applicant.id, now)
        # 3. the next reviewers get the application, once each
        status = Status(app.status)
        level = workflow.level_of(status)
        if level:
            role = Role.DISTRICT if level == 1 else Role.CITY
            people = await repo.users_with_role(s, role, app.union_id if level == 1 else None)
            claimed = await _claim_all(s, app.id, status, people)
            reached = 0
            shown = Materials()
            for person in people:
                row = claimed.get(person.id)
                # a card claimed before counts as reaching them: it was sent, or is being sent
                if row is None or await _send_card(s, bot, svc, app, person, role, status, season.first_year, now,
                                                   row, shown):
                    reached += 1
            if reached == 0:
                await _warn_admins(s, bot, svc, app, level)
        await s.commit()


async def _claim(s: AsyncSession, app_id: int, person_id: int, status: Status, *, resend: bool
                 ) -> ReviewMessage | None:
    """Claim one reviewer's card for this status (inside a savepoint); None when there is nothing to send:
    claimed before — unless `resend` and the claimant died before sending it."""
    row = ReviewMessage(application_id=app_id, chat_id=person_id, status=status.value)
    try:
        async with s.begin_nested():
            s.add(row)
    except IntegrityError:
        if not resend:
            return None  # already sent (or being sent) for this status
        found = await s.scalar(select(ReviewMessage).where(
            ReviewMessage.application_id == app_id, ReviewMessage.chat_id == person_id,
            ReviewMessage.status == status.value))
        if found is None or found.message_id is not None or found.error:
            return None
        return found  # claimed by a process that died before sending: send it now
    return row


async def _claim_all(s: AsyncSession, app_id: int, status: Status, people: Sequence[User]
                     ) -> dict[int, ReviewMessage]:
    """Claim, in one transaction, the cards of everyone who has none for this status yet: person id →
    their row. When another process claimed one meanwhile, each card is claimed on its own."""
    have = {rm.chat_id for rm in await repo.review_messages(s, app_id, status.value)}
    rows = {p.id: ReviewMessage(application_id=app_id, chat_id=p.id, status=status.value)
            for p in people if p.id not in have}
    try:
        async with s.begin_nested():
            s.add_all(rows.values())
    except IntegrityError:
        rows = {}
        for p in people:
            row = await _claim(s, app_id, p.id, status, resend=False)
            if row is not None:
                rows[p.id] = row
    await s.commit()
    return rows


async def _send_card(s: AsyncSession, bot: Any, svc: Any, app: Application, person: User, role: Role,
                     status: Status, first_year: bool, now: Any, row: ReviewMessage,
                     shown: Materials | None = None) -> bool:
    """Send the card whose row (`row`) was claimed before: retries and restarts never duplicate it."""
    from conversations import review as views

    t = svc.i18n.get(svc.i18n.pick(person.locale, person.language_code))
    shown = await (shown or Materials()).load(s, app.id)
    text, markup = await views.card(s, t, app, role, first_year, shown.opinions)
    try:
        first_card = status in (Status.SUBMITTED, Status.FORWARDED)
        if first_card:
            await _send_materials(bot, app, person.id, t, shown.attachments or ())
        message_id = await send_text(bot, person.id, text, markup)
    except Unreachable as exc:
        row.error = str(exc)[:200]
        await _mark_blocked(s, person.id, now)
        await s.commit()
        return False
    except (NetworkError, TimedOut, RetryAfter) as exc:
        row.error = str(exc)[:200]
        await s.commit()
        return False
    row.message_id = message_id
    row.sent_at = now
    await s.commit()
    return True


async def _send_materials(bot: Any, app: Application, chat_id: int, t: Any, atts: Sequence[Attachment]) -> None:
    """The photos as one album, then each document (by Telegram's file ids: nothing is uploaded again)."""
    photos = [a for a in atts if a.kind == "photo" and a.field == "photos"]
    if len(photos) >= 2:
        # typed: PTB's defaults handling of `media` expects its own objects
        media = [InputMediaPhoto(a.telegram_file_id) for a in photos[:10]]
        media[0] = InputMediaPhoto(photos[0].telegram_file_id, caption=t("review.photos_caption", number=app.number))
        await deliver(lambda: bot.send_media_group(chat_id, media))
    for a in atts:
        if a.kind == "document" or a.field != "photos":
            kind = "video" if a.kind == "video" else "document"
            params = {"chat_id": chat_id, kind: a.telegram_file_id, "caption": t(f"field.{a.field}.label")}
            await deliver(functools.partial(bot.do_api_request, "sendVideo" if kind == "video" else "sendDocument",
                                            params))


async def _warn_admins(s: AsyncSession, bot: Any, svc: Any, app: Application, level: int) -> None:
    union = await s.get(repo.Union, app.union_id) if app.union_id else None
    for admin_id in sorted(svc.settings.admin_ids):
        admin = await s.get(User, admin_id)
        t = svc.i18n.get(svc.i18n.pick(admin.locale if admin else None, admin.language_code if admin else None))
        text = t("review.no_reviewer", number=app.number or "", level=level,
                 union=union.name(t.lang) if union else t("review.city"))
        try:
            await send_text(bot, admin_id, text)
        except Unreachable:
            log.warning("admin %s unreachable", admin_id)


async def catch_up(application: Any) -> int:
    """Send the reviewer cards a crash left unsent (each reviewer once per status); returns how many."""
    svc = services_of(application)
    bot = application.bot
    sent = 0
    async with svc.db.session() as s:
        waiting = [st.value for st in (*workflow.LEVEL1_WAITING, *workflow.LEVEL2_WAITING)]
        apps = (await s.scalars(select(Application).where(Application.status.in_(waiting))
                                .order_by(Application.id))).all()
        if not apps:
            return 0
        # rows with neither a message nor an error were claimed by a process that died mid-send
        have = {(a, c, st) for a, c, st in (await s.execute(
            select(ReviewMessage.application_id, ReviewMessage.chat_id, ReviewMessage.status).where(
                ReviewMessage.message_id.is_not(None) | ReviewMessage.error.is_not(None)))).all()}
        people: dict[tuple[Role, int | None], Any] = {}
        for app in apps:
            status = Status(app.status)
            role = Role.DISTRICT if workflow.level_of(status) == 1 else Role.CITY
            key = (role, app.union_id if role is Role.DISTRICT else None)
            if key not in people:
                people[key] = await repo.users_with_role(s, role, key[1])
            missing = [p for p in people[key] if (app.id, p.id, status.value) not in have]
            if not missing:
                continue
            season = await repo.ensure_season(s, app.season_year)
            for person in missing:
                row = await _claim(s, app.id, person.id, status, resend=True)
                if row is not None:
                    await s.commit()
                if row is None or await _send_card(s, bot, svc, app, person, role, status, season.first_year,
                                                   svc.clock.now(), row):
                    sent += 1
        await s.commit()
    return sent
