"""The season's roster as XLSX: one row per application, frozen header, autofilter, fitted columns."""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable, Iterable
from datetime import date
from functools import cache
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from bot.domain import form
from bot.domain.render import display
from bot.exports.data import RosterRow
from bot.i18n import Translator

DATE_FORMAT = "yyyy-mm-dd"
MIN_WIDTH, MAX_WIDTH, WRAP_WIDTH = 8, 50, 60


def columns(t: Translator) -> list[tuple[str, Callable[[RosterRow], Any]]]:
    """(column key, value of a row); the header is the locale's `export.col.<key>`."""
    honour = form.BY_KEY["leader_honour"]
    # the same few labels come back on every row: look each one up once
    honours: dict[Any, str] = {}
    labels: dict[str, str] = {}

    def label(key: str) -> str:
        text = labels.get(key)
        if text is None:
            text = labels[key] = t.plain(key)
        return text

    def honour_of(r: RosterRow) -> str:
        try:
            return honours[r.honour]
        except KeyError:
            text = honours[r.honour] = display(honour, r.honour, t)
            return text
        except TypeError:  # not hashable (a stored list…): not cached
            return display(honour, r.honour, t)

    return [
        ("number", lambda r: r.number),
        ("union", lambda r: r.union),
        ("applying_unit", lambda r: r.applying_unit),
        ("leader", lambda r: r.leader),
        ("honour", honour_of),
        ("members", lambda r: r.members),
        ("status", lambda r: label(f"status.{r.status}")),
        ("district_decision", lambda r: label(f"action.{r.district.action}") if r.district else ""),
        ("district_date", lambda r: r.district.on if r.district else None),
        ("city_decision", lambda r: label(f"action.{r.city.action}") if r.city else ""),
        ("city_date", lambda r: r.city.on if r.city else None),
        ("submitted", lambda r: r.submitted_on),
        ("opinions", lambda r: "\n".join(f"{label(f'box.{box}')} {on.isoformat()}：{text}"
                                          for box, on, text in r.opinions)),
        ("studio_name", lambda r: r.studio_name or ""),
        ("plaque_on", lambda r: r.plaque_on),
    ]


@cache
def _char_width(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def text_width(value: Any) -> int:
    """Rough column width of a value: wide (CJK) characters count twice."""
    if value is None:
        return 0
    if isinstance(value, date):
        return 10
    lines = str(value).split("\n")
    return max(len(line) if line.isascii() else sum(map(_char_width, line)) for line in lines)


def _widest(values: Iterable[Any]) -> int:
    return max(map(text_width, set(values)), default=0)


def build_xlsx(rows: list[RosterRow], t: Translator, year: int) -> bytes:
    """Streamed (openpyxl write-only mode): the values are worked out first, as plain lists, because the
    column widths and the frozen header go before the rows in the file; then each row is written as
    it comes, with cell styles made once and shared (styling cells one by one hashed a style object
    per cell and kept ~130,000 cell objects alive)."""
    cols = columns(t)
    header = [t.plain(f"export.col.{key}") for key, _ in cols]
    fns = [fn for _, fn in cols]
    values = [[fn(r) for fn in fns] for r in rows]

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(t.plain("export.sheet", year=year)[:31])
    wrap_col: list[bool] = []
    for i, (key, _) in enumerate(cols):
        letter = get_column_letter(i + 1)
        widest = max(text_width(header[i]), _widest(v[i] for v in values))
        wrap = key in ("opinions", "applying_unit", "studio_name") and widest > MAX_WIDTH
        ws.column_dimensions[letter].width = WRAP_WIDTH if wrap else max(MIN_WIDTH, min(widest + 2, MAX_WIDTH))
        wrap_col.append(key == "opinions" or wrap)
    extent = f"A1:{get_column_letter(len(cols))}{len(rows) + 1}"
    ws.calculate_dimension = lambda: extent  # type: ignore[attr-defined]  # the writer states it when known
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = extent
    ws.print_title_rows = "1:1"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = Worksheet.PAPERSIZE_A4

    def styled(value: Any, **style: Any) -> Cell:
        cell = WriteOnlyCell(ws, value)
        for name, v in style.items():
            setattr(cell, name, v)
        return cell

    top = {wrap: Alignment(vertical="top", wrap_text=wrap) for wrap in (False, True)}  # one per style
    head_style = {"font": Font(bold=True), "fill": PatternFill("solid", fgColor="DDE4EE"),
                  "alignment": Alignment(horizontal="center", vertical="center", wrap_text=True)}
    ws.append([styled(text, **head_style) for text in header])
    # the style of each column's cells, and of its date cells, as made once on a model cell
    plain = [styled(None, alignment=top[w])._style for w in wrap_col]
    dated = [styled(None, alignment=top[w], number_format=DATE_FORMAT)._style for w in wrap_col]
    for line in values:
        cells = []
        for i, v in enumerate(line):  # row and column are set by `append`; every cell is written, as before
            cell = Cell(ws, row=1, column=1, value=v, style_array=dated[i] if isinstance(v, date) else plain[i])
            if cell.data_type == "f":  # typed text such as "=HYPERLINK(…)" stays text, never a formula
                cell.data_type = "s"
            cells.append(cell)
        ws.append(cells)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
