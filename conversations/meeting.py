"""`/meeting` (city reviewers): the season's meeting list, its papers, the meeting's record confirmed once,
and the approved list under public notice (objections, plaque dates). The rules are
`bot.services.meeting`'s; here: parse, call, render, reply.

The outcomes chosen on the list are kept in `user_data` (`DRAFT`) until the meeting is recorded or
cancelled; what is typed (the date, the minute number, a reason, an objection, a plaque date) waits as
`conversations.inputs` describes.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot import callbacks as cb
from bot import effects, notify
from bot.domain import values
from bot.domain.workflow import NotAllowed
from bot.exports import data
from bot.runtime import Rq, handler
from bot.services import meeting as svc
from bot.services import office
from bot.services.records import Candidate, Decisions
from bot.views import meeting as views
from bot.views.office import ask_office
from conversations import inputs
from storage import repo

NAME = "meeting"
DRAFT = "meeting_draft"  # user_data: {"year", "out": {app id: outcome}, "reasons", "held_on", "kind", "minute"}
MEETING = inputs.Flow.of(NAME, cb.Meet)
Op = cb.MeetingOp


def _draft(rq: Rq) -> dict[str, Any]:
    ud = rq.context.user_data
    return dict((ud or {}).get(DRAFT) or {})


def _set_draft(rq: Rq, draft: dict[str, Any] | None) -> None:
    ud = rq.context.user_data
    if ud is None:
        return
    if draft:
        ud[DRAFT] = draft
    else:
        ud.pop(DRAFT, None)
    rq.context.application.mark_data_for_update_persistence(user_ids=[rq.user.id])


def _wait(rq: Rq, step: str, **extra: Any) -> None:
    inputs.wait(rq, MEETING, {"step": step, **extra})


def _show(rq: Rq, screen: views.Screen) -> None:
    (rq.edit if rq.query is not None else rq.reply)(*screen)


async def _year(rq: Rq) -> int:
    return await data.current_season(rq.session, rq.svc.clock.now(), rq.svc.settings.tz)


async def list_screen(rq: Rq, note: str | None = None, items: list[Candidate] | None = None) -> views.Screen:
    """The meeting's list (`items`: its candidates, when the caller has them)."""
    draft = _draft(rq)
    year = int(draft.get("year") or await _year(rq))
    items = items if items is not None else await svc.candidates(rq.session, year, rq.lang)
    draft["year"] = year
    _set_draft(rq, draft)
    return views.candidates(rq.t, year, items, draft.get("out") or {}, len(await svc.entries(rq.session, year)),
                            note)


async def notice_screen(rq: Rq, note: str | None = None) -> views.Screen:
    year = int(_draft(rq).get("year") or await _year(rq))
    entries = await svc.entries(rq.session, year)
    naming_by = (await repo.ensure_season(rq.session, year)).naming_by
    cal = rq.svc.settings.work_days()
    naming = {e.app.id: svc.naming_date(e.meeting, naming_by, rq.svc.settings.tz, cal) for e in entries}
    return views.notice_list(rq.t, year, entries, naming, note)


def _refuse(rq: Rq) -> None:
    repo.audit(rq.session, rq.svc.clock.now(), "refused", actor_id=rq.user.id, details={"command": "meeting"})
    if rq.query is not None:
        rq.alert(rq.t.plain("meeting.denied"))
    else:
        rq.reply(rq.t("meeting.denied"))


@handler
async def cmd_meeting(rq: Rq) -> None:
    inputs.done(rq, MEETING)
    if not svc.may_decide(rq.roles):
        _refuse(rq)
        return
    _set_draft(rq, {**_draft(rq), "year": await _year(rq)})
    rq.reply(*await list_screen(rq))


@handler
async def on_button(rq: Rq) -> None:
    got = cb.decode(rq.query.data if rq.query else None)
    if not svc.may_decide(rq.roles):
        inputs.done(rq, MEETING)
        _refuse(rq)
        return
    if not isinstance(got, cb.Meet):
        rq.refuse(rq.t.plain("error.bad_button"), "bad_button")
        return
    if got.op not in (Op.REASON, Op.KIND, Op.NAME):
        inputs.done(rq, MEETING)
    try:
        await _dispatch(rq, got)
    except (svc.Refused, NotAllowed) as exc:  # nothing changed: the press is answered and recorded
        why = exc.key if isinstance(exc, svc.Refused) else exc.reason
        repo.audit(rq.session, rq.svc.clock.now(), "refused", actor_id=rq.user.id,
                   details={"data": rq.query.data if rq.query else None, "why": why})
        rq.alert(rq.t.plain(exc.key, **exc.params) if isinstance(exc, svc.Refused)
                 else rq.t.plain(f"workflow.denied.{exc.reason}", status=""))


