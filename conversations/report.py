"""The studio registry in chat (R-O, R-D5) and the reminders screen.

- `/report`: a named studio's leader files the year's report (R-D5): the year's work, results
  recognised that year, optional photos/documents, the results/IP ownership statement as the studio
  states it (R-O3). Every answer and the cursor live in `YearReport.answers`, so a draft survives a
  restart and continues on any device.
- `/inspect`: city reviewers see the studio list and each studio's history, and record an inspection
  (regular, ad hoc or mutual, R-O1) with its outcome (commendation, public notice, delisting, R-O2);
  the leader is told; delisting marks the studio delisted.
- `/reminders`: the user's upcoming reminders; the contact person mutes or unmutes a kind.

Typed input reaches the report or the inspection while it is the flow waiting for it
(`conversations.inputs`); any other command or another module's button ends that wait (the drafts stay).
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from telegram import InlineKeyboardButton as Btn
from telegram import InlineKeyboardMarkup, Message
from telegram.ext import (
    Application,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot import callbacks as cb
from bot import effects
from bot import files as fileio
from bot.callbacks import InspectOp, ReportOp
from bot.domain.pings import CONTACT_KINDS, Kind
from bot.domain.values import parse_date_or_none
from bot.domain.workflow import Role
from bot.i18n import Markup, Translator
from bot.runtime import Rq, handler
from bot.services import pings as svc_pings
from bot.services import studios as svc
from bot.views.common import clip, esc, kb, page_of, pager
from conversations import inputs
from storage import repo
from storage.models import Application as App
from storage.models import Inspection, Studio, Union, YearReport

log = logging.getLogger(__name__)

# the year report being filled in ({"report": id}) and the inspection being recorded ({"studio", "step",
# …}) wait for text until the person turns to something else (`conversations.inputs`)
REPORT = inputs.Flow.of("report", cb.ReportBtn)
INSPECT = inputs.Flow.of("inspect", cb.InspectBtn)
PAGE = 10
UPCOMING_SHOWN = 10


# --------------------------------------------------------------------------- helpers


def _stop_waiting(rq: Rq) -> None:
    inputs.done(rq, REPORT, INSPECT)


def _report_waiting(rq: Rq, report_id: int) -> None:
    inputs.done(rq, INSPECT)
    inputs.wait(rq, REPORT, {"report": report_id})


def _inspection_waiting(rq: Rq, pending: dict[str, Any]) -> None:
    inputs.done(rq, REPORT)
    inputs.wait(rq, INSPECT, pending)


def _now(rq: Rq) -> Any:
    return rq.svc.clock.now()


async def _union_name(rq: Rq, union_id: int | None) -> str:
    union = await rq.session.get(Union, union_id) if union_id else None
    return union.name(rq.lang) if union else ""


async def _notify(rq: Rq, user_id: int, build: Any) -> None:
    """Owe `build(t)` to `user_id`, in their language."""
    user = await repo.get_user(rq.session, user_id)
    rq.notify(user_id, build(rq.svc.translator(user)))


# --------------------------------------------------------------------------- /report (R-D5, R-O3)


def rbtn(t: Translator, op: ReportOp, report: YearReport, v: str | None = None, *, key: str | None = None,
         label: str | None = None) -> Btn:
    return Btn(label if label is not None else t.plain(key or f"report.button.{op.name.lower()}"),
               callback_data=cb.ReportBtn(op, report.id, v).encode())


def report_summary(t: Translator, report: YearReport, studio: Studio, files: int) -> str:
    a = report.answers or {}
    results = a.get("results")
    if results:
        shown_results = "\n".join(f"{i}. {esc(clip(r, 200))}" for i, r in enumerate(results, start=1))
    elif results == []:
        shown_results = esc(t.plain("report.no_results"))
    else:
        shown_results = esc(t.plain("report.missing"))
    return t("report.summary", studio=studio.name, year=report.year,
             work=clip(str(a.get("work") or t.plain("report.missing")), 1500),
             results=Markup(shown_results), files=files,
             ip=clip(str(a.get("ip") or t.plain("report.missing")), 500))


async def report_screen(rq: Rq, report: YearReport, studio: Studio,
                        note: str | None = None) -> tuple[str, InlineKeyboardMarkup]:
    t = rq.t
    step = svc.step_of(report)
    a = report.answers or {}
    parts = [note] if note else []
    rows: list[list[Btn]] = []
    back = rbtn(t, ReportOp.BACK, report) if svc.previous_step(step) and not svc.editing(report) else None
    summary = rbtn(t, ReportOp.EDIT, report, "confirm", key="report.button.summary") if svc.editing(report) else None
    if step == "confirm":
        files = len(await svc.report_files(rq.session, report.id))
        parts.append(report_summary(t, report, studio, files))
        gaps = svc.missing(report)
        if gaps:
            parts.append(t("report.gaps", steps=t.join([t.plain(f"report.step_name.{x}") for x in gaps])))
        edits = [rbtn(t, ReportOp.EDIT, report, x, label=t.plain("report.button.edit",
                                                                  step=t.plain(f"report.step_name.{x}")))
                 for x in svc.REPORT_STEPS]
        rows += [edits[:2], edits[2:]]
        rows.append([rbtn(t, ReportOp.FILE, report)])
        return "\n\n".join(parts), kb(rows)
    n = svc.REPORT_STEPS.index(step) + 1
    parts.append(t("report.header", studio=studio.name, year=report.year, n=n, total=len(svc.REPORT_STEPS)))
    parts.append(t(f"report.step.{step}"))
    if step == "work":
        work = str(a.get("work") or "")
        if work:
            parts.append(t("report.current.work", chars=len(work), max=svc.WORK_MAX, text=clip(work, 300)))
            rows.append([rbtn(t, ReportOp.DONE, report), rbtn(t, ReportOp.CLEAR, report)])
    elif step == "results":
        results = a.get("results")
        if results:
            listing = "\n".join(f"{i}. {esc(clip(r, 120))}" for i, r in enumerate(results, start=1))
            parts.append(t("report.current.results", n=len(results), items=Markup(listing)))
            rows.append([rbtn(t, ReportOp.DONE, report), rbtn(t, ReportOp.CLEAR, report)])
        else:
            rows.append([rbtn(t, ReportOp.NONE, report)])
    elif step == "files":
        count = len(await svc.report_files(rq.session, report.id))
        parts.append(t("report.current.files", n=count, max=svc.FILES_MAX))
        rows.append([rbtn(t, ReportOp.DONE, report) if count else rbtn(t, ReportOp.SKIP, report)])
    elif step == "ip":
        current = str(a.get("ip") or "")
        stated = current or (studio.ip_statement or "")
        if stated:
            parts.append(t("report.current.ip", text=clip(stated, 500)))
            rows.append([rbtn(t, ReportOp.KEEP, report)])
    rows.append([x for x in (back, summary) if x is not None])
    return "\n\n".join(parts), kb(rows)


async def show_report(rq: Rq, report: YearReport, studio: Studio, note: str | None = None, *,
                      edit: bool = False) -> None:
    text, markup = await report_screen(rq, report, studio, note)
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
        text = t("report.filed_view", year=year, date=rq.svc.local(report.filed_at).strftime("%Y-%m-%d"))
        text += "\n\n" + report_summary(t, report, studio, files)
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
        rq.reply("\n\n".join([*notes, t("report.not_leader")]))
        return
    if len(active) > 1:
        rows = [[Btn(clip(x.name, 60), callback_data=cb.ReportBtn(ReportOp.START, x.id).encode())] for x in active]
        rq.reply("\n\n".join([*notes, t("report.pick")]), kb(rows))
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
        elif target in svc.REPORT_STEPS:
            svc.goto(report, target, edit=True)
        else:
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
        try:
            await svc.file_report(rq.session, report, studio, rq.user.id, _now(rq))
        except svc.Refused as exc:
            params = dict(exc.params)
            steps = params.get("steps")
            if isinstance(steps, list):
                params["steps"] = t.join([t.plain(f"report.step_name.{x}") for x in steps])
            rq.alert(t.plain(exc.key, **params))
            return
        _stop_waiting(rq)
        rq.edit(t("report.filed", studio=studio.name, year=report.year,
                  date=rq.svc.local(_now(rq)).strftime("%Y-%m-%d")))
        return
    expected = {ReportOp.DONE: ("work", "results", "files"), ReportOp.CLEAR: ("work", "results"),
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
    if op is ReportOp.DONE and step == "results" and not a.get("results"):
        rq.alert(t("report.nothing_yet"))
        return
    if op is ReportOp.NONE:
        svc.no_results(report)
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
            results = svc.add_results(report, text)
            await show_report(rq, report, studio, t("report.results_saved", n=len(results)))
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
    svc.add_file(rq.session, report, fileio.stored(item, rel, size, sha), _now(rq))
    await rq.session.flush()
    if album and not svc.album_first(report, album):
        return  # one answer per album
    n = len(await svc.report_files(rq.session, report.id))
    await show_report(rq, report, studio, t("report.file_saved", n=n, max=svc.FILES_MAX))


# --------------------------------------------------------------------------- /inspect (R-O1, R-O2, R-D4)


def ibtn(label: str, op: InspectOp, studio: int = 0, v: str | None = None) -> Btn:
    return Btn(label, callback_data=cb.InspectBtn(op, studio, v).encode())


def _status(t: Translator, studio: Studio) -> str:
    return t.plain(f"studio.status.{studio.status}") if t.has(f"studio.status.{studio.status}") else studio.status


async def list_screen(rq: Rq, page: int = 0, note: str | None = None) -> tuple[str, InlineKeyboardMarkup]:
    t = rq.t
    studios = list(await svc.all_studios(rq.session))
    if not studios:
        return "\n\n".join(([note] if note else []) + [t("studio.list.empty")]), kb([])
    pg = page_of(studios, page, PAGE)
    active = sum(1 for x in studios if x.status == svc.ACTIVE)
    lines = [t("studio.list.title", n=len(studios), active=active, delisted=len(studios) - active)]
    unions = {u.id: u.name(rq.lang) for u in await repo.all_unions(rq.session)}  # one query for the page
    for i, x in enumerate(pg.items, start=pg.first):
        lines.append(t("studio.list.line", n=i, name=x.name, union=unions.get(x.union_id or 0, ""),
                       status=_status(t, x), named=x.named_on.isoformat()))
    rows = [[ibtn(clip(("🚫 " if x.status != svc.ACTIVE else "") + x.name, 60), InspectOp.STUDIO, x.id)]
            for x in pg.items]
    rows.append(pager(t, pg, lambda n: cb.InspectBtn(InspectOp.LIST, 0, str(n)).encode()))
    return "\n".join(([note, ""] if note else []) + lines), kb(rows)


async def history_screen(rq: Rq, studio: Studio, note: str | None = None) -> tuple[str, InlineKeyboardMarkup]:
    """A studio's standing and history: reports filed, inspections and their outcomes."""
    t = rq.t
    leader = await repo.get_user(rq.session, studio.leader_id) if studio.leader_id is not None else None
    parts = [note] if note else []
    parts.append(t("studio.history.head", name=studio.name, union=await _union_name(rq, studio.union_id),
                   leader=leader.display_name if leader else studio.leader_name or "—", status=_status(t, studio),
                   named=studio.named_on.isoformat(),
                   plaque=studio.plaque_on.isoformat() if studio.plaque_on else "—",
                   ip=clip(studio.ip_statement or "—", 300)))
    reports = [r for r in await svc.reports_of(rq.session, studio.id) if r.filed_at is not None]
    if reports:
        parts.append(t("studio.history.reports", years=t.join([str(r.year) for r in reports])))
    else:
        parts.append(t("studio.history.no_reports"))
    inspections = list(await svc.inspections_of(rq.session, studio.id))
    if inspections:
        lines = [t("studio.history.inspections", n=len(inspections))]
        for x in inspections[-10:]:
            lines.append(t("studio.history.inspection", date=x.on.isoformat(), kind=t.plain(f"studio.kind.{x.kind}"),
                           outcome=t.plain(f"studio.outcome.{x.outcome or 'none'}"),
                           findings=clip(x.findings, 200)))
        parts.append("\n".join(lines))
    else:
        parts.append(t("studio.history.no_inspections"))
    rows: list[list[Btn]] = []
    if studio.status == svc.ACTIVE:
        rows.append([ibtn(t.plain("studio.button.record"), InspectOp.NEW, studio.id)])
    rbtns = [ibtn(t.plain("studio.button.report", year=r.year), InspectOp.REPORT, studio.id, str(r.year))
             for r in reports[-4:]]
    rows.append(rbtns)
    rows.append([ibtn(t.plain("studio.button.list"), InspectOp.LIST, 0, "0")])
    return "\n\n".join(parts), kb(rows)


