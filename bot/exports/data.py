"""What the exports read from the database: one application with everything around it, a season's
roster, and the figures of `/stats`. Queries only; the caller opens (and closes) the session.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.workflow import TABLE, Box, Role, Status
from storage.models import Application, Attachment, AuditEvent, OpinionRecord, Studio, Union, User

# Who takes each action, from the workflow table (the roster's per-level columns).
_ROLE_OF: dict[str, Role] = {t.action.value: t.role for t in TABLE}
DISTRICT_ACTIONS = frozenset(a for a, r in _ROLE_OF.items() if r is Role.DISTRICT)
CITY_ACTIONS = frozenset(a for a, r in _ROLE_OF.items() if r is Role.CITY)


@dataclass
class Bundle:
    """One application and everything the printed form and the archive need."""

    app: Application
    union: Union | None
    opinions: list[OpinionRecord]
    attachments: list[Attachment]
    trail: list[AuditEvent]
    applicant: User | None = None
    studio: Studio | None = None
    unions: dict[int, Union] = field(default_factory=dict)

    def union_names(self, lang: str) -> dict[int, str]:
        names = {uid: u.name(lang) for uid, u in self.unions.items()}
        if self.union is not None:
            names[self.union.id] = self.union.name(lang)
        return names

    def latest_opinion(self, box: Box) -> OpinionRecord | None:
        """The opinion printed in a box: the most recent one recorded there."""
        found = [o for o in self.opinions if o.box == box.value]
        return found[-1] if found else None

    @property
    def leader(self) -> str:
        return str((self.app.answers or {}).get("leader_name") or "")


async def load_bundle(s: AsyncSession, app_id: int) -> Bundle | None:
    app = await s.get(Application, app_id)
    if app is None:
        return None
    union = await s.get(Union, app.union_id) if app.union_id else None
    opinions = (await s.scalars(select(OpinionRecord).where(OpinionRecord.application_id == app_id)
                                .order_by(OpinionRecord.decided_at, OpinionRecord.id))).all()
    attachments = (await s.scalars(select(Attachment).where(Attachment.application_id == app_id)
                                   .order_by(Attachment.id))).all()
    trail = (await s.scalars(select(AuditEvent).where(AuditEvent.application_id == app_id)
                             .order_by(AuditEvent.id))).all()
    applicant = await s.get(User, app.applicant_id)
    studio = await s.scalar(select(Studio).where(Studio.application_id == app_id))
    unions = {u.id: u for u in (await s.scalars(select(Union))).all()}
    return Bundle(app=app, union=union, opinions=list(opinions), attachments=list(attachments), trail=list(trail),
                  applicant=applicant, studio=studio, unions=unions)


async def find_by_number(s: AsyncSession, number: str) -> Application | None:
    return await s.scalar(select(Application).where(Application.number == number))


async def season_applications(s: AsyncSession, year: int, *, drafts: bool = False) -> Sequence[Application]:
    """The season's applications in number order; drafts (never submitted) only when asked."""
    q = select(Application).where(Application.season_year == year)
    if not drafts:
        q = q.where(Application.status != Status.DRAFT.value)
    rows = (await s.scalars(q)).all()
    return sorted(rows, key=lambda a: (a.number is None, a.number or "", a.id))


# --------------------------------------------------------------------------- the roster (XLSX)


@dataclass
class Decision:
    action: str
    on: date
    opinion: str | None


@dataclass
class RosterRow:
    """One line of the season's roster; values are raw (codes, dates), the writer localizes them."""

    app_id: int
    number: str
    union: str
    applying_unit: str
    leader: str
    honour: str | None  # stored value: a choice code or free text
    members: int
    status: str
    district: Decision | None
    city: Decision | None
    submitted_on: date | None
    application_date: date | None
    opinions: list[tuple[str, date, str]]  # (box, date, text)
    studio_name: str | None
    plaque_on: date | None


def _last(events: Sequence[AuditEvent], actions: frozenset[str], tz: tzinfo) -> Decision | None:
    found = [e for e in events if e.action in actions and e.to_status]
    if not found:
        return None
    e = found[-1]
    return Decision(e.action, e.at.astimezone(tz).date(), e.opinion)


async def roster(s: AsyncSession, year: int, lang: str, tz: tzinfo) -> list[RosterRow]:
    apps = await season_applications(s, year)
    ids = [a.id for a in apps]
    unions = {u.id: u for u in (await s.scalars(select(Union))).all()}
    events: dict[int, list[AuditEvent]] = {i: [] for i in ids}
    opinions: dict[int, list[OpinionRecord]] = {i: [] for i in ids}
    if ids:
        for e in (await s.scalars(select(AuditEvent).where(AuditEvent.application_id.in_(ids))
                                  .order_by(AuditEvent.id))).all():
            events[e.application_id].append(e)  # type: ignore[index]
        for o in (await s.scalars(select(OpinionRecord).where(OpinionRecord.application_id.in_(ids))
                                  .order_by(OpinionRecord.decided_at, OpinionRecord.id))).all():
            opinions[o.application_id].append(o)
    rows = []
    for a in apps:
        answers = a.answers or {}
        union = unions.get(a.union_id) if a.union_id else None
        rows.append(RosterRow(
            app_id=a.id,
            number=a.number or "",
            union=union.name(lang) if union else "",
            applying_unit=str(answers.get("applying_unit") or ""),
            leader=str(answers.get("leader_name") or ""),
            honour=answers.get("leader_honour"),
            members=len(answers.get("members") or []),
            status=a.status,
            district=_last(events[a.id], DISTRICT_ACTIONS, tz),
            city=_last(events[a.id], CITY_ACTIONS, tz),
            submitted_on=a.submitted_at.astimezone(tz).date() if a.submitted_at else None,
            application_date=a.application_date,
            opinions=[(o.box, o.decided_at.astimezone(tz).date(), o.text) for o in opinions[a.id]],
            studio_name=a.studio_name,
            plaque_on=a.plaque_on,
        ))
    return rows


# --------------------------------------------------------------------------- /stats


@dataclass
class Stats:
    year: int
    total: int  # submitted applications of the season (drafts left out)
    drafts: int
    by_union: list[tuple[str, int]]  # (union name, applications), most first
    by_status: list[tuple[str, int]]  # (status code, applications), in workflow order
    named_by_year: list[tuple[int, int]]  # (year, studios named), oldest first


async def stats(s: AsyncSession, year: int, lang: str) -> Stats:
    # counted by the database: the season may hold thousands of applications
    rows = (await s.execute(
        select(Application.union_id, Application.status, func.count())
        .where(Application.season_year == year).group_by(Application.union_id, Application.status))).all()
    unions = {u.id: u for u in (await s.scalars(select(Union))).all()}
    per_union: Counter[int | None] = Counter()
    per_status: Counter[str] = Counter()
    drafts = 0
    for union_id, status, n in rows:
        if status == Status.DRAFT.value:
            drafts += n
            continue
        per_union[union_id] += n
        per_status[status] += n
    by_union = sorted(
        ((unions[uid].name(lang) if uid in unions else "—", n) for uid, n in per_union.items()),
        key=lambda x: (-x[1], x[0]),
    )
    by_status = [(st.value, per_status[st.value]) for st in Status if per_status.get(st.value)]
    named = Counter(d.year for d in (await s.scalars(select(Studio.named_on))).all())
    return Stats(year=year, total=sum(per_status.values()), drafts=drafts, by_union=by_union,
                 by_status=by_status, named_by_year=sorted(named.items()))


def local_date(when: datetime | None, tz: tzinfo) -> date | None:
    return when.astimezone(tz).date() if when else None

