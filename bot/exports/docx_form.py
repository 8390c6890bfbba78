"""The printed application form (附件1 劳模创新工作室申报表) as a DOCX, built by walking the form declaration.

The layout follows the source: the title, the line 申报单位：…（盖章） 申报日期：…年…月…日, one ruled grid
(the leader's table, achievements, site/area/funds, equipment, the members table with at least six rows,
plan), then the four opinion boxes with their seals, the approved studio name, remarks and the note.

Which fields go where is never listed here: every printed section of `form.SECTIONS` has a *shape*
(`SHAPES`), and the fields of a section come from `form.section_fields`. Captions are the zh labels of
the locale, except where the printed form words them differently (`CAPTIONS`, keyed by field key).

`FormWriter` says what goes on the sheet to a *sink*. `Layout` notes only the layout and the texts
(cheap); `DocxSink` makes the document with python-docx, a marker in place of every text. That
document is kept as a template of its layout (the number of member rows, whether the box has a signer
…), so python-docx runs once per layout, not once per form: a form is its template with the texts
put in (~60 ms of python-docx became a few ms).
"""

from __future__ import annotations

import io
import re
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, tzinfo
from typing import Any
from xml.sax.saxutils import escape

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


# --------------------------------------------------------------------------- python-docx helpers


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


# --------------------------------------------------------------------------- sinks


@dataclass(frozen=True, slots=True)
class Text:
    """A run of text with its fonts (`east_asia` font, size in pt, bold)."""

    text: str
    east_asia: str = FONT_BODY
    size: float | None = None
    bold: bool | None = None


class Sink:
    """What the writer can put on the sheet. Cells and tables are handles of the sink."""

    def subject(self, text: str) -> None:
        raise NotImplementedError

    def paragraph(self, runs: Sequence[Text], *, align: WD_ALIGN_PARAGRAPH | None = None,
                  before: float | None = None, after: float | None = None) -> None:
        raise NotImplementedError

    def table(self, widths: Sequence[Length]) -> Any:
        raise NotImplementedError

    def row(self, table: Any, widths: Sequence[Length], spans: Sequence[tuple[int, int]],
            height: Length | None) -> list[Any]:
        raise NotImplementedError

    def write(self, cell: Any, text: str, *, align: WD_ALIGN_PARAGRAPH, bold: bool) -> None:
        """The cell's text (lines become line breaks), centred vertically."""
        raise NotImplementedError

    def append(self, cell: Any, text: str, align: WD_ALIGN_PARAGRAPH) -> None:
        """One more paragraph in the cell."""
        raise NotImplementedError

    def top(self, cell: Any) -> None:
        """The cell's content from its top."""
        raise NotImplementedError


class Layout(Sink):
    """Notes the layout (`ops`, the template's key) and the texts in order; no python-docx."""

    def __init__(self) -> None:
        self.ops: list[tuple[Any, ...]] = []
        self.texts: list[str] = []
        self._handles = 0

    def _handle(self) -> int:
        self._handles += 1
        return self._handles

    def subject(self, text: str) -> None:
        self.ops.append(("subject",))
        self.texts.append(text)

    def paragraph(self, runs: Sequence[Text], *, align: WD_ALIGN_PARAGRAPH | None = None,
                  before: float | None = None, after: float | None = None) -> None:
        self.ops.append(("p", tuple((r.east_asia, r.size, r.bold) for r in runs), align, before, after))
        self.texts.extend(r.text for r in runs)

    def table(self, widths: Sequence[Length]) -> Any:
        self.ops.append(("table", tuple(widths)))
        return self._handle()

    def row(self, table: Any, widths: Sequence[Length], spans: Sequence[tuple[int, int]],
            height: Length | None) -> list[Any]:
        self.ops.append(("row", table, tuple(widths), tuple(spans), height))
        return [self._handle() for _ in spans]

    def write(self, cell: Any, text: str, *, align: WD_ALIGN_PARAGRAPH, bold: bool) -> None:
        self.ops.append(("write", cell, align, bold))
        self.texts.append(text)

    def append(self, cell: Any, text: str, align: WD_ALIGN_PARAGRAPH) -> None:
        self.ops.append(("append", cell, align))
        self.texts.append(text)

    def top(self, cell: Any) -> None:
        self.ops.append(("top", cell))


