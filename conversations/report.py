"""`/report`: a named studio's leader files the year's report (R-D5): the year's work, results
recognised that year, optional photos/documents, the results/IP ownership statement as the studio
states it (R-O3). Every answer and the cursor live in `YearReport.answers`, so a draft survives a
restart and continues on any device.

Typed input reaches the report while it is the flow waiting for it (`conversations.inputs`); any other
command or another module's button ends that wait (the draft stays).
"""

from __future__ import annotations

from typing import Any

from telegram import Message
from telegram.ext import Application, BaseHandler, CallbackQueryHandler, CommandHandler

from bot import callbacks as cb
from bot import files as fileio
from bot.callbacks import ReportOp
from bot.domain.results import record_of
from bot.runtime import Rq, handler
from bot.services import office
from bot.services import pings as svc_pings
from bot.services import results as svc_results
from bot.services import studios as svc
from bot.views import year_report as views
from bot.views.office import ask_office
from conversations import inputs
from storage.models import Studio, YearReport

# the year report being filled in ({"report": id}) waits for text until the person turns to something else
REPORT = inputs.Flow.of("report", cb.ReportBtn)


def _stop_waiting(rq: Rq) -> None:
    inputs.done(rq, REPORT)


def _report_waiting(rq: Rq, report_id: int) -> None:
    inputs.wait(rq, REPORT, {"report": report_id})


async def _year_results(rq: Rq, studio: Studio, year: int) -> list[tuple[int, dict[str, Any]]]:
    """The studio's results of `year` on record (R-D5): what the report's results step shows."""
    return [(r.id, record_of(r)) for r in await svc_results.of_studio(rq.session, studio, year)]


async def show_report(rq: Rq, report: YearReport, studio: Studio, note: str | None = None, *,
                      edit: bool = False) -> None:
    files = len(await svc.report_files(rq.session, report.id))
    text, markup = views.report_screen(rq.t, report, studio, files, await _year_results(rq, studio, report.year),
                                       note)
    if edit:
        rq.edit(text, markup)
    else:
        rq.reply(text, markup)


async def _open_report(rq: Rq, studio: Studio, *, edit: bool = False) -> None:
    t = rq.t
    year = await svc.report_year(rq.session, studio, rq.svc.today(), svc_pings.rules_of(rq.svc.settings))
    report = await svc.open_report(rq.session, studio, year)
    if report.filed_at is not None:
        _stop_waiting(rq)
        files = len(await svc.report_files(rq.session, report.id))
        text = views.filed_view(t, report, studio, files, await _year_results(rq, studio, year),
                                rq.svc.local(report.filed_at).strftime("%Y-%m-%d"))
        if edit:
            rq.edit(text)
        else:
            rq.reply(text)
        return
    _report_waiting(rq, report.id)
    a = report.answers or {}
    fresh = not any(k in a for k in ("work", "results", "ip", "files_seen"))
    note = t("report.intro", studio=studio.name, year=year) if fresh else t("report.resume")
    await show_report(rq, report, studio, note, edit=edit)


@handler
async def cmd_report(rq: Rq) -> None:
    t = rq.t
    studios = await svc.leader_studios(rq.session, rq.user.id)
    active = [x for x in studios if x.status == svc.ACTIVE]
    notes = [t("report.delisted", studio=x.name) for x in studios if x.status != svc.ACTIVE]
    if not active:
        _stop_waiting(rq)
        rq.reply("\n\n".join([*notes, ask_office(t, await office.contact(rq.session), t("report.not_leader"))]))
        return
    if len(active) > 1:
        rq.reply(*views.studio_pick(t, active, notes))
        return
    if notes:
        rq.reply("\n\n".join(notes))
    await _open_report(rq, active[0])