def inspect_prompt(rq: Rq, studio: Studio, pending: dict[str, Any], note: str | None = None) -> tuple[str, Any]:
    t = rq.t
    step = pending["step"]
    sid = studio.id
    cancel = [ibtn(t.plain("studio.button.cancel"), InspectOp.CANCEL, sid)]
    parts = [note] if note else []
    rows: list[list[Btn]] = []
    if step == "kind":
        parts.append(t("studio.inspect.ask_kind", studio=studio.name))
        rows.append([ibtn(t.plain(f"studio.kind.{k}"), InspectOp.KIND, sid, k) for k in svc.KINDS])
    elif step == "date":
        parts.append(t("studio.inspect.ask_date", studio=studio.name, kind=t.plain(f"studio.kind.{pending['kind']}")))
        rows.append([ibtn(t.plain("studio.button.today"), InspectOp.TODAY, sid)])
    elif step == "findings":
        parts.append(t("studio.inspect.ask_findings", studio=studio.name, date=pending["on"]))
    elif step == "outcome":
        parts.append(t("studio.inspect.ask_outcome", studio=studio.name))
        btns = [ibtn(t.plain(f"studio.outcome.{o}"), InspectOp.OUTCOME, sid, o) for o in svc.OUTCOMES]
        rows += [btns[:2], btns[2:]]
    else:  # confirm
        parts.append(t("studio.inspect.confirm", studio=studio.name, kind=t.plain(f"studio.kind.{pending['kind']}"),
                       date=pending["on"], findings=clip(pending["findings"], 800),
                       outcome=t.plain(f"studio.outcome.{pending['outcome']}")))
        if pending["outcome"] == "delisting":
            parts.append(t("studio.inspect.delisting_warning"))
        rows.append([ibtn(t.plain("studio.button.confirm"), InspectOp.CONFIRM, sid)])
    rows.append(cancel)
    return "\n\n".join(parts), kb(rows)


