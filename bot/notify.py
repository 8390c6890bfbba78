"""What other people are owed when an application moves: reviewers' cards, the applicant's news,
admins' warnings — written as effects in the transaction of the move itself (`bot.effects`).

A card belongs to the transition that put the application in front of the reviewer (its audit event),
so every round of review, a resubmission included, gives each reviewer a new card; the cards of the
round just decided are edited to say who decided, and lose their buttons.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import effects
from bot.domain import workflow
from bot.domain.workflow import Role, Status
from bot.i18n import Markup
from bot.services import office
from bot.views import office as office_views
from bot.views import review as views
from storage import repo
from storage.models import Application, Attachment, AuditEvent, OpinionRecord, ReviewMessage, User

if TYPE_CHECKING:
    from bot.runtime import Rq, Services

log = logging.getLogger(__name__)

# the moves after which the applicant gets the form as it now stands
FORM_AT = frozenset({workflow.Action.APPROVE.value, workflow.Action.REJECT.value, workflow.Action.L1_REJECT.value})
_LAST_EVENT = (select(AuditEvent).where(AuditEvent.application_id == bindparam("app"))
               .order_by(AuditEvent.id.desc()).limit(1))


async def card_data(s: AsyncSession, app: Application, opinions: Sequence[OpinionRecord] | None = None,
                    attachments: Sequence[Attachment] | None = None) -> views.CardData:
    """What the reviewer's card of `app` shows, loaded (`opinions`, `attachments`: when the caller has them)."""
    union = await s.get(repo.Union, app.union_id) if app.union_id else None
    season = await repo.ensure_season(s, app.season_year)
    return views.CardData(
        app=app, union=union.name("zh") if union else "", first_year=season.first_year,
        opinions=opinions if opinions is not None else await repo.opinions(s, app.id),
        trail=await repo.audit_trail(s, app.id),
        attachments=attachments if attachments is not None else await repo.attachments(s, app.id))


def with_union(d: views.CardData, union: repo.Union | None, lang: str) -> views.CardData:
    d.union = union.name(lang) if union else ""
    return d


async def transitioned(rq: Rq, app: Application, action: str) -> None:
    """Owe everyone concerned what `action` (just recorded on `app`) means for them."""
    s, svc = rq.session, rq.svc
    await s.flush()
    last = await s.scalar(_LAST_EVENT, {"app": app.id})
    actor = await s.get(User, last.actor_id) if last and last.actor_id else None
    now = svc.clock.now()
    # 1. the open cards now say who decided, and lose their buttons
    for rm in await repo.open_cards(s, app.id):
        rm.closed_at = now
        reader = await s.get(User, rm.chat_id)
        t = svc.translator(reader)
        text = t("review.decided", number=app.number or "", who=actor.display_name if actor else "",
                 when=svc.local(last.at if last else now).strftime("%Y-%m-%d %H:%M"), action=t(f"action.{action}"))
        rq.owe(effects.close(rm.chat_id, rm.id, text, views.decided_keyboard(t, app)))
    # 2. the applicant hears of every transition but their own, with the opinion; not of what stays with
    # the reviewers and the meeting (the findings, the preliminary opinion: `Transition.internal`)
    applicant = await s.get(User, app.applicant_id)
    if applicant is not None and workflow.of_action(workflow.Action(action)).news_key is not None:
        t = svc.translator(applicant)
        rq.owe(effects.message(applicant.id, views.applicant_news(t, app, action, last.opinion if last else None),
                               views.applicant_keyboard(t, app)))
        if action in FORM_AT:  # the completed form: the basic union's copy (R-F9), or returned (R-W4)
            rq.owe(effects.render(applicant.id, "form", app=app.id, version=app.version))
    # 3. the next reviewers get the application: a card each for this round
    await owe_cards(rq, app, last)


async def owe_cards(rq: Rq, app: Application, event: AuditEvent | None) -> int:
    """A card for this round to every reachable reviewer of the application's level; the admins are
    warned when there is none. How many cards."""
    s, svc = rq.session, rq.svc
    status = Status(app.status)
    level = workflow.level_of(status)
    if not level:
        return 0
    role = Role.DISTRICT if level == 1 else Role.CITY
    people = await reachable_reviewers(s, app, level)
    if not people:
        await warn_admins(rq, app, level)
        return 0
    atts = await repo.attachments(s, app.id)
    data = await card_data(s, app, attachments=atts)
    union = await s.get(repo.Union, app.union_id) if app.union_id else None
    photos = [a.telegram_file_id for a in atts if a.kind == "photo" and a.field == "photos"]
    for person in people:
        t = svc.translator(person)
        row = ReviewMessage(application_id=app.id, event_id=event.id if event else None, chat_id=person.id,
                            status=status.value)
        s.add(row)
        await s.flush()
        if len(photos) >= 2:
            rq.owe(effects.album(person.id, photos, t("review.photos_caption", number=app.number)))
        for a in atts:
            if a.kind == "document" or a.field != "photos":
                label = t(f"field.{a.field}.label")
                caption = t("review.file_caption", label=Markup(label), name=a.original_name) if a.original_name \
                    else label
                rq.owe(effects.file(person.id, "video" if a.kind == "video" else "document", a.telegram_file_id,
                                    caption))
        text, markup = views.card(t, with_union(data, union, t.lang), role, svc.settings.webapp_link(f"app/{app.id}"))
        rq.owe(effects.card(person.id, row.id, text, markup))
    return len(people)


