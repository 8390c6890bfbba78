"""Administration (`/admin`): unions, invitations, people and roles, seasons (R-D1, R-D4), and the
refusals around them. User 900 is the admin of the `bot` fixture (ADMIN_IDS)."""

from __future__ import annotations

import asyncio
import re
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from bot.callbacks import Admin, AdminOp
from bot.domain.workflow import Role
from storage import repo
from storage.models import AuditEvent, Invitation, RoleGrant, Union

ADMIN = 900
LINK = re.compile(r"https://t\.me/studio_bot\?start=(inv-[A-Za-z0-9_\-]+)")


async def _audit(bot, action: str) -> list[AuditEvent]:
    async with bot.db.session() as s:
        return list((await s.scalars(select(AuditEvent).where(AuditEvent.action == action))).all())


async def _union_named(bot, name_zh: str) -> Union | None:
    async with bot.db.session() as s:
        return await s.scalar(select(Union).where(Union.name_zh == name_zh))


async def _grants(bot, user_id: int) -> list[RoleGrant]:
    async with bot.db.session() as s:
        return list((await s.scalars(select(RoleGrant).where(RoleGrant.user_id == user_id))).all())


async def _invite_district(bot, union_label: str = "中山区总工会") -> str:
    """The admin creates a district-reviewer invitation for a union; returns the code of the link."""
    a = bot.user(ADMIN)
    await bot.text(a, "/admin")
    await bot.tap(a, "邀请人员")
    await bot.tap(a, "区市县/产业工会审核人")
    await bot.tap(a, union_label)
    text = bot.request.last(ADMIN)["text"]
    m = LINK.search(text)
    assert m, text
    return m.group(1)


async def test_non_admin_is_refused(bot):
    """/admin is for admins only: anyone else gets a localized refusal, no menu, and it is audited."""
    u = bot.user(5)
    await bot.text(u, "/admin")
    assert "没有管理员权限" in bot.request.texts(5)[-1]
    assert bot.last_buttons(5) == []
    assert [e.actor_id for e in await _audit(bot, "admin_refused")] == [5]
    en = bot.user(6, lang="en")
    await bot.text(en, "/admin")
    assert "administrator rights" in bot.request.texts(6)[-1]


async def test_add_rename_and_retire_a_union(bot):
    """Unions: add (kind, Chinese and English name typed, 1–50 characters), rename, retire —
    a retired union is no longer offered to applicants; every change is audited."""
    a = bot.user(ADMIN)
    await bot.text(a, "/admin")
    await bot.tap(a, "工会")
    await bot.tap(a, "新增区市县工会")
    await bot.text(a, "区" * 51)
    assert "1～50" in bot.request.texts(ADMIN)[-1]
    await bot.text(a, "测试区总工会")
    assert "英文名称" in bot.request.texts(ADMIN)[-1]
    await bot.text(a, "Test District Union")
    assert "已新增" in bot.request.texts(ADMIN)[-1]
    union = await _union_named(bot, "测试区总工会")
    assert union is not None and union.kind == "district" and union.name_en == "Test District Union"
    assert union.active

    # a duplicate name is refused
    await bot.tap(a, "返回")  # from the new union's screen back to the list
    await bot.tap(a, "新增产业工会")
    await bot.text(a, "测试区总工会")
    assert "已有工会" in bot.request.texts(ADMIN)[-1]
    await bot.text(a, "/cancel")

    await bot.text(a, "/admin")
    await bot.tap(a, "工会")
    await bot.tap(a, "测试区总工会")
    await bot.tap(a, "更名")
    await bot.text(a, "新测试区总工会")
    await bot.tap(a, "保留原名")  # keep the English name
    assert "已更名" in bot.request.texts(ADMIN)[-1]
    union = await _union_named(bot, "新测试区总工会")
    assert union is not None and union.name_en == "Test District Union"

    # applicants choosing their union see each change at once (the wizard keeps the list between changes)
    assert "新测试区总工会" in await _union_step(bot, 61)
    await bot.tap(a, "停用")
    async with bot.db.session() as s:
        active = {u.id for u in await repo.active_unions(s)}
        assert union.id not in active
        assert not (await repo.get_union(s, union.id)).active
    assert "新测试区总工会" not in await _union_step(bot, 62)
    await bot.tap(a, "重新启用")
    async with bot.db.session() as s:
        assert union.id in {u.id for u in await repo.active_unions(s)}
    assert "新测试区总工会" in await _union_step(bot, 63)
    for action in ("union_added", "union_renamed", "union_retired", "union_reactivated"):
        assert await _audit(bot, action), action