async def _dispatch(rq: Rq, got: cb.Meet) -> None:  # noqa: C901 - one branch per button
    op, t = got.op, rq.t
    draft = _draft(rq)
    now = rq.svc.clock.now()
    if op is Op.LIST:
        rq.edit(*await list_screen(rq))
    elif op is Op.OUTCOME:
        year = int(draft.get("year") or await _year(rq))
        items = await svc.candidates(rq.session, year, rq.lang)
        if got.n not in {c.app.id for c in items}:
            raise svc.Refused("meeting.error.stale", n=1)
        out = dict(draft.get("out") or {})
        turn = svc.OUTCOMES[(svc.OUTCOMES.index(out.get(str(got.n), "approve")) + 1) % len(svc.OUTCOMES)]
        out[str(got.n)] = turn
        _set_draft(rq, {**draft, "out": out})
        rq.edit(*await list_screen(rq, items=items))
    elif op is Op.PAPERS:
        if got.v not in ("docx", "xlsx"):
            raise svc.Refused("meeting.error.outcome")
        rq.owe(effects.render(rq.chat_id, "meeting_papers", year=int(draft.get("year") or await _year(rq)),
                              fmt=got.v, lang=rq.lang))
        rq.toast(t.plain("meeting.papers_coming"))
    elif op is Op.RECORD:
        _wait(rq, "date")
        rq.edit(*views.ask_date(t, values.date_examples(rq.svc.today(), future=False)))
    elif op is Op.KIND:
        if got.v not in svc.KINDS or not draft.get("held_on"):
            raise svc.Refused("meeting.error.kind")
        _set_draft(rq, {**draft, "kind": got.v})
        _wait(rq, "minute")
        rq.edit(*views.ask_minute(t))
    elif op is Op.REASON:
        reasons = dict(draft.get("reasons") or {})
        reasons[str(got.n)] = t.plain("meeting.usual_reason")
        _set_draft(rq, {**draft, "reasons": reasons})
        await _next_reason_or_confirm(rq)
    elif op is Op.NAME:
        c, _ = await _approved_candidate(rq, got.n)
        _wait(rq, "name", app=c.app.id)
        rq.edit(*views.ask_name(t, c, (draft.get("names") or {}).get(str(c.app.id)) or c.name))
    elif op is Op.BACK:
        await _next_reason_or_confirm(rq)
    elif op is Op.CONFIRM:
        await _record(rq)
    elif op is Op.CANCEL:
        _set_draft(rq, {"year": draft.get("year")})
        rq.edit(*await list_screen(rq, t("meeting.cancelled")))
    elif op is Op.NOTICE:
        rq.edit(*await notice_screen(rq))
    elif op is Op.NOTICE_DOC:
        rq.owe(effects.render(rq.chat_id, "season_notice", year=int(draft.get("year") or await _year(rq)),
                              lang=rq.lang))
        rq.toast(t.plain("meeting.papers_coming"))
    elif op is Op.OBJECT:
        app = await svc.listed(rq.session, got.n or 0)
        _wait(rq, "objection", app=app.id)
        rq.edit(*views.ask_objection(t, app.number or ""))
    elif op in (Op.UPHOLD, Op.DISMISS):
        row, outcome = await svc.decide_objection(rq.session, got.n or 0, op is Op.UPHOLD, rq.user.id, rq.roles, now)
        if outcome is not None:
            rq.owe(*await notify.meeting_outcomes(rq.session, rq.svc, [outcome], rq.user.id))
        rq.edit(*await notice_screen(rq, t(f"meeting.objection_{row.decision}")))
    elif op is Op.PLAQUE:
        app = await svc.listed(rq.session, got.n or 0)
        _wait(rq, "plaque", app=app.id)
        rq.edit(*views.ask_plaque(t, app.number or "", app.plaque_on.isoformat() if app.plaque_on else "",
                                  values.date_examples(rq.svc.today())))


async def _approved_candidate(rq: Rq, app_id: int | None) -> tuple[Candidate, list[Candidate]]:
    """A candidate the meeting being recorded approves (its name may be typed anew), else refused; with
    the whole list."""
    draft = _draft(rq)
    if not draft.get("minute"):
        raise svc.Refused("meeting.error.incomplete")
    items = await svc.candidates(rq.session, int(draft["year"]), rq.lang)
    for c in items:
        if c.app.id == app_id and (draft.get("out") or {}).get(str(app_id), "approve") == "approve":
            return c, items
    raise svc.Refused("meeting.error.stale", n=1)


async def _next_reason_or_confirm(rq: Rq, items: list[Candidate] | None = None) -> None:
    """After the minute number: a reason for each rejection not given yet, then the confirmation
    (`items`: the candidates, when the caller has them)."""
    draft = _draft(rq)
    year = int(draft["year"])
    items = items if items is not None else await svc.candidates(rq.session, year, rq.lang)
    out, reasons = draft.get("out") or {}, draft.get("reasons") or {}
    for c in items:
        if out.get(str(c.app.id), "approve") == "reject" and not reasons.get(str(c.app.id)):
            _wait(rq, "reason", app=c.app.id)
            _show(rq, views.ask_reason(rq.t, c))
            return
    inputs.done(rq, MEETING)
    season = await repo.ensure_season(rq.session, year)
    notice = svc.notice_for(date.fromisoformat(draft["held_on"]), rq.svc.today(), season.notice_days,
                            season.naming_by, rq.svc.settings.work_days())
    _show(rq, views.confirm(rq.t, draft, items, notice))


