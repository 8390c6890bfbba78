"""A reviewer's chat at season scale (R-W1, R-W2): one card per application that changes in place, the
photos and documents once and again on request, /pending as one list, the changes of a resubmission."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bot.callbacks import PendingOpen, PendingPage, Review, ReviewAux, ReviewOp, ReviewSection, WizardOp
from bot.domain.workflow import Action
from storage import repo
from storage.models import Application, Attachment
from tests.apply_steps import tap_op
from tests.offline import buttons
from tests.test_review_flow import APPLICANT, DISTRICT, load, submitted, who

NEW = ("new", "sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup", "sendVideo")


def new_messages(bot, chat_id: int, since: int) -> list[str]:
    """The methods of the new messages sent to `chat_id` since the mark (an album: one per photo)."""
    out = []
    for name, p in bot.request.calls[since:]:
        if name in NEW and int(p.get("chat_id", 0) or 0) == chat_id:
            out.append(name)
    return out


def card_id(bot, chat_id: int, app_id: int) -> int:
    """The message id of the newest message to `chat_id` carrying the application's action buttons."""
    for name, p in reversed(bot.request.calls):
        if name == "sendMessage" and int(p.get("chat_id", 0)) == chat_id \
                and any(d.startswith("rv:") and d.endswith(f":{app_id}") for _, d in buttons(p)):
            return int(p["_message_id"])
    raise AssertionError("no card")


async def test_the_card_after_a_decision_is_the_same_message_changed(bot):
    """R-W1: the district's approval is prompted and shown on the card itself: no new message, the card says
    the new status and who decided, its action buttons are gone."""
    app = await submitted(bot)
    d = who(bot, DISTRICT)
    card = card_id(bot, DISTRICT, app.id)
    mark = await bot.press(d, Review(Action.L1_APPROVE, app.id).encode(), message_id=card)
    await bot.press(d, ReviewAux(ReviewOp.DEFAULT, app.id).encode(), message_id=card)
    assert (await load(bot)).status == "forwarded"
    assert new_messages(bot, DISTRICT, mark) == []
    edits = [p for n, p in bot.request.calls[mark:] if n == "editMessageText" and int(p["chat_id"]) == DISTRICT]
    assert edits and all(int(p["message_id"]) == card for p in edits)
    last = edits[-1]
    assert "待市总工会审核" in last["text"] and "U20" in last["text"]
    assert not any(data.startswith("rv:") for _, data in buttons(last))


async def test_a_return_toggles_its_sections_on_one_screen(bot):
    """R-W1: each section toggled changes the one confirmation on screen; nothing new is sent."""
    app = await submitted(bot)
    d = who(bot, DISTRICT)
    card = card_id(bot, DISTRICT, app.id)
    await bot.press(d, Review(Action.L1_RETURN, app.id).encode(), message_id=card)
    await bot.text(d, "请补充设备清单。")
    screen = int(bot.request.sent(DISTRICT)[-1][1]["_message_id"])
    mark = len(bot.request.calls)
    for section in ("equipment", "members", "equipment", "documents"):
        await bot.press(d, ReviewSection(app.id, section).encode(), message_id=screen)
    assert new_messages(bot, DISTRICT, mark) == []
    edits = [p for n, p in bot.request.calls[mark:] if n == "editMessageText" and int(p["chat_id"]) == DISTRICT]
    assert len(edits) == 4 and {int(p["message_id"]) for p in edits} == {screen}
    assert "参与人员、申报材料" in edits[-1]["text"]


async def test_photos_and_documents_arrive_once_and_again_only_on_request(bot):
    """R-M2…R-M4: the card comes once with the photos and documents; 🖼 sends the album once, 📎 each
    document once; the card moves under them."""
    app = await submitted(bot)
    sent = new_messages(bot, DISTRICT, 0)
    assert sent.count("sendMediaGroup") == 1
    async with bot.db.session() as s:
        docs = len((await s.scalars(select(Attachment).where(Attachment.kind == "document"))).all())
    d = who(bot, DISTRICT)
    mark = await bot.press(d, ReviewAux(ReviewOp.PHOTOS, app.id).encode(), message_id=card_id(bot, DISTRICT, app.id))
    assert new_messages(bot, DISTRICT, mark) == ["sendMediaGroup", "sendMessage"]
    mark = await bot.press(d, ReviewAux(ReviewOp.FILES, app.id).encode(), message_id=card_id(bot, DISTRICT, app.id))
    assert new_messages(bot, DISTRICT, mark) == ["sendDocument"] * docs + ["sendMessage"]
    last = bot.request.sent(DISTRICT)[-1][1]
    assert Review(Action.L1_APPROVE, app.id).encode() in [x for _, x in buttons(last)]
    assert "见上方" not in last["text"] and "已上传" not in last["text"]