async def _own_report(rq: Rq, report_id: int) -> tuple[YearReport, Studio] | None:
    """The report and studio when the presser leads it and it can still be edited; else an alert."""
    report = await rq.session.get(YearReport, report_id)
    studio = await rq.session.get(Studio, report.studio_id) if report else None
    if report is None or studio is None or studio.leader_id != rq.user.id:
        rq.refuse(rq.t("report.not_yours"), "not_own_report")
        return None
    if report.filed_at is not None:
        _stop_waiting(rq)
        rq.alert(rq.t("report.already_filed", year=report.year))
        return None
    if studio.status != svc.ACTIVE:
        _stop_waiting(rq)
        rq.alert(rq.t("report.delisted_alert"))
        return None
    return report, studio


@handler
async def on_report_button(rq: Rq) -> None:  # noqa: C901 - one switch over the ops
    t = rq.t
    data = cb.decode(rq.query.data if rq.query else None)
    if not isinstance(data, cb.ReportBtn):
        rq.refuse(t("error.bad_button"), "bad_button")
        return
    if data.op is ReportOp.START:
        studio = await rq.session.get(Studio, data.ref)
        if studio is None or studio.leader_id != rq.user.id:
            rq.refuse(t("report.not_yours"), "not_yours")
            return
        if studio.status != svc.ACTIVE:
            rq.alert(t("report.delisted_alert"))
            return
        await _open_report(rq, studio, edit=True)
        return
    found = await _own_report(rq, data.ref)
    if found is None:
        return
    report, studio = found
    _report_waiting(rq, report.id)
    step = svc.step_of(report)
    a = report.answers or {}
    op = data.op
    if op is ReportOp.EDIT:
        target = data.v or ""
        if target == "confirm":
            svc.goto(report, "confirm", edit=False)
        elif target in svc.REPORT_STEPS and target != step:
            svc.goto(report, target, edit=True)
        elif target != step:  # back from recording a result: the step stays as it was
            rq.refuse(t("error.bad_button"), "bad_button")
            return
        await show_report(rq, report, studio, edit=True)
        return
    if op is ReportOp.BACK:
        prev = svc.previous_step(step)
        if prev is None:
            rq.refuse(t("error.stale_button"), "stale")
            return
        svc.goto(report, prev)
        await show_report(rq, report, studio, edit=True)
        return
    if op is ReportOp.FILE:
        if step != "confirm":
            rq.refuse(t("error.stale_button"), "stale")
            return
        if "results" in a:  # filed with the year's results on record now
            svc.results_done(report, [rid for rid, _ in await _year_results(rq, studio, report.year)])
        try:
            await svc.file_report(rq.session, report, studio, rq.user.id, rq.svc.clock.now())
        except svc.Refused as exc:
            params = dict(exc.params)
            steps = params.get("steps")
            if isinstance(steps, list):
                params["steps"] = t.join([t.plain(f"report.step_name.{x}") for x in steps])
            rq.alert(t.plain(exc.key, **params))
            return
        _stop_waiting(rq)
        rq.edit(t("report.filed", studio=studio.name, year=report.year,
                  date=rq.svc.local(rq.svc.clock.now()).strftime("%Y-%m-%d")))
        return
    expected = {ReportOp.DONE: ("work", "results", "files"), ReportOp.CLEAR: ("work",),
                ReportOp.NONE: ("results",), ReportOp.SKIP: ("files",), ReportOp.KEEP: ("ip",)}
    if step not in expected.get(op, ()):
        rq.refuse(t("error.stale_button"), "stale")
        return
    if op is ReportOp.CLEAR:
        svc.clear(report, step)
        await show_report(rq, report, studio, t("report.cleared"), edit=True)
        return
    if op is ReportOp.DONE and step == "work" and not str(a.get("work") or "").strip():
        rq.alert(t("report.nothing_yet"))
        return
    if step == "results":
        recorded = [rid for rid, _ in await _year_results(rq, studio, report.year)]
        if (op is ReportOp.DONE) != bool(recorded):  # "none this year" only while none is on record
            rq.alert(t("report.nothing_yet" if op is ReportOp.DONE else "report.results_on_record"))
            return
        svc.results_done(report, recorded)
    if op in (ReportOp.SKIP, ReportOp.DONE) and step == "files":
        svc.files_done(report)
    if op is ReportOp.KEEP:
        stated = str(a.get("ip") or studio.ip_statement or "")
        if not stated:
            rq.alert(t("report.nothing_yet"))
            return
        svc.set_ip(report, stated)
    svc.goto(report, svc.next_step(report, step), edit=False if step == "ip" or svc.editing(report) else None)
    await show_report(rq, report, studio, t("report.saved"), edit=True)