def _may_inspect(rq: Rq) -> bool:
    return Role.CITY in rq.roles


@handler
async def cmd_inspect(rq: Rq) -> None:
    if not _may_inspect(rq):
        rq.reply(rq.t("studio.only_city"))
        return
    _stop_waiting(rq)
    text, markup = await list_screen(rq)
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
        text, markup = await list_screen(rq, page)
        rq.edit(text, markup)
        return
    studio = await rq.session.get(Studio, data.studio)
    if studio is None:
        rq.refuse(t("error.stale_button"), "stale")
        return
    if data.op is InspectOp.STUDIO:
        text, markup = await history_screen(rq, studio)
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
        rq.reply(t("report.filed_view", year=year, date=rq.svc.local(report.filed_at).strftime("%Y-%m-%d"))  # type: ignore[arg-type]
                 + "\n\n" + report_summary(t, report, studio, len(files)))
        _send_report_files(rq, [(f.kind, f.telegram_file_id) for f in files])
        return
    if data.op is InspectOp.NEW:
        if studio.status != svc.ACTIVE:
            rq.alert(t("studio.inspect.not_active"))
            return
        new: dict[str, Any] = {"studio": studio.id, "step": "kind"}
        _inspection_waiting(rq, new)
        rq.edit(*inspect_prompt(rq, studio, new))
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
    rq.edit(*inspect_prompt(rq, studio, pending))


