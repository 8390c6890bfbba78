"""The office's overview of a season: every application by status and union, counted and listed.

For admins and city reviewers (`may_see`); a card opened from it carries buttons only for those who
may decide (`bot.services.review`). No Telegram here: the bot's screens and the web pages read the same.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.workflow import Role, Status
from bot.services.records import Counts, Filter, Listing
from storage import repo
from storage.models import Application, Union

VIEWERS = frozenset({Role.ADMIN, Role.CITY})
STATUS_ORDER: tuple[str, ...] = tuple(s.value for s in Status)


def may_see(roles: set[Role] | frozenset[Role]) -> bool:
    """The overview is the office's: admins and city reviewers."""
    return bool(roles & VIEWERS)




async def counts(s: AsyncSession, year: int) -> Counts:
    rows = (await s.execute(
        select(Application.union_id, Application.status, func.count())
        .where(Application.season_year == year).group_by(Application.union_id, Application.status))).all()
    out = Counts(year)
    per_status: dict[str, int] = {}
    per_union: dict[int | None, int] = {}
    for union_id, status, n in rows:
        out.cells[(union_id, status)] = int(n)
        per_status[status] = per_status.get(status, 0) + int(n)
        per_union[union_id] = per_union.get(union_id, 0) + int(n)
        out.total += int(n)
    out.by_status = [(st, per_status[st]) for st in STATUS_ORDER if st in per_status]
    unions = await repo.all_unions(s)
    out.by_union = [(u, per_union[u.id]) for u in unions if u.id in per_union]
    if None in per_union:
        out.by_union.append((None, per_union[None]))
    return out



async def listing(s: AsyncSession, year: int, flt: Filter, page: int, size: int) -> Listing:
    """Page `page` (from 0, clamped) of the season's applications matching `flt`, by number (drafts last)."""
    q = select(Application).where(Application.season_year == year)
    if flt.status is not None:
        q = q.where(Application.status == flt.status)
    if flt.union_id is not None:
        q = q.where(Application.union_id == flt.union_id)
    total = int(await s.scalar(select(func.count()).select_from(q.subquery())) or 0)
    pages = max(1, -(-total // size))
    page = min(max(page, 0), pages - 1)
    rows = (await s.scalars(q.order_by(Application.number.is_(None), Application.number, Application.id)
                            .offset(page * size).limit(size))).all()
    return Listing(list(rows), total, page, pages, page * size + 1)


async def union_names(s: AsyncSession, apps: Sequence[Application], lang: str) -> dict[int, str]:
    ids = {a.union_id for a in apps if a.union_id is not None}
    return {uid: u.name(lang) for uid, u in (await repo.by_ids(s, Union, ids)).items()}
