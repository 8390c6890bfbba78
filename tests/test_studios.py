"""The studio registry: year reports (R-D5, R-O3) and inspections with their outcomes (R-O1, R-O2, R-D4)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest_asyncio
from sqlalchemy import select

from bot import jobs
from bot.callbacks import InspectBtn, InspectOp, ReportBtn, ReportOp, decode
from bot.domain.workflow import Status
from conversations import report as report_conv
from storage import repo
from storage.models import Application, Attachment, AuditEvent, Inspection, Season, Studio, YearReport
from tests.apply_steps import png
from tests.offline import Harness, buttons, close_harness, make_harness
from tests.results_steps import record_result
from tests.roles import grant

SH = ZoneInfo("Asia/Shanghai")
LEADER, OTHER, CITY, CONTACT = 60, 61, 30, 50
DEC_5 = datetime(2026, 12, 5, 10, 0, tzinfo=SH)


@pytest_asyncio.fixture
async def h(bot: Harness) -> Harness:
    report_conv.register(bot.app)
    jobs.unschedule(bot.app)
    bot.clock.set(DEC_5)
    return bot


async def add_studio(h: Harness, leader: int, name: str = "王建国劳模创新工作室",
                     named_on: date = date(2025, 12, 15)) -> int:
    now = h.clock.now()
    async with h.db.session() as s:
        await repo.upsert_user(s, leader, f"L{leader}", None, None, "zh-hans", now)
        await repo.ensure_season(s, named_on.year)
        union = (await repo.active_unions(s))[0]
        app = Application(season_year=named_on.year, applicant_id=leader, union_id=union.id,
                          status=Status.APPROVED.value, answers={"leader_name": name[:3]}, wizard={}, created_at=now,
                          updated_at=now, status_since=now, number=f"{named_on.year}-{leader:04d}", studio_name=name)
        s.add(app)
        await s.flush()
        st = Studio(application_id=app.id, name=name, leader_id=leader, union_id=union.id, named_on=named_on)
        s.add(st)
        await s.commit()
        return st.id


async def studio(h: Harness, studio_id: int) -> Studio:
    async with h.db.session() as s:
        found = await s.get(Studio, studio_id)
        assert found is not None
        return found


async def report_of(h: Harness, studio_id: int, year: int = 2026) -> YearReport:
    async with h.db.session() as s:
        return (await s.scalars(select(YearReport).where(YearReport.studio_id == studio_id,
                                                         YearReport.year == year))).one()


def report_button(h: Harness, chat: int, op: ReportOp, v: str | None = None) -> str:
    for _, data in h.last_buttons(chat):
        d = decode(data)
        if isinstance(d, ReportBtn) and d.op is op and (v is None or d.v == v):
            return data
    raise AssertionError(f"no {op} in {h.last_buttons(chat)}")


def inspect_button(h: Harness, chat: int, op: InspectOp, v: str | None = None) -> str:
    for _, data in h.last_buttons(chat):
        d = decode(data)
        if isinstance(d, InspectBtn) and d.op is op and (v is None or d.v == v):
            return data
    raise AssertionError(f"no {op} {v} in {h.last_buttons(chat)}")


async def tap_report(h: Harness, u: dict, op: ReportOp, v: str | None = None) -> int:
    return await h.press(u, report_button(h, u["id"], op, v))


async def tap_inspect(h: Harness, u: dict, op: InspectOp, v: str | None = None) -> int:
    return await h.press(u, inspect_button(h, u["id"], op, v))


# --------------------------------------------------------------------------- year reports


async def test_leader_files_the_year_report_step_by_step(h: Harness) -> None:
    """R-D5: the leader files the year's work, results recognised that year, optional photos and the
    ownership statement (R-O3, recorded as stated); every step is saved in YearReport.answers."""
    sid = await add_studio(h, LEADER)
    u = h.user(LEADER)
    mark = await h.text(u, "/report")
    first = h.request.texts(LEADER, since=mark)[-1]
    assert "王建国劳模创新工作室" in first and "2026年度" in first and "全年工作情况" in first
    await h.text(u, "完成港口装卸工艺改造3项，")
    await h.text(u, "培训技师12名。")
    assert (await report_of(h, sid)).answers["work"] == "完成港口装卸工艺改造3项，\n培训技师12名。"
    await tap_report(h, u, ReportOp.DONE)
    assert (await report_of(h, sid)).answers["_step"] == "results"
    # the year's results are recorded in the registry from the report's step, then the step goes on
    await record_result(h, u, "集装箱快速装卸工法", "method", "2026-05-20", level="provincial", body="省总工会")
    await record_result(h, u, "一种岸桥吊具", "utility_model", "2026-07-01", level="national", body="国家知识产权局")
    await tap_report(h, u, ReportOp.EDIT, "results")  # back to the report
    assert "已登记本年度成果 2 项，其中获认定 2 项" in h.request.texts(LEADER)[-1]
    await tap_report(h, u, ReportOp.DONE)
    assert len((await report_of(h, sid)).answers["results"]) == 2
    # photos are optional; one is sent
    await h.photo(u, png(3))
    assert "1/10" in h.request.texts(LEADER)[-1]
    await tap_report(h, u, ReportOp.DONE)
    await h.text(u, "成果归工作室所在单位所有，发明人享有署名权。")
    summary = h.request.texts(LEADER)[-1]
    assert "集装箱快速装卸工法" in summary and "照片和文件</b>：1 个" in summary and "发明人享有署名权" in summary
    mark = await tap_report(h, u, ReportOp.FILE)
    assert "已于 2026-12-05 报市总工会备案" in h.request.texts(LEADER, since=mark)[-1]
    rep = await report_of(h, sid)
    assert rep.filed_at == DEC_5
    st = await studio(h, sid)
    assert st.ip_statement == "成果归工作室所在单位所有，发明人享有署名权。"
    async with h.db.session() as s:
        atts = (await s.scalars(select(Attachment).where(Attachment.report_id == rep.id))).all()
        assert len(atts) == 1 and atts[0].application_id is None and atts[0].kind == "photo"
        assert (h.settings.data_dir / atts[0].stored_path).is_file()
        assert (await s.scalars(select(AuditEvent.action).where(AuditEvent.action == "year_report_filed"))).one()
    # filed: /report shows it, nothing can change it, and stray text is not taken
    mark = await h.text(u, "/report")
    assert "2026年度报告已于 2026-12-05 备案" in h.request.texts(LEADER, since=mark)[-1]
    mark = await h.text(u, "再补充一句")
    assert (await report_of(h, sid)).answers["work"].endswith("培训技师12名。")
    # the city federation reads it, with its photo, in the studio's history
    await grant(h, CITY, "city_reviewer")
    city = h.user(CITY, name="U30")
    await h.text(city, "/inspect")
    await tap_inspect(h, city, InspectOp.STUDIO)
    mark = await tap_inspect(h, city, InspectOp.REPORT, "2026")
    got = h.request.sent(CITY, since=mark)
    assert [n for n, _ in got] == ["sendMessage", "sendPhoto"] and "发明人享有署名权" in got[0][1]["text"]


async def test_nothing_to_report_and_editing_from_the_summary(h: Harness) -> None:
    """R-D5: a year without recognised results can still be filed; any step can be changed from the
    summary; the statement already on record can be kept (R-O3)."""
    sid = await add_studio(h, LEADER)
    async with h.db.session() as s:
        (await s.get(Studio, sid)).ip_statement = "依法约定归属。"  # type: ignore[union-attr]
        await s.commit()
    u = h.user(LEADER)
    await h.text(u, "/report")
    await h.text(u, "全年开展技术交流4次。")
    await tap_report(h, u, ReportOp.DONE)
    await tap_report(h, u, ReportOp.NONE)
    await tap_report(h, u, ReportOp.SKIP)
    await tap_report(h, u, ReportOp.KEEP)
    assert "本年度没有获认定的成果" in h.request.texts(LEADER)[-1]
    await tap_report(h, u, ReportOp.EDIT, "work")
    await tap_report(h, u, ReportOp.CLEAR)
    await h.text(u, "全年开展技术交流5次。")
    await tap_report(h, u, ReportOp.DONE)  # back to the summary, not to the next step
    assert "技术交流5次" in h.request.texts(LEADER)[-1]
    await tap_report(h, u, ReportOp.FILE)
    rep = await report_of(h, sid)
    assert rep.filed_at is not None and rep.answers["results"] == [] and rep.answers["ip"] == "依法约定归属。"


async def test_report_draft_survives_a_restart(h: Harness) -> None:
    """R-D5: the report draft lives in the database; after a restart /report (and typed text)
    continues where the leader was."""
    sid = await add_studio(h, LEADER)
    u = h.user(LEADER)
    await h.text(u, "/report")
    await h.text(u, "全年工作第一部分。")
    await tap_report(h, u, ReportOp.DONE)
    await h.app.stop()
    await h.app.shutdown()
    h2 = await make_harness(h.settings.data_dir, now=DEC_5, admin_ids="900")
    try:
        report_conv.register(h2.app)
        jobs.unschedule(h2.app)
        u2 = h2.user(LEADER)
        mark = await h2.text(u2, "国家专利一项")  # still routed to the report, which asks for a record
        assert "逐项登记" in h2.request.texts(LEADER, since=mark)[-1]
        rep = await report_of(h2, sid)
        assert "results" not in rep.answers and rep.answers["work"] == "全年工作第一部分。"
        mark = await h2.text(u2, "/report")
        text = h2.request.texts(LEADER, since=mark)[-1]
        assert "继续填写年度报告" in text and "当年的成果" in text
    finally:
        await close_harness(h2)
        await h.app.initialize()
        await h.app.start()


async def test_report_takes_text_while_the_wizard_is_open_and_another_command_ends_it(h: Harness) -> None:
    """The leader's application wizard may still be open: /report takes the typed text; /apply
    afterwards gives the text back to the wizard and the report draft stays."""
    sid = await add_studio(h, LEADER)
    u = h.user(LEADER)
    await h.text(u, "/apply")
    await h.text(u, "/report")
    await h.text(u, "年度工作内容。")
    assert (await report_of(h, sid)).answers["work"] == "年度工作内容。"
    await h.text(u, "/apply")
    await h.text(u, "这句给申报表。")
    assert (await report_of(h, sid)).answers["work"] == "年度工作内容。"
    await h.text(u, "/report")
    await h.text(u, "补充。")
    assert (await report_of(h, sid)).answers["work"] == "年度工作内容。\n补充。"
    mark = await h.text(u, "/cancel")
    assert "/report" in h.request.texts(LEADER, since=mark)[-1]


async def test_only_a_leader_reports_and_buttons_are_checked(h: Harness) -> None:
    """/report is for a named studio's leader; another user's press on the report is refused."""
    sid = await add_studio(h, LEADER)
    mark = await h.text(h.user(OTHER), "/report")
    assert "只有已命名工作室的负责人" in h.request.texts(OTHER, since=mark)[-1]
    mark = await h.press(h.user(OTHER), ReportBtn(ReportOp.START, sid).encode())
    assert h.request.alerts(since=mark)[-1]["show_alert"] is True
    # the ping's button opens the report for the leader
    mark = await h.press(h.user(LEADER), ReportBtn(ReportOp.START, sid).encode())
    assert "全年工作情况" in h.request.texts(LEADER, since=mark)[-1]
    rep = await report_of(h, sid)
    mark = await h.press(h.user(OTHER), ReportBtn(ReportOp.FILE, rep.id).encode())
    assert h.request.alerts(since=mark)[-1]["show_alert"] is True
    assert (await report_of(h, sid)).filed_at is None


# --------------------------------------------------------------------------- inspections


async def inspect(h: Harness, studio_name: str, kind: str, day: str, findings: str, outcome: str) -> int:
    city = h.user(CITY, name="U30")
    await h.text(city, "/inspect")
    for label, data in h.last_buttons(CITY):
        if studio_name in label:
            await h.press(city, data)
            break
    else:
        raise AssertionError(h.last_buttons(CITY))
    await tap_inspect(h, city, InspectOp.NEW)
    await tap_inspect(h, city, InspectOp.KIND, kind)
    await h.text(city, day)
    await h.text(city, findings)
    await tap_inspect(h, city, InspectOp.OUTCOME, outcome)
    return await tap_inspect(h, city, InspectOp.CONFIRM)


async def test_city_reviewer_delists_a_studio_and_the_leader_is_told(h: Harness) -> None:
    """R-O1, R-O2: an ad-hoc inspection with delisting: the studio is marked delisted in its history
    and the list, the leader is notified, no more year reports are asked of it (R-D5)."""
    sid = await add_studio(h, LEADER)
    await grant(h, CITY, "city_reviewer")
    await grant(h, CONTACT, "contact")
    mark = await inspect(h, "王建国", "adhoc", "2026-12-03", "全年未开展活动，没有成果。", "delisting")
    st = await studio(h, sid)
    assert st.status == "delisted"
    async with h.db.session() as s:
        row = (await s.scalars(select(Inspection))).one()
    assert (row.kind, row.on, row.outcome, row.inspector_id) == ("adhoc", date(2026, 12, 3), "delisting", CITY)
    history = h.request.texts(CITY, since=mark)[-1]
    assert "已记录" in history and "已摘牌" in history and "不定期检查：摘牌" in history
    assert "记录一次检查" not in [label for label, _ in h.last_buttons(CITY)]
    notice = h.request.texts(LEADER, since=mark)
    assert len(notice) == 1 and "被<b>摘牌</b>" in notice[0] and "全年未开展活动" in notice[0]
    # the list shows it delisted
    mark = await h.text(h.user(CITY, name="U30"), "/inspect")
    listing = h.request.texts(CITY, since=mark)[-1]
    assert "已摘牌 1 个" in listing and "王建国劳模创新工作室（中山区总工会）已摘牌" in listing
    # the leader's /report says so; no year report is asked of it, and it is not on the 31 December list
    mark = await h.text(h.user(LEADER), "/report")
    assert "已被摘牌" in h.request.texts(LEADER, since=mark)[-1]
    h.clock.set(datetime(2026, 12, 31, 9, 0, tzinfo=SH))
    assert await h.pings() == []


async def test_commendation_and_notice_are_kept_in_the_history(h: Harness) -> None:
    """R-O1, R-O2: a regular inspection with commendation and a mutual inspection with a public
    notice; both stay in the studio's history, the leader hears each, the studio keeps its plaque."""
    sid = await add_studio(h, LEADER)
    await grant(h, CITY, "city_reviewer")
    mark = await inspect(h, "王建国", "regular", "2026-11-20", "成果突出。", "commendation")
    assert "<b>表彰奖励</b>" in h.request.texts(LEADER, since=mark)[-1]
    mark = await inspect(h, "王建国", "mutual", "2026年12月1日", "活动偏少。", "notice")
    assert "<b>通报</b>" in h.request.texts(LEADER, since=mark)[-1]
    history = h.request.texts(CITY)[-1]
    assert "检查记录</b>（2 次）" in history
    assert "2026-11-20 定期检查：表彰奖励" in history and "2026-12-01 互检：通报" in history
    assert (await studio(h, sid)).status == "active"


