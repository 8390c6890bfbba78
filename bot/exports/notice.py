"""The public notice for publication (R-O2): the year's notified and delisted studios as a DOCX.

python-docx is imported only when a notice is made (the bot does not load it at start-up)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date

from bot.i18n import Translator
from storage.models import Inspection, Studio

COLUMNS = ("n", "studio", "union", "unit", "date", "kind", "outcome")


def file_name(year: int, lang: str) -> str:
    return f"{year}年度劳模创新工作室通报名单.docx" if lang == "zh" else f"studio-public-notice-{year}.docx"


def build(t: Translator, year: int, rows: Sequence[tuple[Studio, Inspection]], unions: Mapping[int, str],
          today: date) -> bytes:
    """Title, a line of figures, one table row per notice or delisting, the date of issue."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    doc = Document()
    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = title.add_run(t.plain("notice_doc.title", year=year))
    run.bold = True
    run.font.size = Pt(16)
    notified = sum(1 for _, x in rows if x.outcome == "notice")
    doc.add_paragraph(t.plain("notice_doc.intro", year=year, notified=notified, delisted=len(rows) - notified))
    if rows:
        table = doc.add_table(rows=1, cols=len(COLUMNS))
        table.style = "Table Grid"
        for cell, key in zip(table.rows[0].cells, COLUMNS, strict=True):
            cell.text = t.plain(f"notice_doc.col.{key}")
            for p in cell.paragraphs:
                for r in p.runs:
                    r.bold = True
        for i, (studio, row) in enumerate(rows, start=1):
            values = (str(i), studio.name, unions.get(studio.union_id or -1, ""), studio.unit or "",
                      row.on.isoformat(), t.plain(f"studio.kind.{row.kind}"),
                      t.plain(f"studio.outcome.{row.outcome}"))
            for cell, value in zip(table.add_row().cells, values, strict=True):
                cell.text = value
        doc.add_paragraph()
        for i, (studio, row) in enumerate(rows, start=1):
            doc.add_paragraph(t.plain("notice_doc.finding", n=i, studio=studio.name, findings=row.findings))
    else:
        doc.add_paragraph(t.plain("notice_doc.none", year=year))
    issued = doc.add_paragraph(t.plain("notice_doc.issued", date=today.isoformat()))
    issued.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()
