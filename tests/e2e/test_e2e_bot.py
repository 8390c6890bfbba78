"""End to end over HTTP: the real `python -m bot` process against the fake Bot API."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.callbacks import Meet, MeetingOp, Review, ReviewAux, ReviewOp, WizardOp
from bot.domain.workflow import Action
from storage.db import Database
from storage.models import Application, Attachment

from ..apply_steps import png
from .driver import prepare, press_data, say, tap
from .fake_api import FakeTelegramServer, FakeUser

SH = ZoneInfo("Asia/Shanghai")

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]


async def stored(data_dir: Path, applicant: int) -> tuple[Application, list[Attachment]]:
    db = Database(f"sqlite+aiosqlite:///{data_dir / 'studio.db'}")
    async with db.session() as s:
        app = (await s.scalars(select(Application).where(Application.applicant_id == applicant))).one()
        atts = list((await s.scalars(select(Attachment).where(Attachment.application_id == app.id)
                                     .order_by(Attachment.id))).all())
    await db.dispose()
    return app, atts


async def test_start_language_and_kill_keep_state(fake_api, bot_process_factory):
    """/start in Chinese; the language choice and the flow state survive SIGKILL."""
    bot = await bot_process_factory()
    u = fake_api.user(501, first_name="王建国", language_code="zh-hans")
    assert "劳模创新工作室" in await say(fake_api, u, "/start")
    commands = {c["command"] for c in fake_api.get_commands(language_code="zh")}
    assert {"start", "help", "language", "cancel", "apply"} <= commands
    await say(fake_api, u, "/language")
    msg = fake_api.last_message(u)
    since = fake_api.mark()
    fake_api.press(u, msg.message_id, msg.callback_data("English"))
    await fake_api.wait_reply(u, since=since)
    await say(fake_api, u, "/apply")
    await tap(fake_api, u, WizardOp.UNION)
    await bot.kill()
    await bot.start()
    # still English, still inside the form: the next answer is taken as the first eligibility answer
    text = await say(fake_api, u, "/help")
    assert text.startswith("Help")
    await tap(fake_api, u, WizardOp.YES)  # the question pressed becomes the next one
    assert any("Step 3 of" in (m.text or "") for m in fake_api.chat(u)), fake_api.transcript(u)


async def fill_application(api, u, kill_at: set[str], bot, *, confirm: bool = True) -> None:
    """The whole form over HTTP; SIGKILL and restart at the named points; the final confirm unless told."""

    async def maybe_kill(point: str) -> None:
        if point in kill_at:
            await bot.kill()
            await bot.start()

    await say(api, u, "/apply")
    await tap(api, u, WizardOp.UNION)
    for _ in range(5):
        await tap(api, u, WizardOp.YES)
    await say(api, u, "大连港集团有限公司")
    await say(api, u, "王建国")
    await maybe_kill("after_name")
    await tap(api, u, WizardOp.CHOICE, "male")
    await say(api, u, "1975年3月")
    await tap(api, u, WizardOp.CHOICE, "bachelor")
    await tap(api, u, WizardOp.CHOICE, "senior_technician")
    await tap(api, u, WizardOp.CHOICE, "national_model")
    await say(api, u, "大连港集团有限公司")
    await say(api, u, "主持完成工艺改造12项。")
    await maybe_kill("mid_longtext")
    await tap(api, u, WizardOp.DONE)
    await say(api, u, "3号楼")
    await say(api, u, "120平方米")
    await say(api, u, "50万元")
    await say(api, u, "数控机床\n三维扫描仪")
    await tap(api, u, WizardOp.DONE)
    await tap(api, u, WizardOp.MEMBER_ADD)
    await say(api, u, "李明")
    await tap(api, u, WizardOp.CHOICE, "female")
    await say(api, u, "1985-06")
    await tap(api, u, WizardOp.CHOICE, "master")
    await say(api, u, "高级工程师")
    await maybe_kill("mid_member")
    await say(api, u, "大连港集团")
    await say(api, u, "工艺设计")
    await tap(api, u, WizardOp.DONE)
    await say(api, u, "三年内完成智能码头关键技术攻关。")
    await tap(api, u, WizardOp.DONE)
    since = api.mark()
    api.send_album(u, [png(1), png(2), png(3)])
    msgs = await api.wait_reply(u, since=since, timeout=15)
    assert "3/5" in (msgs[-1].text or ""), api.transcript(u)
    await maybe_kill("after_album")
    await tap(api, u, WizardOp.DONE)
    await tap(api, u, WizardOp.SKIP)
    since = api.mark()
    api.send_document(u, b"%PDF-1.4 recommendation", file_name="推荐材料.pdf", mime_type="application/pdf")
    await api.wait_reply(u, since=since, timeout=15)
    await tap(api, u, WizardOp.DONE)
    await say(api, u, "工作室实行周例会制度。")
    await tap(api, u, WizardOp.DONE)
    await tap(api, u, WizardOp.SKIP)
    await say(api, u, "同意申报")
    await say(api, u, "同意推荐")
    await tap(api, u, WizardOp.SUBMIT)
    if confirm:
        await tap(api, u, WizardOp.CONFIRM)


async def test_whole_application_with_sigkills_matches_a_clean_run(fake_api, bot_process_factory, tmp_path):
    """R-F1…R-F7, R-M2, R-M4: an application over HTTP with an album and a document, killed
    with SIGKILL several times mid-way, ends submitted with the same answers and files as without crashes."""
    results = []
    for run, kills in enumerate([set(), {"after_name", "mid_longtext", "mid_member", "after_album"}]):
        data_dir = tmp_path / f"run{run}"
        await prepare(data_dir)
        bot = await bot_process_factory(data_dir=data_dir, workdir=tmp_path / f"w{run}")
        u = fake_api.user(600 + run, first_name="王建国")
        await fill_application(fake_api, u, kills, bot)
        assert "-0001" in fake_api.last_message(u).text, fake_api.transcript(u)
        await bot.stop()
        app, atts = await stored(data_dir, 600 + run)
        assert app.status == "submitted"
        for att in atts:
            assert hashlib.sha256((data_dir / att.stored_path).read_bytes()).hexdigest() == att.sha256
        sent = {hashlib.sha256(png(i)).hexdigest() for i in (1, 2, 3)}
        assert {a.sha256 for a in atts if a.field == "photos"} == sent
        assert [a.original_name for a in atts if a.field == "recommendation"] == ["推荐材料.pdf"]
        results.append(app.answers)
    assert results[0] == results[1]
    assert results[0]["funds"] == 500000 and results[0]["members"][0]["name"] == "李明"


async def test_review_chain_with_three_accounts(fake_api, bot_process_factory, tmp_path):
    """R-W1…R-W3, R-F8: applicant, district reviewer and city reviewer take one application
    from submission to a named studio over HTTP."""
    data_dir = tmp_path / "data"
    await prepare(data_dir, [(701, "district_reviewer", True), (702, "city_reviewer", False)])
    bot = await bot_process_factory(data_dir=data_dir)
    applicant = fake_api.user(700, first_name="王建国")
    district = fake_api.user(701, first_name="区工会")
    city = fake_api.user(702, first_name="市总")
    await fill_application(fake_api, applicant, set(), bot)
    await fake_api.wait_for(lambda: any("王建国" in (m.text or "") and m.inline_keyboard
                                        for m in fake_api.chat(district)), timeout=15)
    app, _ = await stored(data_dir, 700)
    assert any(m.kind == "media" for m in fake_api.chat(district))  # the photos as an album

    async def press(user, data: str) -> None:
        await press_data(fake_api, user, data)

    await press(district, Review(Action.L1_APPROVE, app.id).encode())
    await press(district, ReviewAux(ReviewOp.DEFAULT, app.id).encode())
    await fake_api.wait_for(lambda: any(m.inline_keyboard for m in fake_api.chat(city)), timeout=15)
    await press(city, Review(Action.SCHEDULE, app.id).encode())
    await say(fake_api, city, "2026-09-20")
    await press(city, Review(Action.INSPECT, app.id).encode())
    await say(fake_api, city, "场地设备齐全。")
    await bot.kill()  # a crash between review steps loses nothing
    await bot.start()
    await press(city, Review(Action.PRELIMINARY, app.id).encode())
    await say(fake_api, city, "建议命名。")
    await meeting_over_http(fake_api, city)  # the meeting's list, recorded and confirmed once
    await fake_api.wait_for(lambda: any("公示" in (m.text or "") and m.kind == "document"
                                        for m in fake_api.chat(applicant)), timeout=15)
    app, _ = await stored(data_dir, 700)
    assert app.status == "notice" and app.studio_name == "王建国劳模创新工作室"
    # a late second tap on the district card changes nothing and says why
    since = fake_api.mark()
    cq = fake_api.press(district, next(m.message_id for m in fake_api.history(district) if m.inline_keyboard),
                        Review(Action.L1_REJECT, app.id).encode(), check=False)
    await fake_api.wait_answer(cq)
    assert fake_api.answered_callbacks[cq]["show_alert"]
    assert (await stored(data_dir, 700))[0].status == "notice"
    _ = since


async def meeting_over_http(api: FakeTelegramServer, city: FakeUser) -> None:
    """The city reviewer's /meeting: every candidate approved as proposed, held today, confirmed once."""
    await say(api, city, "/meeting")
    await press_data(api, city, Meet(MeetingOp.RECORD).encode())
    await say(api, city, datetime.now(SH).date().isoformat())
    await press_data(api, city, Meet(MeetingOp.KIND, v="president").encode())
    await say(api, city, "第12号")
    await press_data(api, city, Meet(MeetingOp.CONFIRM).encode())


