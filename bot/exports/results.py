"""The results registry in the federation's documents: the /stats section, the roster workbook's results
sheets, and the year's results compilation (成果汇编, R-C1) as a DOCX with labels in both languages.

python-docx and openpyxl are imported only when a document is made."""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import date
from typing import Any

from bot.domain import results as dom
from bot.domain.results import Ask
from bot.i18n import Translator
from bot.services.results import Figures, YearResults, is_recognised
from storage.models import Result

SUMMARY = ("total", "recognised", "in_use", "patents", "benefit")


def _benefit(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _union(unions: Mapping[int, str], union_id: int | None, t: Translator) -> str:
    return unions.get(union_id or -1) or t.plain("result.stats.no_union")


def stats_text(t: Translator, yr: YearResults, unions: Mapping[int, str]) -> str:
    """The /stats section: the year's results by kind, level, use, patents and benefit, and per union."""
    f = yr.total
    lines = [t("result.stats.title", year=yr.year),
             t("result.stats.total", n=f.total, recognised=f.recognised, in_use=f.in_use, patents=f.patents,
               benefit=_benefit(f.benefit))]
    if not f.total:
        return "\n".join(lines)
    lines.append(t("result.stats.by_kind", items=t.join(
        [t.plain("result.stats.item", name=t.plain(f"result.kind.{k}"), n=f.by_kind[k]) for k in dom.KINDS
         if f.by_kind[k]])))
    if f.by_level:
        lines.append(t("result.stats.by_level", items=t.join(
            [t.plain("result.stats.item", name=t.plain(f"result.level.{k}"), n=f.by_level[k]) for k in dom.LEVELS
             if f.by_level[k]])))
    lines.append(t("result.stats.by_union"))
    for union_id, uf in sorted(yr.unions.items(), key=lambda x: (-x[1].total, _union(unions, x[0], t))):
        lines.append(t("result.stats.union_line", name=_union(unions, union_id, t), n=uf.total,
                       recognised=uf.recognised, patents=uf.patents, benefit=_benefit(uf.benefit)))
    return "\n".join(lines)


def add_sheets(wb: Any, t: Translator, yr: YearResults, unions: Mapping[int, str]) -> None:
    """Two sheets of a write-only workbook: the figures per union (and in all), and every result."""
    fig = wb.create_sheet(t.plain("result.sheet.figures", year=yr.year)[:31])
    head = [t.plain("result.sheet.union"), *(t.plain(f"result.sheet.{k}") for k in SUMMARY),
            *(t.plain(f"result.kind.{k}") for k in dom.KINDS), *(t.plain(f"result.level.{k}") for k in dom.LEVELS)]
    fig.append(head)

    def row(name: str, f: Figures) -> list[Any]:
        return [name, f.total, f.recognised, f.in_use, f.patents, round(f.benefit, 2),
                *(f.by_kind[k] for k in dom.KINDS), *(f.by_level[k] for k in dom.LEVELS)]

    for union_id, uf in sorted(yr.unions.items(), key=lambda x: _union(unions, x[0], t)):
        fig.append(row(_union(unions, union_id, t), uf))
    fig.append(row(t.plain("result.sheet.all"), yr.total))
    every = wb.create_sheet(t.plain("result.sheet.list", year=yr.year)[:31])
    fields = [f for f in dom.TYPED]
    every.append([t.plain("result.sheet.studio"), t.plain("result.sheet.union"),
                  *(t.plain(f"result.field.{f.key}") for f in fields)])
    for studio, rows in yr.studios:
        for r in rows:
            record = dom.record_of(r)
            every.append([studio.name, _union(unions, studio.union_id, t),
                          *(_cell(t, f, record.get(f.key)) for f in fields)])


def _cell(t: Translator, f: dom.ResultField, value: Any) -> Any:
    if value in (None, ""):
        return None
    if f.ask is Ask.CHOICE:
        return t.plain(f"result.{f.key}.{value}")
    if f.ask is Ask.YESNO:
        return t.plain("result.yes" if value else "result.no")
    if f.ask is Ask.DATE:
        return date.fromisoformat(str(value))
    return value


# --------------------------------------------------------------------------- the printed form's 附页


ANNEX_COLUMNS = ("title", "kind", "on", "level", "in_use", "benefit")
ANNEX_WIDTHS = (3.4, 2.0, 1.8, 3.6, 1.4, 1.8)  # shares of the sheet's width after the serial number


def annex_rows(t: Translator, rows: list[Result]) -> tuple[list[str], list[list[str]]]:
    """The results recorded on an application as the printed form's 附页 table (R-E5): the head, then a
    row per result; the applicant's own prose stays in the 主要工作成绩和成果 box."""
    head = [t.plain(f"result.field.{k}") for k in ANNEX_COLUMNS]
    out = []
    for r in rows:
        record = dom.record_of(r)
        level = (t.plain("result.recognised_by", level=t.plain(f"result.level.{r.level}"), body=r.body or "")
                 if dom.recognised(record) else t.plain("result.level_none"))
        number = f"（{r.number}）" if r.number else ""
        out.append([r.title + number, t.plain(f"result.kind.{r.kind}"), r.on.isoformat(), level,
                    t.plain("result.yes" if r.in_use else "result.no"),
                    _benefit(r.benefit) if r.benefit is not None else "—"])
    return head, out


# --------------------------------------------------------------------------- 成果汇编 (R-C1)


def compilation_name(year: int) -> str:
    return f"{year}年度劳模创新工作室成果汇编.docx"


def _both(zh: Translator, en: Translator, key: str, **params: object) -> str:
    return f"{zh.plain(key, **params)} / {en.plain(key, **params)}"


def _value(zh: Translator, en: Translator, f: dom.ResultField, value: Any) -> str:
    if value in (None, ""):
        return _both(zh, en, "result.level_none") if f.key == "level" else "—"
    if f.ask is Ask.CHOICE:
        return _both(zh, en, f"result.{f.key}.{value}")
    if f.ask is Ask.YESNO:
        return _both(zh, en, "result.yes" if value else "result.no")
    if f.ask is Ask.BENEFIT:
        return _both(zh, en, "result.benefit_value", value=_benefit(float(value)))
    return str(value)


def compilation(zh: Translator, en: Translator, yr: YearResults, unions: Mapping[int, str], today: date,
                certificates: Mapping[int, str] | None = None) -> bytes:
    """The year's results for publication (R-C1): one section per studio with results, each result as a
    table of its fields, every label in Chinese and English; `certificates`: file names by result id."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    certificates = certificates or {}
    doc = Document()
    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = title.add_run(zh.plain("result.compilation.title", year=yr.year))
    run.bold = True
    run.font.size = Pt(16)
    sub = doc.add_paragraph(en.plain("result.compilation.title", year=yr.year))
    sub.alignment = WD_ALIGN_PARAGRAPH.CENTER
    f = yr.total
    for t in (zh, en):
        doc.add_paragraph(t.plain("result.compilation.intro", year=yr.year, n=f.total, recognised=f.recognised,
                                  in_use=f.in_use, patents=f.patents, benefit=_benefit(f.benefit),
                                  studios=sum(1 for _, rows in yr.studios if rows)))
    with_results = [(st, rows) for st, rows in yr.studios if rows]
    for i, (studio, rows) in enumerate(with_results, start=1):
        doc.add_heading(f"{i}. {studio.name}", level=2)
        union = unions.get(studio.union_id or -1, "")
        doc.add_paragraph(f"{_both(zh, en, 'result.compilation.union')}：{union}　"
                          f"{_both(zh, en, 'result.compilation.count')}：{len(rows)}"
                          f"（{_both(zh, en, 'result.compilation.recognised')}：{sum(map(is_recognised, rows))}）")
        for n, r in enumerate(rows, start=1):
            _result_table(doc, zh, en, r, f"{i}.{n}", certificates.get(r.id))
    if not with_results:
        doc.add_paragraph(_both(zh, en, "result.compilation.none", year=yr.year))
    issued = doc.add_paragraph(zh.plain("result.compilation.issued", date=today.isoformat()))
    issued.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def _result_table(doc: Any, zh: Translator, en: Translator, r: Result, number: str, certificate: str | None) -> None:
    record = dom.record_of(r)
    doc.add_paragraph().add_run(f"{number}　{r.title}").bold = True
    shown = [f for f in dom.FIELDS if dom.asked(f, record) and (f.ask is not Ask.FILE or certificate)]
    table = doc.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for f in shown:
        cells = table.add_row().cells
        cells[0].text = _both(zh, en, f"result.field.{f.key}")
        cells[1].text = certificate if f.ask is Ask.FILE and certificate else _value(zh, en, f, record.get(f.key))
