"""Exports: the printed form as DOCX (R-F1…R-F9), the season's roster as XLSX, each application's
archive ZIP (R-W4, R-M1…R-M5), `/stats` with its chart, and `python -m bot export`.

Files the bot sends are taken from the multipart body of the Bot API call, so what is checked is what a
user would download.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from docx.oxml.ns import qn
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from telegram.ext import CommandHandler

from bot.callbacks import ReviewAux, ReviewOp, WizardOp
from bot.domain import form
from bot.domain.render import display, member_cells
from bot.domain.workflow import Action, Box, Role
from bot.exports import data, docx_form, names, pdf, service
from bot.exports.archive import DATA_JSON, MANIFEST, read_manifest
from bot.i18n import I18n
from bot.services import review as svc_review
from conversations import exports as conv
from storage import repo
from storage.models import Application, Attachment, OpinionRecord, Studio, Union
from tests.apply_steps import LEADER, fill_until_summary, tap_op
from tests.city_steps import meeting_approves, named_together
from tests.offline import Harness, buttons
from tests.roles import first_union_id, grant

APPLICANT, DISTRICT, CITY, CONTACT, ADMIN = 10, 20, 30, 50, 900
I18N = I18n()
ZH = I18N.get("zh")


# --------------------------------------------------------------------------- helpers


def wire(h: Harness) -> None:
    """Put the export handlers in front of the catch-alls (until conversations/common.py registers them)."""
    group = h.app.handlers.setdefault(0, [])
    if any(isinstance(x, CommandHandler) and "export" in x.commands for x in group):
        return
    before = list(group)
    conv.register(h.app)
    added = [x for x in group if x not in before]
    group[:] = added + before


def capture(h: Harness) -> list[tuple[str, int, str, bytes]]:
    """Record every uploaded file: (method, chat_id, file name, bytes)."""
    got: list[tuple[str, int, str, bytes]] = []
    original = h.request.do_request

    async def do_request(url: str, method: str, request_data: Any = None, **kw: Any) -> Any:
        if request_data is not None:
            for _, part in request_data.multipart_data.items():
                name, content = part[0], part[1]
                raw = content if isinstance(content, bytes) else content.read()
                got.append((url.rsplit("/", 1)[-1], int(request_data.parameters.get("chat_id", 0)), name, raw))
        return await original(url, method, request_data, **kw)

    h.request.do_request = do_request  # type: ignore[method-assign,assignment]
    return got


def files_to(got: list[tuple[str, int, str, bytes]], chat_id: int, suffix: str) -> list[tuple[str, bytes]]:
    return [(n, b) for _, c, n, b in got if c == chat_id and n.endswith(suffix)]


@pytest.fixture(autouse=True)
def no_libreoffice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministic and fast: PDF conversion only where a test asks for it."""
    monkeypatch.setattr(pdf, "converter", lambda: None)


async def decide(h: Harness, app_id: int, uid: int, role: Role, action: Action, **kw: Any) -> None:
    async with h.db.session() as s:
        app = await s.get(Application, app_id)
        assert app is not None
        await svc_review.decide(s, app, uid, {role}, action, svc_review.Decision(**kw), h.clock.now(),
                                first_year=False, tz=h.settings.tz)
        await s.commit()
    h.clock.advance(timedelta(days=1))


async def approved(h: Harness) -> Application:
    """An application filled in the chat, submitted, and taken through both levels to naming."""
    wire(h)
    union = await first_union_id(h)
    await grant(h, DISTRICT, "district_reviewer", union)
    await grant(h, CITY, "city_reviewer")
    u = h.user(APPLICANT)
    await fill_until_summary(h, u)
    await tap_op(h, u, WizardOp.SUBMIT)
    await tap_op(h, u, WizardOp.CONFIRM)
    async with h.db.session() as s:
        app = (await s.scalars(select(Application).where(Application.applicant_id == APPLICANT))).one()
    h.clock.advance(timedelta(days=2))
    await decide(h, app.id, DISTRICT, Role.DISTRICT, Action.L1_APPROVE, opinion="同意推荐，材料齐全。")
    await decide(h, app.id, CITY, Role.CITY, Action.SCHEDULE, on=date(2026, 7, 14))  # the next decision's day
    await decide(h, app.id, CITY, Role.CITY, Action.INSPECT, opinion="场地、设备齐全。")
    await decide(h, app.id, CITY, Role.CITY, Action.PRELIMINARY, opinion="建议命名。")
    await meeting_approves(h, CITY)
    await named_together(h)
    async with h.db.session() as s:
        a = await s.get(Application, app.id)
        assert a is not None
        s.add(OpinionRecord(application_id=a.id, box=Box.UNION.value, action="union_opinion",
                            text="经基层工会研究，同意申报。", decided_at=datetime(2026, 7, 11, 2, tzinfo=UTC)))
        a.remarks = "跨单位申报"
        await s.commit()
        return a


COMPLETE = {
    # every field's declared sample, so that a field added to the form is answered here too …
    **{f.key: f.sample_value(date(2026, 7, 10)) for f in form.STEPS if f.kind_spec.annotation is not None},
    # … and the answers these tests print and read back
    "union": None, "applying_unit": "星海机床股份有限公司", "leader_name": "赵/春:梅", "leader_gender": "female",
    "leader_birth": "1970-11", "leader_education": "college", "leader_title": "技师（数控）",
    "leader_honour": "provincial_model", "leader_employer": "星海机床股份有限公司",
    "achievements": "攻克五轴联动加工难题。", "location": "星海机床二车间", "area": 85.5, "funds": 300000,
    "equipment": ["五轴加工中心"], "plan": "培养高级技师5名。",
    "members": [{"name": f"成员{i}", "gender": "male", "birth": "1990-01", "education": "bachelor",
                 "title": "technician", "employer": "大连理工大学" if i % 2 else "星海机床", "role": f"分工{i}"}
                for i in range(1, 9)],
}


