"""The printed application form (附件1 劳模创新工作室申报表) as a DOCX, built by walking the form declaration.

The form proper is one A4 sheet printed on both sides (R-F9): page 1 holds the title, the line
申报单位：…（盖章） 申报日期：…, the leader's table, the achievements, the site and the equipment; page 2
the members (six printed rows), the plan, the four opinion boxes with their seals, the approved name,
the remarks and the note. Every row has a fixed height and never splits across pages; text that does
not fit its box is cut where the box ends, with "（续见附页 N）", and continues on numbered continuation
sheets (附页) behind the form; members beyond the six printed rows (or whose cells do not fit) are listed
in full on a 附页. Every page carries the application number (header) and "第 X 页 共 Y 页" (footer).

Which fields go where is never listed here: every printed section of `form.SECTIONS` has a *shape*
(`SHAPES`) and a page (`PAGE_OF`); the fields of a section come from the declaration, with their widths
and box heights (`FormField.print_width`, `print_lines`). A long-text box without a height takes what is
left of its page. Captions are declared with the fields (`FormField.caption`); a caption too wide for
its column is broken at a word boundary (after 、 or /, else where the line is full), never left to the
renderer.

How much text fits a box is measured here (`wrap`, with the widths of the fonts: CJK full width, Latin
narrower, conservative), so the cut never depends on the renderer.

The sheet is a list of blocks (paragraphs and tables) turned into WordprocessingML with a marker in
place of every text. That XML (without the texts) is the layout's key: python-docx makes the document
skeleton once per layout, and a form is its template with the texts put in (~60 ms became a few ms).
"""

from __future__ import annotations

import io
import re
import threading
import unicodedata
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, tzinfo
from functools import cache
from typing import Any
from xml.sax.saxutils import escape

from bot.domain import calendar, form, workflow
from bot.domain.form import FormField
from bot.domain.kinds import Ask
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
NUMBER_LABEL = "申报编号："
NO_NUMBER = "（草稿）"
SHEET = "附页"
CONTINUED = "（续）"
SERIAL = "序号"
# R-W2 in the 市总工会审核意见 box (R-F8): the department's review combines assessment and on-site
# inspection (评审和实地考察相结合) into a preliminary opinion (初步考核意见), which the presidents' meeting
# or standing committee decides on. The box holds the meeting's decision and the preliminary opinion; the
# findings of the inspection are printed on a continuation sheet of their own, referred to from the box;
# 备注 stays the federation's own note.
FINDINGS = "实地考察"
FINDINGS_SHEET = "实地考察情况"
FINDINGS_REF = "实地考察情况见附页{n}。"
PRELIMINARY = "初步考核意见"

FONT_LATIN = "Times New Roman"
FONT_BODY = "宋体"  # SimSun
FONT_TITLE = "黑体"  # SimHei
# How the font table names the Chinese faces: an office suite without SimSun or SimHei substitutes a face
# of the same family (serif for 宋体, sans for 黑体) only when the table says which it is.
FONT_TABLE: dict[str, tuple[str, str, str]] = {  # name: (alternative name, panose, family)
    FONT_BODY: ("SimSun", "02010600030101010101", "roman"),
    FONT_TITLE: ("SimHei", "02010609060101010101", "swiss"),
}
BODY_PT = 10.5  # 五号
TITLE_PT = 18  # 小二
SHEET_PT = 12  # 小四: the heading of a continuation sheet
SMALL_PT = 9  # 小五: the header, the footer and the note

# The printed form's own captions where they differ from the locale's labels (keyed by field key).
# Captions of a whole section, printed above its rows.
SECTION_CAPTIONS: dict[str, str] = {"leader": "工作室负责人情况："}

# How each printed section is laid out, and on which page of the sheet. Sections not listed are
# materials, not part of the sheet (they go into the archive ZIP); `union` is printed as the signer of
# the district/industry box; the opinion boxes close page 2.
SHAPES: dict[str, str] = {
    "unit": "heading",
    "leader": "columns",
    "achievements": "block",
    "site": "pairs",
    "equipment": "block",
    "members": "members",
    "plan": "block",
}
PAGE_OF: dict[str, int] = {"unit": 1, "leader": 1, "achievements": 1, "site": 1, "equipment": 1,
                           "members": 2, "plan": 2}
SIGNER_OF_DISTRICT_BOX = "union"
# `opinions` are printed in their boxes from the recorded opinions (R-F8).
NOT_PRINTED = frozenset({"eligibility", "photos", "documents", "opinions"})

# --------------------------------------------------------------------------- geometry (twips: 1/20 pt)

CM = 567  # twips per cm
PAGE_W, PAGE_H = 11906, 16838  # A4
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 1134, 1134, 1021
HEADER_AT, FOOTER_AT = 567, 567
BODY_W = PAGE_W - 2 * MARGIN_X  # 17 cm
BODY_H = PAGE_H - MARGIN_TOP - MARGIN_BOTTOM
SLACK = 400  # kept free at the foot of each page of the form proper
LINE = 280  # exact line pitch of the body text (14 pt for 10.5 pt type)
PAD = 60  # a fixed row's height above its lines
ROW_RULE = 15  # what a row's rule adds to the table's height
CELL_MARGIN = 85  # left and right inside every cell (0.15 cm)
EM = round(BODY_PT * 20)  # one full-width character of body text
SAFETY = 0.94  # of a line's measured width that text may fill (fonts differ a little)
LABEL_W = round(2.7 * CM)  # the caption column of the grid
DEFAULT_WIDTH = 2.4  # cm: a field without `print_width` among fields side by side
SHORT_TEXT = 40  # a typed one-line field longer than this gets a row of its own in a "pairs" section
LEADER_LINES, MEMBER_LINES, BOX_LINES, NAME_LINES = 3, 2, 8, 1
NARROW = 2.5 * CM  # columns narrower than this keep their width when a row is short of room
SERIAL_W = round(1.2 * CM)  # 序号 on a members continuation sheet
MIN_FILL = 3  # lines a long-text box keeps when its page is already full
TITLE_LINE, TITLE_AFTER = 640, 160
SMALL_LINE = 260
SHEET_LINE = 360


