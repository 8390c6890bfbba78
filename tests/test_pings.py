"""Reminders through a whole season (R-D1…R-D5): deadline countdown, final figures, review start,
stalled reviews, naming, year-end reports; sent once across runs and restarts, never at night,
and mutable by the contact person.

The clock is moved (never waited on) and the job function is called directly.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from bot import jobs
from bot.callbacks import MuteBtn, ReportBtn, ReportOp, Wiz, WizardOp
from bot.domain import pings as P
from bot.domain.workflow import Status
from conversations import report as report_conv
from storage import repo
from storage.models import Application, Mute, Ping, Studio, User, YearReport
from tests.offline import Harness, buttons, close_harness, make_harness
from tests.roles import grant

SH = ZoneInfo("Asia/Shanghai")
CONTACT, DISTRICT, CITY, ADMIN = 50, 20, 30, 900
DRAFTER, DRAFTER2, STALLED, FORWARDED = 10, 11, 12, 13
LEADER, LEADER2, LEADER3, LEADER_GONE = 60, 61, 62, 63


def at(month: int, day: int, hour: int = 9, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


@pytest_asyncio.fixture
async def h(bot: Harness) -> Harness:
    report_conv.register(bot.app)
    jobs.unschedule(bot.app)  # in case start-up scheduled it: these tests run the job themselves
    return bot


@pytest_asyncio.fixture
async def h_any(any_bot: Harness) -> Harness:
    """The same on SQLite and, when reachable, PostgreSQL."""
    report_conv.register(any_bot.app)
    jobs.unschedule(any_bot.app)
    return any_bot


async def unions(h: Harness) -> list[int]:
    async with h.db.session() as s:
        return [u.id for u in await repo.active_unions(s)][:2]


async def add_app(h: Harness, applicant: int, status: Status, union_id: int | None, *, since: datetime,
                  year: int = 2026, number: str | None = None, unit: str = "大连港集团") -> int:
    async with h.db.session() as s:
        await repo.upsert_user(s, applicant, f"A{applicant}", None, None, "zh-hans", since)
        await repo.ensure_season(s, year)
        submitted = status is not Status.DRAFT
        app = Application(season_year=year, applicant_id=applicant, union_id=union_id, status=status.value,
                          answers={"applying_unit": unit, "leader_name": f"劳模{applicant}"}, wizard={},
                          created_at=since, updated_at=since, status_since=since,
                          submitted_at=since if submitted else None, number=number)
        s.add(app)
        await s.commit()
        return app.id


async def add_studio(h: Harness, leader: int, named_on: date, name: str, *, union_id: int | None = None,
                     status: str = "active") -> int:
    since = datetime.combine(named_on, datetime.min.time(), tzinfo=SH)
    season = named_on.year if named_on.month == 12 else named_on.year - 1  # named in the season's December
    app_id = await add_app(h, leader, Status.APPROVED, union_id, since=since, year=season,
                           number=f"{season}-9{leader:03d}")
    async with h.db.session() as s:
        st = Studio(application_id=app_id, name=name, leader_id=leader, union_id=union_id, named_on=named_on,
                    status=status)
        s.add(st)
        await s.commit()
        return st.id


async def tick(h: Harness, when: datetime) -> dict[int, list[str]]:
    """Move the clock, run the job twice (the second run must send nothing), return what each chat got."""
    h.clock.set(when)
    mark = len(h.request.calls)
    await h.pings()
    second = len(h.request.calls)
    assert await h.pings() == []
    assert len(h.request.calls) == second, "a second run sent something again"
    out: dict[int, list[str]] = {}
    for _, p in h.request.sent(since=mark):
        out.setdefault(int(p["chat_id"]), []).append(p.get("text", ""))
    return out


def one(got: dict[int, list[str]], chat: int) -> str:
    assert len(got.get(chat, [])) == 1, f"{chat} got {got.get(chat)}"
    return got[chat][0]


def sent_params(h: Harness, chat: int, since: int = 0) -> list[dict[str, Any]]:
    return [p for _, p in h.request.sent(chat, since=since)]


# --------------------------------------------------------------------------- the whole season


async def test_a_whole_season_of_pings_goes_to_the_right_people_once(h_any: Harness) -> None:
    """R-D1 (countdown 14/7/3/1/0, final figures, forfeit rule), R-D2 (review start), R-D3 (before
    naming), R-D5 (year-end reports and the 31 December list); stalled reviews are reminded after
    3 days and escalated after 7; quiet hours hold; nothing is sent twice, not even after a restart."""
    h = h_any
    u1, u2 = await unions(h)
    await grant(h, CONTACT, "contact")
    await grant(h, DISTRICT, "district_reviewer", u1)
    await grant(h, CITY, "city_reviewer")
    # opening day: a real draft through the wizard, another draft of another union
    h.clock.set(at(7, 1, 10))
    drafter = h.user(DRAFTER)
    mark = await h.text(drafter, "/apply")
    apply_screen = h.request.texts(DRAFTER, since=mark)[-1]
    async with h.db.session() as s:
        draft_id = (await repo.application_of(s, DRAFTER, 2026)).id  # type: ignore[union-attr]
    await add_app(h, DRAFTER2, Status.DRAFT, u2, since=at(7, 1, 11))
    await add_app(h, FORWARDED, Status.FORWARDED, u1, since=at(7, 8, 10), number="2026-0001")
    studio_old = await add_studio(h, LEADER, date(2025, 12, 15), "王建国劳模创新工作室", union_id=u1)
    studio_new = await add_studio(h, LEADER2, date(2026, 3, 1), "李明劳模创新工作室", union_id=u2)
    await add_studio(h, LEADER_GONE, date(2025, 12, 15), "赵强劳模创新工作室", status="delisted")

    # opening day: last season's applicants and the named studios' unions hear that it is open
    got = await tick(h, at(7, 1, 12))
    assert set(got) == {LEADER, LEADER2, LEADER_GONE, DISTRICT}, "not the contact, not today's drafters"
    assert "2026年度劳模创新工作室申报已经开始" in one(got, LEADER) and "/apply" in one(got, LEADER)
    assert "迟发" not in one(got, LEADER)
    assert await tick(h, at(7, 16, 19, 55)) == {}
    assert await tick(h, at(7, 17, 0, 30)) == {}, "due at midnight, but quiet hours"
    assert await tick(h, at(7, 17, 8, 59)) == {}

    # 14 days before: the contact person only, with figures per union
    got = await tick(h, at(7, 17, 9, 0))
    assert set(got) == {CONTACT}
    text = one(got, CONTACT)
    assert "还有 14 天截止" in text and "2026-07-31" in text and "超过期限视为放弃当年申报" in text
    assert "草稿 2" in text and "中山区总工会" in text and "西岗区总工会" in text

    # an application submitted at 22:00 that nobody reviews
    h.clock.set(at(7, 20, 22, 0))
    await add_app(h, STALLED, Status.SUBMITTED, u1, since=at(7, 20, 22, 0), number="2026-0002")
    assert await tick(h, at(7, 23, 21, 59)) == {}
    assert await tick(h, at(7, 23, 22, 0)) == {}, "the review reminder is due at 22:00: it waits for morning"
    assert await tick(h, at(7, 24, 8, 59)) == {}

    # 7 days before: contact, both drafters (with a resume button), and the stalled review's reviewer
    mark = len(h.request.calls)
    got = await tick(h, at(7, 24, 9, 0))
    assert set(got) == {CONTACT, DRAFTER, DRAFTER2, DISTRICT}
    assert "还有 7 天截止" in one(got, CONTACT)
    assert "还有 7 天" in one(got, DRAFTER) and "超过期限视为放弃当年申报" in one(got, DRAFTER)
    assert "2026-0002" in one(got, DISTRICT) and "/pending" in one(got, DISTRICT)
    resume = buttons(sent_params(h, DRAFTER, mark)[-1])
    assert resume == [("继续填写申报", Wiz(draft_id, WizardOp.RESUME).encode())]
    # the button opens the wizard on the draft
    press = await h.press(drafter, resume[0][1])
    assert h.request.texts(DRAFTER, since=press)[-1] in apply_screen  # the step where the draft stands
    assert h.request.alerts(since=press)[-1].get("show_alert") is not True

    # 3 days before: countdown; the stalled review (due 27 July 22:00) escalates at 09:00 the next day
    assert await tick(h, at(7, 27, 22, 0)) == {}
    got = await tick(h, at(7, 28, 9, 0))
    assert set(got) == {CONTACT, ADMIN}
    assert len(got[CONTACT]) == 2
    assert any("还有 3 天截止" in x for x in got[CONTACT])
    escalation = [x for x in got[CONTACT] if "审核停滞" in x]
    assert len(escalation) == 1 and "2026-0002" in escalation[0] and "区市县/产业工会" in escalation[0]
    assert "审核停滞" in one(got, ADMIN)

    # 1 day before: contact and the drafters
    got = await tick(h, at(7, 30, 9, 0))
    assert set(got) == {CONTACT, DRAFTER, DRAFTER2}
    assert "还有 1 天截止" in one(got, CONTACT) and "还有 1 天" in one(got, DRAFTER)

    # the day itself: the contact only
    got = await tick(h, at(7, 31, 9, 0))
    assert set(got) == {CONTACT} and "今天（2026-07-31）24:00 截止" in one(got, CONTACT)
    assert await tick(h, at(7, 31, 19, 59)) == {}

    # the day after: final figures
    got = await tick(h, at(8, 1, 9, 0))
    assert set(got) == {CONTACT}
    final = one(got, CONTACT)
    assert "已于 2026-07-31 截止" in final and "已提交 2 份" in final and "未提交的 2 份视为放弃当年申报" in final
    assert await tick(h, at(8, 20, 10)) == {}

    # review starts (R-D2): contact; the application forwarded in July only now starts waiting
    got = await tick(h, at(9, 15, 9, 0))
    assert set(got) == {CONTACT}
    assert "评审和实地考察今天（2026-09-15）开始" in one(got, CONTACT) and "待市总工会审核 1 份" in one(got, CONTACT)
    got = await tick(h, at(9, 18, 9, 0))
    assert set(got) == {CITY} and "2026-0001" in one(got, CITY)
    got = await tick(h, at(9, 22, 9, 0))
    assert set(got) == {CONTACT, ADMIN} and "2026-0001" in one(got, CONTACT) and "市总工会" in one(got, ADMIN)
    assert await tick(h, at(10, 20, 10)) == {}, "a stalled review is reminded and escalated once"
    assert await tick(h, at(11, 30, 19)) == {}

    # year end (R-D5): 1 December every active studio named before December is asked
    got = await tick(h, at(12, 1, 9, 0))
    assert set(got) == {LEADER, LEADER2}, "not the delisted studio"
    assert "王建国劳模创新工作室" in one(got, LEADER)
    assert buttons(sent_params(h, LEADER)[-1]) == [("填写年度报告",
                                                     ReportBtn(ReportOp.START, studio_old).encode())]
    # before naming (R-D3)
    assert await tick(h, at(12, 12, 10)) == {}
    got = await tick(h, at(12, 13, 9, 0))
    assert set(got) == {CONTACT} and "2026-12-20 前完成" in one(got, CONTACT)

    # a studio named in December reports from next year; one studio files
    await add_studio(h, LEADER3, date(2026, 12, 18), "孙丽劳模创新工作室")
    async with h.db.session() as s:
        s.add(YearReport(studio_id=studio_old, year=2026, answers={"work": "…"}, filed_at=at(12, 20, 10)))
        await s.commit()
    assert await tick(h, at(12, 30, 10)) == {}
    got = await tick(h, at(12, 31, 9, 0))
    assert set(got) == {CONTACT}
    listing = one(got, CONTACT)
    assert "李明劳模创新工作室" in listing and "王建国" not in listing and "孙丽" not in listing
    assert "应备案 2 个，已备案 1 个" in listing
    _ = studio_new

    # a restart: a fresh bot on the same data directory sends nothing again
    await h.app.stop()
    await h.app.shutdown()
    h2 = await make_harness(h.settings.data_dir, now=at(12, 31, 10, 0), admin_ids="900",
                            database_url=h.settings.database_url)
    try:
        jobs.unschedule(h2.app)
        assert await h2.pings() == []
        assert h2.request.sent() == []
        async with h2.db.session() as s:
            unsent = await s.scalar(select(func.count()).select_from(Ping).where(Ping.sent_at.is_(None)))
            assert unsent == 0
    finally:
        await close_harness(h2)
        await h.app.initialize()
        await h.app.start()


async def test_a_ping_due_at_night_is_sent_at_nine_not_before(h: Harness) -> None:
    """Quiet hours: a review reminder due at 22:00 is sent at 09:00 the next day, not before."""
    u1, _ = await unions(h)
    await grant(h, DISTRICT, "district_reviewer", u1, lang="en")
    await add_app(h, STALLED, Status.SUBMITTED, u1, since=at(7, 10, 22, 0), number="2026-0009")
    for when in (at(7, 13, 21, 59), at(7, 13, 22, 0), at(7, 13, 23, 59), at(7, 14, 0, 1), at(7, 14, 8, 59, )):
        assert await tick(h, when) == {}, when
    got = await tick(h, at(7, 14, 9, 0))
    assert set(got) == {DISTRICT} and "2026-0009" in one(got, DISTRICT)
    assert "waiting for your review since 2026-07-10: 3 days" in one(got, DISTRICT)
    async with h.db.session() as s:
        row = (await s.scalars(select(Ping))).one()
    assert row.due_at == at(7, 13, 22, 0) and row.sent_at == at(7, 14, 9, 0)


async def test_a_late_run_sends_the_current_ping_not_the_superseded_ones(h: Harness) -> None:
    """R-D1: after a long outage only the ping still current is sent (here the 3-day one), with the
    days actually left; the 14- and 7-day ones are not sent late."""
    await grant(h, CONTACT, "contact")
    got = await tick(h, at(7, 29, 15, 0))
    assert set(got) == {CONTACT} and "还有 2 天截止" in one(got, CONTACT)
    assert "迟发的提醒：本应于 2026-07-28 发出" in one(got, CONTACT), "it says it is late"
    async with h.db.session() as s:
        keys = (await s.scalars(select(Ping.key))).all()
    assert keys == [f"contact:deadline-3:2026:{CONTACT}"]


async def test_draft_started_after_the_reminder_day_is_not_nagged(h: Harness) -> None:
    """R-D1: the 7-day reminder goes to drafts that existed then, not to one started later that week."""
    await add_app(h, DRAFTER, Status.DRAFT, None, since=at(7, 26, 10))
    got = await tick(h, at(7, 26, 11))
    assert got == {}
    got = await tick(h, at(7, 30, 9))
    assert set(got) == {DRAFTER} and "还有 1 天" in one(got, DRAFTER)


async def test_contact_mutes_and_unmutes_a_kind_with_buttons(h: Harness) -> None:
    """The contact person mutes the countdown in /reminders: it is not sent; unmuted, the current one
    is sent at the next run. Escalations still reach the admins when the contact mutes them."""
    u1, _ = await unions(h)
    await grant(h, CONTACT, "contact")
    contact = h.user(CONTACT, name="U50")
    mark = await h.text(contact, "/reminders")
    screen = sent_params(h, CONTACT, mark)[-1]
    assert "2026-07-17 09:00" in screen["text"] and "截止倒计时" in screen["text"]
    labels = dict(buttons(screen))
    assert "🔔 截止倒计时：开" in labels
    await h.press(contact, MuteBtn("countdown").encode())
    await h.press(contact, MuteBtn("escalation").encode())
    assert "🔕 截止倒计时：已静音" in dict(buttons(h.request.last(CONTACT)))
    async with h.db.session() as s:
        assert {m.kind for m in (await s.scalars(select(Mute))).all()} == {"countdown", "escalation"}

    assert await tick(h, at(7, 17, 9)) == {}
    await add_app(h, STALLED, Status.SUBMITTED, u1, since=at(7, 1, 10), number="2026-0003")
    got = await tick(h, at(7, 17, 10))
    assert set(got) == {ADMIN}, "muted escalation: the admins are still told"

    await h.press(contact, MuteBtn("countdown").encode())  # unmute
    got = await tick(h, at(7, 17, 11))
    assert set(got) == {CONTACT} and "还有 14 天截止" in one(got, CONTACT)


async def test_reminders_lists_upcoming_and_only_the_contact_may_mute(h: Harness) -> None:
    """/reminders shows a user their own upcoming reminders; others get no mute buttons and a forged
    mute press is refused."""
    await add_app(h, DRAFTER, Status.DRAFT, None, since=at(7, 1, 10))
    u = h.user(DRAFTER)
    mark = await h.text(u, "/reminders")
    screen = sent_params(h, DRAFTER, mark)[-1]
    assert "2026-07-24 09:00" in screen["text"] and "2026-07-30 09:00" in screen["text"]
    assert "截止倒计时" not in screen["text"] and not buttons(screen)
    mark = await h.press(u, MuteBtn("countdown").encode())
    assert h.request.alerts(since=mark)[-1]["show_alert"] is True
    async with h.db.session() as s:
        assert (await s.scalars(select(Mute))).all() == []
    # in English, for someone with nothing coming
    mark = await h.text(h.user(77, lang="en"), "/reminders")
    assert "No reminders" in h.request.texts(77, since=mark)[-1]


async def test_unreachable_recipient_is_skipped_and_others_still_reached(h: Harness) -> None:
    """R-D1: a contact who blocked the bot is marked blocked; the other contact still gets the ping,
    and neither is owed it again."""
    from telegram.error import Forbidden

    await grant(h, CONTACT, "contact")
    await grant(h, CONTACT + 1, "contact")
    h.request.fail["sendMessage"] = [Forbidden("bot was blocked by the user")]
    h.clock.set(at(7, 17, 9))
    mark = len(h.request.calls)
    assert len(await h.pings()) == 2
    got = {int(p["chat_id"]) for name, p in h.request.sent(since=mark) if name == "sendMessage"}
    async with h.db.session() as s:
        blocked = {u.id for u in (await s.scalars(select(User).where(User.blocked_at.is_not(None)))).all()}
    assert len(got) == 1 and len(blocked) == 1 and got | blocked == {CONTACT, CONTACT + 1}
    mark = len(h.request.calls)
    assert await h.pings() == []
    assert h.request.sent(since=mark) == []


async def test_network_failure_is_retried_until_it_arrives_once(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """R-D1: a ping whose sending meets a passing network error is sent again by the sender, and
    arrives once; the next run owes nothing more."""
    from telegram.error import NetworkError

    from bot import sender

    monkeypatch.setattr(sender, "BACKOFF", (0.0,))  # no back-off sleeps in the test
    await grant(h, CONTACT, "contact")
    h.request.fail["sendMessage"] = [NetworkError("down"), NetworkError("Bad Gateway")]
    h.clock.set(at(7, 17, 9))
    mark = len(h.request.calls)
    assert await h.pings() == [f"contact:deadline-14:2026:{CONTACT}"]
    tries = [p for name, p in h.request.sent(CONTACT, since=mark) if name == "sendMessage"]
    assert len(tries) == 1 and "还有 14 天截止" in tries[0]["text"]  # the failed calls are not recorded
    assert h.request.fail["sendMessage"] == []
    assert await h.pings() == []


async def test_schedule_adds_one_repeating_job(h: Harness) -> None:
    """The JobQueue job: repeating every 5 minutes, first a few seconds after start-up, never twice."""
    jobs.schedule(h.app, first=3600)
    jobs.schedule(h.app, first=3600)
    found = h.app.job_queue.get_jobs_by_name(jobs.JOB_NAME)
    assert len(found) == 1 and found[0].next_t is not None
    assert found[0].job.trigger.interval.total_seconds() == jobs.INTERVAL_SECONDS
    jobs.unschedule(h.app)
    assert h.app.job_queue.get_jobs_by_name(jobs.JOB_NAME) == ()


# --------------------------------------------------------------------------- the pure rules


RULES = P.Rules(tz=SH)


def test_quiet_hours_move_a_night_ping_to_the_morning() -> None:
    assert P.next_allowed(at(7, 1, 22), RULES) == at(7, 2, 9)
    assert P.next_allowed(at(7, 2, 3), RULES) == at(7, 2, 9)
    assert P.next_allowed(at(7, 2, 9), RULES) == at(7, 2, 9)
    assert P.next_allowed(at(7, 2, 19, 59), RULES) == at(7, 2, 19, 59)
    assert P.next_allowed(at(7, 2, 20), RULES) == at(7, 3, 9)
    day_quiet = P.Rules(tz=SH, quiet_start=12, quiet_end=14)
    assert P.next_allowed(at(7, 2, 13), day_quiet) == at(7, 2, 14)
    no_quiet = P.Rules(tz=SH, quiet_start=0, quiet_end=0)
    assert P.next_allowed(at(7, 2, 3), no_quiet) == at(7, 2, 3)


def test_countdown_keys_and_windows() -> None:
    """R-D1: keys like contact:deadline-14:2026:<user>; each ping lasts until the next is due."""
    season = P.SeasonInfo(2026, date(2026, 7, 1), date(2026, 7, 31), date(2026, 9, 15), date(2026, 12, 20))
    snap = P.Snapshot(seasons=(season,), people=P.People(contacts=(5,)))
    found = {p.key: p for p in P.candidates(snap, at(7, 1), RULES)}
    p14 = found["contact:deadline-14:2026:5"]
    assert p14.send_at == at(7, 17, 9) and p14.expires_at == at(7, 24, 0)
    p0 = found["contact:deadline-0:2026:5"]
    assert p0.send_at == at(7, 31, 9) and p0.expires_at == at(8, 1, 0)
    assert found["contact:final:2026:5"].send_at == at(8, 1, 9)
    assert found["contact:review-start:2026:5"].send_at == at(9, 15, 9)
    assert found["contact:naming-7:2026:5"].send_at == at(12, 13, 9)
    assert [p.key for p in P.due_pings(snap, at(7, 24, 9), RULES)] == ["contact:deadline-7:2026:5"]


def test_first_year_deadline_is_31_august() -> None:
    """R-D1: in the first year the countdown runs to 31 August."""
    season = P.SeasonInfo(2011, date(2011, 7, 1), date(2011, 8, 31), date(2011, 9, 15), date(2011, 12, 20), True)
    snap = P.Snapshot(seasons=(season,), people=P.People(contacts=(5,)))
    found = {p.key: p for p in P.candidates(snap, at(7, 1, year=2011), RULES)}
    assert found["contact:deadline-0:2011:5"].send_at == at(8, 31, 9, year=2011)


def test_level2_waits_from_review_start_and_after_the_inspection_day() -> None:
    """R-D2: city reviewers are reminded only once review has started, and an application with a
    scheduled inspection only after the inspection day."""
    season = P.SeasonInfo(2026, date(2026, 7, 1), date(2026, 7, 31), date(2026, 9, 15), date(2026, 12, 20))
    app = P.AppInfo(1, 2026, 10, 3, Status.INSPECTION_SCHEDULED, at(9, 16, 10), at(7, 2), date(2026, 10, 8))
    assert P.waiting_since(app, season, SH) == at(10, 9, 0)
    fwd = P.AppInfo(2, 2026, 11, 3, Status.FORWARDED, at(7, 20, 10), at(7, 2))
    assert P.waiting_since(fwd, season, SH) == at(9, 15, 0)
    l1 = P.AppInfo(3, 2026, 12, 3, Status.SUBMITTED, at(7, 20, 10), at(7, 2))
    assert P.waiting_since(l1, season, SH) == at(7, 20, 10)


@pytest.mark.parametrize(("named", "owes"), [(date(2025, 12, 15), True), (date(2026, 11, 30), True),
                                             (date(2026, 12, 1), False)])
def test_which_studios_owe_the_year_report(named: date, owes: bool) -> None:
    """R-D5: studios named before December file that year; those named in December from the next."""
    assert P.must_report(P.StudioInfo(1, 60, named), 2026, RULES) is owes
    assert P.must_report(P.StudioInfo(1, 60, named, active=False), 2026, RULES) is False


def test_review_keys_change_when_the_status_changes() -> None:
    """A new stint at a level is a new reminder; the same stint is reminded once."""
    people = P.People(city=(30,), contacts=(50,), admins=(900,))
    a = P.AppInfo(1, 2026, 10, None, Status.FORWARDED, at(9, 20, 10), at(7, 2))
    b = P.AppInfo(1, 2026, 10, None, Status.INSPECTION_SCHEDULED, at(9, 25, 10), at(7, 2))
    ka = {p.key for p in P.candidates(P.Snapshot(apps=(a,), people=people), at(10, 1), RULES)}
    kb = {p.key for p in P.candidates(P.Snapshot(apps=(b,), people=people), at(10, 1), RULES)}
    assert len(ka) == 3 and not ka & kb
    assert all(k.startswith("review:") for k in ka)


def test_day_start_is_the_local_midnight_in_utc() -> None:
    start = P.day_start(date(2026, 7, 31), SH)
    assert start == at(7, 31, 0) and start.utcoffset() == timedelta(0)


async def test_two_seasons_with_a_restart_opening_and_late_pings(h: Harness) -> None:
    """R-D1, R-W4 across 2026 and 2027: a forfeited 2026 draft gets no 2027 draft reminders, its
    applicant and a refused one hear that 2027 opens (7 days before, and on the day); a ping that fell
    due while the bot was down (a restart in between) is sent once, saying it is late, with today's
    figures; nothing is sent twice."""
    await grant(h, CONTACT, "contact")
    await add_app(h, DRAFTER, Status.DRAFT, None, since=at(7, 1, 10))
    await add_app(h, STALLED, Status.REJECTED, None, since=at(7, 5, 10), number="2026-0001")
    got = await tick(h, at(7, 24, 9))
    assert set(got) == {CONTACT, DRAFTER}

    got = await tick(h, at(6, 24, 9, year=2027))
    assert set(got) == {DRAFTER, STALLED}, "no 2026 draft reminder, no 2027 countdown yet"
    assert "2027年度劳模创新工作室申报将于 2027-07-01 开始" in one(got, DRAFTER)

    # down from 30 June to 4 July 2027: a fresh bot on the same data
    await h.app.stop()
    await h.app.shutdown()
    h2 = await make_harness(h.settings.data_dir, now=at(7, 4, 10, year=2027), admin_ids="900",
                            database_url=h.settings.database_url)
    try:
        jobs.unschedule(h2.app)
        got = await tick(h2, at(7, 4, 10, year=2027))
        assert set(got) == {DRAFTER, STALLED}
        text = one(got, DRAFTER)
        assert "迟发的提醒：本应于 2027-07-01 发出" in text and "申报已经开始" in text and "还有 27 天截止" in text

        # the drafter starts 2027 afresh; the 2027 draft is reminded, the 2026 one is not
        mark = await h2.text(h2.user(DRAFTER), "/apply")
        assert "2027 年度申报" in h2.request.texts(DRAFTER, since=mark)[-1]
        await h2.tap(h2.user(DRAFTER), "重新填写")
        got = await tick(h2, at(7, 20, 10, year=2027))  # down on the 17th: the 14-day countdown is late
        assert set(got) == {CONTACT}
        assert "迟发的提醒：本应于 2027-07-17 发出" in one(got, CONTACT) and "还有 11 天截止" in one(got, CONTACT)
        assert "草稿 1" in one(got, CONTACT)
        got = await tick(h2, at(7, 24, 9, year=2027))
        assert set(got) == {CONTACT, DRAFTER} and "迟发" not in one(got, DRAFTER)
        async with h2.db.session() as s:
            keys = set((await s.scalars(select(Ping.key).where(Ping.recipient_id == DRAFTER))).all())
        assert {k for k in keys if k.startswith("draft:")} == {
            "draft:deadline-7:2026:1", "draft:deadline-7:2027:3"}
    finally:
        await close_harness(h2)
        await h.app.initialize()
        await h.app.start()


async def test_a_ping_owed_when_the_bot_dies_is_sent_once_after_the_restart(tmp_path) -> None:
    """R-D1: the bot dies after a countdown ping was recorded but before it went out: the next start
    sends it, once, and the reminders job does not owe it again."""
    h = await make_harness(tmp_path, now=at(7, 17, 9), admin_ids=str(ADMIN))
    jobs.unschedule(h.app)
    await grant(h, CONTACT, "contact")
    h.app.bot_data["services"].sender.bot = None  # the process dies before the sender takes anything up
    assert await h.pings() == [f"contact:deadline-14:2026:{CONTACT}"]
    assert h.request.sent(CONTACT) == []
    await close_harness(h)
    h = await make_harness(tmp_path, now=at(7, 17, 9, 5), admin_ids=str(ADMIN))
    try:
        jobs.unschedule(h.app)
        svc = h.app.bot_data["services"]
        await svc.sender.start(h.app.bot, sweep=None)
        await svc.drain()
        got = [p["text"] for name, p in h.request.sent(CONTACT) if name == "sendMessage"]
        assert len(got) == 1 and "还有 14 天截止" in got[0]
        mark = len(h.request.calls)
        assert await h.pings() == [] and h.request.sent(CONTACT, since=mark) == []
    finally:
        await close_harness(h)
