"""End to end over HTTP: how many new messages a reviewer gets for one application (R-W1…R-W3)."""

from __future__ import annotations

import pytest

from bot.callbacks import Review, ReviewAux, ReviewOp, ReviewSection, WizardOp
from bot.domain.workflow import Action

from .driver import prepare, press_data, say, tap
from .test_e2e_bot import fill_application, meeting_over_http, stored

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]

BUDGET = 12  # 3 photos, 3 documents, the card, one per typed text


def new_messages(api, chat, since: int) -> int:
    """The bot's new messages in the chat since the mark (an album: one per photo)."""
    return sum(1 for e in api.events(chat, since) if e.action == "sent")


async def test_a_reviewer_gets_at_most_twelve_new_messages_per_application(fake_api, bot_process_factory, tmp_path):
    """R-W1…R-W3: the district reviewer through one return and one approval, and the city reviewer from the
    application's arrival to the meeting's approval (its list, record and confirmation), each get at most twelve
    new messages: the photos, the documents, the card once, and one message per text they type; every press
    edits the screen it was made on."""
    data_dir = tmp_path / "data"
    await prepare(data_dir, [(901, "district_reviewer", True), (902, "city_reviewer", False)])
    bot = await bot_process_factory(data_dir=data_dir)
    applicant = fake_api.user(900, first_name="王建国")
    district = fake_api.user(901, first_name="区工会")
    city = fake_api.user(902, first_name="市总")
    d_mark = fake_api.mark()
    await fill_application(fake_api, applicant, set(), bot)
    await fake_api.wait_for(lambda: any(m.inline_keyboard for m in fake_api.chat(district)), timeout=15)
    app, _ = await stored(data_dir, 900)

    async def press(user, data: str) -> None:
        await press_data(fake_api, user, data)

    await press(district, Review(Action.L1_RETURN, app.id).encode())
    await say(fake_api, district, "请补充设备清单。")
    await press(district, ReviewSection(app.id, "equipment").encode())
    await press(district, ReviewAux(ReviewOp.DEFAULT, app.id).encode())
    await fake_api.wait_for(lambda: any("请补充设备清单" in (m.text or "") for m in fake_api.chat(applicant)),
                            timeout=15)
    await tap(fake_api, applicant, WizardOp.RESUME)
    await tap(fake_api, applicant, WizardOp.EDIT, "equipment")
    await say(fake_api, applicant, "数控机床\n三维扫描仪\n激光切割机")
    await tap(fake_api, applicant, WizardOp.DONE)
    await tap(fake_api, applicant, WizardOp.SUBMIT)
    await tap(fake_api, applicant, WizardOp.CONFIRM)
    await fake_api.wait_for(lambda: any("激光切割机" in (m.text or "") and m.inline_keyboard
                                        for m in fake_api.chat(district)), timeout=15)
    c_mark = fake_api.mark()
    await press(district, Review(Action.L1_APPROVE, app.id).encode())
    await press(district, ReviewAux(ReviewOp.DEFAULT, app.id).encode())
    await fake_api.wait_for(lambda: any(m.inline_keyboard for m in fake_api.chat(city)), timeout=15)
    await fake_api.wait_idle()
    district_new = new_messages(fake_api, district, d_mark)

    await press(city, Review(Action.SCHEDULE, app.id).encode())
    await say(fake_api, city, "2026-09-20")
    await press(city, Review(Action.INSPECT, app.id).encode())
    await say(fake_api, city, "场地设备齐全。")
    await press(city, Review(Action.PRELIMINARY, app.id).encode())
    await say(fake_api, city, "建议命名。")
    await meeting_over_http(fake_api, city)
    await fake_api.wait_idle()
    assert (await stored(data_dir, 900))[0].status == "notice"
    city_new = new_messages(fake_api, city, c_mark)
    print(f"new messages: district {district_new} (one return, one approval), city {city_new} (arrival to the meeting)")
    assert district_new <= BUDGET, fake_api.transcript(district)
    assert city_new <= BUDGET, fake_api.transcript(city)
    # the card changed in place to where the application stands, with no action left on it
    card = [m for m in fake_api.chat(city) if "2026-" in (m.text or "") and "公示中" in (m.text or "")]
    assert card and not any(
        (b.get("callback_data") or "").startswith("rv:") for row in card[-1].inline_keyboard for b in row)
