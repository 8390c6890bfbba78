"""What other people are owed when an application moves: reviewers' cards, the applicant's news,
admins' warnings — written as effects in the transaction of the move itself (`bot.effects`).

Each reviewer has one card per application, edited as the application moves (status, opinions, who
decided, the buttons that apply now). When the application reaches a level (a new round: the first
arrival, a resubmission) its reviewers get the card anew as the newest message of that screen, under
the photos and documents they have not seen yet; more of them only on request (🖼 / 📎 on the card).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup

from bot import effects
from bot.domain import workflow
from bot.domain.workflow import Role, Status
from bot.i18n import Markup, Translator
from bot.services import office
from bot.services import results as svc_results
from bot.views import office as office_views
from bot.views import review as views
from storage import repo
from storage.models import Application, Attachment, AuditEvent, OpinionRecord, ReviewMessage, User

if TYPE_CHECKING:
    from bot.runtime import Rq, Services

log = logging.getLogger(__name__)

# the moves after which the applicant gets the form as it now stands
FORM_AT = frozenset({workflow.Action.REJECT.value, workflow.Action.L1_REJECT.value})


async def card_data(s: AsyncSession, app: Application, opinions: Sequence[OpinionRecord] | None = None,
                    attachments: Sequence[Attachment] | None = None, svc: Services | None = None) -> views.CardData:
    """What the reviewer's card of `app` shows, loaded (`opinions`, `attachments`: when the caller has them;
    `svc`: to say who made the latest move, and when)."""
    union = await repo.union_of(s, app.union_id)
    season = await repo.ensure_season(s, app.season_year)
    trail = await repo.audit_trail(s, app.id)
    last = None
    moved = next((e for e in reversed(trail) if e.to_status), None)
    if svc is not None and moved is not None:
        actor = await s.get(User, moved.actor_id) if moved.actor_id else None
        last = views.Move(moved.action, actor.display_name if actor else "",
                          svc.local(moved.at).strftime("%Y-%m-%d %H:%M"))
    return views.CardData(
        app=app, union=union.name("zh") if union else "", first_year=season.first_year,
        opinions=opinions if opinions is not None else await repo.opinions(s, app.id),
        trail=trail, last=last, results=await svc_results.of_application(s, app.id),
        attachments=attachments if attachments is not None else await repo.attachments(s, app.id))


def with_union(d: views.CardData, union: repo.Union | None, lang: str) -> views.CardData:
    d.union = union.name(lang) if union else ""
    return d


def screen_of(app_id: int) -> str:
    """The screen of an application's card in a reviewer's chat: its prompts and the card are one message."""
    return f"rv{app_id}"


async def cards(s: AsyncSession, app_id: int) -> dict[int, ReviewMessage]:
    """Each reviewer's card of the application (chat → its row)."""
    rows = (await s.scalars(select(ReviewMessage).where(ReviewMessage.application_id == app_id)
                            .order_by(ReviewMessage.id))).all()
    return {r.chat_id: r for r in rows}


def role_of(rm: ReviewMessage) -> Role:
    """The role a card was made for: the level the application was at when it first reached the reviewer."""
    return Role.DISTRICT if workflow.level_of(Status(rm.status)) == 1 else Role.CITY


async def card_of(s: AsyncSession, app: Application, chat_id: int, role: Role,
                  known: dict[int, ReviewMessage] | None = None) -> ReviewMessage:
    """The reviewer's card row of the application, made when there is none yet (`known`: the cards read)."""
    rm = (known if known is not None else await cards(s, app.id)).get(chat_id)
    if rm is None:
        rm = ReviewMessage(application_id=app.id, chat_id=chat_id,
                           status=(Status.SUBMITTED if role is Role.DISTRICT else Status.FORWARDED).value)
        s.add(rm)
        await s.flush()
    return rm


async def render_card(rq: Rq, app: Application, role: Role, reader: User | None = None,
                      data: views.CardData | None = None) -> tuple[str, InlineKeyboardMarkup]:
    """The card of `app` as `reader` (the actor by default) sees it now."""
    t = rq.svc.translator(reader) if reader is not None else rq.t
    return await _card(rq.session, rq.svc, t, app, role, data)


async def _card(s: AsyncSession, svc: Services, t: Translator, app: Application, role: Role,
                data: views.CardData | None = None) -> tuple[str, InlineKeyboardMarkup]:
    data = data or await card_data(s, app, svc=svc)
    union = await repo.union_of(s, app.union_id)
    return views.card(t, with_union(data, union, t.lang), role, svc.settings.webapp_link(f"app/{app.id}"))


async def cards_now(s: AsyncSession, svc: Services, apps: Sequence[Application]) -> list[effects.Owed]:
    """Every reviewer's card of each application changed in place to where it stands now (a move of the
    meeting's list, the notice or the naming, which no card's button took)."""
    await s.flush()
    out: list[effects.Owed] = []
    for app in apps:
        data = await card_data(s, app, svc=svc)
        for chat_id, rm in (await cards(s, app.id)).items():
            reader = await s.get(User, chat_id)
            if reader is None or reader.blocked_at is not None:
                continue
            text, markup = await _card(s, svc, svc.translator(reader), app, role_of(rm), data)
            out.append(effects.close(chat_id, rm.id, text, markup))
    return out