async def insert_app(h: Harness, applicant: int, number: str | None, status: str, union_id: int,
                     answers: dict[str, Any] | None = None) -> int:
    """An application written straight into the database (for tests that need many)."""
    now = h.clock.now()
    async with h.db.session() as s:
        await repo.upsert_user(s, applicant, f"U{applicant}", None, None, "zh-hans", now)
        app = Application(season_year=2026, applicant_id=applicant, union_id=union_id, number=number, status=status,
                          answers={**(answers or COMPLETE), "union": union_id}, created_at=now, updated_at=now,
                          submitted_at=now if number else None, application_date=now.date() if number else None,
                          status_since=now)
        s.add(app)
        await s.commit()
        return app.id


def table_rows(doc: Any) -> list[list[str]]:
    """The texts of every table row, one per cell (a cell spanning grid columns counted once)."""
    out = []
    for t in doc.tables:
        for row in t.rows:
            cells: list[Any] = []
            for c in row.cells:
                if not cells or c._tc is not cells[-1]._tc:
                    cells.append(c)
            out.append([c.text for c in cells])
    return out


def row_index(rows: list[list[str]], first: list[str]) -> int:
    """The first row starting with the cells `first` (captions broken over lines compare unbroken)."""
    return next(i for i, r in enumerate(rows) if [c.replace("\n", "") for c in r[: len(first)]] == first)


# --------------------------------------------------------------------------- the printed form


async def test_form_docx_holds_every_field_in_its_cell(bot):
    """R-F1…R-F8, R-F9: the reviewer's "Full form" button delivers the DOCX of 附件1; opened again, every
    answer of the filled application is in its cell (Chinese intact), the four opinion boxes hold the
    recorded opinions with seal and date, the approved name and remarks are filled, A4, East Asian font."""
    app = await approved(bot)
    got = capture(bot)
    await bot.press(bot.user(CITY, name="U30"), ReviewAux(ReviewOp.FULL, app.id).encode())
    sent = files_to(got, CITY, ".docx")
    assert [n for n, _ in sent] == ["申报表_2026-0001_王建国.docx"]
    doc = Document(io.BytesIO(sent[0][1]))
    async with bot.db.session() as s:
        b = await data.load_bundle(s, app.id)
    assert b is not None
    answers, unions = b.app.answers, b.union_names("zh")

    def shown(key: str) -> str:
        return display(form.BY_KEY[key], answers.get(key), ZH, unions=unions)

    paras = [p.text for p in doc.paragraphs]
    assert paras[0] == "劳模创新工作室申报表"
    assert "申报单位：大连港集团有限公司（盖章）" in paras[1] and "申报日期：2026年7月10日" in paras[1]
    note = paras.index("注：本表一式三份，基层工会留存一份，区市县、产业工会一份，市总工会备案一份。请单页双面打印。")
    assert paras[note + 1].startswith("附页 1") and "实地考察情况" in paras[note + 1]  # the findings' own sheet
    assert paras[note + 2] == "实地考察（2026年7月14日）：场地、设备齐全。"
    rows = table_rows(doc)
    # R-F2: the leader's header row and the values under it
    leader = form.section_fields("leader")
    i = row_index(rows, ["姓名", "性别", "出生年月", "学历", "职称/技术等级", "劳模最高荣誉", "所在单位"])
    assert rows[i + 1] == [shown(f.key) for f in leader]
    assert rows[i + 1] == ["王建国", "男", "1975-03", "大学本科", "高级技师", "全国劳动模范", "大连港集团有限公司"]
    assert rows[i - 1][0] == "工作室负责人情况："
    # R-F3, R-F5, R-F7: caption, then the text beside it
    for key, caption in (("achievements", "主要工作成绩和成果"), ("equipment", "工作设备清单"),
                         ("plan", "主要工作计划和工作目标")):
        row = rows[row_index(rows, [caption])]
        assert row[1] == shown(key) and row[-1] == shown(key), key
    assert rows[row_index(rows, ["主要工作成绩和成果"])][1].replace("\n", "") == LEADER["achievements"]
    assert "三维扫描仪" in rows[row_index(rows, ["工作设备清单"])][1]
    # R-F4: 工作地点 | value across the width of a line; then 面积 | value | 配套资金 | value
    site = row_index(rows, ["工作地点"])
    assert rows[site] == ["工作地点", LEADER["location"]]
    assert rows[site + 1] == ["面积", "120 m²", "配套资金", "50万元"]
    # R-F6: member header, the member, blank rows up to six
    m = row_index(rows, ["姓名", "性别", "出生年月", "学历", "职称/技术等级", "所在单位", "主要分工"])
    assert rows[m - 1][0] == "工作室参与人员情况："
    plan_row = row_index(rows, ["主要工作计划和工作目标"])
    member_rows = rows[m + 1 : plan_row]
    assert len(member_rows) == form.PRINTED_MEMBER_ROWS
    assert member_rows[0] == member_cells(answers["members"][0], ZH)
    assert member_rows[0] == ["李明", "女", "1985-06", "硕士研究生", "高级工程师", "大连港集团", "工艺设计"]
    assert all(set(r) == {""} for r in member_rows[1:])
    # R-F8: the four boxes with their opinions, seal and date; approved name; remarks
    boxes = {}
    for r in rows:
        for j in range(0, len(r) - 1, 2):
            if r[j].replace("\n", "") in {ZH.plain(f"box.{b.value}") for b in Box}:
                boxes[r[j].replace("\n", "")] = r[j + 1]
    assert set(boxes) == {"申报单位意见", "申报工会意见", "区市县、产业工会意见", "市总工会审核意见"}
    assert all("（盖印）" in text for text in boxes.values())
    assert boxes["申报单位意见"].startswith("同意申报") and "2026年7月10日" in boxes["申报单位意见"]
    assert "经基层工会研究，同意申报。" in boxes["申报工会意见"] and "2026年7月11日" in boxes["申报工会意见"]
    assert "同意推荐，材料齐全。" in boxes["区市县、产业工会意见"] and "2026年7月12日" in boxes["区市县、产业工会意见"]
    assert shown("union") in boxes["区市县、产业工会意见"]  # the reviewing union signs its box
    city_box = boxes["市总工会审核意见"]
    assert city_box.startswith("经") and "同意命名" in city_box and "2026年7月16日" in city_box
    assert rows[row_index(rows, ["审定的工作室名称"])][1] == "王建国劳模创新工作室"
    assert rows[row_index(rows, ["备  注"])][1] == "跨单位申报"
    # R-F9: A4, printable; the Chinese font is set for East Asian text
    sec = doc.sections[0]
    assert (round(sec.page_width.mm), round(sec.page_height.mm)) == (210, 297)
    rfonts = doc.styles["Normal"].element.rPr.rFonts
    assert rfonts.get(qn("w:eastAsia")) == "宋体"
    # every printed field of the declaration is somewhere on the sheet
    text = "\n".join(paras + [c for r in rows for c in r])
    for section, shape in docx_form.SHAPES.items():
        for f in form.section_fields(section):
            if f.kind is not form.Kind.MEMBERS:
                assert shown(f.key) in text, (section, shape, f.key)


