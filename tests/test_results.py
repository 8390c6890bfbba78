"""The results registry (成果): recording a result in chat, and bad input refused with nothing lost."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest_asyncio
from sqlalchemy import select

from bot import jobs
from bot.callbacks import ResultOp
from storage.models import Result
from tests.offline import Harness
from tests.results_steps import record_result, result_button, tap_result
from tests.test_studios import LEADER, add_studio

SH = ZoneInfo("Asia/Shanghai")
DEC_5 = datetime(2026, 12, 5, 10, 0, tzinfo=SH)


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
