"""The city's screens of the studio registry (R-O1, R-O2): the list, a studio's history, the steps of
recording an inspection, and what the people concerned hear of its outcome."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from telegram import InlineKeyboardButton as Btn
from telegram import InlineKeyboardMarkup

from bot import callbacks as cb
from bot.callbacks import InspectOp
from bot.domain import studios as svc
from bot.domain.values import date_examples
from bot.i18n import Translator
from bot.views.common import clip, kb, page_of, pager
from storage.models import Inspection, Studio, YearReport

PAGE = 10


def ibtn(label: str, op: InspectOp, studio: int = 0, v: str | None = None) -> Btn:
    return Btn(label, callback_data=cb.InspectBtn(op, studio, v).encode())


def status_label(t: Translator, studio: Studio) -> str:
    return t.plain(f"studio.status.{studio.status}") if t.has(f"studio.status.{studio.status}") else studio.status


def list_screen(t: Translator, studios: Sequence[Studio], unions: Mapping[int, str], page: int = 0,
                note: str | None = None, year: int | None = None) -> tuple[str, InlineKeyboardMarkup]:
    """Page `page` of every studio, active ones first; `unions`: the unions' names by id; `year`: the
    year whose results the oversight button shows."""
    if not studios:
        return "\n\n".join(([note] if note else []) + [t("studio.list.empty")]), kb([])
    pg = page_of(studios, page, PAGE)
    active = sum(1 for x in studios if x.status == svc.ACTIVE)
    lines = [t("studio.list.title", n=len(studios), active=active, delisted=len(studios) - active)]
    for i, x in enumerate(pg.items, start=pg.first):
        lines.append(t("studio.list.line", n=i, name=x.name, union=unions.get(x.union_id or 0, ""),
                       status=status_label(t, x), named=x.named_on.isoformat()))
    rows = [[ibtn(clip(("🚫 " if x.status != svc.ACTIVE else "") + x.name, 60), InspectOp.STUDIO, x.id)]
            for x in pg.items]
    rows.append(pager(t, pg, lambda n: cb.InspectBtn(InspectOp.LIST, 0, str(n)).encode()))
    if year is not None:
        rows.append([ibtn(t.plain("oversight.results.button", year=year), InspectOp.RESULTS, 0, str(year))])
    return "\n".join(([note, ""] if note else []) + lines), kb(rows)


@dataclass(frozen=True)
class YearStanding:
    """The year's results as oversight reads them (R-E5, R-O2)."""

    year: int
    studios: int  # studios that held the plaque in the year
    results: int
    recognised: int
    without: Sequence[Studio]  # active studios with no recognised result: candidates for a notice
    most: Sequence[tuple[Studio, int]]  # the most recognised results: candidates for commendation


def results_screen(t: Translator, st: YearStanding, unions: Mapping[int, str], this_year: int,
                   shown: int = 30) -> tuple[str, InlineKeyboardMarkup]:
    """Who has no recognised result in the year and who has the most; the office decides, the bot shows."""
    parts = [t("oversight.results.title", year=st.year, studios=st.studios, n=st.results, recognised=st.recognised)]
    if st.without:
        lines = [t("oversight.results.without", n=len(st.without))]
        lines += [t("oversight.results.line", name=x.name, union=unions.get(x.union_id or 0, ""))
                  for x in st.without[:shown]]
        if len(st.without) > shown:
            lines.append(t("oversight.results.more", n=len(st.without) - shown))
        parts.append("\n".join(lines))
    else:
        parts.append(t("oversight.results.without_none"))
    if st.most:
        parts.append("\n".join([t("oversight.results.most", n=len(st.most))]
                               + [t("oversight.results.most_line", name=x.name, n=n,
                                    union=unions.get(x.union_id or 0, "")) for x, n in st.most]))
    else:
        parts.append(t("oversight.results.most_none"))
    parts.append(t("oversight.results.decide"))
    years = [ibtn(t.plain("oversight.results.year", year=st.year - 1), InspectOp.RESULTS, 0, str(st.year - 1))]
    if st.year < this_year:
        years.append(ibtn(t.plain("oversight.results.year", year=st.year + 1), InspectOp.RESULTS, 0,
                          str(st.year + 1)))
    return "\n\n".join(parts), kb([years, [ibtn(t.plain("studio.button.list"), InspectOp.LIST, 0, "0")]])


def history_screen(t: Translator, studio: Studio, union: str, leader: str, reports: Sequence[YearReport],
                   inspections: Sequence[Inspection], note: str | None = None) -> tuple[str, InlineKeyboardMarkup]:
    """A studio's standing and history: reports filed, inspections and their outcomes."""
    parts = [note] if note else []
    parts.append(t("studio.history.head", name=studio.name, union=union, leader=leader,
                   status=status_label(t, studio), named=studio.named_on.isoformat(),
                   plaque=studio.plaque_on.isoformat() if studio.plaque_on else "—",
                   ip=clip(studio.ip_statement or "—", 300)))
    if reports:
        parts.append(t("studio.history.reports", years=t.join([str(r.year) for r in reports])))
    else:
        parts.append(t("studio.history.no_reports"))
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
    rows.append([ibtn(t.plain("studio.button.report", year=r.year), InspectOp.REPORT, studio.id, str(r.year))
                 for r in reports[-4:]])
    rows.append([ibtn(t.plain("studio.button.list"), InspectOp.LIST, 0, "0")])
    return "\n\n".join(parts), kb(rows)


def inspect_prompt(t: Translator, studio: Studio, pending: Mapping[str, Any],
                   note: str | None = None, *, today: date) -> tuple[str, InlineKeyboardMarkup]:
    """The step of recording an inspection that `pending` is at (a date's example is a past day)."""
    step = pending["step"]
    sid = studio.id
    cancel = [ibtn(t.plain("studio.button.cancel"), InspectOp.CANCEL, sid)]
    parts = [note] if note else []
    rows: list[list[Btn]] = []
    if step == "kind":
        parts.append(t("studio.inspect.ask_kind", studio=studio.name))
        rows.append([ibtn(t.plain(f"studio.kind.{k}"), InspectOp.KIND, sid, k) for k in svc.KINDS])
    elif step == "date":
        parts.append(t("studio.inspect.ask_date", studio=studio.name, kind=t.plain(f"studio.kind.{pending['kind']}"),
                       **date_examples(today, future=False)))
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


def leader_notice(t: Translator, studio: Studio, row: Inspection) -> str:
    """What the studio's leader (and, for a public outcome, everyone concerned) hears of an inspection (R-O2)."""
    text = t(f"studio.notice.{row.outcome or 'none'}", studio=studio.name, date=row.on.isoformat(),
             kind=t.plain(f"studio.kind.{row.kind}"), findings=clip(row.findings, 1500))
    if (row.outcome or "none") in svc.PUBLIC:
        text += "\n\n" + t("oversight.copied_to")
    return text
