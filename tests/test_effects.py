"""Every message owed arrives, once: effects written with the change, one sender (R-W1, R-W2, R-F9, R-D1)."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import pytest
from sqlalchemy import select
from telegram import Update
from telegram.error import NetworkError, RetryAfter, TimedOut

from bot import sender as sender_mod
from bot.callbacks import Review, ReviewAux, ReviewOp, WizardOp
from bot.domain.workflow import Action
from storage.models import Effect, ReviewMessage
from tests.apply_steps import tap_op
from tests.city_steps import meeting_approves, named_together
from tests.conftest import JULY_10
from tests.offline import UPDATE_IDS, Harness, buttons, close_harness, make_harness
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


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sender_mod, "BACKOFF", (0.0,))


def cards_since(bot: Harness, chat_id: int, app_id: int, mark: int) -> list[dict[str, Any]]:
    """The reviewer cards (messages with review buttons for `app_id`) sent to `chat_id` after `mark`."""
    prefix = "rv:"
    out = []
    for name, p in bot.request.sent(chat_id, since=mark):
        if name == "sendMessage" and any(d.startswith(prefix) and d.endswith(f":{app_id}") for _, d in buttons(p)):
            out.append(p)
    return out


async def resubmit(bot: Harness, section: str, text: str) -> int:
    u = bot.user(APPLICANT)
    await bot.text(u, "/apply")
    await tap_op(bot, u, WizardOp.EDIT, section)
    await bot.text(u, text)
    await tap_op(bot, u, WizardOp.DONE)
    await tap_op(bot, u, WizardOp.SUBMIT)
    return await tap_op(bot, u, WizardOp.CONFIRM)


async def test_resubmission_after_a_district_return_gives_each_reviewer_one_new_card(bot):
    """R-W1: returned by the district union and resubmitted, the application reaches both district
    reviewers again — exactly one new card each, counted from the resubmission — while each keeps one card
    row per application; the other reviewer's card said who returned it, with no decision left on it."""
    app = await submitted(bot)
    await returned_by_district(bot, app.id, "请补充设备清单。", "equipment")
    assert (await load(bot)).status == "returned_l1"
    mark = await resubmit(bot, "equipment", "数控机床\n三维扫描仪\n检测平台")
    assert (await load(bot)).status == "submitted"
    for rid in (DISTRICT, DISTRICT2):
        assert len(cards_since(bot, rid, app.id, mark)) == 1, rid
    async with bot.db.session() as s:
        rows = (await s.scalars(select(ReviewMessage).where(ReviewMessage.application_id == app.id)
                                .order_by(ReviewMessage.id))).all()
    assert len(rows) == 2 and all(r.message_id for r in rows)
    edits = [p for n, p in bot.request.sent(DISTRICT2) if n == "editMessageText" and "U20" in p["text"]]
    assert edits and "已退回修改" in edits[0]["text"]
    assert ReviewAux(ReviewOp.FULL, app.id).encode() in [d for _, d in buttons(edits[0])]
    assert not any(d.startswith("rv:") for _, d in buttons(edits[0]))


async def test_resubmission_after_a_city_return_gives_the_city_one_new_card(bot):
    """R-W2: returned by the city and resubmitted, the application goes back to the city reviewer with
    exactly one new card (counted from the resubmission), whose buttons start the city's review again."""
    app = await city_ready(bot)
    city = who(bot, CITY)
    await press_action(bot, CITY, Action.RETURN, app.id)
    await bot.text(city, "请补充工作计划的量化目标。")
    await bot.press(city, f"rs:{app.id}:plan")
    await bot.press(city, ReviewAux(ReviewOp.DEFAULT, app.id).encode())
    mark = await resubmit(bot, "plan", "三年内培养技师20名，完成攻关项目5项。")
    assert (await load(bot)).status == "forwarded"
    got = cards_since(bot, CITY, app.id, mark)
    assert len(got) == 1
    assert Review(Action.SCHEDULE, app.id).encode() in [d for _, d in buttons(got[0])]
    assert cards_since(bot, DISTRICT, app.id, mark) == []