async def _report_input(rq: Rq, report_id: int) -> None:
    t = rq.t
    msg = rq.update.effective_message
    assert msg is not None
    report = await rq.session.get(YearReport, report_id)
    studio = await rq.session.get(Studio, report.studio_id) if report else None
    if report is None or studio is None or report.filed_at is not None or studio.status != svc.ACTIVE \
            or studio.leader_id != rq.user.id:
        _stop_waiting(rq)
        rq.reply(t("report.gone"))
        return
    step = svc.step_of(report)
    text = msg.text
    if step == "files":
        if text is not None:
            await show_report(rq, report, studio, "⚠️ " + t("report.want_files"))
            return
        await _report_file(rq, report, studio, msg)
        return
    if text is None or step == "confirm":
        await show_report(rq, report, studio, "⚠️ " + t("report.use_buttons" if step == "confirm"
                                                        else "report.want_text"))
        return
    try:
        if step == "work":
            n = svc.append_work(report, text)
            await show_report(rq, report, studio, t("report.work_saved", chars=n, max=svc.WORK_MAX))
            return
        if step == "results":
            await show_report(rq, report, studio, "⚠️ " + t("report.results_by_button"))
            return
        svc.set_ip(report, text)
    except svc.Refused as exc:
        await show_report(rq, report, studio, "⚠️ " + t(exc.key, **exc.params))
        return
    svc.goto(report, "confirm", edit=False)
    await show_report(rq, report, studio, t("report.saved"))


async def _report_file(rq: Rq, report: YearReport, studio: Studio, msg: Message) -> None:
    t = rq.t
    album = msg.media_group_id
    try:
        item = fileio.incoming(msg, "photo") or fileio.incoming(msg, "document")
        if item is None:
            raise fileio.FileRefused("report.want_files")
        existing = await svc.report_files(rq.session, report.id)
        rel, size, sha = await fileio.take(rq.context.bot, item, existing, rq.svc.settings.data_dir,
                                           f"report-{report.id}",
                                           room=(svc.FILES_MAX, fileio.FileRefused("report.files_too_many",
                                                                                   max=svc.FILES_MAX)))
        rq.undo.append(lambda: (rq.svc.settings.data_dir / rel).unlink(missing_ok=True))
    except fileio.FileRefused as exc:
        await show_report(rq, report, studio, "⚠️ " + t(exc.key, **exc.params))
        return
    svc.add_file(rq.session, report, fileio.stored(item, rel, size, sha), rq.svc.clock.now())
    await rq.session.flush()
    if album and not svc.album_first(report, album):
        return  # one answer per album
    n = len(await svc.report_files(rq.session, report.id))
    await show_report(rq, report, studio, t("report.file_saved", n=n, max=svc.FILES_MAX))


@handler
async def on_report_input(rq: Rq) -> None:
    report_id = (inputs.state(rq, REPORT) or {}).get("report")
    if isinstance(report_id, int):
        await _report_input(rq, report_id)
        return
    _stop_waiting(rq)
    rq.reply(rq.t("report.gone"))


@handler
async def cmd_cancel(rq: Rq) -> None:
    _stop_waiting(rq)
    rq.reply(rq.t("report.cancelled"))


def handlers(app: Application) -> list[BaseHandler[Any, Any, Any]]:
    return [
        *inputs.typed(app, REPORT, on_report_input, cmd_cancel),
        CommandHandler("report", cmd_report),
        CallbackQueryHandler(on_report_button, pattern=cb.ReportBtn.pattern()),
    ]


def register(app: Application) -> None:
    inputs.add_all(app, handlers(app))
