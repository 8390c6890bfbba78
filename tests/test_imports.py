"""Studios named before the bot existed (R-D5, R-O): the roster is checked row by row, refused as a
whole on any error unless the bad rows are skipped, imported idempotently, from the command line or
an admin's upload; imported studios then file year reports and are inspected like the others."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from bot import jobs
from bot.i18n import I18n
from bot.services import imports
from conversations import report as report_conv
from storage.models import Studio
from tests.offline import Harness
from tests.roles import grant

SH = ZoneInfo("Asia/Shanghai")
ADMIN, CONTACT, CITY, LEADER_TG = 900, 50, 30, 555
HEAD = ["工作室名称", "领军劳模", "依托单位", "基层工会", "区市县/产业工会", "命名年度", "挂牌日期", "状态",
        "负责人 Telegram ID"]
GOOD: list[list[Any]] = [
    ["王建国劳模创新工作室", "王建国", "大连港集团", "大连港集团工会", "中山区总工会", 2011, date(2011, 12, 26),
     "在牌", None],
    ["李明劳模创新工作室", "李明", "大连机车", "", "西岗区总工会", 2015, "2015-12-20", "摘牌", None],
    ["赵丽劳模创新工作室", "赵丽", "大连石化", "石化工会", "Zhongshan District Union", "2020", None, "", LEADER_TG],
]
BAD: list[list[Any]] = [
    ["孙强劳模创新工作室", "孙强", "大连重工", "", "不存在区总工会", 2009, "2009-13-01", "暂停", "abc"],
    ["王建国劳模创新工作室", "王建国", "大连港集团", "", "中山区总工会", 2011, None, "", None],
]


def xlsx(rows: list[list[Any]], head: list[str] = HEAD) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(head)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest_asyncio.fixture
async def h(bot: Harness) -> Harness:
    report_conv.register(bot.app)
    jobs.unschedule(bot.app)
    return bot


async def studios(h: Harness) -> list[Studio]:
    async with h.db.session() as s:
        return list((await s.scalars(select(Studio).order_by(Studio.id))).all())


async def run(h: Harness, data: bytes, *, skip: bool = False) -> imports.Outcome:
    async with h.db.session() as s:
        out = await imports.run(s, data, ADMIN, h.clock.now(), h.clock.now().date(), skip_bad=skip)
        await s.commit()
        return out


async def test_roster_refused_as_a_whole_then_imported_skipping_bad_rows_and_idempotent(h: Harness) -> None:
    """R-O, R-D5: one bad row refuses the file with a report naming each problem by row; with the bad
    rows skipped the good ones come in; the same file again changes nothing."""
    data = xlsx(GOOD + BAD)
    out = await run(h, data)
    assert not out.applied and await studios(h) == []
    text = imports.report(I18n().get("zh"), out)
    for expected in ("整个文件未导入", "第 5 行：没有名为“不存在区总工会”", "第 5 行：命名年度“2009”",
                     "第 5 行：挂牌日期“2009-13-01”", "第 5 行：状态“暂停”", "第 5 行：Telegram ID“abc”",
                     "第 6 行：与第 2 行是同一个工作室"):
        assert expected in text, expected
    english = imports.report(I18n().get("en"), out)
    assert "Row 5: There is no district or industry union" in english

    out = await run(h, data, skip=True)
    assert out.applied and len(out.added) == 3 and out.skipped_rows == 2
    rows = await studios(h)
    assert [(x.name, x.status, x.named_year, x.application_id) for x in rows] == [
        ("王建国劳模创新工作室", "active", 2011, None), ("李明劳模创新工作室", "delisted", 2015, None),
        ("赵丽劳模创新工作室", "active", 2020, None)]
    assert rows[0].plaque_on == date(2011, 12, 26) and rows[0].unit == "大连港集团"
    assert rows[2].leader_id == LEADER_TG and rows[2].named_on == date(2020, 12, 31)

    again = await run(h, xlsx(GOOD))
    assert again.applied and (again.added, again.updated, len(again.unchanged)) == ([], [], 3)
    assert [(x.id, x.name) for x in await studios(h)] == [(x.id, x.name) for x in rows]


async def test_admin_uploads_the_roster_and_imported_studios_are_asked_and_inspected(h: Harness) -> None:
    """R-O, R-D5 in chat: /admin offers the template and takes the upload; a bad row gets the report
    and a choice to skip it. Imported studios owe the year report (their leader is asked), appear on
    the 31 December list, and are inspected like the others."""
    a = h.user(ADMIN)
    await h.text(a, "/admin")
    await h.tap(a, "导入往年工作室")
    mark = await h.tap(a, "下载模板")
    docs = [p for name, p in h.request.sent(ADMIN, since=mark) if name == "sendDocument"]
    assert len(docs) == 1
    template = imports.template(I18n().get("zh"))
    assert [c.value for c in load_workbook(io.BytesIO(template)).worksheets[0][1]] == HEAD

    mark = await h.document(a, xlsx(GOOD + BAD[:1]), "名册.xlsx",
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    refusal = h.request.texts(ADMIN, since=mark)[-1]
    assert "整个文件未导入" in refusal and "第 5 行" in refusal and await studios(h) == []
    mark = await h.tap(a, "跳过有误的行")
    assert "新增 3 个工作室" in h.request.texts(ADMIN, since=mark)[-1]
    await h.text(a, "/admin")
    await h.tap(a, "导入往年工作室")
    mark = await h.document(a, xlsx(GOOD), "名册.xlsx", "application/octet-stream")
    assert "新增 0 个工作室" in h.request.texts(ADMIN, since=mark)[-1] and len(await studios(h)) == 3

    await grant(h, CONTACT, "contact")
    h.clock.set(datetime(2026, 12, 1, 9, tzinfo=SH))
    sent = await h.pings()
    assert any(k.startswith("studio:report:2026:") for k in sent)
    assert "赵丽劳模创新工作室" in h.request.texts(LEADER_TG)[-1]
    h.clock.set(datetime(2026, 12, 31, 9, tzinfo=SH))
    await h.pings()
    listing = h.request.texts(CONTACT)[-1]
    assert "王建国劳模创新工作室" in listing and "赵丽劳模创新工作室" in listing and "李明" not in listing

    await grant(h, CITY, "city_reviewer")
    city = h.user(CITY)
    mark = await h.text(city, "/inspect")
    listing = h.request.texts(CITY, since=mark)[-1]
    assert all(name in listing for name in ("王建国劳模创新工作室", "李明劳模创新工作室", "赵丽劳模创新工作室"))
    await h.tap(city, "王建国")
    history = h.request.texts(CITY)[-1]
    assert "王建国" in history and "2011-12-26" in history
    mark = await h.tap(city, "记录一次检查")
    assert "请选择检查方式" in h.request.texts(CITY, since=mark)[-1]


def test_command_line_import_reports_and_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m bot import-studios FILE.xlsx`: refused with the per-row report (exit 1), then with
    --skip-bad-rows imported, then again nothing changes; --template writes the template."""
    from bot.cli import main

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    roster = tmp_path / "roster.xlsx"
    roster.write_bytes(xlsx(GOOD + BAD[:1]))
    assert main(["import-studios", str(roster)]) == 1
    assert "第 5 行" in capsys.readouterr().out
    assert main(["import-studios", str(roster), "--skip-bad-rows"]) == 0
    assert "新增 3 个工作室" in capsys.readouterr().out
    assert main(["import-studios", str(roster), "--skip-bad-rows", "--lang", "en"]) == 0
    assert "0 updated, 3 already in the registry" in capsys.readouterr().out
    assert main(["import-studios", "--template", str(tmp_path / "t.xlsx")]) == 0
    assert (tmp_path / "t.xlsx").stat().st_size > 0
