"""The printed application form (附件1 劳模创新工作室申报表) as a DOCX, built by walking the form declaration.

The layout follows the source: the title, the line 申报单位：…（盖章） 申报日期：…年…月…日, one ruled grid
(the leader's table, achievements, site/area/funds, equipment, the members table with at least six rows,
plan), then the four opinion boxes with their seals, the approved studio name, remarks and the note.

Which fields go where is never listed here: every printed section of `form.SECTIONS` has a *shape*
(`SHAPES`), and the fields of a section come from `form.section_fields`. Captions are the zh labels of
the locale, except where the printed form words them differently (`CAPTIONS`, keyed by field key).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import date, tzinfo

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_ROW_HEIGHT_RULE, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.opc.part import XmlPart
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Length, Mm, Pt
from docx.table import Table, _Cell, _Row
from docx.text.run import Run

from bot.domain import form
from bot.domain.form import FormField, Kind
from bot.domain.render import display, member_cells
from bot.domain.workflow import Box
from bot.exports.data import Bundle
from bot.i18n import Translator

TITLE = "劳模创新工作室申报表"
SEAL_UNIT = "（盖章）"
SEAL_BOX = "（盖印）"
DATE_LABEL = "申报日期"
STUDIO_NAME = "审定的工作室名称"
REMARKS = "备  注"
NOTE = "注：本表一式三份，基层工会留存一份，区市县、产业工会一份，市总工会备案一份。请单页双面打印。"

FONT_LATIN = "Times New Roman"
FONT_BODY = "宋体"  # SimSun
FONT_TITLE = "黑体"  # SimHei
BODY_PT = 10.5  # 五号
TITLE_PT = 18  # 小二

# The printed form's own captions where they differ from the locale's labels (keyed by field key).
CAPTIONS: dict[str, str] = {
    "leader_name": "姓名",
    "leader_gender": "性别",
    "leader_birth": "出生年月",
    "leader_education": "学历",
    "leader_title": "职称/技术等级",
    "leader_employer": "所在单位",
    "members": "工作室参与人员情况：",
}
# Captions of a whole section, printed above its rows.
SECTION_CAPTIONS: dict[str, str] = {"leader": "工作室负责人情况："}

# How each printed section is laid out. Sections not listed are materials, not part of the sheet
# (they go into the archive ZIP); `union` is printed as the signer of the district/industry box.
SHAPES: dict[str, str] = {
    "unit": "heading",
    "leader": "columns",
    "achievements": "block",
    "site": "pairs",
    "equipment": "block",
    "members": "members",
    "plan": "block",
}
SIGNER_OF_DISTRICT_BOX = "union"
# `opinions` are printed in their boxes from the recorded opinions (R-F8).
NOT_PRINTED = frozenset({"eligibility", "photos", "documents", "opinions"})

# The ruled grid: seven columns, as the two seven-column tables of the source (17 cm on A4).
GRID: tuple[Length, ...] = (Cm(2.3), Cm(1.3), Cm(2.0), Cm(2.1), Cm(2.6), Cm(3.0), Cm(3.7))
BOX_GRID: tuple[Length, ...] = (Cm(2.3), Cm(6.2), Cm(2.3), Cm(6.2))
ROW_HEIGHT = {Kind.LONGTEXT: Cm(4.5), Kind.LINES: Cm(2.5)}
BOX_HEIGHT = Cm(4.2)


def caption(f: FormField, t: Translator) -> str:
    return CAPTIONS.get(f.key) or t.plain(f.label_key)


def zh_date(d: date | None) -> str:
    return f"{d.year}年{d.month}月{d.day}日" if d else "　　年　　月　　日"


# --------------------------------------------------------------------------- low-level helpers


def _fonts(run: Run, east_asia: str = FONT_BODY, size: float | None = None, bold: bool | None = None) -> None:
    run.font.name = FONT_LATIN
    rfonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    rfonts.set(qn("w:eastAsia"), east_asia)
    if size is not None:
        run.font.size = Pt(size)
    if bold is not None:
        run.font.bold = bold


def _style_defaults(doc: Document) -> None:  # type: ignore[valid-type]
    normal = doc.styles["Normal"]  # type: ignore[attr-defined]
    normal.font.name = FONT_LATIN
    normal.font.size = Pt(BODY_PT)
    rpr = normal.element.get_or_add_rPr()
    rfonts = rpr.get_or_add_rFonts()
    rfonts.set(qn("w:eastAsia"), FONT_BODY)
    lang = OxmlElement("w:lang")
    lang.set(qn("w:val"), "en-US")
    lang.set(qn("w:eastAsia"), "zh-CN")
    rpr.append(lang)
    pf = normal.paragraph_format
    pf.space_before = Pt(0)
    pf.space_after = Pt(0)


def _page(doc: Document) -> None:  # type: ignore[valid-type]
    sec = doc.sections[0]  # type: ignore[attr-defined]
    sec.orientation = WD_ORIENT.PORTRAIT
    sec.page_width, sec.page_height = Mm(210), Mm(297)
    sec.left_margin = sec.right_margin = Mm(20)
    sec.top_margin, sec.bottom_margin = Mm(22), Mm(20)


def _write(cell: _Cell, text: str, *, align: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.CENTER,
           bold: bool = False) -> None:
    """Replace the cell's content with `text`, one paragraph per line."""
    lines = text.split("\n") if text else [""]
    paragraphs = cell.paragraphs
    for extra in paragraphs[1:]:
        extra._element.getparent().remove(extra._element)
    first = paragraphs[0]
    for r in list(first.runs):
        r._element.getparent().remove(r._element)
    for i, line in enumerate(lines):
        p = first if i == 0 else cell.add_paragraph()
        p.alignment = align
        if line:
            _fonts(p.add_run(line), bold=bold)
    cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER


