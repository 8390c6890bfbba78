"""The season's meeting, public notice and naming (R-W2, R-W3, R-W4): the list decided at one meeting and
confirmed once, the notice with an objection upheld, the rest named together; everyone concerned told."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest_asyncio
from docx import Document
from sqlalchemy import select

from bot.callbacks import Meet, MeetingOp
from bot.exports import data, docx_form
from bot.i18n import I18n
from bot.naming import run_naming
from storage import repo
from storage.models import Application, AuditEvent, OpinionRecord, Studio
from tests.offline import Harness, close_harness, make_harness
from tests.roles import first_union_id, grant
from tests.test_exports import insert_app

SH = ZoneInfo("Asia/Shanghai")
DEC_21 = datetime(2026, 12, 21, 10, 0, tzinfo=SH)  # a Monday, after the meeting of the 18th
ADMIN, CITY, DISTRICT, CONTACT = 900, 30, 20, 50
APPLICANTS = (11, 12, 13, 14, 15)
ZH = I18n().get("zh")


@pytest_asyncio.fixture
async def h(tmp_path) -> AsyncIterator[Harness]:
    h = await make_harness(tmp_path, now=DEC_21, admin_ids=str(ADMIN))
    yield h
    await close_harness(h)


async def five_candidates(h: Harness) -> list[int]:
    """Five applications of season 2026 with a preliminary opinion (and the findings before it)."""
    union = await first_union_id(h)
    await grant(h, CITY, "city_reviewer")
    await grant(h, DISTRICT, "district_reviewer", union)
    await grant(h, CONTACT, "contact")
    await h.text(h.user(ADMIN), "/start")  # an admin the bot can write to
    ids = []
    for n, applicant in enumerate(APPLICANTS, start=1):
        app_id = await insert_app(h, applicant, f"2026-000{n}", "preliminary", union,
                                  {"leader_name": f"负责人{n}", "applying_unit": f"单位{n}"})
        ids.append(app_id)
        async with h.db.session() as s:
            now = h.clock.now()
            repo.audit(s, now, "schedule", application_id=app_id, actor_id=CITY, details={"date": "2026-10-10"})
            repo.audit(s, now, "inspect", application_id=app_id, actor_id=CITY, opinion=f"考察情况{n}。")
            repo.audit(s, now, "preliminary", application_id=app_id, actor_id=CITY, opinion=f"建议命名{n}。",
                       from_status="inspected", to_status="preliminary")
            await s.commit()
    return ids


def press(h: Harness, op: MeetingOp, n: int | None = None, v: str | None = None):
    return h.press(h.user(CITY, name="U30"), Meet(op, n, v).encode())


async def statuses(h: Harness, ids: list[int]) -> list[str]:
    async with h.db.session() as s:
        return [(await s.get(Application, i)).status for i in ids]  # type: ignore[union-attr]


async def meeting_decides(h: Harness, ids: list[int]) -> None:
    """Three approved, the fourth not (a reason typed), the fifth deferred; confirmed once."""
    c = h.user(CITY, name="U30")
    await h.text(c, "/meeting")
    await press(h, MeetingOp.OUTCOME, ids[3])  # approve → reject
    await press(h, MeetingOp.OUTCOME, ids[4])
    await press(h, MeetingOp.OUTCOME, ids[4])  # → defer
    await press(h, MeetingOp.RECORD)
    await h.text(c, "12月18日")
    await press(h, MeetingOp.KIND, v="president")
    await h.text(c, "第12号")
    await h.text(c, "场地不符合要求")  # the reason of the fourth
    assert await statuses(h, ids) == ["preliminary"] * 5  # nothing recorded before the confirmation
    await press(h, MeetingOp.CONFIRM)


async def test_five_candidates_one_meeting_one_confirmation(h):
    """R-W2, R-W3, R-F8: five candidates through one meeting (three approved, one not, one deferred) with one
    confirmation; each outcome carries the meeting's reference in the trail, and the printed form's city box
    holds the decision from the record, without retyping."""
    ids = await five_candidates(h)
    c = h.user(CITY, name="U30")
    await h.text(c, "/meeting")
    listing = h.request.last(CITY)["text"]
    assert all(f"2026-000{n}" in listing for n in range(1, 6)) and "建议命名1。" in listing
    await meeting_decides(h, ids)
    assert await statuses(h, ids) == ["notice", "notice", "notice", "rejected", "preliminary"]
    async with h.db.session() as s:
        trail = (await s.scalars(select(AuditEvent).where(AuditEvent.action.in_(
            ["meeting_approve", "meeting_reject", "meeting_deferred"])).order_by(AuditEvent.id))).all()
        city = {o.application_id: o.text for o in (await s.scalars(
            select(OpinionRecord).where(OpinionRecord.box == "city"))).all()}
        b = await data.load_bundle(s, ids[0])
    assert [e.action for e in trail] == ["meeting_approve"] * 3 + ["meeting_reject", "meeting_deferred"]
    ref = {"held_on": "2026-12-18", "kind": "president", "minute_no": "第12号"}
    assert all({k: e.details["meeting"][k] for k in ref} == ref for e in trail)
    assert city[ids[0]] == "经2026年12月18日市总工会主席办公会讨论通过（纪要第12号），同意命名。"
    assert "场地不符合要求" in city[ids[3]]
    assert ids[4] not in city
    assert b is not None
    doc = Document(io.BytesIO(docx_form.build_docx(b, ZH, h.settings.tz)))
    box = next(cell.text for t in doc.tables for r in t.rows for cell in r.cells
               if cell.text.startswith("经2026年12月18日"))
    assert "初步考核意见：建议命名1。" in box and "（盖印）" in box and "考察情况1" not in box
    # the one not approved is told, with everyone concerned; the approved hear no outcome before the naming
    assert any("场地不符合要求" in t for t in h.request.texts(APPLICANTS[3]))
    assert [n for n, _ in h.request.sent(APPLICANTS[0])] == ["sendDocument"]  # the public notice alone


async def test_the_notice_is_published_to_everyone_concerned_once(h):
    """R-W3: once the meeting is recorded, the public notice (DOCX, with its period) goes to everyone
    concerned by an entry — the approved applicants, the union's reviewers, the contact person, the admins —
    one copy each; the recorder has it on screen; the deferred and the rejected applicants get none."""
    ids = await five_candidates(h)
    mark = len(h.request.calls)
    await meeting_decides(h, ids)
    await h.app.bot_data["services"].drain()
    for chat in (*APPLICANTS[:3], DISTRICT, CONTACT, ADMIN):
        docs = [p for n, p in h.request.sent(chat, since=mark) if n == "sendDocument"]
        assert len(docs) == 1 and "公示期 2026-12-22 至 2026-12-28" in docs[0]["caption"], chat
    for chat in (APPLICANTS[3], APPLICANTS[4], CITY):
        assert not [p for n, p in h.request.sent(chat, since=mark) if n == "sendDocument"
                    and "公示" in p.get("caption", "")], chat


async def test_the_proposed_name_is_typed_anew_on_the_confirmation(h):
    """R-W3, R-F8: on the one confirmation a proposed name can be typed anew (a name too short is refused and
    the rest kept); the new name is recorded with the meeting's approval, printed and named."""
    ids = await five_candidates(h)
    c = h.user(CITY, name="U30")
    await h.text(c, "/meeting")
    await press(h, MeetingOp.RECORD)
    await h.text(c, "12月18日")
    await press(h, MeetingOp.KIND, v="president")
    mark = await h.text(c, "第12号")
    assert "负责人1劳模创新工作室" in h.request.texts(CITY, since=mark)[-1]
    await press(h, MeetingOp.NAME, ids[0])
    mark = await h.text(c, "港")
    assert "2～100" in h.request.texts(CITY, since=mark)[-1]
    mark = await h.text(c, "大连港  智能码头劳模创新工作室")
    screen = h.request.texts(CITY, since=mark)[-1]
    assert "大连港 智能码头劳模创新工作室" in screen and "负责人2劳模创新工作室" in screen
    assert await statuses(h, ids) == ["preliminary"] * 5
    await press(h, MeetingOp.CONFIRM)
    async with h.db.session() as s:
        names = [(await s.get(Application, i)).studio_name for i in ids[:2]]
    assert names == ["大连港 智能码头劳模创新工作室", "负责人2劳模创新工作室"]