def _send_report_files(rq: Rq, files: list[tuple[str, str]]) -> None:
    for kind, file_id in files:
        rq.owe(effects.file(rq.chat_id, "photo" if kind == "photo" else "document", file_id))


async def _record(rq: Rq, studio: Studio, pending: dict[str, Any]) -> None:
    t = rq.t
    try:
        row = await svc.record_inspection(rq.session, studio, rq.user.id, pending["kind"],
                                          date.fromisoformat(pending["on"]), pending["findings"], pending["outcome"],
                                          _now(rq), rq.svc.today())
    except svc.Refused as exc:
        _stop_waiting(rq)
        rq.edit(t(exc.key, **exc.params))
        return
    _stop_waiting(rq)
    outcome = row.outcome or "none"
    text, markup = await history_screen(rq, studio, t("studio.inspect.done", studio=studio.name,
                                                       outcome=t.plain(f"studio.outcome.{outcome}")))
    rq.edit(text, markup)
    # R-O2: the outcome reaches everyone it concerns, each in their language, after the commit
    for user_id in await svc.outcome_recipients(rq.session, studio, row.outcome, rq.svc.settings.admin_ids,
                                                rq.user.id):
        await _notify(rq, user_id, lambda lt: leader_notice(lt, studio, row))


def leader_notice(t: Translator, studio: Studio, row: Inspection) -> str:
    """What the studio's leader (and, for a public outcome, everyone concerned) hears of an inspection (R-O2)."""
    text = t(f"studio.notice.{row.outcome or 'none'}", studio=studio.name, date=row.on.isoformat(),
             kind=t.plain(f"studio.kind.{row.kind}"), findings=clip(row.findings, 1500))
    if (row.outcome or "none") in svc.PUBLIC:
        text += "\n\n" + t("oversight.copied_to")
    return text


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
        rq.reply(*inspect_prompt(rq, studio, pending, "⚠️ " + t("studio.inspect.use_buttons")))
        return
    if step == "date":
        on = parse_date_or_none(text)
        if on is None:
            rq.reply(*inspect_prompt(rq, studio, pending, "⚠️ " + t("studio.inspect.bad_date")))
            return
        try:
            await svc.check_date(rq.session, studio, on, rq.svc.today())
        except svc.Refused as exc:
            rq.reply(*inspect_prompt(rq, studio, pending, "⚠️ " + t(exc.key, **exc.params)))
            return
        pending.update(on=on.isoformat(), step="findings")
    else:
        if len(text.strip()) > svc.FINDINGS_MAX:
            rq.reply(*inspect_prompt(rq, studio, pending,
                                     "⚠️ " + t("studio.inspect.findings_length", max=svc.FINDINGS_MAX)))
            return
        pending.update(findings=text.strip(), step="outcome")
    _inspection_waiting(rq, pending)
    rq.reply(*inspect_prompt(rq, studio, pending))