async def reachable_reviewers(s: AsyncSession, app: Application, level: int) -> list[User]:
    """The reviewers of `level` for this application (its union's at level 1) who have not blocked the bot."""
    role = Role.DISTRICT if level == 1 else Role.CITY
    return [p for p in await repo.users_with_role(s, role, app.union_id if level == 1 else None)
            if p.blocked_at is None]


async def warn_admins(rq: Rq, app: Application, level: int) -> None:
    """No reviewer can be reached at `level`: every admin is told, in their language."""
    rq.owe(*await _warnings(rq.session, rq.svc, app, level))


async def _warnings(s: AsyncSession, svc: Services, app: Application, level: int) -> list[effects.Owed]:
    """The warning of each admin: the level, the union that lacks a reviewer (level 1) or the city
    federation (level 2), and the button that makes the invitation to send."""
    union = await s.get(repo.Union, app.union_id) if app.union_id and level == 1 else None
    out = []
    for admin_id in sorted(svc.settings.admin_ids):
        t = svc.translator(await s.get(User, admin_id))
        text, markup = views.no_reviewer(t, app, level, union.name(t.lang) if union else None)
        out.append(effects.message(admin_id, text, markup))
    return out


async def reviewer_blocked(svc: Services, review_id: int) -> list[effects.Owed]:
    """A card's reviewer blocked the bot: when nobody else at that level can be reached, the admins are
    warned. The effects to write."""
    async with svc.db.session() as s:
        rm = await s.get(ReviewMessage, review_id)
        app = await s.get(Application, rm.application_id) if rm is not None else None
        if rm is None or app is None or app.status != rm.status:
            return []
        level = workflow.level_of(Status(app.status))
        if await reachable_reviewers(s, app, level):
            return []
        return await _warnings(s, svc, app, level)


async def unstaffed_pick(rq: Rq, app: Application, union_id: int) -> str | None:
    """The applicant picked a union no reviewer serves: every admin is told, once per union and season;
    what the applicant is told (None when the union has a reviewer)."""
    s = rq.session
    if not await office.is_unstaffed(s, union_id):
        return None
    union = await s.get(repo.Union, union_id)
    now = rq.svc.clock.now()
    for admin_id in sorted(rq.svc.settings.admin_ids):
        if await office.first_notice(s, union_id, app.season_year, admin_id, now):
            t = rq.svc.translator(await s.get(User, admin_id))
            rq.owe(effects.message(admin_id, *office_views.unstaffed_admin(
                t, union_id, union.name(t.lang) if union else "", app.season_year)))
    return office_views.unstaffed_applicant(rq.t, union.name(rq.lang) if union else "", await office.contact(s))


async def meeting_outcomes(s: AsyncSession, svc: Services, outcomes: Sequence[Any], actor_id: int | None = None
                           ) -> list[effects.Owed]:
    """Each final outcome of the meeting's list (`bot.services.meeting.Outcome`) told to everyone concerned,
    in their language: the applicant, the union's reviewers, the contact persons, the admins; the applicant
    also gets the form as it now stands (R-F9, R-W4)."""
    from bot.services import meeting
    from bot.views import meeting as meeting_views

    contact = await office.contact(s)
    out: list[effects.Owed] = []
    for o in outcomes:
        app = o.app
        leader = str((app.answers or {}).get("leader_name") or "")
        for person in await meeting.concerned(s, app, svc.settings.admin_ids, actor_id):
            t = svc.translator(person)
            text = meeting_views.outcome(t, app.number or "", leader, o.action.value, name=app.studio_name or "",
                                         date_=app.plaque_on.isoformat() if app.plaque_on else "",
                                         reason=o.reason or "",
                                         contact=office_views.contact_line(t, contact) if person.id == app.applicant_id
                                         else "")
            out.append(effects.message(person.id, text))
        out.append(effects.render(app.applicant_id, "form", app=app.id, version=app.version))
    return out