async def test_notice_objection_upheld_and_the_rest_named_together(h):
    """R-W3, R-W4: under a moved clock, an objection upheld during the notice takes an entry off the list;
    when the period ends the rest are named together on the naming date with one plaque date; every
    concerned chat gets exactly one outcome message per application."""
    ids = await five_candidates(h)
    await meeting_decides(h, ids)
    h.clock.advance(timedelta(days=2))  # 12-23, under notice (12-22 … 12-28)
    c = h.user(CITY, name="U30")
    await h.text(c, "/meeting")
    await press(h, MeetingOp.NOTICE)
    await press(h, MeetingOp.OBJECT, ids[0])
    await h.text(c, "群众来信：成果数据有误")
    async with h.db.session() as s:
        from storage.models import Objection

        objection = (await s.scalars(select(Objection))).one()
    mark = await press(h, MeetingOp.UPHOLD, objection.id)
    assert await statuses(h, ids[:3]) == ["rejected", "notice", "notice"]
    for chat in (APPLICANTS[0], DISTRICT, CONTACT, ADMIN):
        told = [t for n, p in h.request.sent(chat, since=mark) if n == "sendMessage" for t in [p["text"]]]
        assert len(told) == 1 and "2026-0001" in told[0] and "成果数据有误" in told[0], chat
    assert await run_naming(h.app) == 0  # still under notice
    h.clock.advance(timedelta(days=5))  # 12-28: the last day of the notice
    assert await run_naming(h.app) == 0
    assert await statuses(h, ids[1:3]) == ["notice", "notice"]
    h.clock.advance(timedelta(days=1))  # 12-29: the notice is over, the naming date has come
    mark = len(h.request.calls)
    assert await run_naming(h.app) == 2
    await h.app.bot_data["services"].drain()
    assert await statuses(h, ids) == ["rejected", "approved", "approved", "rejected", "preliminary"]
    async with h.db.session() as s:
        studios = (await s.scalars(select(Studio).order_by(Studio.id))).all()
    assert [x.name for x in studios] == ["负责人2劳模创新工作室", "负责人3劳模创新工作室"]
    assert {x.plaque_on.isoformat() for x in studios} == {"2026-12-29"}
    for number, applicant in (("2026-0002", APPLICANTS[1]), ("2026-0003", APPLICANTS[2])):
        for chat in (applicant, DISTRICT, CONTACT, ADMIN):
            told = [p["text"] for n, p in h.request.sent(chat, since=mark) if n == "sendMessage"
                    and number in p["text"]]
            assert len(told) == 1 and "命名" in told[0], (number, chat)
    assert await run_naming(h.app) == 0  # named once


