"""The applicant's wizard screens: the season's window from the first screen, submit only when it can
succeed, lists per item, members pasted as a table, long answers whole, photos on request, English."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.callbacks import WizardOp
from bot.domain import form
from bot.i18n import load_catalog
from storage.models import Application
from tests.apply_steps import fill_until_summary, op_button, png, tap_op
from tests.test_wizard_inputs import goto_step

SH = ZoneInfo("Asia/Shanghai")


async def app_of(bot, uid: int) -> Application:
    async with bot.db.session() as s:
        return (await s.scalars(select(Application).where(Application.applicant_id == uid))).one()


def ops(bot, uid: int) -> list[str]:
    return [d.split(":")[2] for _, d in bot.last_buttons(uid) if d.startswith("f:")]


async def test_window_is_shown_from_the_first_screen_and_on_start(bot):
    """R-D1: the intro and /start state the season's window in its own words, with the days left."""
    u = bot.user(80)
    mark = await bot.text(u, "/apply")
    intro = bot.request.texts(80, since=mark)[-1]
    assert "2026 年度申报时间：2026-07-01 至 07-31" in intro and "还剩 21 天" in intro
    mark = await bot.text(u, "/start")
    start = bot.request.sent(80, since=mark)[-1][1]
    assert "2026 年度申报时间" in start["text"]
    labels = [label for label, _ in bot.last_buttons(80)]
    assert "📝 继续填写申报" in labels and "📋 我的申报" in labels


async def test_submit_is_offered_only_inside_the_window(bot):
    """R-D1: before the season opens the complete summary says when submitting opens, with no submit
    button and no pledge; once open, the button is there."""
    bot.clock.set(datetime(2026, 6, 20, 10, 0, tzinfo=SH))
    u = bot.user(81)
    await fill_until_summary(bot, u)
    summary = bot.request.texts(81)[-1]
    assert "还有 11 天开始" in summary and "2026-07-01 开始" in summary
    assert "sub" not in ops(bot, 81)
    bot.clock.set(datetime(2026, 7, 2, 10, 0, tzinfo=SH))
    await bot.text(u, "/apply")
    assert "sub" in ops(bot, 81)


async def test_equipment_list_is_limited_per_item_not_in_total(bot):
    """R-F5: a real list of many items (far over 100 characters in total) is taken; a second message adds
    to the list; one item is removed, another replaced, each from its own button."""
    u = bot.user(82)
    await goto_step(bot, u, "equipment")
    items = [f"数控车床 CK61{i:02d} 型，配套刀具和夹具若干，{i} 台" for i in range(1, 9)]
    await bot.text(u, "\n".join(items[:5]))
    await bot.text(u, "\n".join(items[5:]))
    await tap_op(bot, u, WizardOp.DONE)
    app = await app_of(bot, 82)
    assert app.answers["equipment"] == items and sum(map(len, items)) > 100
    await tap_op(bot, u, WizardOp.BACK)  # members → equipment
    app = await app_of(bot, 82)
    assert app.wizard["step"] == "equipment"
    await tap_op(bot, u, WizardOp.ITEM_PICK, "0")
    await tap_op(bot, u, WizardOp.ITEM_DEL, "0")
    assert (await app_of(bot, 82)).answers["equipment"] == items[1:]
    await tap_op(bot, u, WizardOp.ITEM_PICK, "1")
    mark = await bot.text(u, "三坐标测量机\n激光跟踪仪")  # one item replaces one item
    assert "一项" in bot.request.texts(82, since=mark)[-1]
    await bot.text(u, "三坐标测量机 CMM-1000，1 台")
    assert (await app_of(bot, 82)).answers["equipment"] == [items[1], "三坐标测量机 CMM-1000，1 台", *items[3:]]
    await bot.text(u, "激光切割机")
    await tap_op(bot, u, WizardOp.DONE)
    assert (await app_of(bot, 82)).answers["equipment"] == [items[1], "三坐标测量机 CMM-1000，1 台", *items[3:],
                                                            "激光切割机"]


async def test_members_pasted_as_a_table_get_a_preview(bot):
    """R-F6: the member table pasted from a spreadsheet (tabs, commas or 、) is previewed with the errors
    marked; the valid rows are added with one button, a faulty row is completed step by step."""
    u = bot.user(83)
    await goto_step(bot, u, "members")
    mark = await bot.text(u, "1\t李明\t女\t1985-06\t硕士研究生\t高级工程师\t大连港集团\t工艺设计\n"
                             "王芳，女，1990年13月，大学本科，工程师，大连理工大学，检测\n"
                             "赵强、Male、1979.5、博士研究生、技师、大连港、设备维护")
    preview = bot.request.texts(83, since=mark)[-1]
    assert "读到 3 行" in preview and "2 行完整" in preview and "⚠️ 王芳" in preview and "出生年月" in preview
    await tap_op(bot, u, WizardOp.PASTE_OK)
    app = await app_of(bot, 83)
    assert [m["name"] for m in app.answers["members"]] == ["李明", "赵强"]
    assert app.answers["members"][1]["gender"] == "male" and app.answers["members"][1]["birth"] == "1979-05"
    await tap_op(bot, u, WizardOp.PASTE_FIX, "0")
    await bot.text(u, "1990-12")  # only the faulty cell is asked
    app = await app_of(bot, 83)
    assert [m["name"] for m in app.answers["members"]] == ["李明", "赵强", "王芳"]
    assert app.answers["members"][2]["birth"] == "1990-12" and app.answers["members"][2]["employer"] == "大连理工大学"
    assert not app.wizard.get("paste")