def cm(x: float) -> int:
    return round(x * CM)


def rows_height(lines: int) -> int:
    return lines * LINE + PAD


# --------------------------------------------------------------------------- measuring text

_NO_START = frozenset("，。、；：？！）》」』】〕〗〉”’%‰·…—,.;:?!)]}")  # never at the start of a line
_NO_END = frozenset("（《「『【〔〖〈“‘([{")  # never at the end of a line
_TOKEN = re.compile(r"[!-~]+|\s|.", re.S)  # a Latin word (no break inside) or one character


@cache
def char_em(ch: str) -> float:
    """A character's advance in em at the body size; rounded up for the widest faces."""
    if unicodedata.east_asian_width(ch) in "WFA":
        return 1.0
    if ch.isascii():
        if ch in "MW@%":
            return 1.0
        if ch.isupper() or ch in "mw&":
            return 0.8
        if ch == " ":
            return 0.3
        return 0.56
    return 0.8


@cache
def em_width(text: str) -> float:
    return sum(map(char_em, text))


def cell_em(width: int, pt: float = BODY_PT) -> float:
    """How many em of text a line of a cell `width` twips wide holds (with the safety margin)."""
    return (width - 2 * CELL_MARGIN) / (pt * 20) * SAFETY


def wrap(text: str, width: float, limit: int | None = None) -> list[tuple[int, int]]:
    """The lines of `text` in a column `width` em wide, as (start, end) offsets, breaking as a typesetter
    would: anywhere between CJK characters, between Latin words (a word wider than the line is broken),
    never before closing punctuation, and at every newline. Stops after `limit` lines."""
    out: list[tuple[int, int]] = []
    start = 0
    for para in text.split("\n"):
        end = start + len(para)
        line_start, used = start, 0.0
        prev = -1  # start of the previous token on the line
        for m in _TOKEN.finditer(para):
            a, b = start + m.start(), start + m.end()
            tok = m.group()
            w = em_width(tok)
            if tok.isspace():
                used += w
                prev = a
                continue
            if used + w <= width or a == line_start:
                if used + w > width:  # a word wider than the line: broken where the line is full
                    cut = a
                    acc = used
                    while cut < b and acc + char_em(text[cut]) <= width:
                        acc += char_em(text[cut])
                        cut += 1
                    cut = max(cut, a + 1)
                    out.append((line_start, cut))
                    if limit is not None and len(out) >= limit:
                        return out
                    line_start, used, prev = cut, em_width(text[cut:b]), cut
                    continue
                used += w
                prev = a
                continue
            brk = a
            if tok[0] in _NO_START and prev > line_start:  # the punctuation takes the previous character along
                brk = prev
            if brk - 1 > line_start and text[brk - 1] in _NO_END:  # an opening bracket goes with what it opens
                brk -= 1
            out.append((line_start, brk))
            if limit is not None and len(out) >= limit:
                return out
            line_start, used, prev = brk, em_width(text[brk:b]), a
        out.append((line_start, end))
        if limit is not None and len(out) >= limit:
            return out
        start = end + 1
    return out


def line_count(text: str, width: float) -> int:
    return len(wrap(text, width))


def fits(text: str, width: float, lines: int) -> bool:
    return len(wrap(text, width, lines + 1)) <= lines


def cut(text: str, width: float, lines: int, ref: str) -> tuple[str, str]:
    """Split `text` into what fills `lines` lines ending with `ref` (which may wrap too), and the rest."""
    lo, hi = 0, len(text)
    spans = wrap(text, width, lines)
    hi = min(hi, spans[-1][1])  # never more than the box would hold without the reference
    while lo < hi:  # the longest prefix that still fits with the reference after it
        mid = (lo + hi + 1) // 2
        if fits(text[:mid].rstrip() + ref, width, lines):
            lo = mid
        else:
            hi = mid - 1
    pos = lo
    if 0 < pos < len(text) and text[pos].isascii() and not text[pos].isspace():  # not inside a Latin word
        back = pos
        while back > 0 and text[back - 1].isascii() and not text[back - 1].isspace():
            back -= 1
        if back > 0 and pos - back < 12:
            pos = back
    pos = _break_at_mark(text, pos)
    while 0 < pos < len(text) and text[pos] in _NO_START:  # closing punctuation stays with its text
        pos -= 1
    while pos > 0 and text[pos - 1] in _NO_END:  # an opening bracket goes with what it opens
        pos -= 1
    return text[:pos].rstrip(), text[pos:].strip("\n ")


_SENTENCE_END = frozenset("。！？；!?;\n")
_MARK = _SENTENCE_END | frozenset("，、：,:）)”’》」』】")
SENTENCE_REACH = 0.5  # a sentence end this far back (of the box's text) is where the box is cut
MARK_REACH = 0.25  # else any punctuation mark this far back


