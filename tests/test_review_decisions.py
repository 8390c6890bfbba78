"""Reviewers on their phones: the card from the declaration (R-F1…R-F8, R-M2…R-M4), decisions checked on
one screen before they are recorded (R-W1…R-W4), /pending in submission order, the admins' warnings, bad
invitation links, the command menu, the printed city box (R-W2, R-F8) and the morning digest."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot import digest
from bot.callbacks import (
    Admin,
    AdminOp,
    PendingOpen,
    PendingPage,
    Review,
    ReviewAux,
    ReviewMore,
    ReviewOp,
    ReviewStep,
    WizardOp,
    decode,
)
from bot.domain import form
from bot.domain.workflow import Action, Role
from bot.exports.data import load_bundle
from bot.exports.docx_form import FormWriter, _text
from storage.models import AuditEvent, Invitation, OpinionRecord
from tests.apply_steps import tap_op
from tests.city_steps import meeting_approves
from tests.offline import buttons
from tests.roles import first_union_id, grant
from tests.test_review_flow import (
    APPLICANT,
    CITY,
    DISTRICT,
    DISTRICT2,
    city_ready,
    load,
    press_action,
    returned_by_district,
    submitted,
    who,
)

SH = ZoneInfo("Asia/Shanghai")
ADMIN = 900


def datas(bot, chat_id: int, mark: int) -> list[str]:
    return [d for _, p in bot.request.sent(chat_id, since=mark) for _, d in buttons(p)]


async def open_from_pending(bot, user_id: int, app_id: int) -> int:
    """/pending, then the application's line: the mark before the card shows."""
    mark = await bot.text(who(bot, user_id), "/pending")
    listed = bot.request.sent(user_id, since=mark)[-1][1]
    return await bot.press(who(bot, user_id), PendingOpen(app_id).encode(), message_id=int(listed["_message_id"]))


def card_text(bot, chat_id: int, mark: int = 0) -> str:
    """The last message carrying review buttons (a card) since `mark`."""
    cards = [p["text"] for _, p in bot.request.sent(chat_id, since=mark)
             if any(isinstance(decode(d), Review) for _, d in buttons(p))]
    assert cards, bot.request.texts(chat_id, since=mark)
    return cards[-1]


# --------------------------------------------------------------------------- the card


async def test_card_shows_every_declared_field_in_form_order_with_files_by_name(bot):
    """R-F1…R-F8, R-M2…R-M4: the card walks the declaration — achievements, equipment, members, plan, the
    unit's and the union's opinions — in the form's order, photos counted (album above), documents by name."""
    await submitted(bot)
    text = card_text(bot, DISTRICT)
    labels = [f for f in form.STEPS if f.card]
    t = bot.app.bot_data["services"].i18n.get("zh")
    positions = [text.find(f"<b>{t(f.label_key)}</b>") for f in labels if f.key not in ("video", "other_materials")]
    assert all(p >= 0 for p in positions), [f.key for f, p in zip(labels, positions, strict=False) if p < 0]
    assert positions == sorted(positions)
    for part in ("获国家专利5项", "三维扫描仪", "李明", "智能码头", "推荐材料.pdf", "周例会制度", "同意申报"):
        assert part in text, part
    assert "3 张" in text


async def test_long_answers_are_cut_with_a_more_button_that_shows_them_in_full(bot):
    """R-F3: a long achievements text is cut on the card; "展开" sends it in full to the reviewer only."""
    app = await submitted(bot)
    long = "主持完成集装箱装卸工艺改造。" * 30
    async with bot.db.session() as s:
        row = await s.get(type(app), app.id)
        row.answers = {**row.answers, "achievements": long}
        await s.commit()
    mark = await open_from_pending(bot, DISTRICT, app.id)
    text = card_text(bot, DISTRICT, mark)
    assert long not in text and "…" in text
    more = ReviewMore(app.id, "achievements").encode()
    assert more in datas(bot, DISTRICT, mark)
    mark = await bot.press(who(bot, DISTRICT), more)
    assert long in bot.request.texts(DISTRICT, since=mark)[-1]
    # someone who may not see the application gets nothing of it
    mark = await bot.press(bot.user(55), more)
    assert not bot.request.texts(55, since=mark) and bot.request.alerts(since=mark)[-1]["show_alert"]


async def test_card_after_inspection_shows_the_findings_and_the_preliminary_opinion(bot):
    """R-W2: whoever decides after the presidents' meeting sees the inspection date and findings and the
    preliminary opinion on the card."""
    app = await city_ready(bot)
    mark = await open_from_pending(bot, CITY, app.id)
    text = card_text(bot, CITY, mark)
    assert "2026-09-20" in text and "场地设备齐全" in text and "建议命名" in text
    assert "会议名单" in text  # naming is the meeting's: its list, not a button of the card
    assert not any(d.startswith(("rv:approve", "rv:meeting")) for d in datas(bot, CITY, mark))


