"""The review chain (R-W1…R-W4, R-F8): level 1, level 2, naming, return, rejection, forged presses."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.callbacks import PendingOpen, Review, ReviewAux, ReviewOp, ReviewSection, WizardOp, decode
from bot.domain.workflow import Action
from storage.models import Application, AuditEvent, OpinionRecord, ReviewMessage, Studio
from tests.apply_steps import fill_until_summary, tap_op
from tests.city_steps import meeting_approves, named_together
from tests.offline import buttons
from tests.roles import first_union_id, grant

APPLICANT, DISTRICT, DISTRICT2, CITY, OUTSIDER = 10, 20, 21, 30, 40


async def submitted(bot) -> Application:
    union = await first_union_id(bot)
    await grant(bot, DISTRICT, "district_reviewer", union)
    await grant(bot, DISTRICT2, "district_reviewer", union)
    await grant(bot, CITY, "city_reviewer")
    u = bot.user(APPLICANT)
    await fill_until_summary(bot, u)
    await tap_op(bot, u, WizardOp.SUBMIT)
    await tap_op(bot, u, WizardOp.CONFIRM)
    return await load(bot)


async def load(bot) -> Application:
    async with bot.db.session() as s:
        return (await s.scalars(select(Application).where(Application.applicant_id == APPLICANT))).one()


def who(bot, user_id: int) -> dict:
    """A reviewer's Telegram account, named as in tests.roles.grant."""
    return bot.user(user_id, name=f"U{user_id}")


def card_buttons(bot, chat_id: int) -> list[str]:
    return [d for _, p in bot.request.sent(chat_id) for _, d in buttons(p)]


async def press_action(bot, user_id: int, action: Action, app_id: int) -> int:
    return await bot.press(who(bot, user_id), Review(action, app_id).encode())


async def returned_by_district(bot, app_id: int, remark: str, *sections: str) -> None:
    """The district reviewer returns the application with `remark`, reopening `sections`, confirmed."""
    d = who(bot, DISTRICT)
    await press_action(bot, DISTRICT, Action.L1_RETURN, app_id)
    await bot.text(d, remark)
    for section in sections:
        await bot.press(d, ReviewSection(app_id, section).encode())
    await bot.press(d, ReviewAux(ReviewOp.DEFAULT, app_id).encode())


async def test_level1_reviewers_get_one_card_each_with_materials(bot):
    """R-W1: on submission every reviewer of the union gets the summary, photos as an album, documents."""
    app = await submitted(bot)
    for rid in (DISTRICT, DISTRICT2):
        sent = [n for n, _ in bot.request.sent(rid)]
        assert sent.count("sendMediaGroup") == 1 and "sendDocument" in sent
        assert Review(Action.L1_APPROVE, app.id).encode() in card_buttons(bot, rid)
        assert "王建国" in bot.request.texts(rid)[-1]
    assert bot.request.sent(CITY) == []