def _break_at_mark(text: str, pos: int) -> int:
    """Where a box's text is cut, at or before `pos`: after the last sentence end when one is not too far
    back, else after the last punctuation mark, never inside a word (a run of characters without one);
    `pos` itself only when the text before it holds no mark at all."""
    if pos >= len(text) or pos <= 0 or text[pos - 1] in _MARK:
        return pos
    for marks, reach in ((_SENTENCE_END, SENTENCE_REACH), (_MARK, MARK_REACH)):
        floor = int(pos * (1 - reach))
        for i in range(pos - 1, max(floor, 0) - 1, -1):
            if text[i] in marks:
                return i + 1
    back = max((i for i in range(pos) if text[i] in _MARK), default=-1)
    return back + 1 if back >= 0 else pos


def caption_lines(text: str, width: float) -> str:
    """`text` broken into lines of `width` em at word boundaries: after 、 or /, else where a line is full."""
    lines: list[str] = []
    rest = text
    while rest and em_width(rest) > width:
        at = 0
        used = 0.0
        for i, ch in enumerate(rest):
            used += char_em(ch)
            if used > width:
                break
            at = i + 1
        soft = [i + 1 for i in range(at) if rest[i] in "、/，"]
        at = soft[-1] if soft else max(at, 1)
        lines.append(rest[:at])
        rest = rest[at:]
    lines.append(rest)
    return "\n".join(lines)


# --------------------------------------------------------------------------- the sheet as blocks


@dataclass(frozen=True, slots=True)
class Run:
    text: str
    font: str = FONT_BODY
    size: float = BODY_PT
    bold: bool = False


@dataclass(frozen=True, slots=True)
class Para:
    runs: tuple[Run, ...]
    align: str = "left"  # left | center | right | both
    line: int = LINE  # exact line pitch
    before: int = 0
    after: int = 0
    page_break: bool = False
    keep_next: bool = False


@dataclass(frozen=True, slots=True)
class Cell:
    width: int
    paras: tuple[Para, ...]
    valign: str = "center"


@dataclass(frozen=True, slots=True)
class Row:
    cells: tuple[Cell, ...]
    height: int
    exact: bool = True
    header: bool = False  # repeated at the top of every page the table runs over


@dataclass(slots=True)
class Table:
    rows: list[Row] = field(default_factory=list)


Block = Para | Table


def para(text: str, align: str = "left", *, bold: bool = False, font: str = FONT_BODY, size: float = BODY_PT,
         line: int = LINE, **kw: Any) -> Para:
    return Para((Run(text, font, size, bold),), align, line, **kw)


def cell(width: int, text: str, align: str = "center", *, bold: bool = False, valign: str = "center") -> Cell:
    return Cell(width, (para(text, align, bold=bold),), valign)


@dataclass(slots=True)
class Continued:
    """One continuation sheet: the rest of a box's text, or the full members table."""

    n: int
    title: str
    text: str = ""
    members: list[list[str]] | None = None
    own: bool = False  # a text of its own (the inspection's findings), not the rest of a box
    table: tuple[list[str], list[float], list[list[str]]] | None = None  # head, width shares, rows


# --------------------------------------------------------------------------- WordprocessingML


def marker(i: int) -> str:
    return f"\ue000{i}\ue001"  # private-use characters: never in the form's own texts


class Xml:
    """Turns blocks into WordprocessingML, a marker in place of every text (`texts` in order)."""

    def __init__(self, first: int = 0) -> None:
        self.texts: list[str] = []
        self.first = first

    def text(self, value: str) -> str:
        self.texts.append(value)
        return marker(self.first + len(self.texts) - 1)

    def run(self, r: Run) -> str:
        bold = "<w:b/><w:bCs/>" if r.bold else ""
        half = round(r.size * 2)
        return (f'<w:r><w:rPr><w:rFonts w:ascii="{FONT_LATIN}" w:hAnsi="{FONT_LATIN}" w:eastAsia="{r.font}"/>'
                f'{bold}<w:sz w:val="{half}"/><w:szCs w:val="{half}"/></w:rPr>'
                f'<w:t xml:space="preserve">{self.text(r.text)}</w:t></w:r>')

    def para(self, p: Para) -> str:
        keep = "<w:keepNext/>" if p.keep_next else ""
        brk = "<w:pageBreakBefore/>" if p.page_break else ""
        return (f'<w:p><w:pPr>{keep}{brk}<w:autoSpaceDE w:val="0"/><w:autoSpaceDN w:val="0"/>'
                f'<w:snapToGrid w:val="0"/><w:spacing w:before="{p.before}" w:after="{p.after}" '
                f'w:line="{p.line}" w:lineRule="exact"/><w:jc w:val="{p.align}"/></w:pPr>'
                + "".join(self.run(r) for r in p.runs) + "</w:p>")

    def table(self, t: Table) -> str:
        edges = sorted({0, *(x for row in t.rows for x in _edges(row))})
        grid = [b - a for a, b in zip(edges, edges[1:], strict=False)]
        borders = "".join(f'<w:{side} w:val="single" w:sz="4" w:space="0" w:color="000000"/>'
                          for side in ("top", "left", "bottom", "right", "insideH", "insideV"))
        out = [f'<w:tbl><w:tblPr><w:tblW w:w="{edges[-1]}" w:type="dxa"/><w:jc w:val="center"/>'
               f'<w:tblBorders>{borders}</w:tblBorders><w:tblLayout w:type="fixed"/>'
               f'<w:tblCellMar><w:top w:w="0" w:type="dxa"/><w:left w:w="{CELL_MARGIN}" w:type="dxa"/>'
               f'<w:bottom w:w="0" w:type="dxa"/><w:right w:w="{CELL_MARGIN}" w:type="dxa"/></w:tblCellMar>'
               '<w:tblLook w:val="0000"/></w:tblPr><w:tblGrid>'
               + "".join(f'<w:gridCol w:w="{w}"/>' for w in grid) + "</w:tblGrid>"]
        index = {x: i for i, x in enumerate(edges)}
        for row in t.rows:
            rule = "exact" if row.exact else "atLeast"
            head = "<w:tblHeader/>" if row.header else ""
            out.append(f'<w:tr><w:trPr><w:cantSplit/><w:trHeight w:val="{row.height}" w:hRule="{rule}"/>{head}'
                       '<w:jc w:val="center"/></w:trPr>')
            x = 0
            for c in row.cells:
                span = index[x + c.width] - index[x]
                x += c.width
                grid_span = f'<w:gridSpan w:val="{span}"/>' if span > 1 else ""
                out.append(f'<w:tc><w:tcPr><w:tcW w:w="{c.width}" w:type="dxa"/>{grid_span}'
                           f'<w:vAlign w:val="{c.valign}"/></w:tcPr>' + "".join(self.para(p) for p in c.paras)
                           + "</w:tc>")
            out.append("</w:tr>")
        out.append("</w:tbl>")
        return "".join(out)

    def blocks(self, blocks: Iterable[Block]) -> str:
        return "".join(self.para(b) if isinstance(b, Para) else self.table(b) for b in blocks)


