"""The web view's pages without a browser: locale keys, the CSP, the entry points, the overview's XLSX,
the checks a decision from the page goes through."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import select

from bot.domain.workflow import Status
from storage import repo
from storage.models import Application
from tests.offline import Harness
from tests.web.helpers import KEY_SHAPE, WEBAPP_URL, client, headers
from tests.web.scenario import ADMIN, APPLICANT, CITY, DISTRICT, ready

UNITS = ("大连重工起重集团", "大连机车车辆有限公司", "大连石化分公司", "大连港集装箱码头", "大连供电公司",
         "大连地铁运营公司", "大连船舶重工集团", "瓦房店轴承集团", "大连燃气集团")
LEADERS = ("刘洋", "陈刚", "杨帆", "黄海", "赵丽", "周敏", "吴斌", "徐峰", "孙杰")
STATUSES = (Status.SUBMITTED, Status.FORWARDED, Status.INSPECTION_SCHEDULED, Status.PRELIMINARY,
            Status.RETURNED_L1, Status.APPROVED, Status.REJECTED, Status.SUBMITTED, Status.INSPECTED)


async def more_applications(h: Harness, n: int) -> None:
    """`n` more applications of the season in several unions and statuses (for the office's views)."""
    async with h.db.session() as s:
        unions = await repo.active_unions(s)
        base = (await s.scalars(select(Application).where(Application.applicant_id == APPLICANT))).one()
        now = h.clock.now()
        for i in range(n):
            uid = 500 + i
            await repo.upsert_user(s, uid, LEADERS[i % len(LEADERS)], None, None, "zh-hans", now)
            s.add(Application(season_year=base.season_year, applicant_id=uid, union_id=unions[i % len(unions)].id,
                              number=f"{base.season_year}-{i + 2:04d}", status=STATUSES[i % len(STATUSES)].value,
                              answers={**base.answers, "applying_unit": UNITS[i % len(UNITS)],
                                       "leader_name": LEADERS[i % len(LEADERS)]},
                              created_at=now, updated_at=now, submitted_at=now, status_since=now))
        await s.commit()


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_no_page_shows_an_untranslated_key(web_bot, lang):
    """i18n: the application, the queue and the overview in Chinese and in English show no locale key
    in place of a text (a key missing from the catalogs is shown as itself)."""
    app = await ready(web_bot)
    await more_applications(web_bot, 3)
    async with client(web_bot) as c:
        for who, path in ((DISTRICT, f"/api/app/{app.id}"), (DISTRICT, "/api/queue"), (ADMIN, "/api/overview"),
                          (CITY, "/api/home"), (ADMIN, f"/api/app/{app.id}"), (ADMIN, "/api/meetings")):
            r = await c.get(path, headers=headers(web_bot, who, lang=lang))
            assert r.status_code == 200, path
            assert not KEY_SHAPE.findall(r.text), (path, KEY_SHAPE.findall(r.text))
    shell = (await client(web_bot).get(f"/app/{app.id}")).text
    assert not KEY_SHAPE.findall(shell)


def test_the_key_check_catches_a_missing_key(web_bot):
    """The check above sees a text that is missing from the catalogs."""
    t = web_bot.app.bot_data["services"].i18n.get("zh")
    assert KEY_SHAPE.findall(f"<p>{t.plain('web.app.no_such_text')}</p>") == ["web.app.no_such_text"]
    assert not KEY_SHAPE.findall(f"<p>{t.plain('web.app.title')}</p>")


async def test_every_answer_has_a_strict_csp_and_the_shell_holds_nothing_personal(web_bot):
    app = await ready(web_bot)
    async with client(web_bot) as c:
        signed = headers(web_bot, DISTRICT)
        for path, h in ((f"/app/{app.id}", {}), ("/static/app.js", {}), (f"/api/app/{app.id}", signed)):
            r = await c.get(path, headers=h)
            csp = r.headers["content-security-policy"]
            assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe" not in csp, path
        shell = (await c.get(f"/app/{app.id}")).text
    assert "王建国" not in shell and app.number not in shell
    assert "http" not in shell  # nothing loaded from elsewhere


async def test_reviewer_cards_carry_the_web_button_only_when_the_web_view_is_on(web_bot, bot):
    """Entry points: with WEBAPP_URL every reviewer's card has a "📄 网页查看" web_app button to the
    application's page; without it the card is as before."""
    for h, on in ((web_bot, True), (bot, False)):
        mark = len(h.request.calls)
        app = await ready(h)
        cards = [p for _, p in h.request.sent(DISTRICT, since=mark) if p.get("reply_markup")]
        rm = cards[-1]["reply_markup"]
        rm = json.loads(rm) if isinstance(rm, str) else rm
        web = [b for row in rm["inline_keyboard"] for b in row if "web_app" in b]
        if on:
            assert [b["text"] for b in web] == ["📄 网页查看"]
            assert web[0]["web_app"]["url"] == f"{WEBAPP_URL}app/{app.id}"
        else:
            assert web == []


async def test_reviewers_and_admins_get_the_menu_button(web_bot):
    """Entry points: the chat's menu button opens the web view for reviewers and admins, not for others."""
    from bot import commands

    await ready(web_bot)
    mark = len(web_bot.request.calls)
    await commands.refresh(web_bot.app)
    sets = {int(p["chat_id"]): p["menu_button"] for n, p in web_bot.request.calls[mark:] if n == "setChatMenuButton"}
    sets = {k: json.loads(v) if isinstance(v, str) else v for k, v in sets.items()}
    assert sets[DISTRICT]["type"] == "web_app" and sets[DISTRICT]["web_app"]["url"] == WEBAPP_URL
    assert sets[ADMIN]["type"] == "web_app" and sets[CITY]["type"] == "web_app"
    assert APPLICANT not in sets or sets[APPLICANT]["type"] == "default"


async def test_the_overview_exports_the_current_view_as_xlsx(web_bot):
    """The office's overview as a spreadsheet: the rows the filters show, nothing else."""
    from openpyxl import load_workbook

    await ready(web_bot)
    await more_applications(web_bot, 9)
    async with client(web_bot) as c:
        h = headers(web_bot, ADMIN)
        everything = await c.post("/api/overview.xlsx", headers=h, json={})
        submitted = await c.post("/api/overview.xlsx", headers=h, json={"status": "submitted"})
        search = await c.post("/api/overview", headers=h, json={"q": "刘洋"})
        refused = await c.post("/api/overview.xlsx", headers=headers(web_bot, DISTRICT), json={})
    rows = list(load_workbook(io.BytesIO(everything.content)).active.iter_rows(values_only=True))
    assert rows[0][0] == "编号" and len(rows) == 1 + 10
    rows = list(load_workbook(io.BytesIO(submitted.content)).active.iter_rows(values_only=True))
    assert len(rows) == 1 + 3 and all(r[4] == "待区市县/产业工会审核" for r in rows[1:])
    assert search.text.count("<tr>") == 1 + 1 and "刘洋" in search.text
    assert refused.status_code == 403


async def test_a_decision_from_the_page_is_checked_like_a_button(web_bot):
    """R-W1, R-W2: the workflow table decides on the page as in the chat — a return needs its opinion, the
    city reviewer cannot act at level 1, an unknown action is refused; each refusal is recorded."""
    from storage.models import AuditEvent

    app = await ready(web_bot)
    async with client(web_bot) as c:
        no_opinion = await c.post(f"/api/app/{app.id}/decide", headers=headers(web_bot, DISTRICT),
                                  json={"action": "l1_return", "status": app.status, "opinion": " "})
        city = await c.post(f"/api/app/{app.id}/decide", headers=headers(web_bot, CITY),
                            json={"action": "l1_approve", "status": app.status})
        forged = await c.post(f"/api/app/{app.id}/decide", headers=headers(web_bot, DISTRICT),
                              json={"action": "launch", "status": app.status})
    assert no_opinion.status_code == 400 and "必须填写意见" in no_opinion.json()["message"]
    assert city.status_code == 403
    assert forged.status_code == 400
    async with web_bot.db.session() as s:
        a = await s.get(Application, app.id)
        refused = (await s.scalars(select(AuditEvent).where(AuditEvent.action == "refused"))).all()
    assert a.status == "submitted" and len(refused) == 2


async def test_the_webhook_is_served_by_the_same_server_as_the_pages(tmp_path):
    """With WEBHOOK_URL and WEBAPP_URL both set, one server takes Telegram's updates and the pages."""
    import asyncio

    from tests.conftest import JULY_10
    from tests.offline import close_harness, make_harness

    h = await make_harness(tmp_path, now=JULY_10, webapp_url=WEBAPP_URL,
                           webhook_url="https://office.example.org/telegram/hook")
    try:
        update = {"update_id": 777001, "message": {
            "message_id": 1, "date": int(h.clock.now().timestamp()), "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            "chat": {"id": 61, "type": "private", "first_name": "W"},
            "from": {"id": 61, "is_bot": False, "first_name": "W", "language_code": "zh-hans"}}}
        async with client(h) as c:
            r = await c.post("/telegram/hook", json=update)
            assert r.status_code == 200
            assert (await c.get("/")).status_code == 200
        for _ in range(200):
            if h.request.texts(61):
                break
            await asyncio.sleep(0.05)
        await h.app.bot_data["services"].drain()
        assert h.request.texts(61)
    finally:
        await close_harness(h)


async def test_two_reviewers_deciding_at_once_record_one_decision(web_bot):
    """R-W1, concurrent decisions: two reviewers of the union confirm on their pages at the same moment;
    one decision is recorded, the other is told who decided; the applicant hears of it once."""
    import asyncio

    from tests.web.scenario import DISTRICT2

    app = await ready(web_bot)
    mark = len(web_bot.request.calls)
    async with client(web_bot) as c:
        a, b = await asyncio.gather(*(
            c.post(f"/api/app/{app.id}/decide", headers=headers(web_bot, who),
                   json={"action": action, "status": app.status, "opinion": "意见"})
            for who, action in ((DISTRICT, "l1_approve"), (DISTRICT2, "l1_reject"))))
    await web_bot.app.bot_data["services"].drain()
    assert sorted([a.status_code, b.status_code]) == [200, 409]
    loser = b if a.status_code == 200 else a
    assert "U2" in loser.json()["message"]
    async with web_bot.db.session() as s:
        status = (await s.get(Application, app.id)).status
    assert status in ("forwarded", "rejected")
    assert len(web_bot.request.texts(APPLICANT, since=mark)) == 1


async def test_the_application_page_shows_the_rounds_and_every_opinion(web_bot):
    """R-W1, R-F8 in the web view: after a return and a resubmission the page shows the return's remark,
    the sections reopened, each changed answer before and after, and the timeline with every opinion."""
    from bot.callbacks import WizardOp
    from tests.apply_steps import tap_op
    from tests.test_review_flow import returned_by_district

    app = await ready(web_bot)
    await returned_by_district(web_bot, app.id, "请补充设备清单，写明用途。", "equipment")
    u = web_bot.user(APPLICANT)
    await web_bot.text(u, "/apply")
    await tap_op(web_bot, u, WizardOp.EDIT, "equipment")
    await web_bot.text(u, "数控机床\n三维扫描仪\n检测平台\n激光切割机")
    await tap_op(web_bot, u, WizardOp.DONE)
    await tap_op(web_bot, u, WizardOp.SUBMIT)
    await tap_op(web_bot, u, WizardOp.CONFIRM)
    async with client(web_bot) as c:
        page = (await c.get(f"/api/app/{app.id}", headers=headers(web_bot, DISTRICT))).text
    rounds = page[page.index('id="sec-rounds"'):page.index('id="sec-timeline"')]
    assert "第 2 轮" in rounds and "请补充设备清单，写明用途。" in rounds and "工作设备" in rounds
    old, new = rounds.split('class="old">')[1], rounds.split('class="new">')[1]
    assert "激光切割机" not in old.split("</td>")[0] and "激光切割机" in new.split("</td>")[0]
    timeline = page[page.index('id="sec-timeline"'):]
    assert "请补充设备清单，写明用途。" in timeline and "修改后重新提交" in timeline and "同意申报" in page


async def test_the_application_page_lists_the_registered_results(web_bot):
    """R-E5 in the web view: the results registered with the application are a table of their own, each
    declared property in its column, in the reader's language."""
    from datetime import UTC, date, datetime

    from storage.models import Result

    app = await ready(web_bot)
    async with client(web_bot) as c:
        before = (await c.get(f"/api/app/{app.id}", headers=headers(web_bot, DISTRICT))).text
    async with web_bot.db.session() as s:
        s.add(Result(application_id=app.id, title="一种岸桥吊具", kind="utility_model", on=date(2026, 3, 1),
                     level="national", body="国家知识产权局", in_use=True, benefit=20.0, source="chat",
                     created_at=datetime(2026, 6, 1, tzinfo=UTC)))
        await s.commit()
    async with client(web_bot) as c:
        page = (await c.get(f"/api/app/{app.id}", headers=headers(web_bot, DISTRICT))).text
    assert 'id="sec-results"' not in before
    table = page[page.index('id="sec-results"'):page.index('id="sec-timeline"')]
    assert "登记的成果（1 项）" in table
    for cell in ("一种岸桥吊具", "实用新型专利", "2026-03-01", "国家知识产权局", "成果类别", "认定级别"):
        assert cell in table, cell