async def test_long_answer_is_readable_whole_and_photos_on_request(bot):
    """R-F3, R-M4: the summary cuts a long answer but sends it whole on request, lists file names and
    sends the photos as an album on request."""
    u = bot.user(84)
    from tests import apply_steps

    long_text = "成果" * 600
    old = apply_steps.LEADER["achievements"]
    apply_steps.LEADER["achievements"] = long_text
    try:
        await fill_until_summary(bot, u)
    finally:
        apply_steps.LEADER["achievements"] = old
    summary = bot.request.texts(84)[-1]
    assert long_text not in summary and "推荐材料.pdf" in summary
    mark = await tap_op(bot, u, WizardOp.ALBUM)
    assert "sendMediaGroup" in [n for n, _ in bot.request.sent(84, since=mark)]
    await bot.text(u, "/apply")  # the summary again
    mark = await tap_op(bot, u, WizardOp.FULL, "achievements")
    assert long_text in "".join(bot.request.texts(84, since=mark)).replace("\n", "")


async def test_older_question_buttons_are_refused_and_other_has_back(bot):
    """R-F2: a button of an earlier question changes nothing; "Other" asks for the text with a way back."""
    from bot.callbacks import Wiz

    u = bot.user(85)
    await goto_step(bot, u, "leader_education")
    app = await app_of(bot, 85)
    mark = await bot.press(u, Wiz(app.id, WizardOp.CHOICE, "female", "leader_gender").encode())
    assert bot.request.alerts(since=mark) and (await app_of(bot, 85)).answers["leader_gender"] == "male"
    await tap_op(bot, u, WizardOp.OTHER)
    assert ops(bot, 85) == ["b"]
    await tap_op(bot, u, WizardOp.BACK)
    assert "c" in ops(bot, 85) and (await app_of(bot, 85)).wizard["step"] == "leader_education"


async def test_english_wizard_reads_without_chinese(bot):
    """The English wizard: "March 1975" is a birth month, funds read in yuan, and no English text of the
    wizard, the form or the welcome holds Chinese characters."""
    u = bot.user(86, lang="en")
    await goto_step(bot, u, "leader_birth")
    await bot.text(u, "March 1975")
    assert (await app_of(bot, 86)).answers["leader_birth"] == "1975-03"
    cjk = re.compile(r"[\u4e00-\u9fff]")
    en = load_catalog("en")
    allowed = {"command.language", "language.choose"}  # the language switch names both languages
    prefixes = ("apply.", "wizard.", "summary.", "submit.", "members.", "photos.", "file.", "error.", "paste.",
                "applicant.", "field.", "choice.", "section.", "start.", "help.", "cancel.")
    bad = [k for k, v in en.items() if k.startswith(prefixes) and k not in allowed and cjk.search(v)]
    assert not bad, bad


async def test_my_and_status_of_a_draft_speak_of_a_draft(bot):
    """R-D1: /my and /status of a draft say it is not submitted yet, with the window, and offer to continue."""
    u = bot.user(87)
    await goto_step(bot, u, "leader_name")
    mark = await bot.text(u, "/my")
    my = bot.request.texts(87, since=mark)[-1]
    assert "草稿，尚未提交" in my and "2026 年度申报时间" in my and "提交后生成 ·" not in my
    assert any("继续填写 2026 年度申报" in label for label, _ in bot.last_buttons(87))
    mark = await bot.text(u, "/status")
    status = bot.request.texts(87, since=mark)[-1]
    assert "草稿，尚未提交" in status and "提交后生成 的进度" not in status