async def test_full_chain_to_naming_fills_every_opinion_box(any_bot):
    """R-W1, R-W2, R-W3, R-W4, R-F8: district approves, city inspects, decides, the studio is named."""
    bot = any_bot
    app = await submitted(bot)
    await press_action(bot, DISTRICT, Action.L1_APPROVE, app.id)
    # one-tap default opinion
    await bot.press(who(bot, DISTRICT), ReviewAux(ReviewOp.DEFAULT, app.id).encode())
    app = await load(bot)
    assert app.status == "forwarded"
    # the other reviewer's card now says who decided
    edits = [p for n, p in bot.request.calls if n == "editMessageText" and int(p["chat_id"]) == DISTRICT2]
    assert edits and "U20" in edits[-1]["text"]
    # applicant told, in their language
    assert "市总工会" in bot.request.texts(APPLICANT)[-1]
    # city reviewer got the card; schedule an inspection
    assert Review(Action.SCHEDULE, app.id).encode() in card_buttons(bot, CITY)
    city = who(bot, CITY)
    await press_action(bot, CITY, Action.SCHEDULE, app.id)
    await bot.text(city, "2026-09-20")
    bot.clock.advance(timedelta(days=72))  # the inspection's day: its findings are recorded from then on
    await press_action(bot, CITY, Action.INSPECT, app.id)
    await bot.text(city, "场地、设备齐全，制度健全。")
    await press_action(bot, CITY, Action.PRELIMINARY, app.id)
    await bot.text(city, "建议命名。")
    assert Review(Action.REJECT, app.id).encode() in card_buttons(bot, CITY)  # the meeting decides on naming
    mark = await meeting_approves(bot, CITY)
    assert (await load(bot)).status == "notice"  # approved by the meeting: under public notice
    for chat in (DISTRICT, DISTRICT2, CITY):  # each card changed in place once, no new message for it
        calls = [(n, p) for n, p in bot.request.sent(chat, since=mark)]
        cards = [p for n, p in calls if n == "editMessageText" and "公示中" in p["text"]
                 and not p["text"].startswith("✅ 已记录")]  # the city's meeting screen says it was recorded
        assert len(cards) == 1 and not [p for n, p in calls if n == "sendMessage"], (chat, calls)
        assert not any(d.startswith("rv:") for _, d in buttons(cards[0]))
    mark = await named_together(bot)
    for chat in (DISTRICT, DISTRICT2, CITY):
        cards = [p for n, p in bot.request.sent(chat, since=mark) if n == "editMessageText" and "已命名" in p["text"]]
        assert len(cards) == 1, chat
    app = await load(bot)
    assert app.status == "approved"
    assert app.studio_name == "王建国劳模创新工作室"
    assert app.plaque_on.isoformat() == "2026-12-20"  # the season's naming date
    assert app.materials == "archived"
    async with bot.db.session() as s:
        boxes = {o.box: o.text for o in (await s.scalars(select(OpinionRecord))).all()}
        studio = (await s.scalars(select(Studio))).one()
        trail = (await s.scalars(select(AuditEvent).where(AuditEvent.application_id == app.id)
                                 .order_by(AuditEvent.id))).all()
    assert boxes["district"] == "同意推荐" and boxes["city"].endswith("同意命名。") and "unit" in boxes
    assert studio.name == "王建国劳模创新工作室"
    assert [e.action for e in trail if e.to_status] == [
        "draft_created", "submit", "l1_approve", "schedule", "inspect", "preliminary", "meeting_approve",
        "notice_end", "name"]
    assert any("王建国劳模创新工作室" in t for t in bot.request.texts(APPLICANT)[-2:])


async def resubmit_equipment(bot) -> int:
    """The applicant opens the reopened equipment section only (the others are closed), adds a machine and
    submits again; the mark before the confirmation."""
    u = bot.user(APPLICANT)
    await bot.text(u, "/apply")
    labels = [lbl for lbl, _ in bot.last_buttons(APPLICANT)]
    assert any("设备" in x for x in labels) and not any("负责人" in x for x in labels)
    await tap_op(bot, u, WizardOp.EDIT, "equipment")
    await bot.text(u, "数控机床\n三维扫描仪\n检测平台\n激光切割机")
    await tap_op(bot, u, WizardOp.DONE)
    await tap_op(bot, u, WizardOp.SUBMIT)
    return await tap_op(bot, u, WizardOp.CONFIRM)


async def test_return_reopens_named_sections_and_resubmission_goes_back(bot):
    """R-W1 return for revision: only the named part can be edited; resubmission returns to level 1."""
    app = await submitted(bot)
    await returned_by_district(bot, app.id, "请补充设备清单。", "equipment")
    app = await load(bot)
    assert app.status == "returned_l1" and app.reopened == ["equipment"]
    assert "请补充设备清单" in bot.request.texts(APPLICANT)[-1]
    await resubmit_equipment(bot)
    app = await load(bot)
    assert app.status == "submitted" and app.answers["equipment"][-1] == "激光切割机"
    assert app.number == "2026-0001"


async def test_rejection_returns_materials_and_explains_rule(bot):
    """R-W4: rejected materials are returned; the applicant may found an enterprise-level studio."""
    app = await submitted(bot)
    await press_action(bot, DISTRICT, Action.L1_REJECT, app.id)
    await bot.text(who(bot, DISTRICT), "成果不足。")
    await bot.press(who(bot, DISTRICT), ReviewAux(ReviewOp.CONFIRM, app.id).encode())
    app = await load(bot)
    assert app.status == "rejected" and app.materials == "returned"
    assert any("企事业级" in t for t in bot.request.texts(APPLICANT)[-2:])


