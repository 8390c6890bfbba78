"""The applicant's quiet chat: a button changes the message it was pressed on, pasted tables with their
head, the short forms and file kinds people use, and screens that point only at what they show."""

from __future__ import annotations

from bot.callbacks import Wiz, WizardOp, decode
from bot.domain import form
from bot.files import OLE, WPS
from bot.views import wizard as views
from storage import repo
from tests.apply_steps import fill_until_summary, png, tap_op
from tests.offline import buttons
from tests.test_wizard_inputs import app_of, goto_step


def calls_since(bot, mark: int, uid: int) -> list[tuple[str, dict]]:
    """The calls for the person's own chat (a callback answer has no chat)."""
    return [(n, p) for n, p in bot.request.calls[mark:] if int(p.get("chat_id", uid) or uid) == uid]


def pressed_on(bot, uid: int, op: WizardOp) -> tuple[int, str]:
    """(message id, data) of the newest message carrying a button for `op`."""
    for _, p in reversed(bot.request.sent(uid)):
        for _, data in buttons(p):
            d = decode(data)
            if isinstance(d, Wiz) and d.op is op:
                return int(p.get("_message_id") or p["message_id"]), data
    raise AssertionError(f"no {op} button")


async def test_a_button_answer_changes_the_pressed_message_into_the_next_question(bot):
    """R-W1, R-E1: the union picked on the first screen, then a condition answered: each press is
    answered and the same message becomes the next question; nothing new is sent."""
    u = bot.user(300)
    await bot.text(u, "/apply")
    first, data = pressed_on(bot, 300, WizardOp.UNION)
    for op, label in ((WizardOp.UNION, "知名劳模"), (WizardOp.YES, "基本活动场所")):
        mid, data = pressed_on(bot, 300, op)
        mark = await bot.press(u, data, message_id=mid)
        calls = calls_since(bot, mark, 300)
        assert [n for n, _ in calls] == ["answerCallbackQuery", "editMessageText"], calls
        assert calls[1][1]["message_id"] == first and label in calls[1][1]["text"]
    assert (await app_of(bot, 300)).wizard["step"] == "elig_2"


TABLE = ("姓名\t性别\t出生年月\t学历\t职称\t所在单位\t主要分工\n"
         "李明\t女\t1985-06\t硕士\t高级工程师\t大连港集团\t工艺设计\n"
         "赵强\t男\t1988-11\t本科\t工程师\t大连港集团\t设备维护\n"
         "孙丽\t女\t1990-02\t本科\t技师\t大连港集团\t质量检验\n"
         "周凯\t男\t1979-09\t大专\t高级技师\t大连港集团\t工艺实施\n")


async def test_a_pasted_table_with_its_head_adds_every_member(bot):
    """R-F6: the head row copied with the table is not read as a member; the four rows are added and
    nothing is left waiting; an error line reads as one sentence; dropping says what was dropped."""
    u = bot.user(301)
    await goto_step(bot, u, "members")
    mark = await bot.text(u, TABLE)
    preview = bot.request.texts(301, since=mark)[-1]
    assert "读到 4 行人员信息</b>，其中 4 行完整" in preview and "⚠️" not in preview, preview
    mark = await tap_op(bot, u, WizardOp.PASTE_OK)
    assert "已添加 4 位成员" in bot.request.texts(301, since=mark)[-1]
    app = await app_of(bot, 301)
    assert [m["name"] for m in app.answers["members"]] == ["李明", "赵强", "孙丽", "周凯"]
    assert "paste" not in app.wizard

    mark = await bot.text(u, "钱伟\t未知\t1971年13月\t硕士\t工程师\t大连港集团\t设计")
    preview = bot.request.texts(301, since=mark)[-1]
    assert "。；" not in preview and "月份应在 1～12 之间" in preview, preview
    mark = await tap_op(bot, u, WizardOp.PASTE_DROP)
    assert "已放弃没有添加的 1 行" in bot.request.texts(301, since=mark)[-1]
    assert len((await app_of(bot, 301)).answers["members"]) == 4


async def test_gender_as_m_or_f_in_english(bot):
    """R-F2: in English "M" and "F" are the gender options."""
    u = bot.user(302, lang="en")
    await goto_step(bot, u, "leader_gender")
    await bot.text(u, "M")
    assert (await app_of(bot, 302)).answers["leader_gender"] == "male"


async def test_documents_take_wps_and_name_a_photo_after_its_step(bot):
    """R-M2, R-M3: a WPS Writer file (an OLE container, however the client names its type) is taken
    as a document; a photo sent to a document step is named after the step; the step's words name the
    button that is there."""
    u = bot.user(303)
    await goto_step(bot, u, "recommendation")
    assert "“完成”" in bot.request.texts(303)[-1]
    await bot.photo(u, png(7))
    labels = [label for label, _ in bot.last_buttons(303)]
    assert "✅ 完成" in labels and not any("下一步" in label for label in labels), labels
    await tap_op(bot, u, WizardOp.DONE)
    wps = OLE + b"\x00" * 504 + "工作制度".encode()
    await bot.document(u, wps, "工作制度.wps", "application/octet-stream")
    await bot.document(u, wps + b"2", "管理办法.wps", "application/kswps")
    app_id = (await app_of(bot, 303)).id
    async with bot.db.session() as s:
        named = [a.original_name for a in await repo.attachments(s, app_id, "recommendation")]
        wps_types = [a.mime_type for a in await repo.attachments(s, app_id, "rules")]
    assert named == ["单位推荐材料（照片1）.jpg"] and wps_types == [WPS, WPS]


async def test_photos_shown_on_request_come_above_their_delete_buttons(bot):
    """R-M4: "show the photos" on the photos step sends the album, then the step again below it, with
    the buttons that remove a photo under the photos they remove."""
    u = bot.user(304)
    await goto_step(bot, u, "photos")
    for i in range(3):
        await bot.photo(u, png(60 + i))
    mark = await tap_op(bot, u, WizardOp.ALBUM)
    names = [n for n, _ in bot.request.sent(304, since=mark)]
    assert names[0] == "sendMediaGroup" and names[-1] == "sendMessage", names
    assert any(decode(d).op is WizardOp.FILE_DEL for _, d in bot.last_buttons(304))


async def test_no_pointer_to_a_button_that_is_not_there(bot):
    """R-F3: the summary cuts a long answer and offers it whole with a button; the full view of the whole
    application, which has no such button, shows every answer whole and points at nothing."""
    u = bot.user(305)
    await fill_until_summary(bot, u)
    app = await app_of(bot, 305)
    long = "攻关" * 200
    app.answers = {**app.answers, "achievements": long}
    t = bot.app.bot_data["services"].i18n.get("zh")
    d = views.Draft(t=t, app=app, editable=frozenset(f.key for f in form.STEPS))
    text, markup = views.summary_screen(d)
    assert "点下方“全文”查看" in text and any("全文" in b.text for row in markup.inline_keyboard for b in row)
    whole = views.summary_text(d, limit=None)
    assert long in whole and "全文" not in whole