class Literal(Xml):
    """Writes the texts as they are (for markers placed by hand)."""

    def text(self, value: str) -> str:
        return escape(value)


def _edges(row: Row) -> list[int]:
    out, x = [], 0
    for c in row.cells:
        x += c.width
        out.append(x)
    return out


W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
FIELD = ('<w:r><w:rPr><w:sz w:val="{half}"/></w:rPr><w:fldChar w:fldCharType="begin"/></w:r>'
         '<w:r><w:rPr><w:sz w:val="{half}"/></w:rPr><w:instrText xml:space="preserve"> {name} </w:instrText></w:r>'
         '<w:r><w:rPr><w:sz w:val="{half}"/></w:rPr><w:fldChar w:fldCharType="separate"/></w:r>'
         '<w:r><w:rPr><w:sz w:val="{half}"/></w:rPr><w:t>1</w:t></w:r>'
         '<w:r><w:rPr><w:sz w:val="{half}"/></w:rPr><w:fldChar w:fldCharType="end"/></w:r>')


def _skeleton(body: str, subject: str, header: str) -> bytes:
    """The document with python-docx: styles, A4 page, header and footer, `body` (XML with markers)."""
    from docx import Document
    from docx.oxml import parse_xml
    from docx.oxml.ns import qn
    from docx.shared import Pt, Twips

    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.name = FONT_LATIN
    normal.font.size = Pt(BODY_PT)
    rpr = normal.element.get_or_add_rPr()
    rpr.get_or_add_rFonts().set(qn("w:eastAsia"), FONT_BODY)
    rpr.append(parse_xml(f'<w:lang xmlns:w="{W_NS}" w:val="en-US" w:eastAsia="zh-CN"/>'))
    normal.paragraph_format.space_before = Pt(0)
    normal.paragraph_format.space_after = Pt(0)
    props = doc.core_properties
    props.title = TITLE
    props.author = "市总工会经济技术和劳动保护部"
    props.subject = subject
    sec = doc.sections[0]
    sec.page_width, sec.page_height = Twips(PAGE_W), Twips(PAGE_H)
    sec.left_margin = sec.right_margin = Twips(MARGIN_X)
    sec.top_margin, sec.bottom_margin = Twips(MARGIN_TOP), Twips(MARGIN_BOTTOM)
    sec.header_distance, sec.footer_distance = Twips(HEADER_AT), Twips(FOOTER_AT)
    head = para(header, "right", size=SMALL_PT, line=SMALL_LINE)
    hp = sec.header.paragraphs[0]._element
    hp.addprevious(parse_xml(Literal().para(head).replace("<w:p>", f'<w:p xmlns:w="{W_NS}">', 1)))
    hp.getparent().remove(hp)
    half = SMALL_PT * 2
    pieces = [f'<w:r><w:rPr><w:sz w:val="{half}"/></w:rPr><w:t xml:space="preserve">{escape(t)}</w:t></w:r>'
              for t in ("第 ", " 页 共 ", " 页")]
    footer = (f'<w:p xmlns:w="{W_NS}"><w:pPr><w:jc w:val="center"/></w:pPr>' + pieces[0]
              + FIELD.format(half=half, name="PAGE") + pieces[1] + FIELD.format(half=half, name="NUMPAGES")
              + pieces[2] + "</w:p>")
    fp = sec.footer.paragraphs[0]._element
    fp.addprevious(parse_xml(footer))
    fp.getparent().remove(fp)
    body_el = doc.element.body
    wrapper = parse_xml(f'<w:body xmlns:w="{W_NS}">{body}</w:body>')
    anchor = body_el.sectPr
    for child in list(wrapper):
        anchor.addprevious(child)
    buf = io.BytesIO()
    doc.save(buf)
    _release(doc)
    return with_font_table(buf.getvalue())


def with_font_table(blob: bytes) -> bytes:
    """The package with `word/fontTable.xml` naming the Chinese faces with their family and charset."""
    fonts = "".join(f'<w:font w:name="{name}"><w:altName w:val="{alt}"/><w:panose1 w:val="{panose}"/>'
                    f'<w:charset w:val="86"/><w:family w:val="{family}"/><w:pitch w:val="variable"/></w:font>'
                    for name, (alt, panose, family) in FONT_TABLE.items())
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(blob)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "word/fontTable.xml":
                xml = data.decode("utf-8")
                for name in FONT_TABLE:  # a face the template names already is named once, ours
                    xml = re.sub(f'<w:font w:name="{name}">.*?</w:font>', "", xml, flags=re.S)
                data = xml.replace("</w:fonts>", fonts + "</w:fonts>").encode("utf-8")
            dst.writestr(info, data)
    return out.getvalue()


