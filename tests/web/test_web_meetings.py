"""The meeting's list in the web view: the candidates with what the meeting papers show, and the meeting's
decision on the whole list recorded through the same service and outbox as the chat's /meeting."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from storage.models import Application
from tests.test_review_flow import APPLICANT, CITY, DISTRICT, city_ready
from tests.web.helpers import (
    KEY_SHAPE,
    browser,
    client,
    headers,
    launch_url,
    needs_chromium,
    open_page,
    serving,
)

SH = ZoneInfo("Asia/Shanghai")


async def test_the_meeting_list_records_a_decision_on_the_whole_list(web_bot):
    """R-W2, R-W4 from the web view: the city reviewer sees the candidate with its preliminary opinion and
    findings, records the meeting's rejection; the applicant hears of it once; a district reviewer may not;
    the same list sent again is refused and owes nothing."""
    app = await city_ready(web_bot)
    today = web_bot.clock.now().astimezone(SH).date().isoformat()
    record = {"year": app.season_year, "held_on": today, "kind": "president", "minute": "第12号",
              "outcomes": {str(app.id): "reject"}, "reasons": {str(app.id): "成果的经济效益证明不足。"}}
    async with client(web_bot) as c:
        page = await c.get("/api/meetings", headers=headers(web_bot, CITY))
        assert page.status_code == 200
        assert app.number in page.text and "建议命名。" in page.text and "场地设备齐全。" in page.text
        assert not KEY_SHAPE.findall(page.text)
        assert (await c.get("/api/meetings", headers=headers(web_bot, DISTRICT))).status_code == 403
        refused = await c.post("/api/meetings/record", headers=headers(web_bot, DISTRICT), json=record)
        assert refused.status_code == 403
        mark = len(web_bot.request.calls)
        r = await c.post("/api/meetings/record", headers=headers(web_bot, CITY), json=record)
        assert r.status_code == 200, r.text
        assert "不通过 1 份" in r.json()["message"]
        await web_bot.app.bot_data["services"].drain()
        news = [p["text"] for n, p in web_bot.request.sent(APPLICANT, since=mark) if n == "sendMessage"]
        assert len(news) == 1 and app.number in news[0] and "成果的经济效益证明不足。" in news[0]
        async with web_bot.db.session() as s:
            assert (await s.get(Application, app.id)).status == "rejected"
        again_mark = len(web_bot.request.calls)
        again = await c.post("/api/meetings/record", headers=headers(web_bot, CITY), json=record)
        assert again.status_code == 409
        await web_bot.app.bot_data["services"].drain()
        assert web_bot.request.sent(since=again_mark) == []


@needs_chromium
async def test_the_meeting_form_in_a_browser_puts_the_approved_on_notice(web_bot):
    """R-W3 from the web view: the meeting's approval typed on the page sends the list to the public notice."""
    app = await city_ready(web_bot)
    today = web_bot.clock.now().astimezone(SH).date().isoformat()
    async with serving(web_bot) as base, browser() as b:
        page = await open_page(b, launch_url(web_bot, base, "/meetings", CITY), 1280, 900)
        await page.fill("input[name=held_on]", today)
        await page.fill("input[name=minute]", "第12号")
        await page.click("form[data-meeting] button[type=submit]")
        await page.wait_for_selector("form[data-meeting] .result.ok", timeout=15000)
    async with web_bot.db.session() as s:
        moved = await s.get(Application, app.id)
    assert moved.status in ("notice", "noticed") and moved.meeting_id is not None
