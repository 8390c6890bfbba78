"""`/inspect`: city reviewers see the studio list and each studio's history, and record an inspection
(regular, ad hoc or mutual, R-O1) with its outcome (commendation, public notice, delisting, R-O2); the
leader is told; delisting marks the studio delisted.

Typed input reaches the inspection while it is the flow waiting for it (`conversations.inputs`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from telegram import InlineKeyboardMarkup
from telegram.ext import Application, BaseHandler, CallbackQueryHandler, CommandHandler

from bot import callbacks as cb
from bot import effects
from bot.callbacks import InspectOp
from bot.domain.results import record_of
from bot.domain.values import date_examples, parse_date_or_none
from bot.domain.workflow import Role
from bot.i18n import Translator
from bot.runtime import Rq, handler
from bot.services import results as svc_results
from bot.services import studios as svc
from bot.views import studios as views
from bot.views import year_report as report_views
from conversations import inputs
from storage import repo
from storage.models import Studio

# the inspection being recorded ({"studio", "step", …}) waits for text until the person turns to
# something else
INSPECT = inputs.Flow.of("inspect", cb.InspectBtn)


def _stop_waiting(rq: Rq) -> None:
    inputs.done(rq, INSPECT)


def _inspection_waiting(rq: Rq, pending: dict[str, Any]) -> None:
    inputs.wait(rq, INSPECT, pending)


async def _notify(rq: Rq, user_id: int, build: Callable[[Translator], str]) -> None:
    """Owe `build(t)` to `user_id`, in their language."""
    user = await repo.get_user(rq.session, user_id)
    rq.notify(user_id, build(rq.svc.translator(user)))


async def _list(rq: Rq, page: int = 0, note: str | None = None) -> tuple[str, InlineKeyboardMarkup]:
    studios = list(await svc.all_studios(rq.session))
    unions = {u.id: u.name(rq.lang) for u in await repo.all_unions(rq.session)}  # one query for the page
    return views.list_screen(rq.t, studios, unions, page, note, rq.svc.today().year)


async def _results(rq: Rq, year: int) -> tuple[str, InlineKeyboardMarkup]:
    """R-O2: the year's studios without a recognised result and those with the most (R-E5)."""
    yr = await svc_results.year_results(rq.session, year)
    standing = views.YearStanding(year, len(yr.studios), yr.total.total, yr.total.recognised,
                                  yr.without_recognised(), yr.most_recognised())
    unions = {u.id: u.name(rq.lang) for u in await repo.all_unions(rq.session)}
    return views.results_screen(rq.t, standing, unions, rq.svc.today().year)


async def _history(rq: Rq, studio: Studio, note: str | None = None) -> tuple[str, InlineKeyboardMarkup]:
    leader = await repo.get_user(rq.session, studio.leader_id) if studio.leader_id is not None else None
    union = await repo.union_of(rq.session, studio.union_id)
    reports = [r for r in await svc.reports_of(rq.session, studio.id) if r.filed_at is not None]
    inspections = list(await svc.inspections_of(rq.session, studio.id))
    return views.history_screen(rq.t, studio, union.name(rq.lang) if union else "",
                                leader.display_name if leader else studio.leader_name or "—", reports,
                                inspections, note)


def _may_inspect(rq: Rq) -> bool:
    return Role.CITY in rq.roles


@handler
async def cmd_inspect(rq: Rq) -> None:
    if not _may_inspect(rq):
        rq.reply(rq.t("studio.only_city"))
        return
    _stop_waiting(rq)
    text, markup = await _list(rq)
    rq.reply(text, markup)


def _pending_inspection(rq: Rq) -> dict[str, Any] | None:
    return inputs.state(rq, INSPECT)


@handler
async def on_inspect_button(rq: Rq) -> None:  # noqa: C901 - one switch over the ops
    t = rq.t
    raw = rq.query.data if rq.query else None
    data = cb.decode(raw)
    if not isinstance(data, cb.InspectBtn):
        rq.refuse(t("error.bad_button"), "bad_button")
        return
    if not _may_inspect(rq):
        rq.refuse(t("studio.only_city_alert"), "role")
        return
    if data.op is InspectOp.LIST:
        page = int(data.v) if data.v and data.v.isdigit() else 0
        text, markup = await _list(rq, page)
        rq.edit(text, markup)
        return
    if data.op is InspectOp.RESULTS:
        year = int(data.v) if data.v and data.v.isdigit() and len(data.v) == 4 else 0
        if not 2000 <= year <= rq.svc.today().year:
            rq.refuse(t("error.stale_button"), "stale")
            return
        rq.edit(*await _results(rq, year))
        return
    studio = await rq.session.get(Studio, data.studio)
    if studio is None:
        rq.refuse(t("error.stale_button"), "stale")
        return
    if data.op is InspectOp.STUDIO:
        text, markup = await _history(rq, studio)
        rq.edit(text, markup)
        return
    if data.op is InspectOp.REPORT:
        year = int(data.v) if data.v and data.v.isdigit() else 0
        report = next((r for r in await svc.reports_of(rq.session, studio.id)
                       if r.year == year and r.filed_at is not None), None)
        if report is None:
            rq.refuse(t("error.stale_button"), "stale")
            return
        files = await svc.report_files(rq.session, report.id)
        recorded = [(r.id, record_of(r)) for r in await svc_results.of_studio(rq.session, studio, year)]
        rq.reply(report_views.filed_view(t, report, studio, len(files), recorded,
                                         rq.svc.local(report.filed_at).strftime("%Y-%m-%d")))  # type: ignore[arg-type]
        _send_report_files(rq, [(f.kind, f.telegram_file_id) for f in files])
        return
    if data.op is InspectOp.NEW:
        if studio.status != svc.ACTIVE:
            rq.alert(t("studio.inspect.not_active"))
            return
        new: dict[str, Any] = {"studio": studio.id, "step": "kind"}
        _inspection_waiting(rq, new)
        rq.edit(*views.inspect_prompt(t, studio, new, today=rq.svc.today()))
        return
    pending = _pending_inspection(rq)
    if data.op is InspectOp.CANCEL:
        _stop_waiting(rq)
        rq.edit(t("studio.inspect.cancelled", studio=studio.name))
        return
    if pending is None or pending.get("studio") != studio.id:
        rq.refuse(t("error.stale_button"), "stale")
        return
    step = pending["step"]
    if data.op is InspectOp.KIND and step == "kind" and data.v in svc.KINDS:
        pending.update(kind=data.v, step="date")
    elif data.op is InspectOp.TODAY and step == "date":
        try:
            await svc.check_date(rq.session, studio, rq.svc.today(), rq.svc.today())
        except svc.Refused as exc:
            rq.alert(t.plain(exc.key, **exc.params))
            return
        pending.update(on=rq.svc.today().isoformat(), step="findings")
    elif data.op is InspectOp.OUTCOME and step == "outcome" and data.v in svc.OUTCOMES:
        pending.update(outcome=data.v, step="confirm")
    elif data.op is InspectOp.CONFIRM and step == "confirm":
        await _record(rq, studio, pending)
        return
    else:
        rq.refuse(t("error.stale_button"), "stale")
        return
    _inspection_waiting(rq, pending)
    rq.edit(*views.inspect_prompt(t, studio, pending, today=rq.svc.today()))