async def test_two_reviewers_approving_at_once_one_decides_the_other_is_told_who(bot, caplog):
    """R-W1: two district reviewers press approve at the same moment and both send the default opinion:
    one decision is recorded; the other reviewer is told who decided and when — no apology, no error."""
    app = await submitted(bot)
    await press_action(bot, DISTRICT, Action.L1_APPROVE, app.id)
    await press_action(bot, DISTRICT2, Action.L1_APPROVE, app.id)
    caplog.set_level(logging.ERROR)
    mark = len(bot.request.calls)

    def update(uid: int) -> Update:
        data = ReviewAux(ReviewOp.DEFAULT, app.id).encode()
        u = who(bot, uid)
        return Update.de_json({"update_id": next(UPDATE_IDS), "callback_query": {
            "id": str(next(UPDATE_IDS)), "from": u, "chat_instance": "ci", "data": data,
            "message": bot._msg(u, text="…") | {"message_id": 1}}}, bot.app.bot)

    await asyncio.gather(bot.app.process_update(update(DISTRICT)), bot.app.process_update(update(DISTRICT2)))
    await bot.app.bot_data["services"].drain()
    assert (await load(bot)).status == "forwarded"
    texts = {rid: " ".join(bot.request.texts(rid, since=mark)) for rid in (DISTRICT, DISTRICT2)}
    told = [rid for rid, t in texts.items() if "已被处理：U2" in t and "同意并上报" in t]
    assert len(told) == 1, texts
    assert "抱歉" not in " ".join(texts.values())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_failed_callback_answer_does_not_drop_the_next_question(bot):
    """R-F1: the answer to a press fails in transit (time-out, then a 502): the press is answered on a
    later try and the next question still arrives, with no apology for the saved answer."""
    u = bot.user(APPLICANT)
    await bot.text(u, "/apply")
    bot.request.fail["answerCallbackQuery"] = [TimedOut("timed out"), NetworkError("Bad Gateway")]
    mark = await tap_op(bot, u, WizardOp.UNION)
    texts = bot.request.texts(APPLICANT, since=mark)
    assert texts and "第 2/" in texts[-1] and not any("抱歉" in t for t in texts)
    assert [n for n, _ in bot.request.calls[mark:]].count("answerCallbackQuery") == 1


async def restart(h: Harness, tmp_path: Any, url: str | None = None) -> Harness:
    """A new process on the same database, started the way `bot.app.run` starts it."""
    await close_harness(h)
    h2 = await make_harness(tmp_path, now=JULY_10, admin_ids="900", database_url=url)
    svc = h2.app.bot_data["services"]
    await svc.load_handled()
    await svc.sender.start(h2.app.bot, sweep=None)
    await svc.drain()
    return h2


async def test_effects_committed_before_a_crash_are_delivered_once_at_the_next_start(tmp_path, pg_clean):
    """R-W1, R-F9: the bot dies after the final confirm was committed but before anything went out (the
    sender never ran): at the next start the receipt, the form and every reviewer's card arrive, once;
    a second restart sends nothing again."""
    from tests.apply_steps import fill_until_summary
    from tests.roles import first_union_id, grant

    h = await make_harness(tmp_path, now=JULY_10, admin_ids="900", database_url=pg_clean)
    union = await first_union_id(h)
    await grant(h, DISTRICT, "district_reviewer", union)
    await grant(h, DISTRICT2, "district_reviewer", union)
    u = h.user(APPLICANT)
    await fill_until_summary(h, u)
    await tap_op(h, u, WizardOp.SUBMIT)
    sender = h.app.bot_data["services"].sender
    sender.bot = None  # the process dies before the sender takes anything up
    await tap_op(h, u, WizardOp.CONFIRM)
    async with h.db.session() as s:
        owed = (await s.scalars(select(Effect).where(Effect.sent_at.is_(None)))).all()
    assert {e.kind for e in owed} >= {"answer", "edit", "render", "card", "album", "file"}
    h = await restart(h, tmp_path, pg_clean)
    try:
        sent = h.request.sent()
        assert [n for n, p in sent if int(p["chat_id"]) == APPLICANT].count("sendDocument") >= 1
        assert "申报编号" in " ".join(h.request.texts(APPLICANT)) or "2026-0001" in " ".join(h.request.texts(APPLICANT))
        app = (await load(h))
        for rid in (DISTRICT, DISTRICT2):
            assert len(cards_since(h, rid, app.id, 0)) == 1
        h = await restart(h, tmp_path, pg_clean)
        assert h.request.sent() == []
    finally:
        await close_harness(h)


async def test_stale_replies_after_an_outage_are_folded_into_one_per_person(tmp_path):
    """R-F1: Telegram could not be reached while a person sent four commands; after the restart
    they get one message — the newest screen — not one per answer."""
    h = await make_harness(tmp_path, now=JULY_10, admin_ids="900")
    u = h.user(APPLICANT)
    await h.text(u, "/apply")
    await tap_op(h, u, WizardOp.UNION)
    sender = h.app.bot_data["services"].sender
    sender.bot = None  # unreachable: nothing goes out, everything stays owed
    for text in ("/my", "/status", "/help", "/apply"):
        await h.text(u, text)
    async with h.db.session() as s:
        owed = (await s.scalars(select(Effect).where(Effect.chat_id == APPLICANT, Effect.sent_at.is_(None),
                                                     Effect.kind != "answer").order_by(Effect.id))).all()
    assert len(owed) >= 4
    h = await restart(h, tmp_path)
    try:
        got = h.request.sent(APPLICANT)
        assert len(got) == 1 and got[0][1]["text"] == owed[-1].payload["text"], [p["text"][:20] for _, p in got]
    finally:
        await close_harness(h)