async def test_applicant_hears_neither_findings_nor_preliminary_opinion_before_the_decision(bot):
    """R-W2: the applicant is told the inspection's date; the findings and the preliminary opinion stay with
    the reviewers and the meeting (not sent, not in /status) until the decision; findings are recorded only
    on or after the inspection's day."""
    from bot.callbacks import ReviewAux, ReviewOp
    from bot.domain.workflow import Action
    from tests.test_review_flow import APPLICANT, press_action, submitted, who
    from tests.test_review_flow import CITY as CITY_REVIEWER
    from tests.test_review_flow import DISTRICT as DISTRICT_REVIEWER

    app = await submitted(bot)
    await press_action(bot, DISTRICT_REVIEWER, Action.L1_APPROVE, app.id)
    await bot.press(who(bot, DISTRICT_REVIEWER), ReviewAux(ReviewOp.DEFAULT, app.id).encode())
    city = who(bot, CITY_REVIEWER)
    mark = await press_action(bot, CITY_REVIEWER, Action.SCHEDULE, app.id)
    assert "2026-07-19" in bot.request.texts(CITY_REVIEWER, since=mark)[-1]  # an example from today, ahead
    await bot.text(city, "9月20日")  # this year's 20 September
    assert any("2026-09-20" in t for t in bot.request.texts(APPLICANT, since=mark))
    early = await press_action(bot, CITY_REVIEWER, Action.INSPECT, app.id)  # July: before the inspection
    assert "没有到日子" in bot.request.alerts(since=early)[-1]["text"]
    bot.clock.advance(timedelta(days=72))
    mark = await press_action(bot, CITY_REVIEWER, Action.INSPECT, app.id)
    await bot.text(city, "场地设备齐全，账目有瑕疵。")
    await press_action(bot, CITY_REVIEWER, Action.PRELIMINARY, app.id)
    await bot.text(city, "建议暂缓命名。")
    await bot.text(bot.user(APPLICANT), "/status")
    told = "\n".join(bot.request.texts(APPLICANT, since=mark))
    assert "账目有瑕疵" not in told and "建议暂缓命名" not in told
    async with bot.db.session() as s:
        assert (await s.get(Application, app.id)).status == "preliminary"