def _send_report_files(rq: Rq, files: list[tuple[str, str]]) -> None:
    for kind, file_id in files:
        rq.owe(effects.file(rq.chat_id, "photo" if kind == "photo" else "document", file_id))


async def _record(rq: Rq, studio: Studio, pending: dict[str, Any]) -> None:
    t = rq.t
    try:
        row = await svc.record_inspection(rq.session, studio, rq.user.id, pending["kind"],
                                          date.fromisoformat(pending["on"]), pending["findings"], pending["outcome"],
                                          rq.svc.clock.now(), rq.svc.today())
    except svc.Refused as exc:
        _stop_waiting(rq)
        rq.edit(t(exc.key, **exc.params))
        return
    _stop_waiting(rq)
    outcome = row.outcome or "none"
    text, markup = await _history(rq, studio, t("studio.inspect.done", studio=studio.name,
                                                       outcome=t.plain(f"studio.outcome.{outcome}")))
    rq.edit(text, markup)
    # R-O2: the outcome reaches everyone it concerns, each in their language, after the commit
    for user_id in await svc.outcome_recipients(rq.session, studio, row.outcome, rq.svc.settings.admin_ids,
                                                rq.user.id):
        await _notify(rq, user_id, lambda lt: views.leader_notice(lt, studio, row))


async def _inspect_input(rq: Rq, pending: dict[str, Any]) -> None:
    t = rq.t
    msg = rq.update.effective_message
    studio = await rq.session.get(Studio, int(pending.get("studio") or 0))
    if studio is None or not _may_inspect(rq):
        _stop_waiting(rq)
        rq.reply(t("studio.inspect.gone"))
        return
    step = pending.get("step")
    text = (msg.text if msg else None) or ""
    if step not in ("date", "findings") or not text.strip():
        rq.reply(*views.inspect_prompt(t, studio, pending, "⚠️ " + t("studio.inspect.use_buttons"),
                                          today=rq.svc.today()))
        return
    if step == "date":
        on = parse_date_or_none(text, today=rq.svc.today())  # 10月15日: this year's
        if on is None:
            rq.reply(*views.inspect_prompt(t, studio, pending, "⚠️ " + t(
                "studio.inspect.bad_date", **date_examples(rq.svc.today(), future=False)), today=rq.svc.today()))
            return
        try:
            await svc.check_date(rq.session, studio, on, rq.svc.today())
        except svc.Refused as exc:
            rq.reply(*views.inspect_prompt(t, studio, pending, "⚠️ " + t(exc.key, **exc.params),
                                           today=rq.svc.today()))
            return
        pending.update(on=on.isoformat(), step="findings")
    else:
        if len(text.strip()) > svc.FINDINGS_MAX:
            rq.reply(*views.inspect_prompt(t, studio, pending,
                                           "⚠️ " + t("studio.inspect.findings_length", max=svc.FINDINGS_MAX),
                                           today=rq.svc.today()))
            return
        pending.update(findings=text.strip(), step="outcome")
    _inspection_waiting(rq, pending)
    rq.reply(*views.inspect_prompt(t, studio, pending, today=rq.svc.today()))


@handler
async def on_inspection_input(rq: Rq) -> None:
    pending = _pending_inspection(rq)
    if pending is not None:
        await _inspect_input(rq, pending)


@handler
async def cmd_cancel(rq: Rq) -> None:
    _stop_waiting(rq)
    rq.reply(rq.t("studio.inspect.cancelled_typed"))


def handlers(app: Application) -> list[BaseHandler[Any, Any, Any]]:
    return [
        *inputs.typed(app, INSPECT, on_inspection_input, cmd_cancel),
        CommandHandler("inspect", cmd_inspect),
        CallbackQueryHandler(on_inspect_button, pattern=cb.InspectBtn.pattern()),
    ]


def register(app: Application) -> None:
    inputs.add_all(app, handlers(app))