# --------------------------------------------------------------------------- /notice (R-O2)


@handler
async def cmd_notice(rq: Rq) -> None:
    """`/notice [year]`: the year's notified and delisted studios as a document for publication."""
    t = rq.t
    if not rq.roles & {Role.CITY, Role.CONTACT, Role.ADMIN}:
        rq.reply(t("oversight.only"))
        return
    args = rq.context.args or []
    year = int(args[0]) if args and args[0].isdigit() and len(args[0]) == 4 else rq.svc.today().year
    rows = await svc.notice_list(rq.session, year)
    repo.audit(rq.session, _now(rq), "export", actor_id=rq.user.id,
               details={"what": "public_notice", "year": year, "studios": len(rows)})
    rq.owe(effects.render(rq.chat_id, "notice", year=year, lang=rq.lang))


# --------------------------------------------------------------------------- /reminders


async def reminders_screen(rq: Rq, note: str | None = None) -> tuple[str, InlineKeyboardMarkup | None]:
    t = rq.t
    now = _now(rq)
    upcoming = await svc_pings.upcoming_for(rq.session, now, rq.svc.settings, rq.user.id)
    off = await svc_pings.mutes_of(rq.session, rq.user.id)
    apps = await repo.by_ids(rq.session, App, (p.app_id for p in upcoming if p.app_id))
    numbers = {i: a.number or str(a.season_year) for i, a in apps.items()}
    studios = await repo.by_ids(rq.session, Studio, (p.studio_id for p in upcoming if p.studio_id))
    names = {i: x.name for i, x in studios.items()}
    parts = [note] if note else []
    if upcoming:
        lines = [t("reminders.title")]
        for p in upcoming[:UPCOMING_SHOWN]:
            what = svc_pings.describe(t, p, numbers, names)
            mark = t("reminders.muted_mark") if p.kind.value in off else ""
            lines.append(t("reminders.line", when=rq.svc.local(p.send_at).strftime("%Y-%m-%d %H:%M"), what=what)
                         + mark)
        if len(upcoming) > UPCOMING_SHOWN:
            lines.append(t("reminders.more", n=len(upcoming) - UPCOMING_SHOWN))
        parts.append("\n".join(lines))
    else:
        parts.append(t("reminders.none"))
    s = rq.svc.settings
    parts.append(t("reminders.quiet", start=f"{s.quiet_end_hour:02d}:00", end=f"{s.quiet_start_hour:02d}:00"))
    if Role.CONTACT not in rq.roles:
        return "\n\n".join(parts), None
    parts.append(t("reminders.mute_hint"))
    rows = []
    for kind in CONTACT_KINDS:
        label = t.plain("reminders.button.off" if kind.value in off else "reminders.button.on",
                        kind=t.plain(f"reminders.kind.{kind.value}"))
        rows.append([Btn(label, callback_data=cb.MuteBtn(kind.value).encode())])
    return "\n\n".join(parts), kb(rows)