def marker(i: int) -> str:
    return f"\ue000{i}\ue001"  # private-use characters: never in the form's own texts


class DocxSink(Sink):
    """The document itself, with python-docx; every text is written as its marker (in order)."""

    def __init__(self) -> None:
        self.doc = Document()
        self._n = 0
        _style_defaults(self.doc)
        _page(self.doc)
        props = self.doc.core_properties
        props.title = TITLE
        props.author = "市总工会经济技术和劳动保护部"

    def _mark(self) -> str:
        self._n += 1
        return marker(self._n - 1)

    def subject(self, text: str) -> None:
        self.doc.core_properties.subject = self._mark()

    def paragraph(self, runs: Sequence[Text], *, align: WD_ALIGN_PARAGRAPH | None = None,
                  before: float | None = None, after: float | None = None) -> None:
        p = self.doc.add_paragraph()
        if align is not None:
            p.alignment = align
        if before is not None:
            p.paragraph_format.space_before = Pt(before)
        if after is not None:
            p.paragraph_format.space_after = Pt(after)
        for r in runs:
            _fonts(p.add_run(self._mark()), r.east_asia, r.size, r.bold)

    def table(self, widths: Sequence[Length]) -> Any:
        return _table(self.doc, widths)

    def row(self, table: Any, widths: Sequence[Length], spans: Sequence[tuple[int, int]],
            height: Length | None) -> list[Any]:
        return _row(table, widths, spans, height)

    def write(self, cell: Any, text: str, *, align: WD_ALIGN_PARAGRAPH, bold: bool) -> None:
        paragraphs = cell.paragraphs  # a merged cell may hold the paragraphs of each merged one
        for extra in paragraphs[1:]:
            extra._element.getparent().remove(extra._element)
        first = paragraphs[0]
        for r in list(first.runs):
            r._element.getparent().remove(r._element)
        first.alignment = align
        _fonts(first.add_run(self._mark()), bold=bold)
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER

    def append(self, cell: Any, text: str, align: WD_ALIGN_PARAGRAPH) -> None:
        p = cell.add_paragraph()
        p.alignment = align
        _fonts(p.add_run(self._mark()))

    def top(self, cell: Any) -> None:
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.TOP

    def save(self) -> bytes:
        buf = io.BytesIO()
        self.doc.save(buf)
        _release(self.doc)
        return buf.getvalue()


# --------------------------------------------------------------------------- templates

_MARKER = re.compile("\ue000(\\d+)\ue001")
_PLAIN_RUN = re.compile("<w:t>(\ue000\\d+\ue001)</w:t>")
# characters XML 1.0 cannot carry (python-docx would refuse them)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TEXT_PARTS = ("word/document.xml", "docProps/core.xml")
BREAK = '</w:t><w:br/><w:t xml:space="preserve">'


def _xml_text(text: str, lines: bool) -> str:
    text = escape(_NOT_XML.sub("", text))
    if lines:  # as python-docx writes a "\n" of a run: a line break
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", BREAK)
    return text


class Template:
    """A form made with markers: its fixed parts zipped once, the two parts with texts split at them."""

    def __init__(self, blob: bytes) -> None:
        fixed = io.BytesIO()
        self.parts: dict[str, list[str]] = {}
        with zipfile.ZipFile(io.BytesIO(blob)) as src, zipfile.ZipFile(fixed, "w", zipfile.ZIP_DEFLATED) as out:
            for info in src.infolist():
                data = src.read(info.filename)
                if info.filename in _TEXT_PARTS:
                    xml = data.decode("utf-8")
                    # spaces at either end of a value are kept, as python-docx keeps them
                    xml = _PLAIN_RUN.sub('<w:t xml:space="preserve">\\1</w:t>', xml)
                    self.parts[info.filename] = _MARKER.split(xml)
                else:
                    out.writestr(info, data)
        self.fixed = fixed.getvalue()

    def fill(self, texts: Sequence[str]) -> bytes:
        buf = io.BytesIO(self.fixed)
        buf.seek(0, io.SEEK_END)
        with zipfile.ZipFile(buf, "a", zipfile.ZIP_DEFLATED) as out:
            for name, pieces in self.parts.items():
                lines = name == "word/document.xml"
                xml = "".join(p if i % 2 == 0 else _xml_text(texts[int(p)], lines) for i, p in enumerate(pieces))
                out.writestr(name, xml.encode("utf-8"))
        return buf.getvalue()