class Flaky:
    """Fails 30 % of the Bot API calls the bot makes (429, 502, time-outs, a dropped connection after the
    call took effect), counting what arrived twice."""

    def __init__(self, h: Harness, seed: int = 7) -> None:
        self.h = h
        self.rng = random.Random(seed)
        self.faults = 0
        inner = h.request.do_request

        async def do_request(url: str, method: str, request_data: Any = None, *args: Any, **kw: Any) -> Any:
            name = url.rsplit("/", 1)[-1]
            incoming = "/file/" in url or name in ("getMe", "getFile")  # what users send: not an effect
            if not incoming and self.rng.random() < 0.3:
                self.faults += 1
                kind = self.rng.choice(["429", "502", "timeout", "dropped"])
                if kind == "429":
                    raise RetryAfter(0)
                if kind == "502":
                    raise NetworkError("Bad Gateway")
                if kind == "timeout":
                    raise TimedOut("timed out")
                await inner(url, method, request_data, *args, **kw)  # took effect, the answer is lost
                raise NetworkError("connection dropped")
            return await inner(url, method, request_data, *args, **kw)

        h.request.do_request = do_request  # type: ignore[method-assign]


async def test_under_faults_on_every_method_everyone_gets_everything(tmp_path, capsys):
    """R-W1, R-F9: 30 % of all Bot API calls fail (429, 502, time-outs, a connection dropped after the call
    took effect) while an application is filled in, submitted and approved by the district: every answer
    arrives without an apology, the receipt and form arrive, each reviewer gets their card, the applicant
    hears of the approval, and the city gets its card. Duplicates (only possible for dropped connections)
    are counted and printed."""
    from tests.apply_steps import fill_until_summary
    from tests.roles import first_union_id, grant

    h = await make_harness(tmp_path, now=JULY_10, admin_ids="900")
    try:
        union = await first_union_id(h)
        await grant(h, DISTRICT, "district_reviewer", union)
        await grant(h, DISTRICT2, "district_reviewer", union)
        await grant(h, CITY, "city_reviewer")
        flaky = Flaky(h)
        u = h.user(APPLICANT)
        await fill_until_summary(h, u)
        await tap_op(h, u, WizardOp.SUBMIT)
        await tap_op(h, u, WizardOp.CONFIRM)
        app = await load(h)
        assert app.status == "submitted"
        await press_action(h, DISTRICT, Action.L1_APPROVE, app.id)
        await h.press(who(h, DISTRICT), ReviewAux(ReviewOp.DEFAULT, app.id).encode())
        assert (await load(h)).status == "forwarded"
        texts = h.request.texts(APPLICANT)
        assert not any("抱歉" in t for t in texts)
        assert any("已通过区市县" in t for t in texts)
        assert [n for n, _ in h.request.sent(APPLICANT)].count("sendDocument") >= 1
        for rid in (DISTRICT, DISTRICT2):
            assert len(cards_since(h, rid, app.id, 0)) >= 1
        assert len(cards_since(h, CITY, app.id, 0)) >= 1
        async with h.db.session() as s:
            unsent = (await s.scalars(select(Effect).where(Effect.sent_at.is_(None)))).all()
            failed = (await s.scalars(select(Effect).where(Effect.result != "ok", Effect.kind != "answer"))).all()
        assert unsent == [] and [(e.kind, e.result) for e in failed] == []
        cards = sum(len(cards_since(h, rid, app.id, 0)) for rid in (DISTRICT, DISTRICT2, CITY))
        with capsys.disabled():
            delivered = h.app.bot_data["services"].sender.delivered
            print(f"\nfaults injected: {flaky.faults}; effects delivered: {delivered};"
                  f" reviewer cards received: {cards} for 3 owed ({cards - 3} duplicates)")
    finally:
        await close_harness(h)


async def test_a_document_that_cannot_be_made_is_reported_to_the_person_and_the_admins(bot, monkeypatch):
    """R-F9: the printed form fails to build after the submission: the applicant is told, the admins get
    the cause; the submission stands and nothing is swallowed."""
    from bot.exports import service

    async def broken(*_: Any, **__: Any) -> Any:
        raise ValueError("8 cells do not fit 7 columns")

    monkeypatch.setattr(service, "form_files", broken)
    app = await submitted(bot)
    assert app.status == "submitted"
    assert any("文件暂时没能生成" in t for t in bot.request.texts(APPLICANT))
    assert any("8 cells do not fit 7 columns" in t for t in bot.request.texts(900))
    async with bot.db.session() as s:
        row = (await s.scalars(select(Effect).where(Effect.kind == "render"))).one()
    assert row.result and row.result.startswith("error")


