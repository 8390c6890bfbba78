"""The screens of a studio's year report (R-D5, R-O3): each step, the summary and the filed view."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from telegram import InlineKeyboardButton as Btn
from telegram import InlineKeyboardMarkup

from bot import callbacks as cb
from bot.callbacks import ReportOp, ResultOp
from bot.domain import studios as svc
from bot.domain.results import recognised
from bot.i18n import Markup, Translator
from bot.views import results as result_views
from bot.views.common import clip, esc, kb
from storage.models import Studio, YearReport


def rbtn(t: Translator, op: ReportOp, report: YearReport, v: str | None = None, *, key: str | None = None,
         label: str | None = None) -> Btn:
    return Btn(label if label is not None else t.plain(key or f"report.button.{op.name.lower()}"),
               callback_data=cb.ReportBtn(op, report.id, v).encode())


Recorded = Sequence[tuple[int, Mapping[str, Any]]]  # results on record: (id, record)


def report_summary(t: Translator, report: YearReport, studio: Studio, files: int, recorded: Recorded) -> str:
    """The report's answers; the year's results are those on record (older reports kept them as lines)."""
    a = report.answers or {}
    results = a.get("results")
    if report.filed_at is not None and isinstance(results, list) and all(isinstance(r, int) for r in results):
        recorded = [x for x in recorded if x[0] in results]  # those the report was filed with
    if results and all(isinstance(r, str) for r in results):  # filed before results were records
        shown_results = "\n".join(f"{i}. {esc(clip(r, 200))}" for i, r in enumerate(results, start=1))
    elif recorded and "results" in a:
        shown_results = result_views.report_lines(t, [r for _, r in recorded])
    elif "results" in a:
        shown_results = esc(t.plain("report.no_results"))
    else:
        shown_results = esc(t.plain("report.missing"))
    return t("report.summary", studio=studio.name, year=report.year,
             work=clip(str(a.get("work") or t.plain("report.missing")), 1500),
             results=Markup(shown_results), files=files,
             ip=clip(str(a.get("ip") or t.plain("report.missing")), 500))


def filed_view(t: Translator, report: YearReport, studio: Studio, files: int, recorded: Recorded,
               filed_on: str) -> str:
    """A filed report as everyone allowed to see it reads it."""
    return (t("report.filed_view", year=report.year, date=filed_on) + "\n\n"
            + report_summary(t, report, studio, files, recorded))


def report_screen(t: Translator, report: YearReport, studio: Studio, files: int, recorded: Recorded,
                  note: str | None = None) -> tuple[str, InlineKeyboardMarkup]:
    """The report's current step (or its summary) with the step's buttons; `files`: those attached so far,
    `recorded`: the studio's results of the year on record."""
    step = svc.step_of(report.answers)
    a = report.answers or {}
    parts = [note] if note else []
    rows: list[list[Btn]] = []
    editing = svc.editing(report.answers)
    back = rbtn(t, ReportOp.BACK, report) if svc.previous_step(step) and not editing else None
    summary = rbtn(t, ReportOp.EDIT, report, "confirm", key="report.button.summary") if editing else None
    if step == "confirm":
        parts.append(report_summary(t, report, studio, files, recorded))
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
        add = result_views.btn(t.plain("result.button.add"), ResultOp.ADD, studio.id, "s", str(report.id))
        if recorded:
            records = [r for _, r in recorded]
            parts.append(t("report.current.results", n=len(records), recognised=sum(map(recognised, records)),
                           items=Markup(result_views.report_lines(t, records))))
            rows.append([add, rbtn(t, ReportOp.DONE, report)])
        else:
            rows.append([add, rbtn(t, ReportOp.NONE, report)])
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
