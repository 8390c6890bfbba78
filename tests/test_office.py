"""The office: its contact person, unions without a reviewer, the overview of a season, dates typed one
way everywhere, and a late draft told so."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from bot.callbacks import Overview, OverviewOp, WizardOp
from bot.domain.values import InvalidInput, date_example, parse_date
from storage.models import Application
from tests.apply_steps import fill_until_summary, tap_op
from tests.offline import buttons
from tests.roles import first_union_id, grant

ADMIN, APPLICANT, APPLICANT2, DISTRICT, OTHER_DISTRICT, CITY, PLAIN = 900, 10, 11, 20, 21, 30, 40


def test_one_date_parser_reads_a_month_and_day_as_the_year_that_makes_sense():
    """R-W3, R-D1: 2026-12-16, 2026.12.16, 2026/12/16, 2026年12月16日 and 12月16日 are the same day; a month
    and day without a year is this year, or the next when a future day is wanted and this year's is past."""
    today = date(2026, 12, 7)
    for raw in ("2026-12-16", "2026.12.16", "2026/12/16", "2026年12月16日", "12月16日", "１２月１６日"):
        assert parse_date(raw, today=today, future=True) == date(2026, 12, 16), raw
    assert parse_date("3月1日", today=today, future=True) == date(2027, 3, 1)
    assert parse_date("3月1日", today=today) == date(2026, 3, 1)
    with pytest.raises(InvalidInput):
        parse_date("12月16日")  # no today: no year to read it in
    assert date_example(today) > today.isoformat()  # an example of a future day lies in the future


async def test_contact_person_is_set_in_admin_and_shown_in_help_and_season(bot):
    """R-C2: the contact person's name, phone and e-mail are set in /admin and shown on the season screen,
    in /help and with a message that tells someone to ask the office."""
    a = bot.user(ADMIN)
    await bot.text(a, "/admin")
    await bot.tap(a, "联系人")
    await bot.tap(a, "姓名")
    await bot.text(a, "李娜")
    await bot.tap(a, "电话")
    await bot.text(a, "abc")
    assert "电话号码" in bot.request.texts(ADMIN)[-1]
    await bot.text(a, "024-83600000")
    await bot.tap(a, "邮箱")
    await bot.text(a, "lina@example.cn")
    mark = await bot.text(a, "/help")
    shown = bot.request.texts(ADMIN, since=mark)[-1]
    assert "李娜" in shown and "024-83600000" in shown and "lina@example.cn" in shown
    assert "/stats" in shown and "/export" in shown and "/overview" in shown
    await bot.text(a, "/admin")
    mark = await bot.tap(a, "申报年度")
    assert "024-83600000" in bot.request.texts(ADMIN, since=mark)[-1]
    u = bot.user(PLAIN)
    mark = await bot.text(u, "/start inv-" + "x" * 30)  # a link no invitation has: ask for a new one
    assert any("024-83600000" in t for t in bot.request.texts(PLAIN, since=mark))
    mark = await bot.text(u, "/report")  # only a named studio's leader files one: whom to ask
    shown = bot.request.texts(PLAIN, since=mark)[-1]
    assert "负责人" in shown and "024-83600000" in shown


async def test_union_without_reviewer_applicant_and_admins_are_told_once(bot):
    """R-W1: an applicant who picks a union without a reviewer is told the review starts once one is
    appointed; the admins are told once per union and season, not again for the next applicant."""
    a = bot.user(ADMIN)
    await bot.text(a, "/admin")
    menu = bot.request.texts(ADMIN)[-1]
    assert menu.index("还没有审核人") < menu.index("管理")  # shown first
    u = bot.user(APPLICANT)
    await bot.text(u, "/apply")
    mark = await tap_op(bot, u, WizardOp.UNION)
    assert any("还没有审核人" in t and "不会丢失" in t for t in bot.request.texts(APPLICANT, since=mark))
    told = bot.request.texts(ADMIN, since=mark)
    assert len(told) == 1 and "邀请" in told[0]
    assert any("adm:invu" in d for _, d in buttons(bot.request.last(ADMIN)))
    u2 = bot.user(APPLICANT2)
    await bot.text(u2, "/apply")
    mark = await tap_op(bot, u2, WizardOp.UNION)
    assert any("还没有审核人" in t for t in bot.request.texts(APPLICANT2, since=mark))
    assert bot.request.texts(ADMIN, since=mark) == []