async def _union_step(bot: Any, user_id: int) -> str:
    """The union buttons an applicant starting now is offered."""
    await bot.text(bot.user(user_id), "/apply")
    return " ".join(label for label, _ in bot.last_buttons(user_id))


async def test_district_invitation_is_single_use_and_bound_to_the_union(bot):
    """An invitation is a t.me deep link with the bot's username and a random code, valid 7 days,
    used once: it binds the first account to the role and union; a second account is refused."""
    code = await _invite_district(bot)
    assert len(code) <= 40
    async with bot.db.session() as s:
        inv = await s.get(Invitation, code)
        zhongshan = await s.scalar(select(Union).where(Union.code == "zhongshan"))
    assert inv.role == Role.DISTRICT.value and inv.union_id == zhongshan.id and inv.created_by == ADMIN
    assert inv.expires_at - inv.created_at == timedelta(days=7)

    await bot.text(bot.user(31, name="李审核"), f"/start {code}")
    welcome = bot.request.texts(31)[-1]
    assert "中山区总工会" in welcome and "/pending" in welcome
    grants = await _grants(bot, 31)
    assert [(g.role, g.union_id, g.granted_by) for g in grants] == [
        (Role.DISTRICT.value, zhongshan.id, ADMIN)]
    async with bot.db.session() as s:
        assert await repo.reviewer_unions(s, 31) == {zhongshan.id}
        inv = await s.get(Invitation, code)
    assert inv.used_by == 31 and inv.used_at is not None
    assert "李审核" in bot.request.texts(ADMIN)[-1]  # the inviting admin is told

    await bot.text(bot.user(32), f"/start {code}")
    assert "已经被使用过" in bot.request.texts(32)[-1]
    assert await _grants(bot, 32) == []
    assert await _audit(bot, "invitation_accepted") and await _audit(bot, "invitation_refused")


async def test_expired_and_unknown_invitations_are_refused(bot):
    """An invitation older than 7 days is refused; an unknown invitation code gets a localized
    refusal; a /start argument that is no invitation shows the normal welcome."""
    a = bot.user(ADMIN)
    await bot.text(a, "/admin")
    await bot.tap(a, "邀请人员")
    await bot.tap(a, "申报工作联系人")
    code = LINK.search(bot.request.last(ADMIN)["text"]).group(1)
    bot.clock.advance(timedelta(days=8))
    await bot.text(bot.user(33), f"/start {code}")
    assert "已过期" in bot.request.texts(33)[-1]
    assert await _grants(bot, 33) == []

    await bot.text(bot.user(34), "/start inv-" + "x" * 32)
    assert "无效" in bot.request.texts(34)[-1]
    await bot.text(bot.user(35), "/start hello")
    assert "劳模创新工作室" in bot.request.texts(35)[-1]


async def test_two_accounts_opening_a_link_at_once_get_one_grant(bot):
    """Re-checked in the database: a link opened twice concurrently grants the role only once."""
    a = bot.user(ADMIN)
    await bot.text(a, "/admin")
    await bot.tap(a, "邀请人员")
    await bot.tap(a, "市总工会审核人")
    code = LINK.search(bot.request.last(ADMIN)["text"]).group(1)
    await asyncio.gather(bot.text(bot.user(41), f"/start {code}"), bot.text(bot.user(42), f"/start {code}"))
    granted = await _grants(bot, 41) + await _grants(bot, 42)
    assert len(granted) == 1 and granted[0].role == Role.CITY.value


