"""The screens of a studio's year report (R-D5, R-O3): each step, the summary and the filed view."""

from __future__ import annotations

from telegram import InlineKeyboardButton as Btn
from telegram import InlineKeyboardMarkup

from bot import callbacks as cb
from bot.callbacks import ReportOp
from bot.domain import studios as svc
from bot.i18n import Markup, Translator
from bot.views.common import clip, esc, kb
from storage.models import Studio, YearReport


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


def filed_view(t: Translator, report: YearReport, studio: Studio, files: int, filed_on: str) -> str:
    """A filed report as everyone allowed to see it reads it."""
    return t("report.filed_view", year=report.year, date=filed_on) + "\n\n" + report_summary(t, report, studio, files)


def report_screen(t: Translator, report: YearReport, studio: Studio, files: int,
                  note: str | None = None) -> tuple[str, InlineKeyboardMarkup]:
    """The report's current step (or its summary) with the step's buttons; `files`: those attached so far."""
    step = svc.step_of(report.answers)
    a = report.answers or {}
    parts = [note] if note else []
    rows: list[list[Btn]] = []
    editing = svc.editing(report.answers)
    back = rbtn(t, ReportOp.BACK, report) if svc.previous_step(step) and not editing else None
    summary = rbtn(t, ReportOp.EDIT, report, "confirm", key="report.button.summary") if editing else None
    if step == "confirm":
        parts.append(report_summary(t, report, studio, files))
        gaps = svc.missing(report.answers)
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
        parts.append(t("report.current.files", n=files, max=svc.FILES_MAX))
        rows.append([rbtn(t, ReportOp.DONE, report) if files else rbtn(t, ReportOp.SKIP, report)])
    elif step == "ip":
        current = str(a.get("ip") or "")
        stated = current or (studio.ip_statement or "")
        if stated:
            parts.append(t("report.current.ip", text=clip(stated, 500)))
            rows.append([rbtn(t, ReportOp.KEEP, report)])
    rows.append([x for x in (back, summary) if x is not None])
    return "\n\n".join(parts), kb(rows)


def studio_pick(t: Translator, studios: list[Studio], notes: list[str]) -> tuple[str, InlineKeyboardMarkup]:
    """Which studio's report, for a leader of several."""
    rows = [[Btn(clip(x.name, 60), callback_data=cb.ReportBtn(ReportOp.START, x.id).encode())] for x in studios]
    return "\n\n".join([*notes, t("report.pick")]), kb(rows)
