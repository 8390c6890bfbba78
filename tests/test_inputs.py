"""One mechanism for every flow that waits for typed text (`conversations.inputs`): the text goes to the
flow that asked last, whatever the order the modules registered their handlers in; a sticky flow (the
wizard, a reviewer's decision) stays open while the person looks elsewhere, the others end."""

from __future__ import annotations

from sqlalchemy import select

from bot.callbacks import ReviewStep
from bot.domain.workflow import Action
from storage.models import Application, Union
from tests.roles import first_union_id, grant
from tests.test_review_flow import DISTRICT, press_action, submitted, who
from tests.test_wizard_inputs import goto_step


async def own_application(bot, uid: int) -> Application:
    async with bot.db.session() as s:
        return (await s.scalars(select(Application).where(Application.applicant_id == uid))).one()


async def test_text_goes_to_the_flow_that_asked_last(bot):
    """R-W1, R-F1: a district reviewer with an application of their own open: after the decision's
    prompt the text is the opinion; after /apply it is the form's answer, and the decision stays open
    with what was typed; its button makes the next text the opinion again."""
    app = await submitted(bot)
    d = who(bot, DISTRICT)
    await goto_step(bot, d, "applying_unit")
    await press_action(bot, DISTRICT, Action.L1_REJECT, app.id)
    await bot.text(d, "/help")  # looking elsewhere does not close a decision
    mark = await bot.text(d, "成果不足。")
    assert "成果不足" in bot.request.texts(DISTRICT, since=mark)[-1]

    await bot.text(d, "/apply")
    await bot.text(d, "大连港集团有限公司")
    own = await own_application(bot, DISTRICT)
    assert own.answers.get("applying_unit") == "大连港集团有限公司"

    mark = await bot.press(d, ReviewStep(app.id, "opinion").encode())
    await bot.text(d, "近三年成果不足，暂不推荐。")
    screen = bot.request.texts(DISTRICT, since=mark)[-1]
    assert "近三年成果不足" in screen and "不予推荐" in screen
    assert (await own_application(bot, DISTRICT)).answers.get("leader_name") is None


async def test_an_admin_edit_ends_when_the_admin_turns_elsewhere_and_cancel_is_the_newest_flows(bot):
    """R-C1: an admin's typed step is the newest flow: /cancel ends it and not the wizard open before;
    another command ends it too, and the text goes back to the wizard."""
    a = bot.user(900)
    await grant(bot, 901, "district_reviewer", await first_union_id(bot))  # no notice of an unstaffed union
    await goto_step(bot, a, "applying_unit")
    await bot.text(a, "/admin")
    await bot.tap(a, "🏢 工会")
    await bot.tap(a, "新增区市县工会")
    await bot.text(a, "/cancel")
    await bot.text(a, "测试新区总工会")
    assert (await own_application(bot, 900)).answers.get("applying_unit") == "测试新区总工会"

    await bot.text(a, "/admin")
    await bot.tap(a, "🏢 工会")
    await bot.tap(a, "新增区市县工会")
    await bot.text(a, "/my")
    await bot.text(a, "王建国")
    async with bot.db.session() as s:
        assert (await s.scalars(select(Union).where(Union.name_zh == "王建国"))).first() is None
    assert (await own_application(bot, 900)).answers.get("leader_name") == "王建国"


async def test_a_refused_press_or_a_view_does_not_take_the_text_from_the_flow_waiting(bot):
    """R-W1: a reviewer with a decision prompt open presses an older question of their own form (refused):
    the next text is still the decision's opinion. With the form open after that, a card's full view (to
    read) leaves the next text to the form."""
    from bot.callbacks import ReviewAux, ReviewOp, Wiz, WizardOp

    app = await submitted(bot)
    d = who(bot, DISTRICT)
    await goto_step(bot, d, "applying_unit")
    own = await own_application(bot, DISTRICT)
    await press_action(bot, DISTRICT, Action.L1_REJECT, app.id)
    await bot.press(d, Wiz(own.id, WizardOp.BACK, None, "elig_5").encode())  # an older question: refused
    mark = await bot.text(d, "成果不足。")
    assert "不予推荐" in bot.request.texts(DISTRICT, since=mark)[-1]
    assert (await own_application(bot, DISTRICT)).answers.get("applying_unit") is None

    await bot.text(d, "/apply")
    await bot.press(d, ReviewAux(ReviewOp.FULL, app.id).encode())  # the whole form, to read
    await bot.text(d, "大连港集团有限公司")
    assert (await own_application(bot, DISTRICT)).answers.get("applying_unit") == "大连港集团有限公司"


async def test_a_press_that_fails_leaves_the_waiting_flows_as_they_were(bot, monkeypatch):
    """R-W1: when handling a press fails (its changes rolled back), which flow waits for text is put back
    too: the form open before still takes the next answer."""
    from conversations import review

    app = await submitted(bot)
    d = who(bot, DISTRICT)
    await goto_step(bot, d, "applying_unit")

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the prompt could not be made")

    monkeypatch.setattr(review, "_prompt", broken)
    await press_action(bot, DISTRICT, Action.L1_REJECT, app.id)
    monkeypatch.undo()
    await bot.text(d, "大连港集团有限公司")
    assert (await own_application(bot, DISTRICT)).answers.get("applying_unit") == "大连港集团有限公司"