async def test_people_by_role_and_revoke(bot):
    """People are listed by role (name, @username, id, union); revoking removes the role at once
    and tells the person."""
    code = await _invite_district(bot)
    reviewer = bot.user(31, name="李审核") | {"username": "li_review"}
    await bot.text(reviewer, f"/start {code}")
    a = bot.user(ADMIN)
    await bot.text(a, "/admin")
    await bot.tap(a, "人员与角色")
    await bot.tap(a, "区市县/产业工会审核人")
    listing = bot.request.last(ADMIN)["text"]
    for part in ("李审核", "@li_review", "31", "中山区总工会"):
        assert part in listing, (part, listing)
    await bot.tap(a, "撤销")
    assert "立即失效" in bot.request.last(ADMIN)["text"]
    await bot.tap(a, "确认撤销")
    assert "已撤销" in bot.request.last(ADMIN)["text"]
    async with bot.db.session() as s:
        assert Role.DISTRICT not in await repo.roles_of(s, 31, frozenset({ADMIN}))
        assert await repo.reviewer_unions(s, 31) == set()
    assert (await _grants(bot, 31))[0].revoked_at is not None
    assert "撤销" in bot.request.texts(31)[-1]
    assert await _audit(bot, "role_revoked")
    # the stale confirm button does nothing more
    grant_id = (await _grants(bot, 31))[0].id
    mark = await bot.press(a, Admin(AdminOp.RVKY, grant_id).encode())
    assert bot.request.alerts(since=mark)[-1]["show_alert"]
    assert len(await _audit(bot, "role_revoked")) == 1


async def test_season_dates_are_validated_and_stored(bot):
    """R-D1, R-D4: the season's dates can be changed (opening ≤ deadline < review start ≤ naming);
    a bad order is refused with a message and nothing is stored; the first-year flag toggles."""
    a = bot.user(ADMIN)
    await bot.text(a, "/admin")
    await bot.tap(a, "申报年度")
    shown = bot.request.last(ADMIN)["text"]
    assert "2026-07-31" in shown and "2026-09-15" in shown and "2026-12-20" in shown
    await bot.tap(a, "修改截止日期")
    await bot.text(a, "2026-09-20")  # after the review start
    refusal = bot.request.texts(ADMIN)[-1]
    assert "评审开始日期" in refusal and "未保存" in refusal
    await bot.text(a, "2026-02-30")
    assert "没有这一天" in bot.request.texts(ADMIN)[-1]
    await bot.text(a, "31/08/2026")
    assert "2026-07-19" in bot.request.texts(ADMIN)[-1]  # the example: from today (07-10), in the future
    async with bot.db.session() as s:
        assert (await repo.season(s, 2026)).deadline == date(2026, 7, 31)
    await bot.text(a, "2026-08-31")
    assert "已保存" in bot.request.texts(ADMIN)[-1]
    async with bot.db.session() as s:
        assert (await repo.season(s, 2026)).deadline == date(2026, 8, 31)
    await bot.tap(a, "设为首个申报年度")
    assert "不安排检查和互检" in bot.request.last(ADMIN)["text"]
    async with bot.db.session() as s:
        season = await repo.season(s, 2026)
    assert season.first_year and season.deadline == date(2026, 8, 31)
    assert len(await _audit(bot, "season_changed")) == 2


async def test_forged_admin_callbacks_change_nothing(bot):
    """Every button press is re-checked: a non-admin pressing a forged `adm:` button gets an alert,
    nothing changes, and the attempt is audited as refused."""
    async with bot.db.session() as s:
        union = (await repo.active_unions(s))[0]
    u = bot.user(40)
    for data in (Admin(AdminOp.UOFF, union.id).encode(), Admin(AdminOp.INVR, key="city_reviewer").encode(),
                 Admin(AdminOp.SFY, 2026).encode()):
        mark = await bot.press(u, data)
        alert = bot.request.alerts(since=mark)[-1]
        assert alert["show_alert"] and "没有管理员权限" in alert["text"]
    async with bot.db.session() as s:
        assert (await repo.get_union(s, union.id)).active
        assert (await s.scalars(select(Invitation))).all() == []
        assert not (await repo.season(s, 2026)).first_year
    assert len(await _audit(bot, "admin_refused")) == 3