async def test_inspection_dates_are_checked(h: Harness) -> None:
    """R-D1: an inspection that took place: its prompt's example is a past day counted from today, not
    after today, not before naming, a readable date; the Today button works."""
    await add_studio(h, LEADER)
    await grant(h, CITY, "city_reviewer")
    city = h.user(CITY, name="U30")
    await h.text(city, "/inspect")
    await tap_inspect(h, city, InspectOp.STUDIO)
    await tap_inspect(h, city, InspectOp.NEW)
    mark = await tap_inspect(h, city, InspectOp.KIND, "regular")
    assert "例如 2026-11-26、2026年11月26日 或 11月26日" in h.request.texts(CITY, since=mark)[-1]
    for text, why in (("明天", "没有看懂"), ("2026-12-06", "不能晚于今天"), ("2025-12-01", "不能早于")):
        mark = await h.text(city, text)
        assert why in h.request.texts(CITY, since=mark)[-1]
    await tap_inspect(h, city, InspectOp.TODAY)
    assert "检查日期 2026-12-05" in h.request.texts(CITY)[-1]
    mark = await tap_inspect(h, city, InspectOp.CANCEL)
    assert "已取消" in h.request.texts(CITY, since=mark)[-1]
    async with h.db.session() as s:
        assert (await s.scalars(select(Inspection))).all() == []


