"""Administration: unions, invitations, role grants and season dates. No Telegram here.

Every change writes an audit event; refusals raise `Refused` with a locale key and its parameters.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import calendar, values
from bot.domain.workflow import Role
from bot.services import Refused
from bot.services.records import INVITABLE, NAME_MAX, NOTICE_MAX, SEASON_FIELDS, UNION_KINDS, Person
from storage import repo
from storage.models import Invitation, RoleGrant, Season, Union

INVITE_TTL = timedelta(days=7)
INVITE_PREFIX = "inv-"

_INVITE_SHAPE = re.compile(r"^inv-[A-Za-z0-9_\-]{16,60}$")



# --------------------------------------------------------------------------- input


def clean_name(text: str) -> str:
    """A union name as typed: one line, 1–50 characters after trimming."""
    name = (text or "").strip()
    if "\n" in name or "\r" in name:
        raise Refused("admin.error.name_one_line")
    if not 1 <= len(name) <= NAME_MAX:
        raise Refused("admin.error.name_length", max=NAME_MAX, length=len(name))
    return name


def parse_date(text: str, year: int, today: date) -> date:
    """A typed date of season `year` (`bot.domain.values.parse_date`; "12月16日" is of that year, or of
    the next when a future day is meant), or the admin's refusal saying what is wrong."""
    base = max(today, date(year, 1, 1))
    try:
        return values.parse_date(text, today=base, future=True)
    except values.InvalidInput as exc:
        if exc.code == "date_invalid":
            raise Refused("admin.error.date_invalid") from None
        raise Refused("admin.error.date_format", **values.date_examples(base)) from None


def parse_notice_days(text: str) -> int:
    """The notice period: whole working days, 0 (no notice) to `NOTICE_MAX`."""
    raw = (text or "").strip().translate(str.maketrans("０１２３４５６７８９", "0123456789")).removesuffix("天")
    raw = raw.removesuffix("个工作日").removesuffix("工作日").strip()
    if not raw.isdigit() or int(raw) > NOTICE_MAX:
        raise Refused("admin.season.bad_notice_days", max=NOTICE_MAX)
    return int(raw)


# --------------------------------------------------------------------------- unions


async def _union(s: AsyncSession, union_id: int) -> Union:
    union = await repo.get_union(s, union_id)
    if union is None:
        raise Refused("admin.error.union_gone")
    return union


async def check_name(s: AsyncSession, lang: str, text: str, exclude: int | None = None) -> str:
    """A valid union name (`lang` zh or en) no other union carries; returns it trimmed."""
    name = clean_name(text)
    column = Union.name_zh if lang == "zh" else Union.name_en
    q = select(Union.id).where(func.lower(column) == name.lower())
    if exclude is not None:
        q = q.where(Union.id != exclude)
    if await s.scalar(q.limit(1)) is not None:
        raise Refused("admin.error.name_taken", name=name)
    return name


async def _new_code(s: AsyncSession, kind: str) -> str:
    n = int(await s.scalar(select(func.count()).select_from(Union)) or 0) + 1
    while True:
        code = f"{kind[:3]}_{n}"
        if await s.scalar(select(Union.id).where(Union.code == code)) is None:
            return code
        n += 1


async def add_union(s: AsyncSession, now: datetime, actor_id: int, kind: str, name_zh: str,
                    name_en: str) -> Union:
    if kind not in UNION_KINDS:
        raise Refused("admin.error.bad_kind")
    name_zh, name_en = await check_name(s, "zh", name_zh), await check_name(s, "en", name_en)
    sort = await s.scalar(select(func.max(Union.sort)).where(Union.kind == kind))
    union = Union(code=await _new_code(s, kind), kind=kind, name_zh=name_zh, name_en=name_en, active=True,
                  sort=(sort or 0) + 1)
    s.add(union)
    await s.flush()
    repo.audit(s, now, "union_added", actor_id=actor_id,
               details={"union_id": union.id, "kind": kind, "name_zh": name_zh, "name_en": name_en})
    return union