async def test_cancel_and_other_commands_end_the_typed_step(bot):
    """/cancel leaves a typed step (cancel.done); another command ends it too, so later text is not
    taken as a union name."""
    a = bot.user(ADMIN)
    await bot.text(a, "/admin")
    await bot.tap(a, "工会")
    await bot.tap(a, "新增产业工会")
    await bot.text(a, "/cancel")
    assert "已退出" in bot.request.texts(ADMIN)[-1]
    await bot.text(a, "幽灵工会")
    await bot.text(a, "/admin")
    await bot.tap(a, "工会")
    await bot.tap(a, "新增产业工会")
    await bot.text(a, "/help")
    await bot.text(a, "另一个幽灵工会")
    assert await _union_named(bot, "幽灵工会") is None
    assert await _union_named(bot, "另一个幽灵工会") is None


async def test_claim_is_rechecked_in_the_database(bot):
    """Single use under concurrency: a session that read the invitation while it was still unused
    cannot claim it after another session did (the conditional UPDATE changes no row)."""
    from bot.services import admin as svc

    now = bot.clock.now()
    async with bot.db.session() as s:
        inv = await svc.create_invitation(s, now, ADMIN, Role.CONTACT)
        code = inv.code
        for uid in (51, 52):
            await repo.upsert_user(s, uid, f"U{uid}", None, None, "zh", now)
        await s.commit()
    # two sessions of their own connections (the bot's sessions of one SQLite database take turns)
    async with bot.db.sessions() as first, bot.db.sessions() as second:
        stale = await second.get(Invitation, code)  # read while unused
        await second.commit()  # attributes kept (expire_on_commit=False): used_by is still None here
        assert stale.used_by is None
        await svc.accept_invitation(first, now, 51, code)
        await first.commit()
        try:
            await svc.accept_invitation(second, now, 52, code)
        except svc.Refused as exc:
            assert exc.key == "invite.used"
        else:
            raise AssertionError("the second claim was accepted")
        await second.commit()
    assert len(await _grants(bot, 51)) == 1 and await _grants(bot, 52) == []


async def test_admin_menu_in_english(bot):
    """The admin texts exist in English too (same keys as Chinese)."""
    a = bot.user(ADMIN, lang="en")
    await bot.text(a, "/admin")
    assert "Administration" in bot.request.texts(ADMIN)[-1]
    await bot.tap(a, "Seasons")
    assert "Deadline: 2026-07-31" in bot.request.last(ADMIN)["text"]
    await bot.tap(a, "Administration")
    await bot.tap(a, "Invite")
    await bot.tap(a, "contact person")
    assert LINK.search(bot.request.last(ADMIN)["text"])


async def test_typed_step_survives_a_restart(tmp_path):
    """persistent=True: an admin asked for a union name can answer after the bot restarted."""
    from tests.conftest import JULY_10
    from tests.offline import close_harness, make_harness

    first = await make_harness(tmp_path, now=JULY_10, admin_ids=str(ADMIN))
    try:
        a = first.user(ADMIN)
        await first.text(a, "/admin")
        await first.tap(a, "工会")
        await first.tap(a, "新增产业工会")
    finally:
        await close_harness(first)
    again = await make_harness(tmp_path, now=JULY_10, admin_ids=str(ADMIN))
    try:
        a = again.user(ADMIN)
        await again.text(a, "市新材料工会")
        assert "英文名称" in again.request.texts(ADMIN)[-1]
        await again.text(a, "New Materials Union")
        assert await _union_named(again, "市新材料工会") is not None
    finally:
        await close_harness(again)


async def test_typed_admin_step_wins_over_an_open_application_wizard(bot):
    """An admin who also has the application wizard open: right after an admin prompt the typed text
    is the admin's answer; after /apply it belongs to the wizard again."""
    a = bot.user(ADMIN)
    await bot.text(a, "/apply")
    await bot.text(a, "/admin")
    await bot.tap(a, "工会")
    await bot.tap(a, "新增区市县工会")
    await bot.text(a, "测试新区总工会")
    assert "英文名称" in bot.request.texts(ADMIN)[-1]
    await bot.text(a, "/apply")
    mark = await bot.text(a, "Some text for the wizard")
    assert not any("英文名称" in t or "已新增" in t for t in bot.request.texts(ADMIN, since=mark))
    assert await _union_named(bot, "测试新区总工会") is None
