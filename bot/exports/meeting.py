"""The meeting's papers (DOCX and XLSX: the candidates with the district's opinion, the inspection in short
and the preliminary opinion) and the public notice of the approved list (DOCX, for the office to post).
Pure: records in, bytes out; Chinese, as filed."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

from bot.exports.docx_form import FONT_BODY, FONT_LATIN, FONT_TITLE, with_font_table, zh_date
from bot.services.records import Candidate, Entry
from bot.views.common import clip

HEAD = ("序号", "申报编号", "申报单位", "工作室名称（拟）", "负责人", "所属工会", "区市县、产业工会意见",
        "实地考察情况（摘要）", "初步考核意见")
SHORT = 120  # characters of the findings in the papers
DEPARTMENT = "市总工会经济技术和劳动保护部"


def _row(i: int, c: Candidate) -> list[str]:
    findings = clip(c.findings, SHORT)
    if c.inspected_on and findings:
        findings = f"{c.inspected_on}：{findings}"
    return [str(i), c.app.number or "", c.unit, c.name, c.leader, c.union, c.district, findings, c.preliminary]


def _document(title: str) -> tuple[object, object]:
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Pt

    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.name = FONT_LATIN
    normal.font.size = Pt(10.5)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), FONT_BODY)
    sec = doc.sections[0]
    sec.orientation = WD_ORIENT.LANDSCAPE
    sec.page_width, sec.page_height = sec.page_height, sec.page_width
    head = doc.add_paragraph()
    run = head.add_run(title)
    run.bold = True
    run.font.size = Pt(16)
    run.font.name = FONT_TITLE
    run.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), FONT_TITLE)
    head.alignment = WD_ALIGN_PARAGRAPH.CENTER
    return doc, Pt


def _table(doc: object, head: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    table = doc.add_table(rows=1, cols=len(head))  # type: ignore[attr-defined]
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, head, strict=True):
        cell.text = text
        for run in cell.paragraphs[0].runs:
            run.bold = True
    for values in rows:
        cells = table.add_row().cells
        for cell, text in zip(cells, values, strict=True):
            cell.text = text


def _save(doc: object) -> bytes:
    buf = io.BytesIO()
    doc.save(buf)  # type: ignore[attr-defined]
    return with_font_table(buf.getvalue())


def papers_docx(year: int, items: Sequence[Candidate], today: date) -> bytes:
    """The list for the presidents' meeting or the standing committee."""
    doc, _ = _document(f"{year}年度劳模创新工作室认定名单（提请会议审议）")
    doc.add_paragraph(f"共{len(items)}个。{DEPARTMENT}　{zh_date(today)}")  # type: ignore[attr-defined]
    _table(doc, HEAD, [_row(i, c) for i, c in enumerate(items, start=1)])
    return _save(doc)


def papers_xlsx(year: int, items: Sequence[Candidate]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = f"{year}年度上会名单"
    ws.append(list(HEAD))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for i, c in enumerate(items, start=1):
        ws.append(_row(i, c))
    for col, width in zip("ABCDEFGHI", (6, 12, 24, 24, 10, 16, 30, 40, 40), strict=True):
        ws.column_dimensions[col].width = width
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def notice_docx(year: int, entries: Sequence[Entry], unions: dict[int, str], today: date) -> bytes:
    """The public notice of the list the meeting approved: the entries, the period, where to object."""
    doc, _ = _document(f"关于{year}年度劳模创新工作室拟命名名单的公示")
    periods = sorted({(e.meeting.notice_from, e.meeting.notice_until) for e in entries
                      if e.meeting.notice_from and e.meeting.notice_until})
    meetings = sorted({(e.meeting.held_on, e.meeting.kind) for e in entries})
    held = "、".join(zh_date(d) for d, _ in meetings)
    when = "；".join(f"{zh_date(a)}至{zh_date(b)}" for a, b in periods) or "（不公示）"
    doc.add_paragraph(  # type: ignore[attr-defined]
        f"经{held}市总工会会议讨论通过，现将{year}年度劳模创新工作室拟命名名单予以公示。公示期为{when}。"
        f"公示期间，对名单有异议的，可以书面形式向{DEPARTMENT}反映。")
    rows = [[str(i), e.app.number or "", str((e.app.answers or {}).get("applying_unit") or ""), e.app.studio_name or "",
             str((e.app.answers or {}).get("leader_name") or ""), unions.get(e.app.union_id or 0, "")]
            for i, e in enumerate(entries, start=1)]
    _table(doc, ("序号", "申报编号", "申报单位", "工作室名称", "负责人", "所属工会"), rows)
    doc.add_paragraph(f"{DEPARTMENT}　{zh_date(today)}")  # type: ignore[attr-defined]
    return _save(doc)