def test_members_beyond_six_rows_go_to_a_continuation_sheet_and_every_section_has_a_place():
    """R-F6, R-F9: the form proper prints six member rows; with more members the caption says how many and
    （续见附页 N）, and the 附页 lists every member with 序号 (cross-unit members keep their unit), its header
    repeated on every page and no row split. Every section of the declaration is either printed or a
    material for the archive."""
    from storage.models import Application as App

    app = App(id=7, number="2026-0007", season_year=2026, applicant_id=1, union_id=None, status="submitted",
              answers=dict(COMPLETE), application_date=date(2026, 7, 3))
    b = data.Bundle(app=app, union=None, opinions=[], attachments=[], trail=[])
    doc = Document(io.BytesIO(docx_form.build_docx(b, ZH, UTC)))
    rows = table_rows(doc)
    m = row_index(rows, ["姓名", "性别", "出生年月", "学历", "职称/技术等级", "所在单位", "主要分工"])
    assert rows[m - 1] == ["工作室参与人员情况：共 8 人（续见附页 1）"]
    members = rows[m + 1 : row_index(rows, ["主要工作计划和工作目标"])]
    assert [r[0] for r in members] == [f"成员{i}" for i in range(1, 7)]
    sheet = row_index(rows, ["序号", "姓名", "性别", "出生年月", "学历", "职称/技术等级", "所在单位", "主要分工"])
    listed = rows[sheet + 1 :]
    assert [r[:2] for r in listed] == [[str(i), f"成员{i}"] for i in range(1, 9)]
    assert listed[0][6] == "大连理工大学" and listed[1][6] == "星海机床"
    assert any(p.text == "附页 1　工作室参与人员情况（续）" for p in doc.paragraphs)
    sheet_table = doc.tables[-1]._tbl
    assert sheet_table.tr_lst[0].trPr.find(qn("w:tblHeader")) is not None
    assert all(tr.trPr.find(qn("w:cantSplit")) is not None for t in doc.tables for tr in t._tbl.tr_lst)
    assert rows[row_index(rows, ["姓名"]) + 1][4] == "技师（数控）"  # free-text title kept as typed
    # unfilled boxes still show the seal and an empty date line
    unit_box = [r for r in rows if r[0].replace("\n", "") == "申报单位意见"]
    assert unit_box and all("（盖印）" in r[1] and "年　　月　　日" in r[1] for r in unit_box)
    for section in form.SECTIONS:
        assert (section in docx_form.SHAPES or section in docx_form.NOT_PRINTED
                or section == docx_form.SIGNER_OF_DISTRICT_BOX), section
    assert names.file_name("申报表", "2026-0007", "赵/春:梅", "docx") == "申报表_2026-0007_赵_春_梅.docx"
    assert names.file_name("申报表", None, "../..", "docx", fallback="draft7") == "申报表_draft7.docx"
    assert "/" not in names.clean("a/b\\c\x00d") and names.clean(" . ") == ""