async def test_resubmission_card_shows_round_reopened_sections_and_the_changes(bot):
    """R-W1: a resubmitted application's card says 第 2 轮, the return remark (not as the district's opinion),
    the sections reopened and what changed since the return."""
    app = await submitted(bot)
    await returned_by_district(bot, app.id, "请补充设备清单。", "equipment")
    u = bot.user(APPLICANT)
    await bot.text(u, "/apply")
    await tap_op(bot, u, WizardOp.EDIT, "equipment")
    await bot.text(u, "数控机床\n激光切割机")
    await tap_op(bot, u, WizardOp.DONE)
    await tap_op(bot, u, WizardOp.SUBMIT)
    mark = await tap_op(bot, u, WizardOp.CONFIRM)
    assert (await load(bot)).status == "submitted"
    text = card_text(bot, DISTRICT, mark)
    assert "第 2 轮" in text and "请补充设备清单" in text and "设备" in text
    assert "激光切割机" in text and "三维扫描仪" in text.split("激光切割机")[0]  # before → after
    assert "区市县、产业工会意见</b>：请补充" not in text


# --------------------------------------------------------------------------- decisions checked before they are final


async def test_rejection_is_shown_on_one_screen_and_recorded_only_when_confirmed(bot):
    """R-W1, R-W4: the typed opinion is not final; the screen shows it with change and confirm buttons."""
    app = await submitted(bot)
    d = who(bot, DISTRICT)
    await press_action(bot, DISTRICT, Action.L1_REJECT, app.id)
    mark = await bot.text(d, "成果不足。")
    assert (await load(bot)).status == "submitted"
    screen = bot.request.texts(DISTRICT, since=mark)[-1]
    assert "成果不足" in screen and "不予推荐" in screen
    got = datas(bot, DISTRICT, mark)
    assert ReviewAux(ReviewOp.CONFIRM, app.id).encode() in got and ReviewStep(app.id, "opinion").encode() in got
    await bot.press(d, ReviewStep(app.id, "opinion").encode())
    mark = await bot.text(d, "近三年成果不足，暂不推荐。")
    assert "近三年成果不足" in bot.request.texts(DISTRICT, since=mark)[-1]  # back on the screen, changed
    await bot.press(d, ReviewAux(ReviewOp.CONFIRM, app.id).encode())
    app = await load(bot)
    assert app.status == "rejected"
    async with bot.db.session() as s:
        ops = (await s.scalars(select(OpinionRecord).where(OpinionRecord.box == "district"))).all()
    assert [o.text for o in ops] == ["近三年成果不足，暂不推荐。"]


async def test_cancel_keeps_the_decision_as_a_draft(bot):
    """R-W4: cancelling a rejection keeps its opinion as a draft; the next press of 不予命名 brings it back on
    the confirmation screen, where it is changed and then recorded."""
    app = await city_ready(bot)
    city = who(bot, CITY)
    await press_action(bot, CITY, Action.REJECT, app.id)
    mark = await bot.text(city, "场地面积不足，暂不命名。")
    assert "场地面积不足" in bot.request.texts(CITY, since=mark)[-1]  # the confirmation screen
    mark = await bot.press(city, ReviewAux(ReviewOp.CANCEL, app.id).encode())
    assert "草稿" in bot.request.alerts(since=mark)[-1]["text"]
    assert "实地考察情况" in bot.request.texts(CITY, since=mark)[-1]  # the card again, in place
    assert (await load(bot)).status == "preliminary"
    mark = await press_action(bot, CITY, Action.REJECT, app.id)
    assert "场地面积不足" in bot.request.texts(CITY, since=mark)[-1]
    await bot.press(city, ReviewStep(app.id, "opinion").encode())
    await bot.text(city, "场地面积不足五十平方米，暂不命名。")
    await bot.press(city, ReviewAux(ReviewOp.CONFIRM, app.id).encode())
    app = await load(bot)
    assert app.status == "rejected"
    async with bot.db.session() as s:
        ops = (await s.scalars(select(OpinionRecord).where(OpinionRecord.box == "city"))).all()
    assert [o.text for o in ops] == ["场地面积不足五十平方米，暂不命名。"]


async def test_a_double_tap_gives_one_prompt(bot):
    """R-W1: a second tap on 同意并上报 while its prompt is open sends nothing new."""
    app = await submitted(bot)
    await press_action(bot, DISTRICT, Action.L1_APPROVE, app.id)
    mark = await press_action(bot, DISTRICT, Action.L1_APPROVE, app.id)
    assert bot.request.texts(DISTRICT, since=mark) == []
    assert (await load(bot)).status == "submitted"


