"""The results registry (成果): recording a result in chat, and bad input refused with nothing lost."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from sqlalchemy import select

from bot import jobs
from bot.callbacks import InspectOp, ReportOp, ResultOp
from bot.domain import form
from bot.domain.workflow import Status
from bot.exports import pdf, service
from storage.models import Application, Result, Studio
from tests.apply_steps import answer
from tests.offline import Harness
from tests.results_steps import record_result, result_button, tap_result
from tests.roles import grant
from tests.test_studios import CITY, LEADER, OTHER, add_studio, tap_inspect, tap_report

SH = ZoneInfo("Asia/Shanghai")
DEC_5 = datetime(2026, 12, 5, 10, 0, tzinfo=SH)
JUL_10 = datetime(2026, 7, 10, 10, 0, tzinfo=SH)


@pytest_asyncio.fixture
async def h(bot: Harness) -> Harness:
    jobs.unschedule(bot.app)
    bot.clock.set(DEC_5)
    return bot


async def results_of(h: Harness) -> list[Result]:
    async with h.db.session() as s:
        return list((await s.scalars(select(Result).order_by(Result.id))).all())


async def test_leader_records_a_result_field_by_field(h: Harness) -> None:
    """R-E5, R-O3: /results lists the studio's results; a result is asked as the declaration says, and
    the recognising body is asked only for a recognised one."""
    sid = await add_studio(h, LEADER)
    u = h.user(LEADER)
    mark = await h.text(u, "/results")
    assert "还没有登记成果" in h.request.texts(LEADER, since=mark)[-1]
    await record_result(h, u, "集装箱快速装卸工法", "method", "2026-05-20", level="provincial", body="省总工会",
                        in_use=True, benefit="12.5")
    await record_result(h, u, "岸桥小车改造", "innovation", "2026-08-01")
    rows = await results_of(h)
    assert [(r.title, r.kind, r.on, r.level, r.body, r.in_use, r.benefit, r.studio_id) for r in rows] == [
        ("集装箱快速装卸工法", "method", date(2026, 5, 20), "provincial", "省总工会", True, 12.5, sid),
        ("岸桥小车改造", "innovation", date(2026, 8, 1), None, None, False, None, sid)]
    listing = h.request.texts(LEADER)[-1]
    assert "已登记成果 2 项，其中获认定 1 项" in listing and "省级（省总工会认定）" in listing


async def test_bad_input_is_refused_and_nothing_is_lost(h: Harness) -> None:
    """R-E5: a date in the future, a negative benefit, an unknown kind and a 25 MB certificate are each
    refused with a clear reason; what was answered stays and the result is saved afterwards."""
    await add_studio(h, LEADER)
    u = h.user(LEADER)
    await h.text(u, "/results")
    await tap_result(h, u, ResultOp.ADD)
    await h.text(u, "一种新型吊具")
    # an unknown kind (a forged button) is refused; the question stays
    forged = result_button(h, LEADER, ResultOp.PICK, "invention").replace(":invention:", ":perpetuum:")
    mark = await h.press(u, forged)
    assert "不认识的成果类别" in h.request.alerts(since=mark)[-1]["text"]
    await tap_result(h, u, ResultOp.PICK, "invention")
    mark = await h.text(u, "2027-01-03")
    assert "日期不能晚于今天（2026-12-05）" in h.request.texts(LEADER, since=mark)[-1]
    await h.text(u, "2026-03-03")
    await tap_result(h, u, ResultOp.PICK, "national")
    await h.text(u, "国家知识产权局")
    await h.text(u, "ZL202610000001.X")
    await tap_result(h, u, ResultOp.YES)
    mark = await h.text(u, "-3")
    assert "经济效益不能是负数" in h.request.texts(LEADER, since=mark)[-1]
    await h.text(u, "30万元")
    for _ in range(3):
        await tap_result(h, u, ResultOp.SKIP)
    mark = await h.send(u, document={"file_id": "BIG", "file_unique_id": "big1", "file_name": "证书.pdf",
                                     "mime_type": "application/pdf", "file_size": 25 * 1024 * 1024})
    text = h.request.texts(LEADER, since=mark)[-1]
    assert "25.0 MB" in text and "20 MB" in text and "已填写的内容都在" in text
    assert await results_of(h) == []
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    await h.document(u, pdf, "证书.pdf", "application/pdf")
    summary = h.request.texts(LEADER)[-1]
    assert "一种新型吊具" in summary and "2026-03-03" in summary and "30 万元/年" in summary and "证书.pdf" in summary
    await tap_result(h, u, ResultOp.SAVE)
    [row] = await results_of(h)
    assert (row.title, row.kind, row.on, row.level, row.number, row.benefit) == (
        "一种新型吊具", "invention", date(2026, 3, 3), "national", "ZL202610000001.X", 30.0)
    assert row.certificate_id is not None


async def two_recognised_one_not(h: Harness) -> tuple[str, str]:
    """In July the applicant records on the draft two recognised results of 2026 and one not (and one of
    the year before); the studio is named from the application; a second studio records none. What the
    R-E5 question said before and after the results were recorded."""
    h.clock.set(JUL_10)
    u = h.user(LEADER)
    await h.text(u, "/apply")
    for f in form.STEPS:
        if f.condition == "R-E5":
            break
        await answer(h, u, f)
    before = h.request.texts(LEADER)[-1]
    await h.text(u, "/results")
    await record_result(h, u, "一种岸桥吊具", "utility_model", "2026-03-01", level="national", body="国家知识产权局",
                        number="ZL2026200001.1", in_use=True, benefit="20")
    await record_result(h, u, "集装箱快速装卸工法", "method", "2026-06-01", level="provincial", body="省总工会",
                        benefit="5.5")
    await record_result(h, u, "班组安全合理化建议", "suggestion", "2026-06-15")
    await record_result(h, u, "往年的技术革新", "innovation", "2025-05-01", level="city", body="市总工会")
    mark = await h.text(u, "/apply")
    after = h.request.texts(LEADER, since=mark)[-1]
    async with h.db.session() as s:  # named from the application, as the city does on approval
        app = (await s.scalars(select(Application).where(Application.applicant_id == LEADER))).one()
        app.status = Status.APPROVED.value
        s.add(Studio(application_id=app.id, name="王建国劳模创新工作室", leader_id=LEADER, union_id=app.union_id,
                     named_on=date(2026, 7, 20)))
        await s.commit()
    await add_studio(h, OTHER, name="李红梅劳模创新工作室")
    h.clock.set(DEC_5)
    return before, after


async def test_the_year_counts_agree_everywhere(h: Harness) -> None:
    """R-E5, R-D5, R-O2: a studio's year with two recognised results and one not: the R-E5 question of the
    application, the year report, the city's oversight lists and the statistics all count 3 results, 2
    recognised (the year before apart)."""
    before, after = await two_recognised_one_not(h)
    assert "目前没有登记近一年获认定的成果" in before
    assert "已登记近一年获认定的成果 2 项" in after and "目前没有" not in after
    assert "一种岸桥吊具" in after and "集装箱快速装卸工法" in after and "班组安全合理化建议" not in after
    u = h.user(LEADER)
    # the year report's results step and its summary
    await h.text(u, "/report")
    await h.text(u, "全年攻关3项。")
    mark = await tap_report(h, u, ReportOp.DONE)
    step = h.request.texts(LEADER, since=mark)[-1]
    assert "已登记本年度成果 3 项，其中获认定 2 项" in step and "往年的技术革新" not in step
    await tap_report(h, u, ReportOp.DONE)
    await tap_report(h, u, ReportOp.SKIP)
    mark = await h.text(u, "成果归单位所有。")
    summary = h.request.texts(LEADER, since=mark)[-1]
    assert summary.count("国家级（国家知识产权局认定）") == 1 and summary.count("未获认定") == 1
    await tap_report(h, u, ReportOp.FILE)
    # the city's oversight screen
    await grant(h, CITY, "city_reviewer")
    city = h.user(CITY, name="U30")
    await h.text(city, "/inspect")
    mark = await tap_inspect(h, city, InspectOp.RESULTS, "2026")
    screen = h.request.texts(CITY, since=mark)[-1]
    assert "2 个工作室，登记成果 3 项，其中获认定 2 项" in screen
    without = screen.split("没有获认定成果的工作室")[1].split("获认定成果最多")[0]
    assert "李红梅劳模创新工作室" in without and "王建国劳模创新工作室" not in without
    assert "· 王建国劳模创新工作室（" in screen.split("获认定成果最多的工作室")[1] and "）：2 项" in screen
    # the 2025 result counts in 2025 only
    mark = await tap_inspect(h, city, InspectOp.RESULTS, "2025")
    assert "登记成果 1 项，其中获认定 1 项" in h.request.texts(CITY, since=mark)[-1]
    # the statistics
    mark = await h.text(city, "/stats 2026")
    stats = h.request.texts(CITY, since=mark)[0]
    assert "共 3 项，获认定 2 项，转化/推广 1 项，专利 1 项，经济效益 25.5 万元/年" in stats
    assert "实用新型专利 1" in stats and "工法 1" in stats and "合理化建议 1" in stats
    assert "国家级 1" in stats and "省级 1" in stats


async def test_results_compilation_lists_every_result_under_its_studio(h: Harness, tmp_path) -> None:
    """R-C1: /compilation gives the year's results compilation (DOCX); through LibreOffice every result
    of the year stands under its studio, the labels in Chinese and English, the year before left out."""
    if pdf.converter() is None or shutil.which("pdftotext") is None:
        pytest.skip("needs LibreOffice and poppler-utils")
    await two_recognised_one_not(h)
    await grant(h, CITY, "city_reviewer")
    city = h.user(CITY, name="U30")
    mark = await h.text(city, "/compilation 2026")
    await h.app.bot_data["services"].drain()
    docs = [p for n, p in h.request.sent(CITY, since=mark) if n == "sendDocument"]
    assert len(docs) == 1 and "共 3 项成果" in docs[0]["caption"]
    assert docs[0]["_files"] == ["2026年度劳模创新工作室成果汇编.docx"]
    svc = h.app.bot_data["services"]
    async with h.db.session() as s:
        out, n = await service.compilation_file(s, 2026, svc.i18n, date(2026, 12, 5))
    assert n == 3
    text = pdf_text(pdf.docx_to_pdf(out.data), tmp_path)
    text = squash(text)
    assert "2026年度劳模创新工作室成果汇编" in text and "Compilationofthemodel-worker" in text
    studio_at = text.index("王建国劳模创新工作室")
    for title in ("一种岸桥吊具", "集装箱快速装卸工法", "班组安全合理化建议"):
        assert text.index(title) > studio_at
    assert "往年的技术革新" not in text and "李红梅劳模创新工作室" not in text
    for label in ("成果名称 / Title", "认定单位 / Recognised by", "实用新型专利 / Utility model patent",
                  "未获认定 / Not recognised", "经济效益 / Economic benefit", "ZL2026200001.1"):
        assert squash(label) in text, label


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def pdf_text(blob: bytes, tmp_path) -> str:
    where = tmp_path / "compilation.pdf"
    where.write_bytes(blob)
    return subprocess.run(["pdftotext", str(where), "-"], capture_output=True, text=True, check=True).stdout


async def test_imported_studios_bring_their_past_results(h: Harness) -> None:
    """R-D5, R-E5: the roster's optional results sheet brings the past results of imported studios, each
    row checked as in chat (a future date, a negative benefit, an unknown kind refuse the file with the
    row named); the same file again adds nothing."""
    from openpyxl import Workbook

    from bot.i18n import I18n
    from bot.services import imports
    from tests.test_imports import GOOD, HEAD

    def roster(results: list[list[object]]) -> bytes:
        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.append(HEAD)
        for r in GOOD:
            ws.append(r)
        past = wb.create_sheet("成果")
        past.append(["工作室名称", "成果名称", "成果类别", "取得日期", "认定级别", "认定单位", "是否转化/推广",
                     "Economic benefit"])
        for r in results:
            past.append(r)
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()

    good: list[list[object]] = [
        ["王建国劳模创新工作室", "桥吊节能改造", "技术革新/技术改造", date(2013, 5, 1), "省级", "省总工会", "是", 30],
            ["赵丽劳模创新工作室", "Catalyst patent", "invention", "2021-03-02", "National", "CNIPA", "no", None]]
    bad: list[list[object]] = [["王建国劳模创新工作室", "未来成果", "工法", "2027-01-01", "", "", "否", None],
           ["王建国劳模创新工作室", "负效益", "工法", "2014-01-01", "", "", "否", -5],
           ["王建国劳模创新工作室", "永动机", "发现", "2014-01-01", "", "", "否", None],
           ["不存在的工作室", "某成果", "工法", "2014-01-01", "", "", "否", None]]

    async def run(data: bytes) -> imports.Outcome:
        async with h.db.session() as s:
            out = await imports.run(s, data, None, h.clock.now(), h.clock.now().date())
            await s.commit()
            return out

    out = await run(roster(good + bad))
    assert not out.applied and await results_of(h) == []
    text = imports.report(I18n().get("zh"), out)
    for expected in ("成果表第 4 行：“取得日期”：日期不能晚于今天", "成果表第 5 行：“经济效益”：经济效益不能是负数",
                     "成果表第 6 行：“成果类别”：不认识的成果类别“发现”", "成果表第 7 行：工作室“不存在的工作室”不在"):
        assert expected in text, expected
    out = await run(roster(good))
    assert out.applied and out.results_added == 2
    rows = await results_of(h)
    assert [(r.title, r.kind, r.on, r.level, r.in_use, r.benefit, r.source) for r in rows] == [
        ("桥吊节能改造", "innovation", date(2013, 5, 1), "provincial", True, 30.0, "import"),
        ("Catalyst patent", "invention", date(2021, 3, 2), "national", False, None, "import")]
    again = await run(roster(good))
    assert again.applied and (again.results_added, again.results_unchanged) == (0, 2)
    assert len(await results_of(h)) == 2


def test_printed_form_lists_the_recorded_results_on_an_annex_sheet() -> None:
    """R-E5, R-F3: the results recorded on an application print as a table on a 附页 of their own; the
    主要工作成绩和成果 box keeps the applicant's prose."""
    from dataclasses import replace
    from datetime import UTC

    from docx import Document

    from bot.exports import docx_form
    from bot.i18n import I18n
    from tests.documents import longest_bundle

    b = longest_bundle(members=3)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    rows = [Result(id=1, application_id=b.app.id, title="一种岸桥吊具", kind="utility_model", on=date(2026, 3, 1),
                   level="national", body="国家知识产权局", number="ZL2026200001.1", in_use=True, benefit=20.0,
                   source="chat", created_at=now),
            Result(id=2, application_id=b.app.id, title="班组安全合理化建议", kind="suggestion", on=date(2026, 4, 1),
                   in_use=False, source="chat", created_at=now)]
    plain = Document(io.BytesIO(docx_form.build_docx(b, I18n().get("zh"), UTC)))
    doc = Document(io.BytesIO(docx_form.build_docx(replace(b, results=rows), I18n().get("zh"), UTC)))
    texts = [p.text for p in doc.paragraphs]
    assert any("主要工作成绩和成果：登记的成果" in x for x in texts)
    assert not any("登记的成果" in p.text for p in plain.paragraphs)
    annex = doc.tables[-1]
    cells = [[c.text for c in r.cells] for r in annex.rows]
    assert cells[0] == ["序号", "成果名称", "成果类别", "取得日期", "认定级别", "是否转化/推广", "经济效益"]
    assert cells[1] == ["1", "一种岸桥吊具（ZL2026200001.1）", "实用新型专利", "2026-03-01",
                        "国家级（国家知识产权局认定）", "是", "20"]
    assert cells[2][1:5] == ["班组安全合理化建议", "合理化建议", "2026-04-01", "未获认定"]