async def test_an_answered_question_loses_its_buttons(bot):
    """R-F: only the newest question has live buttons. One answered by typing keeps its answer and
    loses its buttons before the next question comes below it; one answered by its own button is
    replaced in place (no extra call); after a restart the sender finds the question in the database."""
    u = bot.user(86)
    await goto_step(bot, u, "applying_unit")
    q1 = bot.request.last(86)["_message_id"]
    mark = await bot.text(u, "大连港集团有限公司")
    calls = [(n, p) for n, p in bot.request.calls[mark:] if int(p.get("chat_id", 0) or 0) == 86]
    names = [n for n, _ in calls]
    assert names == ["editMessageText", "sendMessage"], names
    assert calls[0][1]["message_id"] == q1 and not calls[0][1].get("reply_markup")
    assert calls[0][1]["text"] == "<b>申报单位</b>：大连港集团有限公司 ✓"
    q2 = calls[1][1]["_message_id"]

    mark = await bot.press(u, op_button(bot, u, WizardOp.BACK), message_id=q2)
    names = [n for n, p in bot.request.calls[mark:] if int(p.get("chat_id", 0) or 0) == 86]
    assert names == ["editMessageText"], names

    bot.app.bot_data["services"].sender.screens.clear()  # what a restart forgets
    mark = await bot.text(u, "大连港集团有限公司")
    retired = [p["message_id"] for n, p in bot.request.calls[mark:] if n == "editMessageText"]
    assert retired == [q2]


async def test_a_wrong_member_answer_is_told_without_the_whole_question(bot):
    """R-F6: a member's answer that cannot be taken gets what is wrong and the example once, with the
    member's progress and the question's buttons, not the whole question again; nothing entered is lost."""
    u = bot.user(87)
    await goto_step(bot, u, "members")
    await tap_op(bot, u, WizardOp.MEMBER_ADD)
    await bot.text(u, "李明")
    await tap_op(bot, u, WizardOp.CHOICE)
    mark = await bot.text(u, "去年春天")
    reply = bot.request.texts(87, since=mark)
    assert len(reply) == 1 and reply[0].count("1988-07") == 1, reply
    assert "第 1 位成员" in reply[0] and "出生年月" in reply[0] and "格式为“年-月”" not in reply[0], reply[0]
    assert any(WizardOp.BACK.value in d for _, d in bot.last_buttons(87))
    app = await app_of(bot, 87)
    assert app.wizard["m"]["f"] == "member_birth" and app.wizard["m"]["row"]["name"] == "李明"


async def continue_to(bot, u, key: str) -> None:
    """Answer validly from where the wizard stands until `key` is on screen."""
    from tests.test_wizard_inputs import answer_validly

    while (step := (await app_of(bot, u["id"])).wizard["step"]) != key:
        await answer_validly(bot, u, form.BY_KEY[step])


async def test_short_answers_say_what_is_needed_once_in_chinese_as_written(bot):
    """R-F2, R-F3, R-F6, R-M4: an answer that cannot be taken gives the example once without the question;
    a part of a long text is acknowledged in one line; editing a member's field shows its current value;
    photos are counted in 张; an optional document offers no "done" beside "keep"; the summary uses
    full-width colons."""
    u = bot.user(88)
    await goto_step(bot, u, "leader_birth")
    mark = await bot.text(u, "三月")
    reply = bot.request.texts(88, since=mark)
    assert len(reply) == 1 and reply[0].count("1975-03") == 1 and "格式为“年-月”" not in reply[0], reply

    await bot.text(u, "1975-03")
    await continue_to(bot, u, "achievements")
    mark = await bot.text(u, "2023年牵头完成生产线节能改造。")
    reply = bot.request.texts(88, since=mark)
    assert len(reply) == 1 and "已收到第 1 段" in reply[0] and "内容较长可分几条消息发送" not in reply[0], reply

    await tap_op(bot, u, WizardOp.DONE)
    await continue_to(bot, u, "members")
    await tap_op(bot, u, WizardOp.MEMBER_ADD)
    for value in ("李明", None, "1985-06", None, None, "大连港", "设计"):
        await (tap_op(bot, u, WizardOp.CHOICE) if value is None else bot.text(u, value))
    await tap_op(bot, u, WizardOp.MEMBER_EDIT, "0")
    mark = await tap_op(bot, u, WizardOp.MEMBER_FIELD, "employer")
    assert "当前填写" in bot.request.texts(88, since=mark)[-1] and "大连港" in bot.request.texts(88, since=mark)[-1]

    await tap_op(bot, u, WizardOp.BACK)
    await tap_op(bot, u, WizardOp.DONE)
    await continue_to(bot, u, "photos")
    mark = await bot.photo(u, png(401))
    assert "张" in bot.request.texts(88, since=mark)[-1] and "个" not in bot.request.texts(88, since=mark)[-1]

    await continue_to(bot, u, "summary")
    summary = bot.request.texts(88)[-1]
    assert "：" in summary and not re.search(r"[\u4e00-\u9fff]: ", summary), summary[:400]
    await tap_op(bot, u, WizardOp.EDIT, "documents")
    await tap_op(bot, u, WizardOp.FIELD, "other_materials")
    shown = ops(bot, 88)
    assert not ({WizardOp.DONE.value, WizardOp.KEEP.value} <= set(shown)) and len(shown) <= 3, shown