def _release(doc: Any) -> None:
    """Free the document's XML trees now. python-docx keeps its parts in reference cycles (the package's
    relationships, and the recursive generator of `iter_parts`, which `save` calls), so the trees —
    ~5 MB of native libxml2 memory per form, invisible to the garbage collector's thresholds — lived
    until the next full collection: forms built under load added up to tens of MB of RSS. Emptying each
    part's root element frees the nodes at once (nothing else refers to them); the body first, which
    the document object keeps (`Document._body`, another cycle)."""
    from docx.opc.part import XmlPart

    doc.element.body.clear()
    for part in doc.part.package.iter_parts():
        if isinstance(part, XmlPart):
            part.element.clear()


# --------------------------------------------------------------------------- templates

_MARKER = re.compile("\ue000(\\d+)\ue001")
# characters XML 1.0 cannot carry (python-docx would refuse them)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
BREAK = '</w:t><w:br/><w:t xml:space="preserve">'


def _xml_text(text: str, lines: bool) -> str:
    text = escape(_NOT_XML.sub("", text))
    if lines:  # as python-docx writes a "\n" of a run: a line break
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", BREAK)
    return text


class Template:
    """A form made with markers: its fixed parts zipped once, the parts with texts split at them."""

    def __init__(self, blob: bytes) -> None:
        fixed = io.BytesIO()
        self.parts: dict[str, list[str]] = {}
        with zipfile.ZipFile(io.BytesIO(blob)) as src, zipfile.ZipFile(fixed, "w", zipfile.ZIP_DEFLATED) as out:
            for info in src.infolist():
                data = src.read(info.filename)
                if info.filename.endswith(".xml") and "\ue000".encode() in data:
                    self.parts[info.filename] = _MARKER.split(data.decode("utf-8"))
                else:
                    out.writestr(info, data)
        self.fixed = fixed.getvalue()

    def fill(self, texts: Sequence[str]) -> bytes:
        buf = io.BytesIO(self.fixed)
        buf.seek(0, io.SEEK_END)
        with zipfile.ZipFile(buf, "a", zipfile.ZIP_DEFLATED) as out:
            for name, pieces in self.parts.items():
                lines = name.startswith("word/")
                xml = "".join(p if i % 2 == 0 else _xml_text(texts[int(p)], lines) for i, p in enumerate(pieces))
                out.writestr(name, xml.encode("utf-8"))
        return buf.getvalue()


_templates: OrderedDict[str, Template] = OrderedDict()
_templates_lock = threading.Lock()
TEMPLATES_KEPT = 16


def template(key: str, make: Callable[[], bytes]) -> Template:
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


def caption(f: FormField, t: Translator) -> str:
    """The field's printed caption, as its declaration gives it (`FormField.caption`)."""
    if not f.caption:
        raise ValueError(f"{f.key} is printed but declares no caption")
    return f.caption


def zh_date(d: date | None) -> str:
    return calendar.zh_date(d) if d else "　　年　　月　　日"


def ref(n: int) -> str:
    return f"（续见{SHEET} {n}）"


def bands(fields: Sequence[FormField], total: int) -> list[list[tuple[FormField, int]]]:
    """Fields side by side in rows no wider than `total`, each row's widths stretched to `total`."""
    out: list[list[tuple[FormField, float]]] = [[]]
    used = 0.0
    for f in fields:
        w = f.print_width or DEFAULT_WIDTH
        if out[-1] and used + w > total / CM + 0.05:
            out.append([])
            used = 0.0
        out[-1].append((f, w))
        used += w
    return [_stretch(band, total) for band in out if band]


def _stretch(band: Sequence[tuple[FormField, float]], total: int) -> list[tuple[FormField, int]]:
    """The widths of `band` (cm) scaled to `total` twips, narrow columns kept as they are where the wide
    ones can give."""
    want = [w * CM for _, w in band]
    wide = [w for w in want if w >= NARROW]
    if sum(want) > total and wide and sum(wide) - (sum(want) - total) >= NARROW * len(wide):
        give = (sum(want) - total) / sum(wide)
        widths = [round(w - w * give) if w >= NARROW else round(w) for w in want]
    else:
        widths = [round(w * total / sum(want)) for w in want]
    widths[-1] += total - sum(widths)
    return [(f, w) for (f, _), w in zip(band, widths, strict=True)]


@dataclass
class _Pending:
    """A row of the form proper whose height is fixed (`lines`) or takes the rest of its page (None)."""

    lines: int | None
    make: Callable[[int], Row]


