"""The season's meeting list in the web view: the candidates with what the meeting papers show, the
batch decision of the meeting, and the public notice — through `bot.services.meeting` and
`bot.notify.meeting_outcomes`, as the chat's /meeting does."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from bot import notify
from bot.domain.values import date_examples, parse_date_or_none
from bot.domain.workflow import NotAllowed
from bot.exports import data
from bot.runtime import BotContext, Rq, run_as
from bot.services import meeting
from bot.services import overview as overview_service
from bot.services.records import KINDS, OUTCOMES, Decisions
from bot.views import meeting as meeting_views
from bot.web.pages import Ctx, Refused


async def _year(s: Any, ctx: Ctx) -> int:
    """The season /meeting in the chat shows."""
    return await data.current_season(s, ctx.svc.clock.now(), ctx.svc.settings.tz)


async def page(ctx: Ctx) -> Response:
    async with ctx.svc.db.session() as s:
        v = await ctx.load(s)
        if not overview_service.may_see(v.roles):
            raise Refused(403, "web.denied.not_office")
        year = await _year(s, ctx)
        items = await meeting.candidates(s, year, v.t.lang)
        held = await meeting.meetings(s, year)
        entries = await meeting.entries(s, year)
    return ctx.render("meetings.html", page="meetings", year=year, items=items, kinds=KINDS, outcomes=OUTCOMES,
                      held=[meeting_views.reference(v.t, m) for m in held], entries=entries,
                      may_decide=meeting.may_decide(v.roles), today=ctx.svc.today().isoformat())


async def record(ctx: Ctx) -> Response:
    """The meeting's decisions on the whole list at once."""
    try:
        body = await ctx.request.json()
        year = int(body["year"])
        outcomes = {int(k): str(v) for k, v in dict(body.get("outcomes") or {}).items()}
        reasons = {int(k): str(v) for k, v in dict(body.get("reasons") or {}).items() if str(v).strip()}
        names = {int(k): str(v) for k, v in dict(body.get("names") or {}).items() if str(v).strip()}
    except (ValueError, TypeError, KeyError, AttributeError):
        raise Refused(400, "workflow.denied.forged") from None
    held_on = parse_date_or_none(str(body.get("held_on") or ""), today=ctx.svc.today())
    if held_on is None:
        raise Refused(400, "review.bad_date", **date_examples(ctx.svc.today(), future=False))
    if any(o not in OUTCOMES for o in outcomes.values()):
        raise Refused(400, "workflow.denied.forged")
    async with ctx.svc.db.session() as s:
        await ctx.load(s)
    result: dict[str, Any] = {}

    async def work(rq: Rq) -> None:
        usual = rq.t.plain("meeting.usual_reason")  # the chat's "usual reason" button, for an empty one
        reasons.update({i: usual for i, o in outcomes.items() if o == "reject" and i not in reasons})
        d = Decisions(held_on=held_on, kind=str(body.get("kind") or ""), minute_no=str(body.get("minute") or ""),
                      outcomes=outcomes, reasons=reasons, names=names)
        try:
            m, final = await meeting.record(rq.session, year, d, rq.user.id, rq.roles, rq.svc.clock.now(),
                                            rq.svc.settings.tz, rq.svc.settings.work_days())
        except NotAllowed as exc:
            why = "meeting.denied" if exc.reason == "role" else f"workflow.denied.{exc.reason}"
            result["refused"] = Refused(403, why)
            return
        except meeting.Refused as exc:
            result["refused"] = Refused(409 if exc.key.endswith("stale") else 400, exc.key, **exc.params)
            return
        listed = await meeting.approved_by(rq.session, m)
        rq.owe(*await notify.meeting_outcomes(rq.session, rq.svc, final, rq.user.id, moved=listed))
        rq.owe(*await notify.notice_published(rq.session, rq.svc, m, listed, rq.user.id))
        result["message"] = rq.t.plain(
            "meeting.recorded", reference=meeting_views.reference(rq.t, m), rejected=len(final),
            approved=sum(1 for o in outcomes.values() if o == "approve"),
            deferred=sum(1 for o in outcomes.values() if o == "defer"))

    try:
        await run_as(BotContext(ctx.web.application), ctx.who.id, ctx.who.id, work)
    except LookupError:
        raise Refused(403, "web.denied.no_role") from None
    if "refused" in result:
        raise result["refused"]
    return JSONResponse({"ok": True, "message": result["message"]})