async def rename_union(s: AsyncSession, now: datetime, actor_id: int, union_id: int, name_zh: str,
                       name_en: str) -> Union:
    union = await _union(s, union_id)
    name_zh = await check_name(s, "zh", name_zh, exclude=union.id)
    name_en = await check_name(s, "en", name_en, exclude=union.id)
    before = {"name_zh": union.name_zh, "name_en": union.name_en}
    union.name_zh, union.name_en = name_zh, name_en
    repo.audit(s, now, "union_renamed", actor_id=actor_id,
               details={"union_id": union.id, "before": before,
                        "after": {"name_zh": name_zh, "name_en": name_en}})
    return union


async def set_union_active(s: AsyncSession, now: datetime, actor_id: int, union_id: int,
                           active: bool) -> Union:
    """Retire (no longer offered to applicants) or reactivate a union; a repeat changes nothing."""
    union = await _union(s, union_id)
    if union.active != active:
        union.active = active
        repo.audit(s, now, "union_reactivated" if active else "union_retired", actor_id=actor_id,
                   details={"union_id": union.id})
    return union


async def reviewer_count(s: AsyncSession, union_id: int) -> int:
    return len(await repo.users_with_role(s, Role.DISTRICT, union_id))


# --------------------------------------------------------------------------- invitations


def looks_like_invitation(code: str) -> bool:
    return bool(_INVITE_SHAPE.match(code or ""))


def new_invitation_code() -> str:
    """`inv-` and 24 random bytes, URL-safe: 36 characters, fit for a `/start` deep link."""
    return INVITE_PREFIX + secrets.token_urlsafe(24)


async def create_invitation(s: AsyncSession, now: datetime, actor_id: int, role: Role,
                            union_id: int | None = None) -> Invitation:
    """A single-use invitation to `role` (a district reviewer: of one active union), valid 7 days."""
    if role not in INVITABLE:
        raise Refused("admin.error.bad_role")
    if role is Role.DISTRICT:
        if union_id is None:
            raise Refused("admin.error.union_gone")
        union = await _union(s, union_id)
        if not union.active:
            raise Refused("admin.error.union_retired", name=union.name_zh)
    else:
        union_id = None
    inv = Invitation(code=new_invitation_code(), role=role.value, union_id=union_id, created_by=actor_id,
                     created_at=now, expires_at=now + INVITE_TTL)
    s.add(inv)
    await s.flush()
    repo.audit(s, now, "invitation_created", actor_id=actor_id,
               details={"code": inv.code, "role": role.value, "union_id": union_id,
                        "expires_at": inv.expires_at.isoformat()})
    return inv


@dataclass(frozen=True)
class Accepted:
    role: Role
    union: Union | None
    invited_by: int
    already: bool  # the person held this role already; no second grant


async def accept_invitation(s: AsyncSession, now: datetime, user_id: int, code: str) -> Accepted:
    """Bind `user_id` to the invitation's role, once. Refused: unknown, used or expired."""
    inv = await s.get(Invitation, code)
    if inv is None:
        repo.audit(s, now, "invitation_refused", actor_id=user_id,
                   details={"code": code[:64], "why": "unknown"})
        raise Refused("invite.invalid")
    if inv.used_by is not None:
        repo.audit(s, now, "invitation_refused", actor_id=user_id, details={"code": code, "why": "used"})
        raise Refused("invite.used")
    if now >= inv.expires_at:
        repo.audit(s, now, "invitation_refused", actor_id=user_id, details={"code": code, "why": "expired"})
        raise Refused("invite.expired")
    # Re-checked in the database: of two people opening the link at once, only one claims it.
    if not await repo.claim_invitation(s, code, user_id, now):
        repo.audit(s, now, "invitation_refused", actor_id=user_id, details={"code": code, "why": "race"})
        raise Refused("invite.used")
    role = Role(inv.role)
    union = await repo.get_union(s, inv.union_id) if inv.union_id is not None else None
    held = [g for g in await repo.active_grants(s, role, user_id) if g.union_id == inv.union_id]
    if not held:
        s.add(RoleGrant(user_id=user_id, role=role.value, union_id=inv.union_id, granted_at=now,
                        granted_by=inv.created_by))
        await s.flush()
    repo.audit(s, now, "invitation_accepted", actor_id=user_id,
               details={"code": code, "role": role.value, "union_id": inv.union_id,
                        "invited_by": inv.created_by, "already": bool(held)})
    return Accepted(role=role, union=union, invited_by=inv.created_by, already=bool(held))