async def test_union_with_reviewer_is_picked_without_a_word_about_it(bot):
    """R-W1: with a reviewer in the union, neither the applicant nor the admins hear of reviewers."""
    await grant(bot, DISTRICT, "district_reviewer", await first_union_id(bot))
    u = bot.user(APPLICANT)
    await bot.text(u, "/apply")
    mark = await tap_op(bot, u, WizardOp.UNION)
    assert not any("还没有审核人" in t for t in bot.request.texts(APPLICANT, since=mark))
    assert bot.request.texts(ADMIN, since=mark) == []


async def _submitted(bot, user_id: int) -> None:
    u = bot.user(user_id)
    await fill_until_summary(bot, u)
    await tap_op(bot, u, WizardOp.SUBMIT)
    await tap_op(bot, u, WizardOp.CONFIRM)


async def test_overview_for_admin_without_review_role_and_nobody_else(bot):
    """R-C2: an admin who holds no review role opens the season's overview from /pending (counts by status
    and union, a paged list, a read-only card); a plain user and another union's reviewer cannot."""
    union = await first_union_id(bot)
    await grant(bot, DISTRICT, "district_reviewer", union)
    await grant(bot, OTHER_DISTRICT, "district_reviewer", union + 1)
    await _submitted(bot, APPLICANT)
    u2 = bot.user(APPLICANT2)
    await bot.text(u2, "/apply")
    a = bot.user(ADMIN)
    mark = await bot.text(a, "/pending")
    home = bot.request.texts(ADMIN, since=mark)[-1]
    assert "申报总览" in home and "共 2 份" in home and "草稿：1" in home and "待区市县/产业工会审核：1" in home
    assert "不是审核人" not in home
    listing = [d for _, d in buttons(bot.request.last(ADMIN)) if d.startswith("ov:l:")]
    assert listing
    await bot.press(a, listing[0])
    cards = [d for _, d in buttons(bot.request.last(ADMIN)) if d.startswith("ov:c:")]
    assert len(cards) == 2
    async with bot.db.session() as s:
        app = (await s.scalars(select(Application).where(Application.applicant_id == APPLICANT))).one()
    mark = await bot.press(a, Overview(OverviewOp.CARD, 2026, None, None, app.id).encode())
    card = bot.request.last(ADMIN)
    assert app.number in card["text"]
    assert not any(d.startswith("rv:") for _, d in buttons(card))  # read-only: an admin decides nothing
    for outsider in (PLAIN, OTHER_DISTRICT):
        user = bot.user(outsider)
        mark = await bot.text(user, "/overview")
        assert "只有管理员和市总工会审核人" in bot.request.texts(outsider, since=mark)[-1]
        mark = await bot.press(user, Overview(OverviewOp.CARD, 2026, None, None, app.id).encode())
        assert bot.request.texts(outsider, since=mark) == []
        assert any("只有管理员" in (p.get("text") or "") for p in bot.request.alerts(since=mark))


async def test_late_draft_is_told_forfeited_then_offered_the_next_season(bot):
    """R-D1: after the deadline /apply first says the year's application was forfeited as late (超过期限视为
    放弃当年申报), then offers the next season."""
    u = bot.user(APPLICANT)
    await bot.text(u, "/apply")
    await tap_op(bot, u, WizardOp.UNION)
    bot.clock.advance(timedelta(days=30))  # 2026-08-09: past the deadline of 07-31
    mark = await bot.text(u, "/apply")
    text = bot.request.texts(APPLICANT, since=mark)[-1]
    assert text.index("超过期限视为放弃当年申报") < text.index("2027 年度申报")