async def transitioned(rq: Rq, app: Application, action: str, *, own_card: bool = False) -> Seen:
    """Owe everyone concerned what `action` (just recorded on `app`) means for them; the actor's own card is
    the handler's (it shows the result where the decision was taken), or, with `own_card` (a decision taken
    elsewhere, on the web page), changed here like the others. What the cards were drawn from, for the
    handler's own."""
    s, svc = rq.session, rq.svc
    await s.flush()
    data = await card_data(s, app, svc=svc)
    last = data.trail[-1] if data.trail else None
    before = Status(last.from_status) if last and last.from_status else None
    arrives = workflow.Action(action) in workflow.SUBMISSIONS or (
        before is not None and workflow.level_of(before) != workflow.level_of(Status(app.status)))
    # 1. every other reviewer's card of the application now says where it stands (who decided, what applies)
    level = workflow.level_of(Status(app.status))
    # a first submission: no reviewer has had a card of the application yet (only a draft is submitted)
    known = {} if action == workflow.Action.SUBMIT.value else await cards(s, app.id)
    for chat_id, rm in known.items():
        if (chat_id == rq.user.id and not own_card) or (arrives and role_of(rm) is _role(level)):
            continue  # the actor's own is the handler's; a new round's card is sent anew below
        reader = await s.get(User, chat_id)
        text, markup = await render_card(rq, app, role_of(rm), reader, data)
        rq.owe(effects.close(chat_id, rm.id, text, markup))
    # 2. the applicant hears of every transition but their own, with the opinion; not of what stays with
    # the reviewers and the meeting (the findings, the preliminary opinion: `Transition.internal`)
    applicant = await s.get(User, app.applicant_id)
    if applicant is not None and workflow.of_action(workflow.Action(action)).news_key is not None:
        t = svc.translator(applicant)
        rq.owe(effects.message(applicant.id, views.applicant_news(t, app, action, last.opinion if last else None),
                               views.applicant_keyboard(t, app)))
        if action in FORM_AT:  # the completed form: the basic union's copy (R-F9), or returned (R-W4)
            rq.owe(effects.render(applicant.id, "form", app=app.id, version=app.version))
    # 3. when the application reaches a level (a new round), its reviewers get the card anew
    if arrives:
        await owe_cards(rq, app, last, data, known)
    return Seen(data, known)


@dataclass
class Seen:
    """An application's card data and its reviewers' cards, as a transition loaded them."""

    data: views.CardData
    cards: dict[int, ReviewMessage]


def _role(level: int) -> Role:
    return Role.DISTRICT if level == 1 else Role.CITY


async def owe_cards(rq: Rq, app: Application, event: AuditEvent | None,
                    data: views.CardData | None = None, known: dict[int, ReviewMessage] | None = None) -> int:
    """The card of this round to every reachable reviewer of the application's level, under the photos and
    documents they have not seen yet (all of them the first time; after a resubmission, those that changed);
    the admins are warned when there is nobody. How many cards."""
    s, svc = rq.session, rq.svc
    status = Status(app.status)
    level = workflow.level_of(status)
    if not level:
        return 0
    role = _role(level)
    people = await reachable_reviewers(s, app, level)
    if not people:
        await warn_admins(rq, app, level)
        return 0
    data = data or await card_data(s, app, svc=svc)
    atts = list(data.attachments)
    seen = _seen_before(data.trail)
    known = dict(known) if known is not None else await cards(s, app.id)
    first = {p.id: ReviewMessage(application_id=app.id, event_id=event.id if event else None, chat_id=p.id,
                                 status=status.value) for p in people if p.id not in known}
    if first:  # one flush for all the new cards' rows (their ids go into the effects)
        s.add_all(first.values())
        await s.flush()
    for person in people:
        t = svc.translator(person)
        rm = known.get(person.id)
        if rm is None:
            rm = first[person.id]
            new = atts
        else:
            rm.event_id, rm.closed_at = (event.id if event else rm.event_id), None
            new = [a for a in atts if a.sha256 not in seen] if seen is not None else atts
        photos = views.materials(atts, "photos")
        if any(a in new for a in photos):
            rq.owe(*_send_materials(t, app, person.id, "photos", photos))
        rq.owe(*_send_materials(t, app, person.id, "files", [a for a in views.materials(atts, "files") if a in new]))
        text, markup = await render_card(rq, app, role, person, data)
        rq.owe(effects.card(person.id, rm.id, text, markup))
    return len(people)


def _seen_before(trail: Sequence[AuditEvent]) -> set[str] | None:
    """The files the reviewers saw in the round before the latest reopening (None: not known)."""
    ret = next((e for e in reversed(trail) if e.action in views.RETURNS), None)
    kept = (ret.details or {}).get("attachments") if ret is not None else None
    return {row[2] for row in kept} if isinstance(kept, list) else None


