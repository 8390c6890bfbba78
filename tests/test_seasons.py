"""Seasons year after year (R-D1, R-W4): a forfeited or refused application closes only its own
year; the next season starts from last year's answers and files or from a fresh form, the old record
stays read-only in /my; the first-year flag moves the deadline to 31 August and back."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.callbacks import WizardOp
from storage import repo
from storage.models import Application, Attachment
from tests.apply_steps import fill_until_summary, tap_op
from tests.offline import Harness, buttons

SH = ZoneInfo("Asia/Shanghai")
ADMIN = 900


def at(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SH)


async def apps_of(h: Harness, uid: int) -> list[Application]:
    async with h.db.session() as s:
        return list((await s.scalars(select(Application).where(Application.applicant_id == uid)
                                     .order_by(Application.season_year))).all())


async def files_of(h: Harness, app_id: int) -> list[Attachment]:
    async with h.db.session() as s:
        return list((await s.scalars(select(Attachment).where(Attachment.application_id == app_id)
                                     .order_by(Attachment.id))).all())


async def test_forfeited_draft_closes_only_its_year_and_next_season_starts_from_it(bot: Harness) -> None:
    """R-D1, R-W4: a draft not submitted by 31 July 2026 is given up for 2026 only. In 2027 /apply
    offers last year's answers (files copied) or a fresh form; the 2026 record is left as it was,
    shown read-only in /my, and its old buttons say it is closed; the new draft can be submitted."""
    u = bot.user(70)
    await fill_until_summary(bot, u)
    old = (await apps_of(bot, 70))[0]
    old_files = await files_of(bot, old.id)
    assert old.season_year == 2026 and len(old_files) == 4

    bot.clock.set(at(2027, 3, 1))
    mark = await bot.text(u, "/my")
    my = bot.request.texts(70, since=mark)[-1]
    assert "视为放弃 2026 年度申报" in my and "只读" in my and "还剩" not in my
    assert "2027 年度申报时间为 2027-07-01 至 2027-07-31" in my

    mark = await bot.text(u, "/apply")
    offer = bot.request.sent(70, since=mark)[-1][1]
    assert "2027 年度申报" in offer["text"] and "2026" in offer["text"]
    labels = [label for label, _ in buttons(offer)]
    assert labels == ["沿用 2026 年度的内容", "重新填写"]
    assert len(await apps_of(bot, 70)) == 1, "nothing is created before the choice"

    mark = await bot.tap(u, "沿用 2026")
    assert "已把 2026 年度的内容和 4 个文件复制到 2027 年度的草稿中" in bot.request.texts(70, since=mark)[-1]
    old_again, new = await apps_of(bot, 70)
    assert (old_again.status, old_again.answers, old_again.version) == ("draft", old.answers, old.version)
    assert new.season_year == 2027 and new.status == "draft" and new.answers == old.answers
    assert new.union_id == old.union_id and new.files == old.files
    copied = await files_of(bot, new.id)
    assert [(a.field, a.sha256) for a in copied] == [(a.field, a.sha256) for a in old_files]
    for a, b in zip(copied, old_files, strict=True):
        assert a.stored_path != b.stored_path
        root = bot.settings.data_dir
        assert (root / a.stored_path).read_bytes() == (root / b.stored_path).read_bytes()
    assert [a.id for a in await files_of(bot, old.id)] == [a.id for a in old_files]

    # a second /apply continues the new draft; a second press of the offer changes nothing
    mark = await bot.text(u, "/apply")
    assert "欢迎回来" in bot.request.texts(70, since=mark)[-1]
    assert len(await apps_of(bot, 70)) == 2

    # in the open season the copied draft is submitted
    bot.clock.set(at(2027, 7, 10))
    await bot.text(u, "/apply")
    await tap_op(bot, u, WizardOp.SUBMIT)
    await tap_op(bot, u, WizardOp.CONFIRM)
    _, new = await apps_of(bot, 70)
    assert new.status == "submitted" and new.number == "2027-0001"
    mark = await bot.text(u, "/my")
    my = bot.request.texts(70, since=mark)[-1]
    assert "2027 年度" in my and "视为放弃 2026 年度申报" in my


async def test_refused_unit_applies_again_with_a_fresh_form(bot: Harness) -> None:
    """R-W4: a unit not approved may apply again in a later season; a fresh form starts empty."""
    async with bot.db.session() as s:
        await repo.upsert_user(s, 71, "A", None, None, "zh-hans", at(2026, 7, 1))
        await repo.ensure_season(s, 2026)
        s.add(Application(season_year=2026, applicant_id=71, status="rejected", answers={"leader_name": "王"},
                          wizard={}, created_at=at(2026, 7, 1), updated_at=at(2026, 9, 20),
                          status_since=at(2026, 9, 20), number="2026-0005"))
        await s.commit()
    u = bot.user(71)
    bot.clock.set(at(2026, 10, 8))  # past the 2026 deadline: drafts now belong to 2027
    mark = await bot.text(u, "/apply")
    assert "2027 年度申报" in bot.request.texts(71, since=mark)[-1]
    await bot.tap(u, "重新填写")
    old, new = await apps_of(bot, 71)
    assert old.status == "rejected" and new.season_year == 2027 and new.answers == {}


async def test_first_year_flag_moves_the_deadline_and_the_late_refusal(bot: Harness) -> None:
    """R-D1: "设为首个申报年度" sets the deadline to 31 August (shown on the season screen); a draft is
    then submitted on 15 August; clearing the flag puts the deadline back to 31 July."""
    a = bot.user(ADMIN)
    await bot.text(a, "/admin")
    await bot.tap(a, "申报年度")
    mark = await bot.tap(a, "设为首个申报年度")
    screen = bot.request.texts(ADMIN, since=mark)[-1]
    assert "截止日期改为 2026-08-31" in screen and "截止日期：2026-08-31" in screen
    assert "通常" not in screen
    mark = await bot.tap(a, "取消首个申报年度")
    assert "截止日期：2026-07-31" in bot.request.texts(ADMIN, since=mark)[-1]
    async with bot.db.session() as s:
        assert (await repo.season(s, 2026)).deadline == date(2026, 7, 31)  # type: ignore[union-attr]
    await bot.tap(a, "设为首个申报年度")

    u = bot.user(72)
    await fill_until_summary(bot, u)
    bot.clock.set(at(2026, 8, 15))
    await tap_op(bot, u, WizardOp.SUBMIT)
    await tap_op(bot, u, WizardOp.CONFIRM)
    (app,) = await apps_of(bot, 72)
    assert app.status == "submitted" and app.season_year == 2026


async def test_an_old_seasons_button_leaves_the_new_draft_open(bot: Harness) -> None:
    """R-D1: a button of last season's record, pressed while this season's draft is open, says the
    record is read-only and changes nothing else: the draft keeps its live question and takes the next
    answer."""
    from bot.callbacks import Wiz

    u = bot.user(74)
    await fill_until_summary(bot, u)
    old = (await apps_of(bot, 74))[0]
    bot.clock.set(at(2027, 7, 2))
    await bot.text(u, "/apply")
    await bot.tap(u, "重新填写")
    shown = bot.request.last(74)
    question = shown["_message_id"]
    union = next(d for _, d in buttons(shown) if d.split(":")[2] == WizardOp.UNION.value)
    mark = await bot.press(u, Wiz(old.id, WizardOp.RESUME, None, None).encode(), message_id=7)
    stripped = [p["message_id"] for n, p in bot.request.calls[mark:] if n == "editMessageReplyMarkup"]
    assert question not in stripped
    await bot.press(u, union, message_id=question)
    new = (await apps_of(bot, 74))[1]
    assert new.season_year == 2027 and new.union_id is not None
