"""The season's roster as XLSX, made to be printed as well as filtered.

Row 1 is the title (the season and the date the roster was made), row 2 the header, then one row per
application, numbered (序号). Every cell is ruled; the page is A4 landscape, fitted to one page wide, and
rows 1–2 are repeated at the top of every printed page; wrapped cells get the row height their lines
need. The columns of the application's own answers are the declaration's roster fields
(`FormField.roster`, in the declaration's order); the workflow's columns (status, each level's decision,
the opinions, the approved name, the plaque) follow.
"""

from __future__ import annotations

import io
import math
import unicodedata
from collections.abc import Callable, Iterable
from datetime import date
from functools import cache
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from bot.domain import form
from bot.domain.form import FormField
from bot.domain.render import display
from bot.exports.data import RosterRow
from bot.i18n import Translator

DATE_FORMAT = "yyyy-mm-dd"
MIN_WIDTH, MAX_WIDTH, WRAP_WIDTH = 6, 40, 40
LINE_PT = 15  # row height per line of wrapped text (points)
HEADER_ROW, FIRST_ROW = 2, 3
# columns whose text may run long: wrapped, in a column of limited width
WRAPPED = frozenset({"opinions", "applying_unit", "studio_name", "leader_employer", "location", "union",
                     "leader_honour"})
def _field_value(f: FormField, t: Translator) -> Callable[[RosterRow], Any]:
    key = f.key
    cell = f.kind_spec.cell  # the kind's own cell (a number, a count …), else its text
    if cell is not None:
        return lambda r: cell(r.fields.get(key))
    shown: dict[Any, str] = {}  # the same few choices come back on every row: each one looked up once

    def value(r: RosterRow) -> str:
        v = r.fields.get(key)
        try:
            text = shown.get(v)
        except TypeError:  # not hashable (a stored list…): not cached
            return display(f, v, t)
        if text is None:
            text = shown[v] = display(f, v, t)
        return text

    return value


def columns(t: Translator) -> list[tuple[str, Callable[[RosterRow], Any]]]:
    """(column key, value of a row); the header is the locale's `export.col.<key>`, or the field's label."""
    labels: dict[str, str] = {}

    def label(key: str) -> str:
        text = labels.get(key)
        if text is None:
            text = labels[key] = t.plain(key)
        return text

    cols: list[tuple[str, Callable[[RosterRow], Any]]] = [("number", lambda r: r.number)]
    cols += [(f.key, _field_value(f, t)) for f in form.roster_fields()]
    cols += [
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
    return cols


def header(key: str, t: Translator) -> str:
    own = f"export.col.{key}"
    if t.has(own):
        return t.plain(own)
    return t.plain(form.BY_KEY[key].label_key)


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


def line_count(value: Any, width: float) -> int:
    """Lines a wrapped value takes in a column `width` characters wide."""
    if value is None or isinstance(value, date | int | float):
        return 1
    return sum(max(1, math.ceil(text_width(line) / max(width - 1, 1))) for line in str(value).split("\n"))


def _widest(values: Iterable[Any]) -> int:
    return max(map(text_width, set(values)), default=0)


def build_xlsx(rows: list[RosterRow], t: Translator, year: int, made_on: date | None = None,
               more: Callable[[Workbook], None] | None = None) -> bytes:
    """Streamed (openpyxl write-only mode): the values are worked out first, as plain lists, because the
    column widths and the frozen header go before the rows in the file; then each row is written as
    it comes, with cell styles made once and shared (styling cells one by one hashed a style object
    per cell and kept ~130,000 cell objects alive)."""
    cols = columns(t)
    head = [t.plain("export.col.serial")] + [header(key, t) for key, _ in cols]
    fns = [fn for _, fn in cols]
    values = [[i, *(fn(r) for fn in fns)] for i, r in enumerate(rows, start=1)]
    keys = ["serial", *(key for key, _ in cols)]
    n_cols = len(keys)
    last = get_column_letter(n_cols)

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(t.plain("export.sheet", year=year)[:31])
    widths: list[float] = []
    wrap_col: list[bool] = []
    for i, key in enumerate(keys):
        letter = get_column_letter(i + 1)
        widest = max(text_width(head[i]) if key not in WRAPPED else 8, _widest(v[i] for v in values))
        wrap = key in WRAPPED or widest > MAX_WIDTH
        width = min(widest + 2, WRAP_WIDTH) if wrap else max(MIN_WIDTH, min(widest + 2, MAX_WIDTH))
        if key == "serial":
            width = max(MIN_WIDTH, text_width(len(rows)) + 3)
        ws.column_dimensions[letter].width = width
        widths.append(width)
        wrap_col.append(wrap)
    extent = f"A1:{last}{len(rows) + HEADER_ROW}"
    ws.calculate_dimension = lambda: extent  # the writer states it when known
    ws.freeze_panes = f"B{FIRST_ROW}"
    ws.auto_filter.ref = f"A{HEADER_ROW}:{last}{len(rows) + HEADER_ROW}"
    ws.merged_cells.add(f"A1:{last}1")
    ws.print_title_rows = f"1:{HEADER_ROW}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    ws.print_options.horizontalCentered = True
    ws.oddFooter.center.text = "&P / &N"

    def styled(value: Any, **style: Any) -> Cell:
        cell = WriteOnlyCell(ws, value)
        for name, v in style.items():
            setattr(cell, name, v)
        return cell

    thin = Side(style="thin", color="000000")
    ruled = Border(left=thin, right=thin, top=thin, bottom=thin)
    title = t.plain("export.title", year=year)
    if made_on is not None:
        title += "　" + t.plain("export.made", date=made_on.isoformat())
    ws.row_dimensions[1].height = 28
    ws.append([styled(title, font=Font(bold=True, size=14),
                      alignment=Alignment(horizontal="center", vertical="center"))])
    ws.row_dimensions[HEADER_ROW].height = LINE_PT * max(line_count(h, w) for h, w in zip(head, widths, strict=True))
    head_style = {"font": Font(bold=True), "fill": PatternFill("solid", fgColor="DDE4EE"), "border": ruled,
                  "alignment": Alignment(horizontal="center", vertical="center", wrap_text=True)}
    ws.append([styled(text, **head_style) for text in head])
    # the style of each column's cells, and of its date cells, as made once on a model cell
    top = {wrap: Alignment(vertical="top", wrap_text=wrap) for wrap in (False, True)}  # one per style
    formats = {f.key: f.kind_spec.cell_format for f in form.roster_fields() if f.kind_spec.cell_format}
    plain = [styled(None, alignment=top[w], border=ruled, number_format=formats.get(k, "General"))._style
             for k, w in zip(keys, wrap_col, strict=True)]
    dated = [styled(None, alignment=top[w], border=ruled, number_format=DATE_FORMAT)._style for w in wrap_col]
    wrapped = [i for i, w in enumerate(wrap_col) if w]
    for n, line in enumerate(values, start=FIRST_ROW):
        lines = max((line_count(line[i], widths[i]) for i in wrapped), default=1)
        if lines > 1:
            ws.row_dimensions[n].height = LINE_PT * lines
        cells = []
        for i, v in enumerate(line):  # row and column are set by `append`; every cell is written, as before
            cell = Cell(ws, row=1, column=1, value=v, style_array=dated[i] if isinstance(v, date) else plain[i])
            if cell.data_type == "f":  # typed text such as "=HYPERLINK(…)" stays text, never a formula
                cell.data_type = "s"
            cells.append(cell)
        ws.append(cells)
    if more is not None:  # further sheets (the year's results)
        more(wb)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