def test_forms_sharing_a_layout_each_carry_their_own_texts():
    """R-F9: forms are filled into a template made once per layout; each form still shows only its own
    answers, typed text stays text (`&`, `<b>`, leading spaces), lines stay lines, and characters a
    DOCX cannot hold are dropped instead of breaking the file."""
    def bundle(app_id: int, **changes: Any) -> data.Bundle:
        answers = {**COMPLETE, **changes}
        app = Application(id=app_id, number=f"2026-{app_id:04d}", season_year=2026, applicant_id=1,
                          status="submitted", answers=answers, application_date=date(2026, 7, app_id))
        return data.Bundle(app=app, union=None, opinions=[], attachments=[], trail=[])

    docx_form._templates.clear()
    first = Document(io.BytesIO(docx_form.build_docx(bundle(1), ZH, UTC)))
    second = Document(io.BytesIO(docx_form.build_docx(
        bundle(2, applying_unit="甲&乙<b>公司</b>", plan="  第一行\n第二行\x07", leader_name="李四"), ZH, UTC)))
    assert len(docx_form._templates) == 1  # the same layout: python-docx ran once
    rows1, rows2 = table_rows(first), table_rows(second)
    plan = row_index(rows2, ["主要工作计划和工作目标"])
    assert rows2[plan][1] == "  第一行\n第二行"
    assert rows1[plan][1] == COMPLETE["plan"]
    leader = row_index(rows2, ["姓名"]) + 1
    assert rows2[leader][0] == "李四" and rows1[leader][0] == COMPLETE["leader_name"]
    heading2 = "\n".join(p.text for p in second.paragraphs)
    assert "甲&乙<b>公司</b>" in heading2 and "2026年7月2日" in heading2
    assert COMPLETE["applying_unit"] not in heading2
    assert first.core_properties.subject == "2026-0001" and second.core_properties.subject == "2026-0002"
    # a different layout (more member rows) is a template of its own
    docx_form.build_docx(bundle(3, members=list(COMPLETE["members"]) * 4), ZH, UTC)
    assert len(docx_form._templates) == 2


