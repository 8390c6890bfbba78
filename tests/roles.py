"""Grant roles directly in the database (the admin flow is tested on its own)."""

from __future__ import annotations

from storage import repo
from storage.models import RoleGrant
from tests.offline import Harness


async def grant(h: Harness, user_id: int, role: str, union_id: int | None = None, lang: str = "zh-hans") -> None:
    async with h.db.session() as s:
        await repo.upsert_user(s, user_id, f"U{user_id}", None, None, lang, h.clock.now())
        s.add(RoleGrant(user_id=user_id, role=role, union_id=union_id, granted_at=h.clock.now()))
        await s.commit()


async def first_union_id(h: Harness) -> int:
    async with h.db.session() as s:
        return (await repo.active_unions(s))[0].id