async def test_forged_replayed_and_foreign_presses_change_nothing(bot):
    """Safety: applicants, other unions' reviewers, forged data and replays change nothing and are told."""
    app = await submitted(bot)
    other_union = (await first_union_id(bot)) + 1
    await grant(bot, OUTSIDER, "district_reviewer", other_union)
    for uid in (APPLICANT, OUTSIDER, CITY):
        mark = await press_action(bot, uid, Action.L1_APPROVE, app.id)
        assert bot.request.alerts(since=mark)[-1].get("show_alert")
    mark = await bot.press(who(bot, DISTRICT), "rv:l1_approve:99999")
    assert bot.request.alerts(since=mark)[-1].get("show_alert")
    mark = await bot.press(who(bot, DISTRICT), "rv:drop_tables:1")
    assert (await load(bot)).status == "submitted"
    # first action wins, the second reviewer's tap changes nothing
    await press_action(bot, DISTRICT, Action.L1_REJECT, app.id)
    await bot.text(who(bot, DISTRICT), "不符合条件")
    await bot.press(who(bot, DISTRICT), ReviewAux(ReviewOp.CONFIRM, app.id).encode())
    mark = await press_action(bot, DISTRICT2, Action.L1_APPROVE, app.id)
    alert = bot.request.alerts(since=mark)[-1]
    assert alert.get("show_alert") and "已被处理" in alert["text"]
    assert (await load(bot)).status == "rejected"
    async with bot.db.session() as s:
        refused = (await s.scalars(select(AuditEvent).where(AuditEvent.action == "refused"))).all()
    assert len(refused) >= 5


async def test_pending_lists_oldest_first_with_buttons(bot):
    """R-W1: /pending lists what awaits the reviewer, a button each into its card."""
    app = await submitted(bot)
    bot.clock.advance(timedelta(hours=1))
    mark = await bot.text(who(bot, DISTRICT), "/pending")
    sent = bot.request.sent(DISTRICT, since=mark)
    assert any(decode(d) == PendingOpen(app.id) for _, p in sent for _, d in buttons(p))


async def test_concurrent_decisions_change_the_application_once(bot):
    """Two reviewers deciding at the same instant: exactly one decision is recorded."""
    import asyncio

    from sqlalchemy.orm.exc import StaleDataError

    from bot.domain.workflow import NotAllowed, Role
    from bot.services import review as svc

    app = await submitted(bot)

    async def decide(uid: int, action: Action, text: str) -> str:
        async with bot.db.session() as s:
            a = await s.get(Application, app.id)
            try:
                await svc.decide(s, a, uid, {Role.DISTRICT}, action, svc.Decision(opinion=text), bot.clock.now(),
                                 first_year=False, tz=bot.settings.tz)
                await s.commit()
                return "ok"
            except (StaleDataError, NotAllowed):
                await s.rollback()
                return "refused"

    results = await asyncio.gather(decide(DISTRICT, Action.L1_APPROVE, "同意"),
                                   decide(DISTRICT2, Action.L1_REJECT, "不同意"))
    assert sorted(results) == ["ok", "refused"]
    async with bot.db.session() as s:
        ops = (await s.scalars(select(OpinionRecord).where(OpinionRecord.box == "district"))).all()
        events = (await s.scalars(select(AuditEvent).where(AuditEvent.action.in_(["l1_approve", "l1_reject"])))).all()
    assert len(ops) == 1 and len(events) == 1


async def test_blocked_reviewer_is_skipped_and_admins_told_when_none_reachable(bot):
    """A reviewer who blocked the bot is skipped and recorded; admins hear when no one is reachable."""
    from telegram.error import Forbidden

    union = await first_union_id(bot)
    await grant(bot, DISTRICT, "district_reviewer", union)
    bot.request.fail["sendMediaGroup"] = [Forbidden("Forbidden: bot was blocked by the user")]
    u = bot.user(APPLICANT)
    await fill_until_summary(bot, u)
    await tap_op(bot, u, WizardOp.SUBMIT)
    await tap_op(bot, u, WizardOp.CONFIRM)
    async with bot.db.session() as s:
        row = (await s.scalars(select(ReviewMessage))).one()
        from storage.models import User

        reviewer = await s.get(User, DISTRICT)
    assert row.error and "blocked" in row.error and row.message_id is None
    assert reviewer.blocked_at is not None
    assert any("没有可以联系到的审核人" in t for t in bot.request.texts(900))
    assert (await load(bot)).status == "submitted"


async def test_flood_wait_is_retried_and_card_arrives_once(bot):
    """RetryAfter from the Bot API is waited out; the reviewer still gets exactly one card."""
    from telegram.error import RetryAfter

    union = await first_union_id(bot)
    await grant(bot, DISTRICT, "district_reviewer", union)
    u = bot.user(APPLICANT)
    await fill_until_summary(bot, u)
    bot.request.fail["sendMessage"] = [RetryAfter(0)]
    await tap_op(bot, u, WizardOp.SUBMIT)
    await tap_op(bot, u, WizardOp.CONFIRM)
    cards = [t for t in bot.request.texts(DISTRICT) if "王建国" in t]
    assert len(cards) == 1