async def test_no_inspections_in_the_first_year(h: Harness) -> None:
    """R-D4: in the first application year no inspection or mutual inspection is recorded."""
    await add_studio(h, LEADER, named_on=date(2026, 1, 10))
    async with h.db.session() as s:
        (await s.get(Season, 2026)).first_year = True  # type: ignore[union-attr]
        await s.commit()
    await grant(h, CITY, "city_reviewer")
    city = h.user(CITY, name="U30")
    await h.text(city, "/inspect")
    await tap_inspect(h, city, InspectOp.STUDIO)
    await tap_inspect(h, city, InspectOp.NEW)
    await tap_inspect(h, city, InspectOp.KIND, "mutual")
    mark = await h.text(city, "2026-11-02")
    assert "不安排检查和互检" in h.request.texts(CITY, since=mark)[-1]


async def test_only_city_reviewers_inspect(h: Harness) -> None:
    """R-O1: /inspect and its buttons are refused to anyone but a city reviewer."""
    sid = await add_studio(h, LEADER)
    mark = await h.text(h.user(LEADER), "/inspect")
    assert "只有市总工会审核人" in h.request.texts(LEADER, since=mark)[-1]
    await grant(h, 21, "district_reviewer", 1)
    mark = await h.press(h.user(21), InspectBtn(InspectOp.NEW, sid).encode())
    assert h.request.alerts(since=mark)[-1]["show_alert"] is True
    mark = await h.press(h.user(21), InspectBtn(InspectOp.OUTCOME, sid, "delisting").encode())
    assert (await studio(h, sid)).status == "active"