# --------------------------------------------------------------------------- people


async def people(s: AsyncSession, role: Role) -> list[Person]:
    """Everyone holding `role` (one entry per grant: a reviewer of two unions appears twice)."""
    out: list[Person] = []
    unions = {u.id: u for u in await repo.all_unions(s)}
    for g in await repo.active_grants(s, role):
        user = await repo.get_user(s, g.user_id)
        if user is not None:
            out.append(Person(g, user, unions.get(g.union_id) if g.union_id is not None else None))
    return out


async def active_grant(s: AsyncSession, grant_id: int) -> Person:
    g = await repo.get_grant(s, grant_id)
    if g is None or g.revoked_at is not None:
        raise Refused("admin.revoke.gone")
    user = await repo.get_user(s, g.user_id)
    if user is None:
        raise Refused("admin.revoke.gone")
    union = await repo.get_union(s, g.union_id) if g.union_id is not None else None
    return Person(g, user, union)


async def revoke(s: AsyncSession, now: datetime, actor_id: int, grant_id: int) -> Person:
    """End a role grant; roles are read on every update, so access ends with this commit."""
    person = await active_grant(s, grant_id)
    person.grant.revoked_at = now
    repo.audit(s, now, "role_revoked", actor_id=actor_id,
               details={"grant_id": grant_id, "user_id": person.user.id, "role": person.grant.role,
                        "union_id": person.grant.union_id})
    return person


# --------------------------------------------------------------------------- seasons


def check_order(opens_on: date, deadline: date, review_starts: date, naming_by: date) -> None:
    """opening ≤ deadline < review start ≤ naming (R-D1…R-D3)."""
    if opens_on > deadline:
        raise Refused("admin.season.order_opens", opens_on=opens_on.isoformat(),
                      deadline=deadline.isoformat())
    if deadline >= review_starts:
        raise Refused("admin.season.order_review", deadline=deadline.isoformat(),
                      review_starts=review_starts.isoformat())
    if review_starts > naming_by:
        raise Refused("admin.season.order_naming", review_starts=review_starts.isoformat(),
                      naming_by=naming_by.isoformat())


async def set_season_date(s: AsyncSession, now: datetime, actor_id: int, year: int, field: str,
                          value: date) -> Season:
    if field not in SEASON_FIELDS:
        raise Refused("admin.error.bad_field")
    if abs(value.year - year) > 1:
        raise Refused("admin.season.bad_year", min=year - 1, max=year + 1)
    season = await repo.ensure_season(s, year)
    dates = {f: getattr(season, f) for f in SEASON_FIELDS}
    before = dates[field]
    dates[field] = value
    check_order(**dates)
    if before != value:
        setattr(season, field, value)
        repo.audit(s, now, "season_changed", actor_id=actor_id,
                   details={"year": year, "field": field, "before": before.isoformat(),
                            "after": value.isoformat()})
    return season


async def set_notice_days(s: AsyncSession, now: datetime, actor_id: int, year: int, days: int) -> Season:
    """The working days the season's approved list is publicly noticed before naming (0: no notice)."""
    if not 0 <= days <= NOTICE_MAX:
        raise Refused("admin.season.bad_notice_days", max=NOTICE_MAX)
    season = await repo.ensure_season(s, year)
    if season.notice_days != days:
        repo.audit(s, now, "season_changed", actor_id=actor_id,
                   details={"year": year, "field": "notice_days", "before": season.notice_days, "after": days})
        season.notice_days = days
    return season


async def toggle_first_year(s: AsyncSession, now: datetime, actor_id: int, year: int) -> Season:
    """The first-year flag: deadline 31 August and no inspection that year (R-D1, R-D4)."""
    season = await repo.ensure_season(s, year)
    first_year = not season.first_year
    deadline = calendar.deadline_for(year, first_year)  # the flag moves the deadline with it (R-D1)
    check_order(season.opens_on, deadline, season.review_starts, season.naming_by)
    before = season.deadline
    season.first_year, season.deadline = first_year, deadline
    repo.audit(s, now, "season_changed", actor_id=actor_id,
               details={"year": year, "field": "first_year", "after": first_year,
                        "deadline": {"before": before.isoformat(), "after": deadline.isoformat()}})
    return season