async def test_return_resubmit_and_rejection_over_http(fake_api, bot_process_factory, tmp_path):
    """R-W1, R-W4: one application is returned and resubmitted, another rejected."""
    data_dir = tmp_path / "data"
    await prepare(data_dir, [(801, "district_reviewer", True)])
    bot = await bot_process_factory(data_dir=data_dir)
    first, second = fake_api.user(800, first_name="王建国"), fake_api.user(810, first_name="赵强")
    district = fake_api.user(801, first_name="区工会")
    await fill_application(fake_api, first, set(), bot)
    await fill_application(fake_api, second, set(), bot)
    app1, _ = await stored(data_dir, 800)
    app2, _ = await stored(data_dir, 810)
    await fake_api.wait_for(lambda: sum(bool(m.inline_keyboard) for m in fake_api.chat(district)) >= 2, timeout=15)

    async def press(user, data: str) -> None:
        await press_data(fake_api, user, data)

    await press(district, Review(Action.L1_RETURN, app1.id).encode())
    await say(fake_api, district, "请补充设备清单。")
    await press(district, f"rs:{app1.id}:equipment")
    await press(district, ReviewAux(ReviewOp.DEFAULT, app1.id).encode())
    await fake_api.wait_for(lambda: any("请补充设备清单" in (m.text or "") for m in fake_api.chat(first)), timeout=15)
    await tap(fake_api, first, WizardOp.RESUME)
    await tap(fake_api, first, WizardOp.EDIT, "equipment")
    await say(fake_api, first, "数控机床\n三维扫描仪\n激光切割机")
    await tap(fake_api, first, WizardOp.DONE)
    await tap(fake_api, first, WizardOp.SUBMIT)
    await tap(fake_api, first, WizardOp.CONFIRM)
    app1, _ = await stored(data_dir, 800)
    assert app1.status == "submitted" and app1.answers["equipment"][-1] == "激光切割机"
    await press(district, Review(Action.L1_REJECT, app2.id).encode())
    await say(fake_api, district, "近年成果不足。")
    await press(district, ReviewAux(ReviewOp.CONFIRM, app2.id).encode())
    await fake_api.wait_for(lambda: any("企事业级" in (m.text or "") for m in fake_api.chat(second)), timeout=15)
    app2, _ = await stored(data_dir, 810)
    assert app2.status == "rejected" and app2.materials == "returned"