async def _record(rq: Rq) -> None:
    draft = _draft(rq)
    if not draft.get("held_on") or not draft.get("kind") or not draft.get("minute"):
        raise svc.Refused("meeting.error.incomplete")
    year = int(draft["year"])
    items = await svc.candidates(rq.session, year)
    out = draft.get("out") or {}
    d = Decisions(held_on=date.fromisoformat(draft["held_on"]), kind=str(draft["kind"]),
                  minute_no=str(draft["minute"]),
                  outcomes={c.app.id: str(out.get(str(c.app.id), "approve")) for c in items},
                  reasons={int(k): str(v) for k, v in (draft.get("reasons") or {}).items()},
                  names={int(k): str(v) for k, v in (draft.get("names") or {}).items()})
    m, outcomes = await svc.record(rq.session, year, d, rq.user.id, rq.roles, rq.svc.clock.now(), rq.svc.settings.tz,
                                   rq.svc.settings.work_days())
    listed = await svc.approved_by(rq.session, m)
    rq.owe(*await notify.meeting_outcomes(rq.session, rq.svc, outcomes, rq.user.id, moved=listed))
    rq.owe(*await notify.notice_published(rq.session, rq.svc, m, listed, rq.user.id))
    _set_draft(rq, {"year": year})
    approved = sum(1 for o in d.outcomes.values() if o == "approve")
    rq.edit(*await notice_screen(rq, rq.t("meeting.recorded", reference=views.reference(rq.t, m), approved=approved,
                                          rejected=len(outcomes),
                                          deferred=sum(1 for o in d.outcomes.values() if o == "defer"))))


@handler
async def on_text(rq: Rq) -> None:
    pending = inputs.state(rq, MEETING) or {}
    text = (rq.message.text if rq.message else "") or ""
    if not svc.may_decide(rq.roles):
        inputs.done(rq, MEETING)
        _refuse(rq)
        return
    try:
        await _typed(rq, pending, text)
    except svc.Refused as exc:
        rq.reply(rq.t(exc.key, **exc.params))
    except values.InvalidInput as exc:
        rq.reply(rq.t(f"meeting.error.{exc.code}", **values.date_examples(rq.svc.today(),
                                                                          future=pending.get("step") == "plaque")))
    except NotAllowed as exc:
        rq.reply(rq.t(f"workflow.denied.{exc.reason}", status=""))


async def _typed(rq: Rq, pending: dict[str, Any], text: str) -> None:
    step, t, draft = pending.get("step"), rq.t, _draft(rq)
    today, now = rq.svc.today(), rq.svc.clock.now()
    if step == "date":
        held = svc.check_held(values.parse_date(text, today=today), today)
        _set_draft(rq, {**draft, "held_on": held.isoformat()})
        inputs.done(rq, MEETING)
        rq.reply(*views.ask_kind(t, held.isoformat()))
    elif step == "minute":
        minute = svc.check_minute(text)
        _set_draft(rq, {**draft, "minute": minute})
        await _next_reason_or_confirm(rq)
    elif step == "reason":
        reason = svc.check_reason(text)
        reasons = dict(draft.get("reasons") or {})
        reasons[str(pending.get("app"))] = reason
        _set_draft(rq, {**draft, "reasons": reasons})
        await _next_reason_or_confirm(rq)
    elif step == "name":
        c, items = await _approved_candidate(rq, int(pending.get("app") or 0))
        names = {**(draft.get("names") or {}), str(c.app.id): svc.check_name(text)}
        _set_draft(rq, {**draft, "names": names})
        await _next_reason_or_confirm(rq, items)
    elif step == "objection":
        await svc.object_to(rq.session, int(pending.get("app") or 0), text, rq.user.id, rq.roles, now)
        inputs.done(rq, MEETING)
        rq.reply(*await notice_screen(rq, t("meeting.objection_recorded")))
    elif step == "plaque":
        on = values.parse_date(text, today=today, future=True)
        app = await svc.set_plaque(rq.session, int(pending.get("app") or 0), on, rq.user.id, rq.roles, now)
        inputs.done(rq, MEETING)
        rq.reply(*await notice_screen(rq, t("meeting.plaque_set", number=app.number or "", date=on.isoformat())))
    else:
        inputs.done(rq, MEETING)
        rq.reply(ask_office(t, await office.contact(rq.session), t("meeting.input_gone")))


def register(app: Application) -> None:
    app.add_handler(CommandHandler("meeting", cmd_meeting))
    app.add_handler(CallbackQueryHandler(on_button, pattern=cb.Meet.pattern()))
    app.add_handler(MessageHandler(inputs.Awaiting(app, MEETING) & filters.TEXT & ~filters.COMMAND, on_text))
