"""The city's request for supplementary materials, the README's recipe example, end to end (R-W2, R-W1)."""

from __future__ import annotations

from bot.callbacks import Review, ReviewAux, ReviewOp, ReviewSection, Wiz, WizardOp
from bot.domain.workflow import Action
from bot.services import pings
from tests.offline import buttons
from tests.test_review_flow import APPLICANT, CITY, DISTRICT, load, press_action, resubmit_equipment, submitted, who

REQUEST = "请补充近三年设备购置发票的复印件，并更新设备清单。"


async def forwarded(bot):
    app = await submitted(bot)
    await press_action(bot, DISTRICT, Action.L1_APPROVE, app.id)
    await bot.press(who(bot, DISTRICT), ReviewAux(ReviewOp.DEFAULT, app.id).encode())
    app = await load(bot)
    assert app.status == "forwarded"
    return app


async def test_city_requests_supplementary_materials_and_sees_them_in_the_next_round(bot):
    """R-W2, R-W1: the city asks for supplementary materials: its prompt, the sections it picks and only
    those reopened, the applicant's news with the edit button, the resubmission back to the city with a card
    that shows the request and the changes; the contact's figures count the application meanwhile."""
    app = await forwarded(bot)
    city = who(bot, CITY)
    assert Review(Action.SUPPLEMENT, app.id).encode() in {d for _, p in bot.request.sent(CITY) for _, d in buttons(p)}

    mark = await press_action(bot, CITY, Action.SUPPLEMENT, app.id)
    prompt = bot.request.texts(CITY, since=mark)[-1]
    assert "要求补充材料" in prompt and "需要补充的材料" in prompt and "review." not in prompt

    await bot.text(city, REQUEST)
    mark = await bot.press(city, ReviewSection(app.id, "equipment").encode())
    screen = bot.request.texts(CITY, since=mark)[-1]
    assert "工作设备" in screen and REQUEST in screen
    assert (await load(bot)).status == "forwarded"  # nothing recorded before the confirmation
    await bot.press(city, ReviewAux(ReviewOp.DEFAULT, app.id).encode())

    app = await load(bot)
    assert app.status == "supplement_requested" and app.reopened == ["equipment"]
    news = bot.request.last(APPLICANT)
    assert REQUEST in news["text"] and "需要修改的部分：工作设备" in news["text"]
    assert Wiz(app.id, WizardOp.RESUME).encode() in [d for _, d in buttons(news)]

    async with bot.db.session() as s:
        counts = await pings.season_counts(s, app.season_year)
    total = sum(counts.values(), start=pings.Counter())
    assert total["returned"] == 1 and total["l2"] == 0

    mark = await resubmit_equipment(bot)

    app = await load(bot)
    assert app.status == "forwarded"
    card = bot.request.texts(CITY, since=mark)[-1]
    assert "第 2 轮" in card and "要求补充材料" in card and REQUEST in card and "工作设备" in card
    assert "激光切割机" in card, card[:600]
    assert "上一轮以来的修改" in card and "整份表格" not in card
