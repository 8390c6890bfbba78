"""The federation's office: its contact person, and the unions no reviewer serves yet. No Telegram here."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.workflow import Role
from bot.services import Refused
from bot.services.records import Contact
from storage import repo
from storage.models import Office, Ping, RoleGrant, Union

NAME_MAX = 50
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-转]{4,30}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")




async def contact(s: AsyncSession) -> Contact:
    row = await s.get(Office, 1)
    if row is None:
        return Contact()
    return Contact(row.contact_name, row.contact_phone, row.contact_email)


def clean_contact(field: str, text: str) -> str | None:
    """A typed part of the contact: a name, a phone number or an e-mail address; "-" clears it."""
    value = " ".join((text or "").split())
    if value in ("-", "－", "—"):
        return None
    if field == "name":
        if not 1 <= len(value) <= NAME_MAX:
            raise Refused("office.error.name", max=NAME_MAX)
        return value
    if field == "phone":
        value = value.translate(str.maketrans("０１２３４５６７８９（）－＋", "0123456789()-+"))
        if not _PHONE.match(value):
            raise Refused("office.error.phone")
        return value
    if field == "email":
        if not _EMAIL.match(value) or len(value) > 120:
            raise Refused("office.error.email")
        return value
    raise Refused("admin.error.bad_field")


async def set_contact(s: AsyncSession, now: datetime, actor_id: int, field: str, text: str) -> Contact:
    """Set one part of the contact (audited); returns the whole contact."""
    value = clean_contact(field, text)
    row = await s.get(Office, 1)
    if row is None:
        row = Office(id=1)
        s.add(row)
    attr = f"contact_{field}"
    before = getattr(row, attr)
    if before != value:
        setattr(row, attr, value)
        repo.audit(s, now, "contact_changed", actor_id=actor_id,
                   details={"field": field, "before": before, "after": value})
    await s.flush()
    return await contact(s)


# --------------------------------------------------------------------------- unions without a reviewer


async def staffed_unions(s: AsyncSession) -> set[int]:
    """Unions with at least one district reviewer."""
    q = select(RoleGrant.union_id).where(RoleGrant.role == Role.DISTRICT.value, RoleGrant.revoked_at.is_(None),
                                         RoleGrant.union_id.is_not(None))
    return {u for u in (await s.scalars(q)).all() if u is not None}


async def unstaffed_unions(s: AsyncSession) -> list[Union]:
    """Active unions no reviewer serves: an application there waits until one is appointed."""
    staffed = await staffed_unions(s)
    return [u for u in await repo.active_unions(s) if u.id not in staffed]


async def is_unstaffed(s: AsyncSession, union_id: int | None) -> bool:
    return union_id is not None and not await repo.users_with_role(s, Role.DISTRICT, union_id)


async def first_notice(s: AsyncSession, union_id: int, year: int, admin_id: int, now: datetime) -> bool:
    """Whether `admin_id` is to be told now that the union has no reviewer in season `year`: once per
    union and season (recorded like a reminder, so a restart does not repeat it)."""
    key = f"unstaffed:{year}:{union_id}:{admin_id}"
    if await s.scalar(select(Ping.id).where(Ping.key == key)) is not None:
        return False
    try:
        async with s.begin_nested():
            s.add(Ping(key=key, kind="unstaffed", recipient_id=admin_id, due_at=now, sent_at=now))
    except IntegrityError:
        return False
    return True