async def test_webhook_mode(fake_api, bot_process_factory, tmp_path):
    """WEBHOOK_URL switches from polling to a webhook; updates posted to it are answered."""
    import json
    import socket

    import aiohttp

    from .harness import ready_polling

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    def ready(server, mark):
        return any(c[0] == "setWebhook" for c in server.calls[mark:])

    _ = ready_polling
    await bot_process_factory(env={"WEBHOOK_URL": f"http://127.0.0.1:{port}/hook", "WEBHOOK_LISTEN": "127.0.0.1",
                                   "WEBHOOK_PORT": str(port)}, ready=ready)
    assert not fake_api.calls_to("getUpdates")
    update = {"update_id": 1, "message": {"message_id": 1, "date": 1, "text": "/start",
                                          "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
                                          "chat": {"id": 901, "type": "private", "first_name": "A"},
                                          "from": {"id": 901, "is_bot": False, "first_name": "A",
                                                   "language_code": "zh"}}}
    fake_api.user(901, first_name="A")
    since = fake_api.mark()
    for _attempt in range(50):
        try:
            async with aiohttp.ClientSession() as http, http.post(
                    f"http://127.0.0.1:{port}/hook", data=json.dumps(update),
                    headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 200
                break
        except aiohttp.ClientConnectorError:
            import asyncio

            await asyncio.sleep(0.2)
    await fake_api.wait_call("sendMessage", since=since, timeout=15)
    assert "劳模创新工作室" in fake_api.calls_to("sendMessage", since=since)[-1][1]["text"]