def test_reviewer_card_counts_the_registered_results() -> None:
    """R-E5: the reviewer's card says how many results the application registered, how many of them are
    recognised, and names each by title and kind."""
    from datetime import UTC

    from bot.domain.workflow import Role
    from bot.i18n import I18n
    from bot.views import review as views

    now = datetime(2026, 6, 1, tzinfo=UTC)
    app = Application(id=7, number="2026-0007", season_year=2026, applicant_id=1, union_id=None,
                      status=Status.SUBMITTED.value, answers={"applying_unit": "大连港集团"})
    rows = [Result(id=1, application_id=7, title="一种岸桥吊具", kind="utility_model", on=date(2026, 3, 1),
                   level="national", body="国家知识产权局", in_use=True, source="chat", created_at=now),
            Result(id=2, application_id=7, title="班组安全合理化建议", kind="suggestion", on=date(2026, 4, 1),
                   in_use=False, source="chat", created_at=now)]
    zh, en = I18n().get("zh"), I18n().get("en")
    bare, _ = views.card(zh, views.CardData(app=app, union="中山区总工会", first_year=False), Role.DISTRICT)
    text, _ = views.card(zh, views.CardData(app=app, union="中山区总工会", first_year=False, results=rows),
                         Role.DISTRICT)
    assert "登记的成果" not in bare
    assert "登记的成果</b>：2 项，其中获认定 1 项" in text
    assert "一种岸桥吊具（实用新型专利）" in text and "班组安全合理化建议（合理化建议）" in text
    english, _ = views.card(en, views.CardData(app=app, union="Zhongshan", first_year=False, results=rows),
                            Role.DISTRICT)
    assert "Registered results</b>: 2, 1 recognised" in english