async def test_status_timeline_shows_who_when_and_opinion(bot):
    """/status: each step, who, when, the opinion; /my lists the application with its number."""
    app = await submitted(bot)
    await returned_by_district(bot, app.id, "请补充照片说明。")
    mark = await bot.text(bot.user(APPLICANT), "/status")
    text = bot.request.texts(APPLICANT, since=mark)[-1]
    assert "2026-0001" in text and "U20" in text and "请补充照片说明" in text and "2026-07-10 10:00" in text
    mark = await bot.text(bot.user(APPLICANT), "/my")
    assert "2026-0001" in bot.request.texts(APPLICANT, since=mark)[-1]


async def test_applicant_text_is_escaped_for_reviewers(bot):
    """Names typed by applicants are escaped wherever reviewers see them."""
    union = await first_union_id(bot)
    await grant(bot, DISTRICT, "district_reviewer", union)
    u = bot.user(APPLICANT)
    from tests import apply_steps

    old = apply_steps.LEADER["leader_name"]
    apply_steps.LEADER["leader_name"] = "<b>王</b>&建国"
    try:
        await fill_until_summary(bot, u)
    finally:
        apply_steps.LEADER["leader_name"] = old
    await tap_op(bot, u, WizardOp.SUBMIT)
    await tap_op(bot, u, WizardOp.CONFIRM)
    card = [t for t in bot.request.texts(DISTRICT) if "建国" in t][-1]
    assert "&lt;b&gt;王&lt;/b&gt;&amp;建国" in card


async def test_audit_trail_is_append_only(bot):
    import pytest

    app = await submitted(bot)
    async with bot.db.session() as s:
        ev = (await s.scalars(select(AuditEvent).where(AuditEvent.application_id == app.id))).first()
        ev.opinion = "rewritten"
        with pytest.raises(PermissionError):
            await s.flush()


async def test_first_year_season_skips_inspection(bot):
    """R-D4: in a first-year season the city may give its preliminary opinion without an inspection."""
    from storage.models import Season

    async with bot.db.session() as s:
        (await s.get(Season, 2026)).first_year = True
        await s.commit()
    app = await submitted(bot)
    await press_action(bot, DISTRICT, Action.L1_APPROVE, app.id)
    await bot.press(who(bot, DISTRICT), ReviewAux(ReviewOp.DEFAULT, app.id).encode())
    assert Review(Action.PRELIMINARY, app.id).encode() in card_buttons(bot, CITY)
    await press_action(bot, CITY, Action.PRELIMINARY, app.id)
    await bot.text(who(bot, CITY), "首年不安排考察，建议命名。")
    assert (await load(bot)).status == "preliminary"


async def city_ready(bot) -> Application:
    """An application forwarded to the city, inspected, with a preliminary opinion."""
    app = await submitted(bot)
    await press_action(bot, DISTRICT, Action.L1_APPROVE, app.id)
    await bot.press(who(bot, DISTRICT), ReviewAux(ReviewOp.DEFAULT, app.id).encode())
    city = who(bot, CITY)
    await press_action(bot, CITY, Action.SCHEDULE, app.id)
    await bot.text(city, "2026-09-20")
    bot.clock.advance(timedelta(days=72))  # the inspection's day: its findings are recorded from then on
    await press_action(bot, CITY, Action.INSPECT, app.id)
    await bot.text(city, "场地设备齐全。")
    await press_action(bot, CITY, Action.PRELIMINARY, app.id)
    await bot.text(city, "建议命名。")
    return await load(bot)


async def test_city_return_goes_back_to_the_city_after_resubmission(bot):
    """R-W1/R-W2: returned by the city, the resubmitted application goes straight back to the city level."""
    app = await city_ready(bot)
    city = who(bot, CITY)
    await press_action(bot, CITY, Action.RETURN, app.id)
    await bot.text(city, "请补充工作计划的量化目标。")
    await bot.press(city, f"rs:{app.id}:plan")
    await bot.press(city, ReviewAux(ReviewOp.DEFAULT, app.id).encode())
    app = await load(bot)
    assert app.status == "returned_l2" and app.reopened == ["plan"]
    assert "请补充工作计划" in bot.request.texts(APPLICANT)[-1]
    u = bot.user(APPLICANT)
    await bot.text(u, "/apply")
    await tap_op(bot, u, WizardOp.EDIT, "plan")
    await bot.text(u, "三年内培养技师20名，完成攻关项目5项。")
    await tap_op(bot, u, WizardOp.DONE)
    await tap_op(bot, u, WizardOp.SUBMIT)
    await tap_op(bot, u, WizardOp.CONFIRM)
    app = await load(bot)
    assert app.status == "forwarded" and "5项" in app.answers["plan"]
    assert Review(Action.SCHEDULE, app.id).encode() in card_buttons(bot, CITY)