def _send_materials(t: Translator, app: Application, chat_id: int, kind: str,
                    atts: Sequence[Attachment]) -> list[effects.Owed]:
    """The photos as an album (one photo alone), or each other file with its field and name."""
    if not atts:
        return []
    if kind == "photos":
        ids = [a.telegram_file_id for a in atts]
        caption = t("review.photos_caption", number=app.number or "")
        if len(ids) >= 2:
            return [effects.album(chat_id, ids, caption)]
        return [effects.file(chat_id, "photo", ids[0], caption)]
    out = []
    for a in atts:
        label = t(f"field.{a.field}.label")
        caption = t("review.file_caption", label=Markup(label), name=a.original_name) if a.original_name else label
        out.append(effects.file(chat_id, "video" if a.kind == "video" else "photo" if a.kind == "photo"
                                else "document", a.telegram_file_id, caption))
    return out


async def send_materials(rq: Rq, app: Application, kind: str) -> bool:
    """The photos or the documents again, on request, with the card moved under them; whether any."""
    atts = views.materials(await repo.attachments(rq.session, app.id), kind)
    owed = _send_materials(rq.t, app, rq.user.id, kind, atts)
    if not owed:
        return False
    rq.owe(*owed)
    rm = (await cards(rq.session, app.id)).get(rq.user.id)
    if rm is not None:
        text, markup = await render_card(rq, app, role_of(rm))
        rq.owe(effects.card(rq.user.id, rm.id, text, markup, screen=screen_of(app.id)))
    return True


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
    union = await repo.union_of(s, app.union_id) if level == 1 else None
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
        level = workflow.level_of(Status(app.status)) if app is not None else 0
        if rm is None or app is None or not level or role_of(rm) is not _role(level):
            return []  # the application has moved on from that reviewer's level
        if await reachable_reviewers(s, app, level):
            return []
        return await _warnings(s, svc, app, level)


async def unstaffed_pick(rq: Rq, app: Application, union_id: int) -> str | None:
    """The applicant picked a union no reviewer serves: every admin is told, once per union and season;
    what the applicant is told (None when the union has a reviewer)."""
    s = rq.session
    if not await office.is_unstaffed(s, union_id):
        return None
    union = await repo.union_of(s, union_id)
    now = rq.svc.clock.now()
    for admin_id in sorted(rq.svc.settings.admin_ids):
        if await office.first_notice(s, union_id, app.season_year, admin_id, now):
            t = rq.svc.translator(await s.get(User, admin_id))
            rq.owe(effects.message(admin_id, *office_views.unstaffed_admin(
                t, union_id, union.name(t.lang) if union else "", app.season_year)))
    return office_views.unstaffed_applicant(rq.t, union.name(rq.lang) if union else "", await office.contact(s))


async def notice_published(s: AsyncSession, svc: Services, m: Any, listed: Sequence[Application],
                           actor_id: int | None = None) -> list[effects.Owed]:
    """The meeting's approved list put under public notice: the notice (DOCX) to everyone concerned by an
    entry, once each, with its period (nothing when the season has no notice)."""
    from bot.services import meeting

    if m.notice_from is None or m.notice_until is None or not listed:
        return []
    people: dict[int, User] = {}
    for each in (await meeting.concerned(s, listed, svc.settings.admin_ids, actor_id)).values():
        for person in each:
            people.setdefault(person.id, person)
    return [effects.render(uid, "season_notice", once=f"notice:{m.id}:{uid}", year=m.season_year,
                           lang=svc.translator(person).lang, first=m.notice_from.isoformat(),
                           last=m.notice_until.isoformat())
            for uid, person in people.items()]


async def meeting_outcomes(s: AsyncSession, svc: Services, outcomes: Sequence[Any], actor_id: int | None = None,
                           moved: Sequence[Application] = ()) -> list[effects.Owed]:
    """Each final outcome of the meeting's list (`bot.services.meeting.Outcome`) told to everyone concerned,
    in their language: the applicant, the union's reviewers, the contact persons, the admins; the applicant
    also gets the form as it now stands (R-F9, R-W4). The reviewers' cards of these and of the `moved`
    (approved onto the notice: not final yet) change in place."""
    from bot.services import meeting
    from bot.views import meeting as meeting_views

    contact = await office.contact(s)
    out: list[effects.Owed] = []
    told = await meeting.concerned(s, [o.app for o in outcomes], svc.settings.admin_ids, actor_id)
    for o in outcomes:
        app = o.app
        leader = str((app.answers or {}).get("leader_name") or "")
        for person in told[app.id]:
            t = svc.translator(person)
            text = meeting_views.outcome(t, app.number or "", leader, o.action.value, name=app.studio_name or "",
                                         date_=app.plaque_on.isoformat() if app.plaque_on else "",
                                         reason=o.reason or "",
                                         contact=office_views.contact_line(t, contact) if person.id == app.applicant_id
                                         else "")
            out.append(effects.message(person.id, text))
        out.append(effects.render(app.applicant_id, "form", app=app.id, version=app.version))
    out += await cards_now(s, svc, [*[o.app for o in outcomes], *moved])
    return out