class FormWriter:
    """Lays out one application's form; `t` is the zh translator (the printed form is Chinese)."""

    def __init__(self, bundle: Bundle, t: Translator, tz: tzinfo,
                 steps: Sequence[FormField] | None = None) -> None:
        self.b = bundle
        self.t = t
        self.tz = tz
        self.steps = tuple(steps if steps is not None else form.STEPS)
        self.answers = bundle.app.answers or {}
        self.unions = bundle.union_names("zh")
        self.continued: list[Continued] = []
        self.members_sheet: Continued | None = None

    # --- the declaration

    def sections(self) -> list[str]:
        return list(dict.fromkeys(f.section for f in self.steps))

    def fields(self, section: str) -> tuple[FormField, ...]:
        return tuple(f for f in self.steps if f.section == section)

    def value(self, f: FormField) -> str:
        return display(f, self.answers.get(f.key), self.t, unions=self.unions)

    # --- fitting text into fixed boxes

    def fit(self, text: str, width: int, lines: int, title: str) -> str:
        """`text` as it goes into a box `width` twips wide and `lines` high: whole when it fits, else cut
        with "（续见附页 N）" and the rest on continuation sheet N."""
        em = cell_em(width)
        if fits(text, em, lines):
            return text
        n = len(self.continued) + 1
        shown, rest = cut(text, em, lines, ref(n))
        self.continued.append(Continued(n, title, rest))
        return shown + ref(n)

    # --- the whole sheet

    def blocks(self) -> list[Block]:
        pages: dict[int, list[Block | _Pending]] = {1: [], 2: []}
        heading: list[Para] = []
        reserved = 0  # the heading's height when every field is at its longest
        shapes: dict[str, Callable[[str, tuple[FormField, ...]], list[_Pending]]] = {
            "columns": self._columns, "block": self._block, "pairs": self._pairs, "members": self._members,
        }
        for section in self.sections():
            shape = SHAPES.get(section)
            if shape is None:
                if section != SIGNER_OF_DISTRICT_BOX and section not in NOT_PRINTED:
                    raise ValueError(f"section {section!r} has no place on the printed form")
                continue
            fields = self.fields(section)
            if shape == "heading":
                heading.append(self._heading(fields))
                worst = self._heading(fields, worst=True)
                reserved += worst.line * line_count(_text(worst), cell_em(BODY_W + 2 * CELL_MARGIN)) + worst.after
                continue
            pages[PAGE_OF.get(section, 2)].extend(shapes[shape](section, fields))
        pages[2].extend(self._boxes())
        title = para(TITLE, "center", bold=True, font=FONT_TITLE, size=TITLE_PT, line=TITLE_LINE,
                     after=TITLE_AFTER)
        note = para(NOTE, size=SMALL_PT, line=SMALL_LINE, before=100)
        out: list[Block] = [title, *heading]
        out.append(self._table(pages[1], BODY_H - SLACK - self._height([title]) - reserved))
        spacer = para("", line=20, page_break=True)
        out.append(spacer)
        out.append(self._table(pages[2], BODY_H - SLACK - self._height([spacer, note])))
        out.append(note)
        self._results_sheet()
        out.extend(self._sheets())
        return out

    def _results_sheet(self) -> None:
        """The results recorded on the application (成果) as a table on a 附页 of their own (R-E5)."""
        from bot.exports.results import ANNEX_WIDTHS, annex_rows

        if self.b.results:
            head, rows = annex_rows(self.t, self.b.results)
            self.continued.append(Continued(len(self.continued) + 1, self.t.plain("result.annex_title"), own=True,
                                            table=(head, list(ANNEX_WIDTHS), rows)))

    def _height(self, paras: Iterable[Para]) -> int:
        total = 0
        for p in paras:
            size = p.runs[0].size if p.runs else BODY_PT
            total += p.line * line_count(_text(p), cell_em(BODY_W + 2 * CELL_MARGIN, size)) + p.before + p.after
        return total

    def _table(self, items: Sequence[Block | _Pending], room: int) -> Table:
        pending = [i for i in items if isinstance(i, _Pending)]
        fixed = sum(rows_height(p.lines) + ROW_RULE for p in pending if p.lines is not None)
        fill = [p for p in pending if p.lines is None]
        share = 0
        if fill:
            free = room - fixed - len(fill) * (PAD + ROW_RULE)
            share = max(MIN_FILL, free // LINE // len(fill))
        table = Table()
        for p in pending:
            table.rows.append(p.make(p.lines if p.lines is not None else share))
        return table

    # --- shapes of the printed sections

    def _heading(self, fields: tuple[FormField, ...], *, worst: bool = False) -> Para:
        parts = [f"{caption(f, self.t)}：{('国' * f.max_len) if worst else (self.value(f) or '　' * 8)}"
                 for f in fields]
        return Para((Run("　".join(parts) + SEAL_UNIT + "　　"),
                     Run(f"{DATE_LABEL}：{zh_date(self.b.app.application_date)}")), after=120)

    def _caption_row(self, text: Callable[[], str] | str) -> _Pending:
        def make(lines: int) -> Row:
            value = text() if callable(text) else text
            return Row((cell(BODY_W, value, "left", bold=True),), rows_height(lines))

        return _Pending(1, make)

    def _head_row(self, cells: Sequence[tuple[str, int]]) -> _Pending:
        broken = [(caption_lines(text, cell_em(w)), w) for text, w in cells]
        lines = max(label.count("\n") + 1 for label, _ in broken)
        return _Pending(lines, lambda n: Row(tuple(cell(w, label, bold=True) for label, w in broken), rows_height(n)))

    def _columns(self, section: str, fields: tuple[FormField, ...]) -> list[_Pending]:
        out: list[_Pending] = []
        if section in SECTION_CAPTIONS:
            out.append(self._caption_row(SECTION_CAPTIONS[section]))
        for band in bands(fields, BODY_W):
            out.append(self._head_row([(caption(f, self.t), w) for f, w in band]))
            lines = max(f.print_lines or LEADER_LINES for f, _ in band)

            def values(n: int, band: list[tuple[FormField, int]] = band) -> Row:
                return Row(tuple(cell(w, self.fit(self.value(f), w, n, self.t.plain(f.label_key))) for f, w in band),
                           rows_height(n))

            out.append(_Pending(lines, values))
        return out

    def _label_value(self, f: FormField, lines: int | None, align: str = "left", valign: str = "top") -> _Pending:
        label = caption_lines(caption(f, self.t), cell_em(LABEL_W))
        width = BODY_W - LABEL_W

        def make(n: int) -> Row:
            text = self.fit(self.value(f), width, n, self.t.plain(f.label_key))
            return Row((cell(LABEL_W, label, bold=True), cell(width, text, align, valign=valign)), rows_height(n))

        return _Pending(lines, make)

    def _block(self, section: str, fields: tuple[FormField, ...]) -> list[_Pending]:
        return [self._label_value(f, f.print_lines or (None if f.ask is Ask.PARTS else 3)) for f in fields]

    def _pairs(self, section: str, fields: tuple[FormField, ...]) -> list[_Pending]:
        out: list[_Pending] = []
        short: list[FormField] = []

        def flush() -> None:
            for i in range(0, len(short), 3):
                out.append(self._pair_row(short[i : i + 3]))
            short.clear()

        for f in fields:
            if f.print_lines > 1 or (f.ask is Ask.TEXT and f.max_len > SHORT_TEXT):
                flush()
                out.append(self._label_value(f, f.print_lines or 1, valign="center"))
            else:
                short.append(f)
        flush()
        return out

    def _pair_row(self, fields: Sequence[FormField]) -> _Pending:
        labels = [caption(f, self.t) for f in fields]
        label_w = [LABEL_W] + [max(cm(1.6), round(em_width(c) / SAFETY * EM) + 2 * CELL_MARGIN + 20)
                               for c in labels[1:]]
        value_w = (BODY_W - sum(label_w)) // len(fields)
        widths = [value_w] * len(fields)
        widths[-1] += BODY_W - sum(label_w) - sum(widths)

        def make(n: int) -> Row:
            cells: list[Cell] = []
            for f, label, lw, vw in zip(fields, labels, label_w, widths, strict=True):
                cells.append(cell(lw, caption_lines(label, cell_em(lw)), bold=True))
                cells.append(cell(vw, self.fit(self.value(f), vw, n, self.t.plain(f.label_key))))
            return Row(tuple(cells), rows_height(n))

        return _Pending(max(f.print_lines or 1 for f in fields), make)

    def _members(self, section: str, fields: tuple[FormField, ...]) -> list[_Pending]:
        out: list[_Pending] = []
        member_fields = form.MEMBER_FIELDS
        band = _stretch([(f, f.print_width or DEFAULT_WIDTH) for f in member_fields], BODY_W)
        for f in fields:
            rows = [member_cells(r, self.t) for r in (self.answers.get(f.key) or [])]
            em = [cell_em(w) for _, w in band]
            spill = len(rows) > form.PRINTED_MEMBER_ROWS or any(
                not fits(text, e, MEMBER_LINES) for r in rows[: form.PRINTED_MEMBER_ROWS]
                for text, e in zip(r, em, strict=True))
            label = caption(f, self.t)

            def head(rows: list[list[str]] = rows, spill: bool = spill, label: str = label,
                     f: FormField = f) -> str:
                if not spill:
                    return label
                sheet = self._members_sheet(self.t.plain(f.label_key), rows)
                return f"{label}共 {len(rows)} 人{ref(sheet.n)}"

            out.append(self._caption_row(head))
            out.append(self._head_row([(caption(mf, self.t), w) for mf, w in band]))
            for i in range(form.PRINTED_MEMBER_ROWS):
                values = rows[i] if i < len(rows) else [""] * len(member_fields)

                def make(n: int, values: list[str] = values) -> Row:
                    cells = []
                    for text, (_, w) in zip(values, band, strict=True):
                        if not fits(text, cell_em(w), n) and self.members_sheet is not None:
                            shown, _rest = cut(text, cell_em(w), n, ref(self.members_sheet.n))
                            text = shown + ref(self.members_sheet.n)
                        cells.append(cell(w, text))
                    return Row(tuple(cells), rows_height(n))

                out.append(_Pending(MEMBER_LINES, make))
        return out

    def _members_sheet(self, title: str, rows: list[list[str]]) -> Continued:
        if self.members_sheet is None:
            self.members_sheet = Continued(len(self.continued) + 1, title, members=rows)
            self.continued.append(self.members_sheet)
        return self.members_sheet

    # --- the opinion boxes (R-F8), the approved name and remarks

    def _boxes(self) -> list[_Pending]:
        out: list[_Pending] = []
        boxes = list(Box)
        label_w = LABEL_W
        value_w = (BODY_W - 2 * label_w) // 2
        for i in range(0, len(boxes), 2):
            pair = boxes[i : i + 2]

            def make(n: int, pair: list[Box] = pair) -> Row:
                cells: list[Cell] = []
                for j, box in enumerate(pair):
                    w = value_w if j < len(pair) - 1 else BODY_W - label_w * len(pair) - value_w * (len(pair) - 1)
                    label = self.t.plain(f"box.{box.value}")
                    cells.append(cell(label_w, caption_lines(label, cell_em(label_w)), bold=True))
                    cells.append(self._box(box, w, n, label))
                return Row(tuple(cells), rows_height(n))

            out.append(_Pending(BOX_LINES, make))
        for label, text, title in ((STUDIO_NAME, self.b.app.studio_name or "", STUDIO_NAME),
                                   (REMARKS, self.b.app.remarks or "", "备注")):
            label = caption_lines(label, cell_em(LABEL_W))

            def row(n: int, label: str = label, text: str = text, title: str = title) -> Row:
                width = BODY_W - LABEL_W
                return Row((cell(LABEL_W, label, bold=True), cell(width, self.fit(text, width, n, title), "left")),
                           rows_height(n))

            out.append(_Pending(max(NAME_LINES, label.count("\n") + 1), row))
        return out

    def _box(self, box: Box, width: int, lines: int, title: str) -> Cell:
        """The opinion at the top, then the signer (the district box), the seal and the date at the foot."""
        op = self.b.latest_opinion(box)
        em = cell_em(width)
        signer: list[Para] = []
        free = lines - 2 - 1  # the seal, the date and a spare line at the foot
        if box is Box.DISTRICT:
            fields = self.fields(SIGNER_OF_DISTRICT_BOX)
            name = self.value(fields[0]) if fields else ""
            signer_lines = min(2, line_count(name, em))
            name = self.fit(name, width, signer_lines, title) if name else ""
            signer.append(para(name, "right"))
            free -= signer_lines
        body, when = op.text if op else "", op.decided_at if op else None
        if box is Box.CITY:
            body, when = self._city_review(body, when)
        text = self.fit(body, width, free, title)
        used = line_count(text, em) if text else 0
        text += "\n" * max(0, free - used)  # the seal and the date stay at the foot of the box
        date_text = zh_date(when.astimezone(self.tz).date() if when else None)
        return Cell(width, (para(text, "left"), *signer, para(SEAL_BOX, "right"), para(date_text, "right")), "top")

    def _city_review(self, decision: str, when: Any) -> tuple[str, Any]:
        """The city box (R-W2): the meeting's decision, then the preliminary opinion it rests on, from the
        trail of the last round of review (a return starts a new one); the inspection's findings go to
        a continuation sheet of their own, referred to from the box."""
        found = workflow.assessment(self.b.trail)
        on, findings, preliminary, at = found.on, found.findings, found.preliminary, found.preliminary_at
        parts = [decision] if decision else []
        if preliminary:
            parts.append(f"{PRELIMINARY}：{preliminary}")
        if findings:
            n = len(self.continued) + 1
            day = zh_date(date.fromisoformat(on)) if on else ""
            self.continued.append(Continued(n, FINDINGS_SHEET, f"{FINDINGS}（{day}）：{findings}" if day
                                            else f"{FINDINGS}：{findings}", own=True))
            parts.append(FINDINGS_REF.format(n=n))
        return "\n".join(parts), when or at

    # --- continuation sheets (附页)

    def _sheets(self) -> list[Block]:
        out: list[Block] = []
        for i, c in enumerate(self.continued):
            head = Para((Run(f"{SHEET} {c.n}", FONT_TITLE, SHEET_PT, True),
                         Run(f"　{c.title}{'' if c.own else CONTINUED}", FONT_TITLE, SHEET_PT, True)),
                        line=SHEET_LINE, before=0 if i == 0 else 240, after=120, page_break=i == 0, keep_next=True)
            out.append(head)
            if c.table is not None:
                out.append(self._sheet_table(*c.table))
                out.append(para("", line=LINE))
                continue
            if c.members is None:
                out.append(para(c.text, "left"))
                continue
            widths = [w for _, w in _stretch([(f, f.print_width or DEFAULT_WIDTH) for f in form.MEMBER_FIELDS],
                                             BODY_W - SERIAL_W)]
            band = [SERIAL_W, *widths]
            table = Table()
            head_cells = [(SERIAL, SERIAL_W)] + [(caption(f, self.t), w) for f, w in
                                                 zip(form.MEMBER_FIELDS, widths, strict=True)]
            broken = [(caption_lines(text, cell_em(w)), w) for text, w in head_cells]
            lines = max(label.count("\n") + 1 for label, _ in broken)
            table.rows.append(Row(tuple(cell(w, label, bold=True) for label, w in broken), rows_height(lines),
                                  header=True))
            for n, values in enumerate(c.members, start=1):
                table.rows.append(Row(tuple(cell(w, text) for text, w in zip([str(n), *values], band, strict=True)),
                                      rows_height(1), exact=False))
            out.append(table)
            out.append(para("", line=LINE))
        return out


    def _sheet_table(self, head: list[str], shares: list[float], rows: list[list[str]]) -> Table:
        """A numbered table across the sheet, columns in proportion to `shares`."""
        total = sum(shares)
        widths = [round((BODY_W - SERIAL_W) * x / total) for x in shares]
        band = [SERIAL_W, *widths]
        table = Table()
        table.rows.append(Row(tuple(cell(w, text, bold=True) for text, w in zip([SERIAL, *head], band, strict=True)),
                              rows_height(1), header=True, exact=False))
        for n, values in enumerate(rows, start=1):
            table.rows.append(Row(tuple(cell(w, text) for text, w in zip([str(n), *values], band, strict=True)),
                                  rows_height(1), exact=False))
        return table


def _text(p: Para) -> str:
    return "".join(r.text for r in p.runs)


def header_text(bundle: Bundle) -> str:
    return f"{TITLE}　　{NUMBER_LABEL}{bundle.app.number or NO_NUMBER}"


def build_docx(bundle: Bundle, t: Translator, tz: tzinfo, *, steps: Sequence[FormField] | None = None) -> bytes:
    """The form of one application as DOCX bytes (pure: no database, no network). `steps` is the form's
    declaration (`form.STEPS` unless given)."""
    writer = FormWriter(bundle, t, tz, steps)
    xml = Xml(first=2)  # 0: the subject (the number), 1: the header
    body = xml.blocks(writer.blocks())
    texts = [bundle.app.number or "", header_text(bundle), *xml.texts]
    return template(body, lambda: _skeleton(body, marker(0), marker(1))).fill(texts)