async def test_an_expired_decision_button_names_the_command(bot):
    """R-W1: a button of a decision no longer open says to send /pending."""
    app = await submitted(bot)
    mark = await bot.press(who(bot, DISTRICT), ReviewAux(ReviewOp.CONFIRM, app.id).encode())
    alert = bot.request.alerts(since=mark)[-1]
    assert alert["show_alert"] and "/pending" in alert["text"]


# --------------------------------------------------------------------------- /pending


async def test_pending_lists_every_status_waiting_for_the_city_in_one_message_with_pages(bot, monkeypatch):
    """R-W1, R-W2: /pending lists what waits for the city, whatever its status (forwarded, inspection
    scheduled), in one message, and pages by editing it."""
    from conversations import review as conv

    first = await submitted(bot)
    second_applicant = bot.user(11)
    from tests.apply_steps import fill_until_summary

    await fill_until_summary(bot, second_applicant)
    await tap_op(bot, second_applicant, WizardOp.SUBMIT)
    await tap_op(bot, second_applicant, WizardOp.CONFIRM)
    async with bot.db.session() as s:
        from storage.models import Application

        second = (await s.scalars(select(Application).where(Application.applicant_id == 11))).one()
    for app in (first, second):
        await press_action(bot, DISTRICT, Action.L1_APPROVE, app.id)
        await bot.press(who(bot, DISTRICT), ReviewAux(ReviewOp.DEFAULT, app.id).encode())
    await press_action(bot, CITY, Action.SCHEDULE, first.id)
    await bot.text(who(bot, CITY), "2026-09-20")
    mark = await bot.text(who(bot, CITY), "/pending")
    texts = bot.request.texts(CITY, since=mark)
    assert len(texts) == 1 and "2 份" in texts[0] and "已安排实地考察" in texts[0] and "待市总工会审核" in texts[0]
    monkeypatch.setattr(conv, "PAGE_SIZE", 1)
    mark = await bot.text(who(bot, CITY), "/pending")
    assert PendingPage(1).encode() in datas(bot, CITY, mark)
    shown = bot.request.texts(CITY, since=mark)[-1]
    mark = await bot.press(who(bot, CITY), PendingPage(1).encode())
    other = bot.request.texts(CITY, since=mark)[-1]
    assert {first.number in shown, first.number in other} == {True, False}
    assert {second.number in shown, second.number in other} == {True, False}


# --------------------------------------------------------------------------- admins, invitations, menus


async def test_city_level_warning_names_the_city_and_offers_the_invitation(bot):
    """R-W1: no reachable city reviewer — the admin's warning names the city federation, not the district
    union, and its button makes a city reviewer's invitation."""
    union = await first_union_id(bot)
    await grant(bot, DISTRICT, "district_reviewer", union)
    await grant(bot, ADMIN, "admin")
    from tests.apply_steps import fill_until_summary

    u = bot.user(APPLICANT)
    await fill_until_summary(bot, u)
    await tap_op(bot, u, WizardOp.SUBMIT)
    await tap_op(bot, u, WizardOp.CONFIRM)
    app = await load(bot)
    await press_action(bot, DISTRICT, Action.L1_APPROVE, app.id)
    mark = await bot.press(who(bot, DISTRICT), ReviewAux(ReviewOp.DEFAULT, app.id).encode())
    warnings = [p for _, p in bot.request.sent(ADMIN, since=mark) if "⚠️" in p.get("text", "")]
    assert warnings and "市总工会" in warnings[-1]["text"] and "第 2 级" in warnings[-1]["text"]
    async with bot.db.session() as s:
        from storage.models import Union

        district_name = (await s.get(Union, union)).name_zh
    assert district_name not in warnings[-1]["text"]
    data = Admin(AdminOp.INVR, key=Role.CITY.value).encode()
    assert [d for _, d in buttons(warnings[-1])] == [data]
    mark = await bot.press(bot.user(ADMIN), data)
    async with bot.db.session() as s:
        inv = (await s.scalars(select(Invitation))).one()
    assert inv.role == "city_reviewer" and inv.code in bot.request.texts(ADMIN, since=mark)[-1]


async def test_level1_warning_names_the_union_and_invites_its_reviewer(bot):
    """R-W1, R-C2: nobody of the union can be reached — the warning names the union, the button invites
    a district reviewer of that union."""
    union = await first_union_id(bot)
    from tests.apply_steps import fill_until_summary

    u = bot.user(APPLICANT)
    await fill_until_summary(bot, u)
    await tap_op(bot, u, WizardOp.SUBMIT)
    mark = await tap_op(bot, u, WizardOp.CONFIRM)
    warnings = [p for _, p in bot.request.sent(ADMIN, since=mark) if "⚠️" in p.get("text", "")]
    assert warnings and "第 1 级" in warnings[-1]["text"]
    assert [d for _, d in buttons(warnings[-1])] == [Admin(AdminOp.INVU, union).encode()]