async def test_city_reviewer_reads_a_filed_report_from_the_history(h: Harness) -> None:
    """R-D5, R-O3: the filed year report, with the ownership statement, is in the studio's history."""
    sid = await add_studio(h, LEADER)
    await grant(h, CITY, "city_reviewer")
    async with h.db.session() as s:
        s.add(YearReport(studio_id=sid, year=2026, filed_at=DEC_5,
                         answers={"work": "攻关5项。", "results": ["工法一项"], "ip": "归单位所有。"}))
        await s.commit()
    city = h.user(CITY, name="U30")
    await h.text(city, "/inspect")
    await tap_inspect(h, city, InspectOp.STUDIO)
    assert "已备案的年度报告：2026" in h.request.texts(CITY)[-1]
    mark = await tap_inspect(h, city, InspectOp.REPORT, "2026")
    text = h.request.texts(CITY, since=mark)[-1]
    assert "攻关5项" in text and "工法一项" in text and "归单位所有" in text
    assert buttons(h.request.last(CITY)) == []


async def test_public_notice_reaches_everyone_concerned_and_is_exported(h: Harness) -> None:
    """R-O2: a public notice or a delisting reaches the leader, the basic union, the district/industry
    union's reviewers, the contact person and the admins, each once and in their language; an
    inspection without outcome only the leader and the basic union. /notice gives the year's notified
    and delisted studios as a document for publication."""
    import io

    from docx import Document

    from bot.exports import notice
    from bot.i18n import I18n
    from bot.services import studios as svc_studios

    basic, district, admin = 70, 20, 900
    sid = await add_studio(h, LEADER)
    other = await add_studio(h, OTHER, "李明劳模创新工作室")
    async with h.db.session() as s:
        st = await s.get(Studio, sid)
        assert st is not None
        app = await s.get(Application, st.application_id)
        await repo.upsert_user(s, basic, "基层工会", None, None, "zh-hans", DEC_5)
        app.applicant_id = basic  # type: ignore[union-attr]  # the basic union applied, the leader leads
        await s.commit()
        union_id = st.union_id
    await grant(h, CITY, "city_reviewer")
    await grant(h, CONTACT, "contact")
    await grant(h, district, "district_reviewer", union_id, lang="en")
    await grant(h, district + 1, "district_reviewer", union_id + 1)  # type: ignore[operator]  # another union

    mark = await inspect(h, "王建国", "mutual", "2026-12-01", "活动偏少。", "notice")
    got = {chat: h.request.texts(chat, since=mark) for chat in (LEADER, basic, district, district + 1, CONTACT,
                                                                 admin, CITY)}
    for chat in (LEADER, basic, CONTACT, admin):
        assert len(got[chat]) == 1 and "<b>通报</b>" in got[chat][0] and "同时告知" in got[chat][0], chat
    assert len(got[district]) == 1 and "<b>public notice</b>" in got[district][0]
    assert got[district + 1] == [] and len(got[CITY]) == 1, "the recorder sees the screen only"

    mark = await inspect(h, "李明", "regular", "2026-12-02", "一般。", "none")
    heard = {chat for chat in (OTHER, CONTACT, admin, district) if h.request.texts(chat, since=mark)}
    assert heard == {OTHER}
    await inspect(h, "李明", "adhoc", "2026-12-04", "全年未开展活动。", "delisting")
    _ = other

    mark = await h.text(h.user(CONTACT), "/notice 2026")
    docs = [p for name, p in h.request.sent(CONTACT, since=mark) if name == "sendDocument"]
    assert len(docs) == 1 and "通报 1 个，摘牌 1 个" in docs[0]["caption"]
    async with h.db.session() as s:
        rows = await svc_studios.notice_list(s, 2026)
    assert [(st.name, x.outcome) for st, x in rows] == [("王建国劳模创新工作室", "notice"),
                                                         ("李明劳模创新工作室", "delisting")]
    doc = Document(io.BytesIO(notice.build(I18n().get("zh"), 2026, rows, {}, date(2026, 12, 5))))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "关于2026年度劳模创新工作室检查情况的通报" in text and "通报 1 个，摘牌 1 个" in text
    cells = [c.text for c in doc.tables[0].rows[2].cells]
    assert cells[1] == "李明劳模创新工作室" and cells[-1] == "摘牌"
    mark = await h.text(h.user(LEADER), "/notice")
    assert "只有" in h.request.texts(LEADER, since=mark)[-1]
