"""The web view in a real browser (Debian's Chromium, headless, driven by Playwright): the application in
full with its photos, a decision taken on the page, the office's overview; screenshots for the README."""

from __future__ import annotations

import os
import re
from pathlib import Path

from sqlalchemy import func, select

from bot.callbacks import Review, decode
from bot.domain import form
from bot.domain.kinds import Ask
from bot.domain.render import display, member_cells
from storage.models import Application, Effect
from tests.offline import buttons
from tests.web.helpers import browser, client, headers, launch_url, needs_chromium, open_page, serving
from tests.web.scenario import ADMIN, APPLICANT, CITY, DISTRICT, DISTRICT2, ready

pytestmark = needs_chromium
PHONE, DESKTOP = (375, 812), (1280, 1500)


def shots_dir(tmp_path: Path) -> Path:
    """Where screenshots go: docs/ when WEB_SCREENSHOTS=docs (to refresh the README's), else a temp dir."""
    if os.environ.get("WEB_SCREENSHOTS") == "docs":
        return Path(__file__).resolve().parents[2] / "docs"
    return tmp_path


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


async def test_application_page_shows_every_field_in_full_and_the_photos(web_bot, tmp_path):
    """R-F1…R-F8, R-M2…R-M4 in the web view: every answer of the declaration in full (2,000-character
    texts, six members), the three photos loaded, one opened full size; at phone and desktop widths."""
    app = await ready(web_bot)
    t = web_bot.app.bot_data["services"].i18n.get("zh")
    out = shots_dir(tmp_path)
    async with serving(web_bot) as base, browser() as b:
        for name, (w, h) in (("phone", PHONE), ("desktop", DESKTOP)):
            page = await open_page(b, launch_url(web_bot, base, f"/app/{app.id}", DISTRICT), w, h)
            text = squash(await page.inner_text("main"))
            answers = app.answers
            missing = []
            for f in form.STEPS:
                if f.kind_spec.file and f.key not in answers or f.ask is Ask.UNION:
                    continue
                if f.ask is Ask.MEMBERS:
                    parts = [c for row in answers[f.key] for c in member_cells(row, t.plain) if c]
                    assert len(parts) == 6 * len(form.MEMBER_FIELDS)
                elif f.ask is Ask.ITEMS:
                    parts = list(answers[f.key])
                else:
                    parts = [display(f, answers.get(f.key), t.plain)]
                missing += [f.key for p in parts if p and squash(p) not in text]
            assert not missing, missing
            assert len(answers["achievements"]) == form.LONG_TEXT_MAX and squash(answers["achievements"]) in text
            sizes = await page.eval_on_selector_all(".gallery img", "els => els.map(e => e.naturalWidth)")
            assert sizes == [8, 8, 8]
            assert "推荐材料.pdf" in text
            await page.screenshot(path=str(out / f"web-application-{name}.png"), full_page=False)
            if name == "phone":  # further down: the photos, the documents, the opinion boxes
                await page.evaluate("() => document.getElementById('sec-photos').scrollIntoView()")
                await page.screenshot(path=str(out / "web-application-phone-photos.png"), full_page=False)
            if name == "desktop":
                await page.click(".gallery .thumb >> nth=1")
                assert await page.is_visible("#viewer img")
                assert (await page.get_attribute("#viewer img", "src")).startswith("blob:")
                await page.keyboard.press("Escape")
                assert not await page.is_visible("#viewer")
            await page.close()


async def _cards(h, chat_id: int, mark: int) -> list[dict]:
    return [p for _, p in h.request.sent(chat_id, since=mark)
            if any(isinstance(decode(d), Review) for _, d in buttons(p))]


async def test_a_decision_on_the_page_reaches_the_applicant_and_the_next_level_once(web_bot):
    """R-W1 from the web view: the district reviewer approves on the page; the applicant hears of it and
    the city reviewer gets the card exactly once, the other district reviewer's card says who decided —
    the same outbox effects as the chat's buttons; the same decision sent again changes nothing."""
    app = await ready(web_bot)
    mark = len(web_bot.request.calls)
    async with web_bot.db.session() as s:
        effects_before = await s.scalar(select(func.count()).select_from(Effect))
    async with serving(web_bot) as base, browser() as b:
        page = await open_page(b, launch_url(web_bot, base, f"/app/{app.id}", DISTRICT), *DESKTOP)
        await page.click("[data-tab='l1_reject']")
        await page.click("[data-tab='l1_approve']")  # one decision's form at a time
        assert await page.is_visible("form[data-action='l1_approve']")
        assert not await page.is_visible("form[data-action='l1_reject']")
        await page.fill("form[data-action='l1_approve'] textarea", "同意推荐，成果突出。")
        await page.click("form[data-action='l1_approve'] button[type=submit]")
        await page.wait_for_selector("form[data-action='l1_approve'] .result.ok", timeout=15000)
        await web_bot.app.bot_data["services"].drain()
        async with web_bot.db.session() as s:
            moved = await s.get(Application, app.id)
            assert moved.status == "forwarded"
        news = web_bot.request.texts(APPLICANT, since=mark)
        assert len(news) == 1 and app.number in news[0] and "同意推荐，成果突出。" in news[0]
        assert len(await _cards(web_bot, CITY, mark)) == 1
        closed = [p for n, p in web_bot.request.calls[mark:] if n == "editMessageText"]
        assert {int(p["chat_id"]) for p in closed} == {DISTRICT, DISTRICT2}
        assert all("U20" in p["text"] for p in closed)
        # the page again, from a second window still showing the old version: refused, nothing owed
        again = len(web_bot.request.calls)
        async with client(web_bot) as c:
            r = await c.post(f"/api/app/{app.id}/decide", headers=headers(web_bot, DISTRICT2),
                             json={"action": "l1_approve", "status": app.status})
        assert r.status_code == 409 and "U20" in r.json()["message"]
        await web_bot.app.bot_data["services"].drain()
        assert web_bot.request.sent(since=again) == []
        # the page after reloading shows the decision in the timeline and no decision form
        await page.reload()
        await page.wait_for_selector("body[data-ready='1']")
        assert "同意推荐，成果突出。" in await page.inner_text("#sec-timeline")
        assert await page.query_selector("form[data-decide]") is None
    async with web_bot.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Effect)) > effects_before


async def test_the_overview_filters_searches_and_exports_the_view(web_bot, tmp_path):
    """The office's overview: counts per status, filters by union and status, a search by leader, the
    current view as XLSX; readable at phone and desktop widths."""
    from tests.web.test_web_pages import more_applications

    await ready(web_bot)
    await more_applications(web_bot, 9)
    out = shots_dir(tmp_path)
    async with serving(web_bot) as base, browser() as b:
        for name, (w, h) in (("phone", PHONE), ("desktop", (DESKTOP[0], 800))):
            page = await open_page(b, launch_url(web_bot, base, "/", ADMIN), w, h)
            rows = await page.locator("table.list tbody tr").count()
            assert rows == 10
            await page.screenshot(path=str(out / f"web-overview-{name}.png"), full_page=False)
            await page.close()
        page = await open_page(b, launch_url(web_bot, base, "/overview", ADMIN), *DESKTOP)
        await page.fill("input[name=q]", "王建国")
        await page.click(".filters button[type=submit]")
        await page.wait_for_function("() => document.querySelectorAll('table.list tbody tr').length === 1")
        assert "王建国" in await page.inner_text("table.list")
        assert "王建国" not in page.url  # a search by name stays out of the address