@handler
async def cmd_reminders(rq: Rq) -> None:
    _stop_waiting(rq)
    text, markup = await reminders_screen(rq)
    rq.reply(text, markup)


@handler
async def on_mute_button(rq: Rq) -> None:
    t = rq.t
    data = cb.decode(rq.query.data if rq.query else None)
    kinds = {k.value: k for k in CONTACT_KINDS}
    if not isinstance(data, cb.MuteBtn) or data.kind not in kinds:
        rq.refuse(t("error.bad_button"), "bad_button")
        return
    if Role.CONTACT not in rq.roles:
        rq.refuse(t("reminders.not_contact"), "role")
        return
    kind: Kind = kinds[data.kind]
    now_muted = await svc_pings.toggle_mute(rq.session, rq.user.id, kind)
    await rq.session.flush()
    label = t.plain(f"reminders.kind.{kind.value}")
    rq.toast(t.plain("reminders.toast.muted" if now_muted else "reminders.toast.unmuted", kind=label))
    text, markup = await reminders_screen(rq)
    rq.edit(text, markup)


# --------------------------------------------------------------------------- typed input and wiring


@handler
async def on_inspection_input(rq: Rq) -> None:
    pending = _pending_inspection(rq)
    if pending is not None:
        await _inspect_input(rq, pending)


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
    was_report = inputs.state(rq, REPORT) is not None
    _stop_waiting(rq)
    rq.reply(rq.t("report.cancelled" if was_report else "studio.inspect.cancelled_typed"))


def handlers(app: Application) -> list[BaseHandler[Any, Any, Any]]:  # type: ignore[type-arg]
    report, inspection = inputs.Awaiting(app, REPORT), inputs.Awaiting(app, INSPECT)
    typed = ~filters.COMMAND & ~filters.StatusUpdate.ALL
    return [
        MessageHandler(report & typed, on_report_input),
        MessageHandler(inspection & typed, on_inspection_input),
        CommandHandler("cancel", cmd_cancel, filters=report | inspection),
        CommandHandler("report", cmd_report),
        CommandHandler("inspect", cmd_inspect),
        CommandHandler("reminders", cmd_reminders),
        CommandHandler("notice", cmd_notice),
        CallbackQueryHandler(on_report_button, pattern=cb.ReportBtn.pattern()),
        CallbackQueryHandler(on_inspect_button, pattern=cb.InspectBtn.pattern()),
        CallbackQueryHandler(on_mute_button, pattern=cb.MuteBtn.pattern()),
    ]


def register(app: Application) -> None:  # type: ignore[type-arg]
    for h in handlers(app):
        app.add_handler(h)