def test_the_notice_counts_working_days_without_public_holidays():
    """R-W3: a notice of five working days skips the weekend and New Year's Day (a holiday of a fixed date);
    the holidays and the weekend days worked instead (调休) declared in the configuration count as such."""
    from datetime import date

    from bot.config import Settings
    from bot.services.meeting import notice_for

    plain = notice_for(date(2026, 12, 29), date(2026, 12, 29), 5, date(2026, 12, 20))
    assert (plain.first, plain.last, plain.naming) == (date(2026, 12, 30), date(2027, 1, 6), date(2027, 1, 7))
    s = Settings(bot_token="1:x", holidays="2027-01-04,2027-01-05", makeup_workdays="2027-01-03")
    declared = notice_for(date(2026, 12, 29), date(2026, 12, 29), 5, date(2026, 12, 20), s.work_days())
    assert (declared.first, declared.last, declared.naming) == (  # 3 Jan worked, 4 and 5 Jan not
        date(2026, 12, 30), date(2027, 1, 7), date(2027, 1, 8))


def test_the_meeting_is_named_in_each_readers_language():
    """R-W2: the recorded meeting reads "经2026年12月18日市总工会主席办公会讨论" in Chinese and "the presidents'
    meeting of 2026-12-18" in English (the printed form and the trail keep the Chinese)."""
    from datetime import date

    from bot.views.meeting import reference
    from storage.models import Meeting

    m = Meeting(season_year=2026, held_on=date(2026, 12, 18), kind="president", minute_no="第12号")
    assert reference(ZH, m) == "经2026年12月18日市总工会主席办公会讨论"
    assert reference(I18n().get("en"), m) == "the presidents' meeting of 2026-12-18"


def test_the_meetings_record_is_checked_in_one_place():
    """R-W2: a rejection's reason over the limit is refused (in the chat and on the web alike), not cut; the
    minute number and the reason are read with their spaces folded; a date after today is refused."""
    from datetime import date

    import pytest

    from bot.services import Refused
    from bot.services.meeting import check_held, check_minute, check_reason
    from bot.services.records import REASON_MAX

    assert check_reason("  场地  不符合要求 ") == "场地 不符合要求"
    assert check_minute(" 第 12 号 ") == "第 12 号"
    for bad in ("", " ", "理" * (REASON_MAX + 1)):
        with pytest.raises(Refused) as exc:
            check_reason(bad)
        assert exc.value.params == {"max": REASON_MAX}
    with pytest.raises(Refused):
        check_held(date(2026, 12, 19), date(2026, 12, 18))