async def test_pending_is_one_list_and_opens_a_card_in_its_place(bot):
    """R-W1: /pending is one message, the longest waiting first (number · unit · studio · status · days), a
    button a line; a line's button turns the list into that card, a page's button edits the list."""
    app = await submitted(bot)
    async with bot.db.session() as s:
        await s.execute(update(Application).where(Application.id == app.id)
                        .values(status_since=bot.clock.now() - timedelta(days=6)))
        await s.commit()
    d = who(bot, DISTRICT)
    mark = await bot.text(d, "/pending")
    assert new_messages(bot, DISTRICT, mark) == ["sendMessage"]
    listed = bot.request.sent(DISTRICT, since=mark)[-1][1]
    assert app.number in listed["text"] and "大连港集团有限公司" in listed["text"] and "6 天" in listed["text"]
    opened = PendingOpen(app.id).encode()
    assert opened in [x for _, x in buttons(listed)]
    mark = await bot.press(d, opened, message_id=int(listed["_message_id"]))
    assert new_messages(bot, DISTRICT, mark) == []
    edit = next(p for n, p in bot.request.calls[mark:] if n == "editMessageText")
    assert int(edit["message_id"]) == int(listed["_message_id"]) and "王建国" in edit["text"]
    assert Review(Action.L1_APPROVE, app.id).encode() in [x for _, x in buttons(edit)]
    mark = await bot.press(d, PendingPage(0).encode(), message_id=int(listed["_message_id"]))
    assert new_messages(bot, DISTRICT, mark) == []


async def test_pending_orders_by_waiting_and_pages_ten_lines(bot):
    """R-W1: twelve applications waiting: ten lines on the first page, the oldest first, two on the next."""
    app = await submitted(bot)
    async with bot.db.session() as s:
        row = await s.get(Application, app.id)
        base = {c.key: getattr(row, c.key) for c in Application.__table__.columns if c.key not in ("id", "number")}
        for i in range(11):
            await repo.upsert_user(s, 500 + i, f"U{500 + i}", None, None, "zh-hans", bot.clock.now())
            s.add(Application(**{**base, "number": f"2026-01{i:02d}", "applicant_id": 500 + i,
                                 "status_since": bot.clock.now() - timedelta(days=i + 1)}))
        await s.commit()
    d = who(bot, DISTRICT)
    mark = await bot.text(d, "/pending")
    text = bot.request.sent(DISTRICT, since=mark)[-1][1]["text"]
    lines = [x for x in text.split("\n") if " · " in x]
    assert len(lines) == 10 and lines[0].startswith("1. 2026-0110") and "11 天" in lines[0]
    page = bot.request.sent(DISTRICT, since=mark)[-1][1]
    mark = await bot.press(d, PendingPage(1).encode(), message_id=int(page["_message_id"]))
    edit = next(p for n, p in bot.request.calls[mark:] if n == "editMessageText")
    assert [x for x in edit["text"].split("\n") if " · " in x][-1].startswith(f"12. {app.number}")


async def test_the_changes_name_an_added_member_a_replaced_file_and_a_long_text_in_full(bot):
    """R-W1, R-F3, R-F6, R-M2: after a return the card lists what changed: the member added by name with
    their details, the document replaced by both names, the changed sentences of a long text in full."""
    from tests.test_review_flow import returned_by_district

    app = await submitted(bot)
    await returned_by_district(bot, app.id, "请补充成员、材料和成果。", "members", "documents", "achievements")
    long_new = "主持完成自动化岸桥远程操控系统的研发与推广应用，年节约成本三百万元以上。"
    async with bot.db.session() as s:
        row = await s.get(Application, app.id)
        members = [*row.answers["members"], {**row.answers["members"][0], "name": "赵晓红"}]
        row.answers = {**row.answers, "members": members, "achievements": row.answers["achievements"] + long_new}
        doc = (await s.scalars(select(Attachment).where(Attachment.field == "recommendation"))).first()
        old_name = doc.original_name
        doc.original_name, doc.sha256 = "推荐材料（修订）.pdf", "f" * 64  # the applicant replaced it
        await s.commit()
    u = bot.user(APPLICANT)
    await bot.text(u, "/apply")
    await tap_op(bot, u, WizardOp.SUBMIT)
    mark = await tap_op(bot, u, WizardOp.CONFIRM)
    assert (await load(bot)).status == "submitted"
    card = bot.request.texts(DISTRICT, since=mark)[-1]
    assert "新增 赵晓红（" in card
    assert f"{old_name} 换成 推荐材料（修订）.pdf" in card
    assert f"＋ {long_new}" in card
    assert "申报材料：未修改" not in card
    # only the replaced document is sent again, above the card
    assert new_messages(bot, DISTRICT, mark) == ["sendDocument", "sendMessage"]