def _append(cell: _Cell, text: str, align: WD_ALIGN_PARAGRAPH) -> None:
    p = cell.add_paragraph()
    p.alignment = align
    _fonts(p.add_run(text))


def _table(doc: Document, widths: Sequence[Length]) -> Table:  # type: ignore[valid-type]
    table = doc.add_table(rows=0, cols=len(widths))  # type: ignore[attr-defined]
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    # what `table.columns[i].width = w` does, without the cached `_Columns` (a cycle with the table)
    for grid_col, w in zip(table._tbl.tblGrid.gridCol_lst, widths, strict=True):
        grid_col.w = w
    return table


def _row(table: Table, widths: Sequence[Length], spans: Sequence[tuple[int, int]],
         height: Length | None = None) -> list[_Cell]:
    """A new row whose cells cover the column ranges `spans` (inclusive), merged as needed."""
    row: _Row = table.add_row()
    # the cells of the new row, one per grid column; not `row.cells`, whose recursive closure is a
    # reference cycle holding the row — and with it the whole XML tree — until the next full GC
    cells = [_Cell(tc, table) for tc in row._tr.tc_lst]
    for c, w in zip(cells, widths, strict=True):
        c.width = w
    if height is not None:
        row.height = height
        row.height_rule = WD_ROW_HEIGHT_RULE.AT_LEAST
    out = []
    for a, b in spans:
        cell = cells[a] if a == b else cells[a].merge(cells[b])
        out.append(cell)
    return out


def _release(doc: Document) -> None:  # type: ignore[valid-type]
    """Free the document's XML trees now. python-docx keeps its parts in reference cycles (the package's
    relationships, and the recursive generator of `iter_parts`, which `save` calls), so the trees —
    ~5 MB of native libxml2 memory per form, invisible to the garbage collector's thresholds — lived
    until the next full collection: forms built under load added up to tens of MB of RSS. Emptying each
    part's root element frees the nodes at once (nothing else refers to them); the body first, which
    the document object keeps (`Document._body`, another cycle)."""
    doc.element.body.clear()  # type: ignore[attr-defined]
    for part in doc.part.package.iter_parts():  # type: ignore[attr-defined]
        if isinstance(part, XmlPart):
            part.element.clear()


