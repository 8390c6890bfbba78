"""The season's roster as XLSX: one row per application, frozen header, autofilter, fitted columns."""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from bot.domain import form
from bot.domain.render import display
from bot.exports.data import Decision, RosterRow
from bot.i18n import Translator

DATE_FORMAT = "yyyy-mm-dd"
MIN_WIDTH, MAX_WIDTH, WRAP_WIDTH = 8, 50, 60


def _decision(d: Decision | None, t: Translator) -> str:
    return t.plain(f"action.{d.action}") if d else ""


def _opinions(row: RosterRow, t: Translator) -> str:
    return "\n".join(f"{t.plain(f'box.{box}')} {on.isoformat()}：{text}" for box, on, text in row.opinions)


def columns(t: Translator) -> list[tuple[str, Callable[[RosterRow], Any]]]:
    """(column key, value of a row); the header is the locale's `export.col.<key>`."""
    honour = form.BY_KEY["leader_honour"]
    return [
        ("number", lambda r: r.number),
        ("union", lambda r: r.union),
        ("applying_unit", lambda r: r.applying_unit),
        ("leader", lambda r: r.leader),
        ("honour", lambda r: display(honour, r.honour, t)),
        ("members", lambda r: r.members),
        ("status", lambda r: t.plain(f"status.{r.status}")),
        ("district_decision", lambda r: _decision(r.district, t)),
        ("district_date", lambda r: r.district.on if r.district else None),
        ("city_decision", lambda r: _decision(r.city, t)),
        ("city_date", lambda r: r.city.on if r.city else None),
        ("submitted", lambda r: r.submitted_on),
        ("opinions", lambda r: _opinions(r, t)),
        ("studio_name", lambda r: r.studio_name or ""),
        ("plaque_on", lambda r: r.plaque_on),
    ]


def text_width(value: Any) -> int:
    """Rough column width of a value: wide (CJK) characters count twice."""
    if value is None:
        return 0
    if isinstance(value, date):
        return 10
    lines = str(value).split("\n")
    return max(sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line) for line in lines)


def build_xlsx(rows: list[RosterRow], t: Translator, year: int) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = t.plain("export.sheet", year=year)[:31]
    cols = columns(t)
    ws.append([t.plain(f"export.col.{key}") for key, _ in cols])
    for r in rows:
        ws.append([fn(r) for _, fn in cols])
    for line in ws.iter_rows(min_row=2):
        for c in line:
            if c.data_type == "f":  # typed text such as "=HYPERLINK(…)" stays text, never a formula
                c.data_type = "s"
    header_font = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDE4EE")
    for cell in ws[1]:
        cell.font = header_font
        cell.fill = fill
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    aligned = {wrap: Alignment(vertical="top", wrap_text=wrap) for wrap in (False, True)}  # one per style
    for i, (key, _) in enumerate(cols, start=1):
        letter = get_column_letter(i)
        widest = max((text_width(c.value) for c in ws[letter]), default=0)
        wrap = key in ("opinions", "applying_unit", "studio_name") and widest > MAX_WIDTH
        ws.column_dimensions[letter].width = WRAP_WIDTH if wrap else max(MIN_WIDTH, min(widest + 2, MAX_WIDTH))
        for c in ws[letter][1:]:
            if isinstance(c.value, date):
                c.number_format = DATE_FORMAT
            c.alignment = aligned[key == "opinions" or wrap]
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{max(ws.max_row, 1)}"
    ws.print_title_rows = "1:1"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