_templates: OrderedDict[tuple[Any, ...], Template] = OrderedDict()
_templates_lock = threading.Lock()
TEMPLATES_KEPT = 16


def template(key: tuple[Any, ...], make: Callable[[], bytes]) -> Template:
    """The template of a layout, made on first use; the most recently used few are kept."""
    with _templates_lock:
        found = _templates.get(key)
        if found is not None:
            _templates.move_to_end(key)
            return found
    made = Template(make())
    with _templates_lock:
        _templates[key] = made
        while len(_templates) > TEMPLATES_KEPT:
            _templates.popitem(last=False)
    return made


# --------------------------------------------------------------------------- the sheet


class FormWriter:
    """Says what one application's form holds to a sink; `t` is the zh translator (the printed form is
    Chinese)."""

    def __init__(self, bundle: Bundle, t: Translator, tz: tzinfo, sink: Sink) -> None:
        self.b = bundle
        self.t = t
        self.tz = tz
        self.out = sink
        self.answers = bundle.app.answers or {}
        self.unions = bundle.union_names("zh")
        self.grid: Any = None

    def value(self, f: FormField) -> str:
        return display(f, self.answers.get(f.key), self.t, unions=self.unions)

    def write(self) -> None:
        out = self.out
        out.subject(self.b.app.number or "")
        out.paragraph([Text(TITLE, FONT_TITLE, TITLE_PT, True)], align=WD_ALIGN_PARAGRAPH.CENTER, after=12)
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
        out.paragraph([Text(NOTE, size=9)], before=6)

    # --- shapes of the printed sections

    def _grid(self) -> Any:
        if self.grid is None:
            self.grid = self.out.table(GRID)
        return self.grid

    def _cells(self, widths: Sequence[Length], layout: Sequence[tuple[int, int]], height: Length) -> list[Any]:
        return self.out.row(self._grid(), widths, layout, height)

    def _heading(self, section: str, fields: tuple[FormField, ...]) -> None:
        parts = [f"{caption(f, self.t)}：{self.value(f) or '　' * 8}" for f in fields]
        self.out.paragraph([Text("　".join(parts) + SEAL_UNIT + "　　"),
                            Text(f"{DATE_LABEL}：{zh_date(self.b.app.application_date)}")], after=6)

    def _caption_row(self, text: str) -> None:
        (cell,) = self._cells(GRID, [(0, len(GRID) - 1)], Cm(0.8))
        self.out.write(cell, text, align=WD_ALIGN_PARAGRAPH.LEFT, bold=True)

    def _columns(self, section: str, fields: tuple[FormField, ...]) -> None:
        if section in SECTION_CAPTIONS:
            self._caption_row(SECTION_CAPTIONS[section])
        layout = spans(len(fields), len(GRID))
        for cell, f in zip(self._cells(GRID, layout, Cm(0.8)), fields, strict=True):
            self.out.write(cell, caption(f, self.t), align=WD_ALIGN_PARAGRAPH.CENTER, bold=True)
        for cell, f in zip(self._cells(GRID, layout, Cm(1.0)), fields, strict=True):
            self.out.write(cell, self.value(f), align=WD_ALIGN_PARAGRAPH.CENTER, bold=False)

    def _block(self, section: str, fields: tuple[FormField, ...]) -> None:
        for f in fields:
            label, body = self._cells(GRID, [(0, 0), (1, len(GRID) - 1)], ROW_HEIGHT.get(f.kind, Cm(1.0)))
            self.out.write(label, caption(f, self.t), align=WD_ALIGN_PARAGRAPH.CENTER, bold=True)
            self.out.write(body, self.value(f), align=WD_ALIGN_PARAGRAPH.LEFT, bold=False)

    def _pairs(self, section: str, fields: tuple[FormField, ...]) -> None:
        cells = self._cells(GRID, spans(2 * len(fields), len(GRID)), Cm(1.0))
        for i, f in enumerate(fields):
            self.out.write(cells[2 * i], caption(f, self.t), align=WD_ALIGN_PARAGRAPH.CENTER, bold=True)
            self.out.write(cells[2 * i + 1], self.value(f), align=WD_ALIGN_PARAGRAPH.CENTER, bold=False)

    def _members(self, section: str, fields: tuple[FormField, ...]) -> None:
        for f in fields:
            self._caption_row(caption(f, self.t))
            layout = spans(len(form.MEMBER_FIELDS), len(GRID))
            for cell, mf in zip(self._cells(GRID, layout, Cm(0.8)), form.MEMBER_FIELDS, strict=True):
                self.out.write(cell, caption(mf, self.t), align=WD_ALIGN_PARAGRAPH.CENTER, bold=True)
            rows = list(self.answers.get(f.key) or [])
            for i in range(max(form.PRINTED_MEMBER_ROWS, len(rows))):
                values = member_cells(rows[i], self.t) if i < len(rows) else [""] * len(form.MEMBER_FIELDS)
                for cell, text in zip(self._cells(GRID, layout, Cm(0.8)), values, strict=True):
                    self.out.write(cell, text, align=WD_ALIGN_PARAGRAPH.CENTER, bold=False)

    # --- the opinion boxes (R-F8), the approved name and remarks

    def _boxes(self) -> None:
        table = self.out.table(BOX_GRID)
        boxes = list(Box)
        for i in range(0, len(boxes), 2):
            pair = boxes[i : i + 2]
            cells = self.out.row(table, BOX_GRID, spans(2 * len(pair), len(BOX_GRID)), BOX_HEIGHT)
            for j, box in enumerate(pair):
                self.out.write(cells[2 * j], self.t.plain(f"box.{box.value}"), align=WD_ALIGN_PARAGRAPH.CENTER,
                               bold=True)
                self._box(cells[2 * j + 1], box)
        for label, text in ((STUDIO_NAME, self.b.app.studio_name or ""), (REMARKS, self.b.app.remarks or "")):
            lc, vc = self.out.row(table, BOX_GRID, [(0, 0), (1, len(BOX_GRID) - 1)], Cm(1.2))
            self.out.write(lc, label, align=WD_ALIGN_PARAGRAPH.CENTER, bold=True)
            self.out.write(vc, text, align=WD_ALIGN_PARAGRAPH.LEFT, bold=False)

    def _box(self, cell: Any, box: Box) -> None:
        op = self.b.latest_opinion(box)
        self.out.write(cell, op.text if op else "", align=WD_ALIGN_PARAGRAPH.LEFT, bold=False)
        self.out.top(cell)
        self.out.append(cell, "", WD_ALIGN_PARAGRAPH.RIGHT)
        if box is Box.DISTRICT:
            f = form.section_fields(SIGNER_OF_DISTRICT_BOX)[0]
            signer = self.value(f)
            if signer:
                self.out.append(cell, signer, WD_ALIGN_PARAGRAPH.RIGHT)
        self.out.append(cell, SEAL_BOX, WD_ALIGN_PARAGRAPH.RIGHT)
        self.out.append(cell, zh_date(op.decided_at.astimezone(self.tz).date() if op else None),
                        WD_ALIGN_PARAGRAPH.RIGHT)


def build_docx(bundle: Bundle, t: Translator, tz: tzinfo) -> bytes:
    """The form of one application as DOCX bytes (pure: no database, no network)."""
    layout = Layout()
    FormWriter(bundle, t, tz, layout).write()

    def make() -> bytes:
        sink = DocxSink()
        FormWriter(bundle, t, tz, sink).write()
        return sink.save()

    return template(tuple(layout.ops), make).fill(layout.texts)