def test_form_build_frees_its_xml_at_once():
    """The form's XML trees (native memory, several MB a form) are freed when the build returns, not
    whenever the garbage collector next looks at python-docx's reference cycles: forms built under load
    used to add tens of MB to the bot's memory."""
    from lxml import etree

    app = Application(id=3, number="2026-0003", season_year=2026, applicant_id=1, status="submitted",
                      answers=dict(COMPLETE), application_date=date(2026, 7, 3))
    b = data.Bundle(app=app, union=None, opinions=[], attachments=[], trail=[])
    docx_form.build_docx(b, ZH, UTC)
    gc.collect()
    gc.disable()
    try:
        blob = docx_form.build_docx(b, ZH, UTC)
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        held = [el.tag for el in gc.garbage if isinstance(el, etree._Element) and len(el)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert held == []
    assert any("星海机床股份有限公司" in p.text for p in Document(io.BytesIO(blob)).paragraphs)


def test_document_libraries_are_imported_only_when_a_document_is_made():
    """The bot imports the export handlers at start-up; python-docx/lxml, openpyxl (with numpy and PIL)
    and matplotlib (~30 MB resident) come in only when a form, a roster or a chart is made."""
    code = ("import sys, bot.app, bot.exports.service, bot.exports.telegram_io\n"
            "from conversations import admin, apply, common, exports, inspect, notice, reminders, report\n"
            "from conversations import review, status\n"
            "heavy = {'docx', 'lxml', 'openpyxl', 'matplotlib', 'numpy', 'PIL'}\n"
            "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_chart_drawn_again_only_when_the_figures_change(monkeypatch):
    """/stats asked again with nothing changed sends the same chart without drawing it again."""
    from bot.exports import stats

    drawn: list[data.Stats] = []

    def chart(st: data.Stats, t: Any) -> bytes:
        drawn.append(st)
        return f"png {st.total} {t.lang}".encode()

    monkeypatch.setattr(stats, "chart", chart)
    monkeypatch.setattr(stats, "_CHARTS", type(stats._CHARTS)())
    st = data.Stats(year=2026, total=3, drafts=1, by_union=[("甲", 3)], by_status=[("submitted", 3)],
                    named_by_year=[(2025, 1)])
    first = stats.chart_cached(st, ZH)
    again = stats.chart_cached(data.Stats(2026, 3, 1, [("甲", 3)], [("submitted", 3)], [(2025, 1)]), ZH)
    assert first == again == b"png 3 zh" and len(drawn) == 1
    assert stats.chart_cached(st, I18N.get("en")) == b"png 3 en" and len(drawn) == 2
    changed = data.Stats(2026, 4, 1, [("甲", 4)], [("submitted", 4)], [(2025, 1)])
    assert stats.chart_cached(changed, ZH) == b"png 4 zh" and len(drawn) == 3


def test_pdf_is_made_when_libreoffice_is_installed(monkeypatch, tmp_path):
    """R-F9: a PDF accompanies the DOCX when libreoffice/soffice is on PATH; without it, the DOCX alone."""
    script = tmp_path / "bin" / "soffice"
    script.parent.mkdir()
    script.write_text('#!/bin/sh\nwhile [ "$1" != "--outdir" ]; do shift; done\n'
                      'f="${3##*/}"; printf "%%PDF-1.4 fake" > "$2/${f%.docx}.pdf"\n')
    script.chmod(0o755)
    monkeypatch.undo()  # the real converter lookup
    monkeypatch.setenv("PATH", str(script.parent))
    app = Application(id=3, number="2026-0003", season_year=2026, applicant_id=1, status="submitted",
                      answers=dict(COMPLETE), application_date=date(2026, 7, 3))
    b = data.Bundle(app=app, union=None, opinions=[], attachments=[], trail=[])
    files = asyncio.run(service.form_files(b, I18N, UTC))
    assert [f.name for f in files] == ["申报表_2026-0003_赵_春_梅.docx", "申报表_2026-0003_赵_春_梅.pdf"]
    assert files[1].data.startswith(b"%PDF")
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert [f.name for f in asyncio.run(service.form_files(b, I18N, UTC))] == ["申报表_2026-0003_赵_春_梅.docx"]


# --------------------------------------------------------------------------- roster and archive


async def test_export_roster_xlsx_matches_the_database(any_bot):
    """R-W1…R-W4: /export gives the city the season's roster: one row per submitted application with its
    union, unit, leader, honour, members, status, each level's decision and date, opinions and studio name;
    frozen header and autofilter; drafts are left out; then a button per application for its archive."""
    bot = any_bot
    app = await approved(bot)
    union2 = (await first_union_id(bot)) + 1
    second = await insert_app(bot, 11, "2026-0002", "submitted", union2,
                              {**COMPLETE, "applying_unit": '=HYPERLINK("http://x","y")'})
    await insert_app(bot, 12, None, "draft", union2)
    got = capture(bot)
    mark = await bot.text(bot.user(CITY, name="U30"), "/export")
    sent = files_to(got, CITY, ".xlsx")
    assert [n for n, _ in sent] == ["申报汇总_2026.xlsx"]
    ws = load_workbook(io.BytesIO(sent[0][1])).active
    # the title row (season and the day it was made), then the header, then one numbered row each
    assert ws["A1"].value.startswith("2026 年度劳模创新工作室申报汇总表") and "制表日期：2026-" in ws["A1"].value
    head = [c.value for c in ws[2]]
    fields = form.roster_fields()
    assert [f.key for f in fields] == ["union", "applying_unit", "leader_name", "leader_honour", "leader_employer",
                                       "location", "area", "funds", "members"]
    assert head[:len(fields) + 2] == ["序号", "申报编号", "区市县/产业工会", "申报单位", "工作室负责人", "劳模最高荣誉",
                                      "负责人所在单位", "工作地点", "面积（m²）", "配套资金（万元）", "参与人员数"]
    last = get_column_letter(len(head))
    assert ws.freeze_panes == "B3" and ws.auto_filter.ref == f"A2:{last}4" and ws.dimensions == f"A1:{last}4"
    assert [str(r) for r in ws.merged_cells.ranges] == [f"A1:{last}1"]
    assert [ws.cell(row=r, column=1).value for r in (3, 4)] == [1, 2]
    # the look: bold shaded header, every cell ruled, dates as dates, top-aligned, long texts wrapped
    col = {h: get_column_letter(i) for i, h in enumerate(head, start=1)}
    assert ws["A2"].font.b and ws["A2"].fill.fgColor.rgb == "00DDE4EE" and ws["A2"].alignment.wrap_text
    assert all(ws.cell(row=r, column=c).border.left.style == "thin" for r in (2, 3, 4) for c in range(1, len(head) + 1))
    assert ws[f"{col['提交日期']}3"].number_format == "yyyy-mm-dd"
    assert ws[f"{col['提交日期']}3"].alignment.vertical == "top"
    assert ws[f"{col['审核意见']}3"].alignment.wrap_text and not ws["B3"].alignment.wrap_text
    # opinions on several lines: the row is as tall as its lines
    assert ws.row_dimensions[3].height >= 15 * 4
    # printed: A4 landscape, one page wide, title and header on every page
    assert ws.print_title_rows == "$1:$2" and ws.page_setup.orientation == "landscape"
    assert ws.page_setup.paperSize == 9 and ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    got_rows = {r[1]: dict(zip(head, r, strict=True)) for r in ws.iter_rows(min_row=3, values_only=True)}
    assert set(got_rows) == {"2026-0001", "2026-0002"}
    async with bot.db.session() as s:
        for a in (await s.scalars(select(Application).where(Application.status != "draft"))).all():
            row = got_rows[a.number]
            union = await s.get(Union, a.union_id)
            assert row["区市县/产业工会"] == union.name_zh
            assert row["申报单位"] == a.answers["applying_unit"] and row["工作室负责人"] == a.answers["leader_name"]
            assert row["劳模最高荣誉"] == display(form.BY_KEY["leader_honour"], a.answers["leader_honour"], ZH)
            assert row["参与人员数"] == len(a.answers["members"])
            assert row["负责人所在单位"] == a.answers["leader_employer"] and row["工作地点"] == a.answers["location"]
            assert row["面积（m²）"] == a.answers["area"] and row["配套资金（万元）"] == a.answers["funds"] / 10_000
            assert row["当前状态"] == ZH.plain(f"status.{a.status}")
            assert row["提交日期"].date() == a.submitted_at.astimezone(bot.settings.tz).date()
            assert (row["审定的工作室名称"] or None) == a.studio_name
    first = got_rows["2026-0001"]
    assert first["区市县/产业工会审核"] == "同意并上报" and first["区市县/产业工会审核日期"].date() == date(2026, 7, 12)
    assert first["市总工会审核"] == "集中命名" and first["市总工会审核日期"].date() == date(2026, 12, 20)
    assert first["挂牌日期"].date() == date(2026, 12, 20)
    assert "同意推荐，材料齐全。" in first["审核意见"] and "市总工会审核意见" in first["审核意见"]
    assert got_rows["2026-0002"]["区市县/产业工会审核"] is None
    unit = f"{col['申报单位']}4"
    assert ws[unit].data_type == "s" and ws[unit].value.startswith("=HYPERLINK")  # text, not a formula
    keyboard = [d for _, p in bot.request.sent(CITY, since=mark) for _, d in buttons(p)]
    assert keyboard == [conv.ExportZip(app.id).encode(), conv.ExportZip(second).encode()]


async def test_archive_zip_holds_form_materials_and_trail_with_checksums(bot):
    """R-W4, R-M1…R-M5: an application's archive holds the form, the photos and documents as stored,
    application.json with the answers and the audit trail, and a checksums.sha256 manifest that matches
    every member and the stored files' SHA-256."""
    app = await approved(bot)
    got = capture(bot)
    contact = bot.user(CONTACT, name="U50")
    await grant(bot, CONTACT, "contact")
    await bot.press(contact, conv.ExportZip(app.id).encode())
    sent = files_to(got, CONTACT, ".zip")
    assert [n for n, _ in sent] == ["申报材料_2026-0001_王建国.zip"]
    zf = zipfile.ZipFile(io.BytesIO(sent[0][1]))
    members = {n: zf.read(n) for n in zf.namelist()}
    manifest = read_manifest(members[MANIFEST].decode("utf-8"))
    assert set(manifest) == set(members) - {MANIFEST}
    for name, digest in manifest.items():
        assert hashlib.sha256(members[name]).hexdigest() == digest, name
    assert "申报表_2026-0001_王建国.docx" in members
    async with bot.db.session() as s:
        atts = (await s.scalars(select(Attachment).where(Attachment.application_id == app.id))).all()
    assert len([a for a in atts if a.kind == "photo"]) == 3 and any(a.kind == "document" for a in atts)
    record = json.loads(members[DATA_JSON])
    by_id = {e["id"]: e for e in record["attachments"]}
    for a in atts:
        entry = by_id[a.id]
        stored = (bot.settings.data_dir / a.stored_path).read_bytes()
        assert manifest[entry["path"]] == a.sha256 == hashlib.sha256(stored).hexdigest()
        assert entry["intact"] is True
    assert any(n.startswith("photos/") for n in members) and any(n.startswith("documents/") for n in members)
    assert any("推荐材料" in n for n in members)
    assert record["number"] == "2026-0001" and record["answers"]["leader_name"] == "王建国"
    assert record["studio_name"] == "王建国劳模创新工作室" and record["materials"] == "archived"
    assert [e["action"] for e in record["audit_trail"] if e["to_status"]] == [
        "draft_created", "submit", "l1_approve", "schedule", "inspect", "preliminary", "meeting_approve",
        "notice_end", "name"]
    assert {o["box"] for o in record["opinions"]} == {"unit", "union", "district", "city"}
    assert [f["key"] for f in record["form"]] == [f.key for f in form.STEPS]
    # the same archive by number
    mark = len(got)
    await bot.text(bot.user(CITY, name="U30"), "/export 2026-0001")
    assert [n for _, c, n, _ in got[mark:] if c == CITY] == ["申报材料_2026-0001_王建国.zip"]
    await bot.text(bot.user(CITY, name="U30"), "/export 2026-0999")
    assert "2026-0999" in bot.request.texts(CITY)[-1]


# --------------------------------------------------------------------------- statistics


async def test_stats_text_and_chart(bot):
    """/stats: applications per union and per status for the season, studios named per year, as text and
    as a PNG chart made by matplotlib (sent as a photo)."""
    wire(bot)
    u1 = await first_union_id(bot)
    a1 = await insert_app(bot, 11, "2026-0001", "submitted", u1)
    await insert_app(bot, 12, "2026-0002", "forwarded", u1)
    await insert_app(bot, 13, "2026-0003", "submitted", u1 + 1)
    await insert_app(bot, 14, None, "draft", u1)
    async with bot.db.session() as s:
        s.add(Studio(application_id=a1, name="甲劳模创新工作室", leader_id=11, union_id=u1,
                     named_on=date(2025, 12, 20)))
        await s.commit()
        unions = {u.id: u.name_zh for u in (await s.scalars(select(Union))).all()}
    got = capture(bot)
    mark = await bot.text(bot.user(ADMIN, name="Admin"), "/stats")
    text = bot.request.texts(ADMIN, since=mark)[0]
    assert "2026" in text and "已提交 3 份" in text and "1 份尚未提交" in text
    assert f"{unions[u1]}：2" in text and f"{unions[u1 + 1]}：1" in text
    assert "待区市县/产业工会审核：2" in text and "待市总工会审核：1" in text
    assert "2025 年：1 个" in text
    photos = [(n, b) for m, c, n, b in got if m == "sendPhoto" and c == ADMIN]
    assert len(photos) == 1
    png = photos[0][1]
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and b"matplotlib" in png[:400]
    # English reader, English text
    await grant(bot, 901, "contact", lang="en")
    mark = await bot.text(bot.user(901, lang="en", name="Contact"), "/stats")
    assert "By status" in bot.request.texts(901, since=mark)[0]


async def test_stats_chart_is_drawn_from_the_figures_the_text_showed(bot):
    """/stats: the chart owed with the text carries the figures the text was written from; drawing it reads
    nothing from the database again (the two agree, and the second read of a season's figures is saved)."""
    from sqlalchemy import event

    from storage.models import Effect

    wire(bot)
    u1 = await first_union_id(bot)
    await insert_app(bot, 11, "2026-0001", "submitted", u1)
    await insert_app(bot, 12, "2026-0002", "forwarded", u1)
    statements: list[str] = []
    chart_started = asyncio.Event()
    renderers = bot.app.bot_data["services"].sender.renderers
    draw = renderers["chart"]

    async def counted(b, chat_id, p):
        chart_started.set()
        statements.clear()
        await draw(b, chat_id, p)
        chart_started.clear()

    renderers["chart"] = counted
    listener = lambda *a: statements.append(a[2]) if chart_started.is_set() else None  # noqa: E731
    event.listen(bot.db.engine.sync_engine, "before_cursor_execute", listener)
    try:
        mark = await bot.text(bot.user(ADMIN, name="Admin"), "/stats")
    finally:
        event.remove(bot.db.engine.sync_engine, "before_cursor_execute", listener)
    async with bot.db.session() as s:
        row = (await s.scalars(select(Effect).where(Effect.kind == "render").order_by(Effect.id.desc()))).first()
    assert row is not None and row.payload["what"] == "chart"
    figures = data.Stats.from_json(row.payload["figures"]["zh"])
    assert figures.total == 2 and dict(figures.by_status) == {"submitted": 1, "forwarded": 1}
    assert [m for m, _ in bot.request.calls[mark:]].count("sendPhoto") == 1
    assert [s for s in statements if s.lstrip().upper().startswith("SELECT")] == [], statements


# --------------------------------------------------------------------------- who may export


async def test_export_and_stats_refused_for_applicants(bot):
    """Only city reviewers, the contact person and admins export: an applicant (or a district reviewer) is
    refused in their language, a forged archive button changes nothing and sends no file."""
    wire(bot)
    u1 = await first_union_id(bot)
    app_id = await insert_app(bot, APPLICANT, "2026-0001", "submitted", u1)
    await grant(bot, DISTRICT, "district_reviewer", u1)
    got = capture(bot)
    mark = await bot.text(bot.user(APPLICANT), "/export")
    assert "只有市总工会审核人" in bot.request.texts(APPLICANT, since=mark)[-1]
    mark = await bot.text(bot.user(APPLICANT), "/stats")
    assert "只有市总工会审核人" in bot.request.texts(APPLICANT, since=mark)[-1]
    mark = await bot.text(bot.user(DISTRICT, name="U20"), "/export 2026-0001")
    assert "只有市总工会审核人" in bot.request.texts(DISTRICT, since=mark)[-1]
    mark = await bot.text(bot.user(41, lang="en", name="Eve"), "/export")
    assert "Only city reviewers" in bot.request.texts(41, since=mark)[-1]
    mark = await bot.press(bot.user(APPLICANT), conv.ExportZip(app_id).encode())
    assert bot.request.alerts(since=mark)[-1].get("show_alert")
    assert got == []


async def test_cli_export_writes_roster_forms_and_archives(bot, tmp_path, capsys):
    """`python -m bot export --season 2026 --out DIR`: the roster XLSX and every submitted application's
    DOCX and ZIP are written into DIR, using only the database settings."""
    from bot.exports import cli

    u1 = await first_union_id(bot)
    for i, n in enumerate(("2026-0001", "2026-0002"), start=1):
        await insert_app(bot, 10 + i, n, "submitted", u1)
    await insert_app(bot, 19, None, "draft", u1)
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "out"
    args = parser.parse_args(["export", "--season", "2026", "--out", str(out)])
    code = await asyncio.to_thread(cli.run, args, bot.settings)
    assert code == 0, capsys.readouterr().err
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted([
        "申报汇总_2026.xlsx",
        "申报表_2026-0001_赵_春_梅.docx", "申报材料_2026-0001_赵_春_梅.zip",
        "申报表_2026-0002_赵_春_梅.docx", "申报材料_2026-0002_赵_春_梅.zip",
    ])
    ws = load_workbook(out / "申报汇总_2026.xlsx").active
    assert [r[1] for r in ws.iter_rows(min_row=3, values_only=True)] == ["2026-0001", "2026-0002"]
    doc = Document(str(out / "申报表_2026-0002_赵_春_梅.docx"))
    assert any("星海机床股份有限公司" in p.text for p in doc.paragraphs)
    with zipfile.ZipFile(out / "申报材料_2026-0001_赵_春_梅.zip") as zf:
        assert {DATA_JSON, MANIFEST, "申报表_2026-0001_赵_春_梅.docx"} <= set(zf.namelist())
    assert str(out / "申报汇总_2026.xlsx") in capsys.readouterr().out


# --------------------------------------------------------------------------- failures, captions, defaults


def test_a_failed_pdf_raises_instead_of_going_missing(monkeypatch, tmp_path):
    """R-F9: when LibreOffice is there but makes no PDF, `form_files` raises `DocumentError` (the caller
    tells the person and the admins) instead of quietly sending less."""
    script = tmp_path / "bin" / "soffice"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\necho 'source file could not be loaded' >&2\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.undo()  # the real converter lookup
    monkeypatch.setenv("PATH", str(script.parent))
    app = Application(id=3, number="2026-0003", season_year=2026, applicant_id=1, status="submitted",
                      answers=dict(COMPLETE), application_date=date(2026, 7, 3))
    b = data.Bundle(app=app, union=None, opinions=[], attachments=[], trail=[])
    with pytest.raises(service.DocumentError) as caught:
        asyncio.run(service.form_files(b, I18N, UTC))
    assert caught.value.what == "pdf" and caught.value.app_id == 3
    assert "could not be loaded" in str(caught.value)
    # the DOCX alone when PDF is not wanted
    assert [f.name for f in asyncio.run(service.form_files(b, I18N, UTC, want_pdf=False))] == [
        "申报表_2026-0003_赵_春_梅.docx"]


def test_form_caption_says_named_or_returned_as_r_w4_has_it():
    """R-W3, R-W4: the completed form sent at naming carries the approved name and says the federation
    keeps the materials; at rejection it says the materials go back to the applying unit."""
    def bundle(status: str) -> data.Bundle:
        app = Application(id=5, number="2026-0005", season_year=2026, applicant_id=1, status=status,
                          answers=dict(COMPLETE), studio_name="赵春梅劳模创新工作室")
        return data.Bundle(app=app, union=None, opinions=[], attachments=[], trail=[])

    named = service.form_caption(bundle("approved"), ZH)
    assert "2026-0005" in named and "赵春梅劳模创新工作室" in named and "备案保存" in named
    rejected = service.form_caption(bundle("rejected"), ZH)
    assert "退由申报单位保存" in rejected and "企事业级劳模创新工作室" in rejected
    assert "returned to the applying unit" in service.form_caption(bundle("rejected"), I18N.get("en"))
    assert service.form_caption(bundle("submitted"), ZH) == ZH("export.form_caption", number="2026-0005",
                                                               leader="赵/春:梅")


async def test_export_and_stats_default_to_the_season_under_review(bot):
    """R-D2, R-D3: in January, with last season's applications still under review, /export and /stats
    without a year are about that season, not the new calendar year."""
    wire(bot)
    u1 = await first_union_id(bot)
    await insert_app(bot, 11, "2026-0001", "forwarded", u1)
    bot.clock.advance(timedelta(days=200))
    assert bot.clock.now().astimezone(bot.settings.tz).year == 2027
    await grant(bot, CITY, "city_reviewer")
    got = capture(bot)
    await bot.text(bot.user(CITY, name="U30"), "/export")
    assert [n for n, _ in files_to(got, CITY, ".xlsx")] == ["申报汇总_2026.xlsx"]
    mark = await bot.text(bot.user(CITY, name="U30"), "/stats")
    assert "2026 年度" in bot.request.texts(CITY, since=mark)[0]
    async with bot.db.session() as s:
        # during the application window it is the season being applied for
        july = datetime(2027, 7, 5, 4, tzinfo=UTC)
        assert await data.current_season(s, july, bot.settings.tz) == 2027
        # after everything is decided, the season new drafts go to
        app = (await s.scalars(select(Application))).one()
        app.status = "approved"
        await s.flush()
        assert await data.current_season(s, datetime(2027, 9, 1, tzinfo=UTC), bot.settings.tz) == 2028


def test_chart_finds_the_cjk_font_by_path_with_a_stale_font_cache(tmp_path):
    """/stats: the chart is drawn in Chinese whenever a CJK font file is installed, even when matplotlib's
    font cache was made before the font (simulated in a child process by dropping the CJK faces from
    the cache); English only when no such font exists."""
    from bot.exports import stats

    if stats.cjk_font_file() is None:
        pytest.skip("no CJK font installed (fonts-noto-cjk)")
    assert stats.cjk_font_file(dirs=[str(tmp_path)]) is None
    code = ("from matplotlib import font_manager as fm\n"
            "fm.fontManager.ttflist = [f for f in fm.fontManager.ttflist if not any(\n"
            "    w in f.name for w in ('CJK', 'Hei', 'Song', 'Ming', 'SC', 'Droid'))]\n"
            "from bot.exports import stats, data\n"
            "from bot.i18n import I18n\n"
            "font = stats.cjk_font()\n"
            "assert font and stats.chart_language('zh') == 'zh', font\n"
            "assert font in {f.name for f in fm.fontManager.ttflist}\n"
            "st = data.Stats(2026, 1, 0, [('中山区总工会', 1)], [('submitted', 1)], [])\n"
            "assert stats.chart(st, I18n().get('zh')).startswith(b'\\x89PNG')\n"
            "print(font)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parent.parent, env={**os.environ, "MPLCONFIGDIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert "CJK" in out.stdout or "Hei" in out.stdout


def test_form_header_and_footer_carry_number_and_page_fields():
    """R-F9 (without LibreOffice): the DOCX's header holds the application number, its footer the PAGE and
    NUMPAGES fields of 第 X 页 共 Y 页; every row of the form proper has an exact height and cannot split."""
    app = Application(id=4, number="2026-0004", season_year=2026, applicant_id=1, status="submitted",
                      answers=dict(COMPLETE), application_date=date(2026, 7, 4))
    doc = Document(io.BytesIO(docx_form.build_docx(data.Bundle(app=app, union=None, opinions=[], attachments=[],
                                                               trail=[]), ZH, UTC)))
    sec = doc.sections[0]
    assert "申报编号：2026-0004" in sec.header.paragraphs[0].text
    footer = sec.footer.paragraphs[0]._element.xml
    assert "PAGE" in footer and "NUMPAGES" in footer and "第 " in footer and " 页 共 " in footer
    for table in doc.tables[:2]:  # the two pages of the form proper
        for tr in table._tbl.tr_lst:
            height = tr.trPr.find(qn("w:trHeight"))
            assert height.get(qn("w:hRule")) == "exact" and tr.trPr.find(qn("w:cantSplit")) is not None