def documents(bot: Harness, chat_id: int, mark: int) -> list[dict[str, Any]]:
    return [p for n, p in bot.request.sent(chat_id, since=mark) if n == "sendDocument"]


async def test_at_naming_the_applicant_gets_the_completed_form(bot):
    """R-F9, R-F8: once the studio is named the applicant receives the completed form (all four opinion
    boxes and the approved name), and the decided city card shows the result with no decision left."""
    app = await city_ready(bot)
    await meeting_approves(bot, CITY)
    mark = await named_together(bot)
    assert (await load(bot)).status == "approved"
    docs = documents(bot, APPLICANT, mark)
    assert docs and "已审定命名为" in docs[0]["caption"] and "王建国劳模创新工作室" in docs[0]["caption"]
    edits = [p for n, p in bot.request.sent(CITY, since=mark) if n == "editMessageText"]
    assert edits and "已命名" in edits[-1]["text"]
    assert ReviewAux(ReviewOp.FULL, app.id).encode() in [d for _, d in buttons(edits[-1])]
    assert not any(d.startswith("rv:") for _, d in buttons(edits[-1]))


async def test_at_rejection_the_applicant_gets_the_form_with_the_r_w4_wording(bot):
    """R-W4: a rejected application's form goes to the applicant, saying the materials return to the
    applying unit, which may found an enterprise-level studio and apply again."""
    app = await submitted(bot)
    await press_action(bot, DISTRICT, Action.L1_REJECT, app.id)
    await bot.text(who(bot, DISTRICT), "成果不足。")
    mark = await bot.press(who(bot, DISTRICT), ReviewAux(ReviewOp.CONFIRM, app.id).encode())
    assert (await load(bot)).status == "rejected"
    docs = documents(bot, APPLICANT, mark)
    assert docs and "申报材料退由申报单位保存" in docs[0]["caption"]


async def test_my_offers_the_current_form_and_the_timeline_names_the_inspection_day(bot):
    """R-F9, R-W2: /my has a form button for a submitted application that sends the form as it stands;
    another person's press is refused; /status shows the day the inspection was set for."""
    from conversations.status import MyForm

    app = await city_ready(bot)
    u = bot.user(APPLICANT)
    mark = await bot.text(u, "/my")
    assert MyForm(app.id).encode() in [d for _, d in bot.last_buttons(APPLICANT)]
    mark = await bot.press(u, MyForm(app.id).encode())
    assert len(documents(bot, APPLICANT, mark)) >= 1
    mark = await bot.press(bot.user(77), MyForm(app.id).encode())
    assert bot.request.alerts(since=mark)[-1]["show_alert"] is True and documents(bot, 77, mark) == []
    mark = await bot.text(u, "/status")
    assert "实地考察日期：2026-09-20" in bot.request.texts(APPLICANT, since=mark)[-1]


async def test_an_english_reader_gets_the_form_under_an_english_file_name(tmp_path):
    """R-F9 (English complete): the receipt's file name is in the applicant's language; the form itself
    stays the official Chinese one."""
    from tests.apply_steps import fill_until_summary

    h = await make_harness(tmp_path, now=JULY_10, admin_ids="900")
    try:
        u = h.user(APPLICANT, lang="en")
        await fill_until_summary(h, u)
        await tap_op(h, u, WizardOp.SUBMIT)
        mark = await tap_op(h, u, WizardOp.CONFIRM)
        docs = documents(h, APPLICANT, mark)
        assert docs, h.request.sent(APPLICANT, since=mark)
        names = [n for d in docs for n in d.get("_files", [])]
        assert names and all(n.startswith("ApplicationForm_") for n in names), names
    finally:
        await close_harness(h)


def test_keyboards_are_stored_as_telegram_writes_them():
    """R-M2: the buttons an effect stores are Telegram's JSON for them, whatever a button carries (plain
    callback buttons are written directly, the others by python-telegram-bot)."""
    from telegram import InlineKeyboardButton as Btn
    from telegram import InlineKeyboardMarkup, WebAppInfo

    from bot.effects import keyboard_json

    markup = InlineKeyboardMarkup([
        [Btn("✅ 同意", callback_data="rv:a:12"), Btn("↩️ 退回", callback_data="rv:r:12")],
        [Btn("📄 申报页", web_app=WebAppInfo("https://example.org/app/12"))],
        [Btn("官网", url="https://example.org"), Btn("复制", callback_data="x", api_kwargs={"style": "primary"})],
    ])
    assert keyboard_json(markup) == markup.to_dict()
    assert keyboard_json(None) is None