async def test_a_cut_short_invitation_link_says_it_is_bad(bot):
    """R-C1: /start with a cut-short invitation code says the link is incomplete, then welcomes."""
    mark = await bot.text(bot.user(60), "/start inv-abc123")
    texts = bot.request.texts(60, since=mark)
    assert "邀请链接不完整" in texts[0] and len(texts) == 2
    mark = await bot.text(bot.user(61), "/start")
    assert not any("邀请链接" in t for t in bot.request.texts(61, since=mark))


async def test_an_admin_from_admin_ids_gets_the_menu_at_the_first_start(bot):
    """R-C1: an ADMIN_IDS account never seen before has /admin in its menu right after its first /start."""
    mark = await bot.text(bot.user(ADMIN), "/start")
    menus = [p for n, p in bot.request.calls[mark:] if n == "setMyCommands" and "scope" in p]
    assert menus and "admin" in str(menus[-1]["commands"]) and str(ADMIN) in str(menus[-1]["scope"])


async def test_accepting_an_invitation_sets_the_menu(bot):
    """R-C1: the reviewer's menu, with /pending, is set the moment the invitation is accepted."""
    from bot.services import admin as svc_admin

    async with bot.db.session() as s:
        inv = await svc_admin.create_invitation(s, bot.clock.now(), ADMIN, Role.CITY, None)
        code = inv.code
        await s.commit()
    mark = await bot.text(bot.user(62), f"/start {code}")
    menus = [p for n, p in bot.request.calls[mark:] if n == "setMyCommands" and "scope" in p]
    assert menus and "pending" in str(menus[-1]["commands"])


# --------------------------------------------------------------------------- the printed city box


async def test_printed_city_box_carries_the_preliminary_opinion_and_refers_to_the_findings(bot):
    """R-W2, R-F8: the preliminary opinion is printed in 市总工会审核意见 after the decision; the findings on a
    附页 of their own the box refers to; neither in 备注."""
    app = await city_ready(bot)
    await meeting_approves(bot, CITY)
    async with bot.db.session() as s:
        bundle = await load_bundle(s, app.id)
    t = bot.app.bot_data["services"].i18n.get("zh")
    writer = FormWriter(bundle, t, SH)
    from bot.domain.workflow import Box

    box = writer._box(Box.CITY, 4000, 12, "市总工会审核意见")
    text = "\n".join(_text(p) for p in box.paras)
    assert text.startswith("经") and "同意命名" in text and "初步考核意见：建议命名。" in text
    sheet = writer.continued[-1]  # the findings on a sheet of their own, referred to from the box
    assert f"实地考察情况见附页{sheet.n}" in text and "场地设备齐全" not in text
    assert sheet.text == "实地考察（2026年9月20日）：场地设备齐全。"
    assert "场地设备齐全" not in (bundle.app.remarks or "")
    district = writer._box(Box.DISTRICT, 4000, 12, "区市县、产业工会意见")
    assert "场地设备齐全" not in "\n".join(_text(p) for p in district.paras)


# --------------------------------------------------------------------------- the digest


async def test_reviewer_digest_once_a_working_morning_with_a_button_into_pending(bot):
    """R-W1, R-D2: inside working hours each reviewer with work waiting gets one digest (count, oldest,
    due this week) with a button to /pending; a second run the same day sends nothing; nothing at night."""
    await submitted(bot)
    night = datetime(2026, 7, 14, 7, 0, tzinfo=SH)
    bot.clock.advance(night - bot.clock.now())
    assert await digest.send_digests(bot.app) == []
    bot.clock.advance(timedelta(hours=2, minutes=30))  # Tuesday 09:30
    mark = len(bot.request.calls)
    got = await digest.send_digests(bot.app)
    await bot.app.bot_data["services"].drain()
    assert sorted(got) == [DISTRICT, DISTRICT2]
    texts = bot.request.texts(DISTRICT, since=mark)
    assert len(texts) == 1 and "1 份" in texts[0] and "等待最久" in texts[0] and "本周到期" in texts[0]
    assert datas(bot, DISTRICT, mark) == [PendingPage(0).encode()]
    assert bot.request.texts(CITY, since=mark) == []  # nothing waits for the city
    assert await digest.send_digests(bot.app) == []
    mark = await bot.press(who(bot, DISTRICT), PendingPage(0).encode())
    assert any(isinstance(decode(d), PendingOpen) for d in datas(bot, DISTRICT, mark))
    async with bot.db.session() as s:
        assert not (await s.scalars(select(AuditEvent).where(AuditEvent.action == "refused"))).all()