def spans(n: int, cols: int) -> list[tuple[int, int]]:
    """Split `cols` grid columns into `n` cells; the last cells take the spare columns."""
    if not 1 <= n <= cols:
        raise ValueError(f"{n} cells do not fit {cols} columns")
    out, start = [], 0
    spare = cols - n
    for i in range(n):
        width = 1 + (1 if i >= n - spare else 0)
        out.append((start, start + width - 1))
        start += width
    return out


# --------------------------------------------------------------------------- the sheet


class FormWriter:
    """Builds one application's form; `t` is the zh translator (the printed form is Chinese)."""

    def __init__(self, bundle: Bundle, t: Translator, tz: tzinfo) -> None:
        self.b = bundle
        self.t = t
        self.tz = tz
        self.answers = bundle.app.answers or {}
        self.unions = bundle.union_names("zh")
        self.doc = Document()
        self.grid: Table | None = None

    def value(self, f: FormField) -> str:
        return display(f, self.answers.get(f.key), self.t, unions=self.unions)

    def build(self) -> bytes:
        doc = self.doc
        _style_defaults(doc)
        _page(doc)
        props = doc.core_properties
        props.title = TITLE
        props.subject = self.b.app.number or ""
        props.author = "市总工会经济技术和劳动保护部"
        title = doc.paragraphs[0] if doc.paragraphs else doc.add_paragraph()
        title.alignment = WD_ALIGN_PARAGRAPH.CENTER
        title.paragraph_format.space_after = Pt(12)
        _fonts(title.add_run(TITLE), FONT_TITLE, TITLE_PT, True)
        shapes: dict[str, Callable[[str, tuple[FormField, ...]], None]] = {
            "heading": self._heading, "columns": self._columns, "block": self._block,
            "pairs": self._pairs, "members": self._members,
        }
        for section in form.SECTIONS:
            shape = SHAPES.get(section)
            if shape is None:
                if section != SIGNER_OF_DISTRICT_BOX and section not in NOT_PRINTED:
                    raise ValueError(f"section {section!r} has no place on the printed form")
                continue
            shapes[shape](section, form.section_fields(section))
        self._boxes()
        note = doc.add_paragraph()
        note.paragraph_format.space_before = Pt(6)
        _fonts(note.add_run(NOTE), size=9)
        buf = io.BytesIO()
        doc.save(buf)
        _release(doc)
        return buf.getvalue()

    # --- shapes of the printed sections

    def _grid(self) -> Table:
        if self.grid is None:
            self.grid = _table(self.doc, GRID)
        return self.grid

    def _heading(self, section: str, fields: tuple[FormField, ...]) -> None:
        p = self.doc.add_paragraph()
        p.paragraph_format.space_after = Pt(6)
        parts = [f"{caption(f, self.t)}：{self.value(f) or '　' * 8}" for f in fields]
        _fonts(p.add_run("　".join(parts) + SEAL_UNIT + "　　"))
        _fonts(p.add_run(f"{DATE_LABEL}：{zh_date(self.b.app.application_date)}"))

    def _caption_row(self, text: str) -> None:
        (cell,) = _row(self._grid(), GRID, [(0, len(GRID) - 1)], Cm(0.8))
        _write(cell, text, align=WD_ALIGN_PARAGRAPH.LEFT, bold=True)

    def _columns(self, section: str, fields: tuple[FormField, ...]) -> None:
        if section in SECTION_CAPTIONS:
            self._caption_row(SECTION_CAPTIONS[section])
        layout = spans(len(fields), len(GRID))
        for cell, f in zip(_row(self._grid(), GRID, layout, Cm(0.8)), fields, strict=True):
            _write(cell, caption(f, self.t), bold=True)
        for cell, f in zip(_row(self._grid(), GRID, layout, Cm(1.0)), fields, strict=True):
            _write(cell, self.value(f))

    def _block(self, section: str, fields: tuple[FormField, ...]) -> None:
        for f in fields:
            label, body = _row(self._grid(), GRID, [(0, 0), (1, len(GRID) - 1)], ROW_HEIGHT.get(f.kind, Cm(1.0)))
            _write(label, caption(f, self.t), bold=True)
            _write(body, self.value(f), align=WD_ALIGN_PARAGRAPH.LEFT)

    def _pairs(self, section: str, fields: tuple[FormField, ...]) -> None:
        cells = _row(self._grid(), GRID, spans(2 * len(fields), len(GRID)), Cm(1.0))
        for i, f in enumerate(fields):
            _write(cells[2 * i], caption(f, self.t), bold=True)
            _write(cells[2 * i + 1], self.value(f))

    def _members(self, section: str, fields: tuple[FormField, ...]) -> None:
        for f in fields:
            self._caption_row(caption(f, self.t))
            layout = spans(len(form.MEMBER_FIELDS), len(GRID))
            for cell, mf in zip(_row(self._grid(), GRID, layout, Cm(0.8)), form.MEMBER_FIELDS, strict=True):
                _write(cell, caption(mf, self.t), bold=True)
            rows = list(self.answers.get(f.key) or [])
            for i in range(max(form.PRINTED_MEMBER_ROWS, len(rows))):
                values = member_cells(rows[i], self.t) if i < len(rows) else [""] * len(form.MEMBER_FIELDS)
                for cell, text in zip(_row(self._grid(), GRID, layout, Cm(0.8)), values, strict=True):
                    _write(cell, text)

    # --- the opinion boxes (R-F8), the approved name and remarks

    def _boxes(self) -> None:
        table = _table(self.doc, BOX_GRID)
        boxes = list(Box)
        for i in range(0, len(boxes), 2):
            pair = boxes[i : i + 2]
            cells = _row(table, BOX_GRID, spans(2 * len(pair), len(BOX_GRID)), BOX_HEIGHT)
            for j, box in enumerate(pair):
                _write(cells[2 * j], self.t.plain(f"box.{box.value}"), bold=True)
                self._box(cells[2 * j + 1], box)
        for label, text in ((STUDIO_NAME, self.b.app.studio_name or ""), (REMARKS, self.b.app.remarks or "")):
            lc, vc = _row(table, BOX_GRID, [(0, 0), (1, len(BOX_GRID) - 1)], Cm(1.2))
            _write(lc, label, bold=True)
            _write(vc, text, align=WD_ALIGN_PARAGRAPH.LEFT)

    def _box(self, cell: _Cell, box: Box) -> None:
        op = self.b.latest_opinion(box)
        _write(cell, op.text if op else "", align=WD_ALIGN_PARAGRAPH.LEFT)
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.TOP
        _append(cell, "", WD_ALIGN_PARAGRAPH.RIGHT)
        if box is Box.DISTRICT:
            f = form.section_fields(SIGNER_OF_DISTRICT_BOX)[0]
            signer = self.value(f)
            if signer:
                _append(cell, signer, WD_ALIGN_PARAGRAPH.RIGHT)
        _append(cell, SEAL_BOX, WD_ALIGN_PARAGRAPH.RIGHT)
        _append(cell, zh_date(op.decided_at.astimezone(self.tz).date() if op else None), WD_ALIGN_PARAGRAPH.RIGHT)


def build_docx(bundle: Bundle, t: Translator, tz: tzinfo) -> bytes:
    """The form of one application as DOCX bytes (pure: no database, no network)."""
    return FormWriter(bundle, t, tz).build()
