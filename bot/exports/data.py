"""What the exports read from the database: one application with everything around it, a season's
roster, and the figures of `/stats`. Queries only; the caller opens (and closes) the session.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import calendar, form
from bot.domain.kinds import Ask
from bot.domain.workflow import FINAL, TABLE, Box, Role, Status
from storage import repo
from storage.models import Application, Attachment, AuditEvent, OpinionRecord, Result, Season, Studio, Union, User

# Who takes each action, from the workflow table (the roster's per-level columns).
_ROLE_OF: dict[str, Role] = {t.action.value: t.role for t in TABLE}
DISTRICT_ACTIONS = frozenset(a for a, r in _ROLE_OF.items() if r is Role.DISTRICT)
CITY_ACTIONS = frozenset(a for a, r in _ROLE_OF.items() if r is Role.CITY)
CHUNK = 1000  # rows fetched at a time by the streamed queries


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
    results: list[Result] = field(default_factory=list)  # recorded on the application (成果, R-E5)

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


# built once: a bundle is read for every submission's receipt
_OPINIONS = (select(OpinionRecord).where(OpinionRecord.application_id == bindparam("app"))
             .order_by(OpinionRecord.decided_at, OpinionRecord.id))
_ATTACHMENTS = select(Attachment).where(Attachment.application_id == bindparam("app")).order_by(Attachment.id)
_TRAIL = select(AuditEvent).where(AuditEvent.application_id == bindparam("app")).order_by(AuditEvent.id)
_STUDIO = select(Studio).where(Studio.application_id == bindparam("app"))
_UNIONS = select(Union)
_RESULTS = select(Result).where(Result.application_id == bindparam("app")).order_by(Result.on, Result.id)


async def load_bundle(s: AsyncSession, app_id: int) -> Bundle | None:
    app = await s.get(Application, app_id)
    if app is None:
        return None
    at = {"app": app_id}
    union = await repo.union_of(s, app.union_id)
    opinions = (await s.scalars(_OPINIONS, at)).all()
    attachments = (await s.scalars(_ATTACHMENTS, at)).all()
    trail = (await s.scalars(_TRAIL, at)).all()
    applicant = await s.get(User, app.applicant_id)
    studio = await s.scalar(_STUDIO, at)
    unions = {u.id: u for u in (await s.scalars(_UNIONS)).all()}
    results = (await s.scalars(_RESULTS, at)).all()
    return Bundle(app=app, union=union, opinions=list(opinions), attachments=list(attachments), trail=list(trail),
                  applicant=applicant, studio=studio, unions=unions, results=list(results))


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


@dataclass(slots=True)
class Decision:
    action: str
    on: date
    opinion: str | None


@dataclass(slots=True)
class RosterRow:
    """One line of the season's roster; values are raw (codes, dates), the writer localizes them."""

    app_id: int
    number: str
    fields: dict[str, Any]  # the roster fields of the declaration (`form.roster_fields`): stored values,
    # the reviewing union's name for the union field
    status: str
    district: Decision | None
    city: Decision | None
    submitted_on: date | None
    application_date: date | None
    opinions: list[tuple[str, date, str]]  # (box, date, text)
    studio_name: str | None
    plaque_on: date | None


async def roster(s: AsyncSession, year: int, lang: str, tz: tzinfo) -> list[RosterRow]:
    """The season's submitted applications in number order, with each level's last decision and the
    opinions. Core selects of the needed columns only (a season holds thousands of applications, with
    ~4 audit events and ~2 opinions each: ORM objects for all of them took seconds and hundreds of MB);
    the audit trail is narrowed to the decisions in SQL, the last one per level is picked here."""
    listed = (Application.season_year == year) & (Application.status != Status.DRAFT.value)
    unions = {uid: (zh if lang == "zh" else en)
              for uid, zh, en in (await s.execute(select(Union.id, Union.name_zh, Union.name_en))).all()}
    district: dict[int | None, Decision] = {}  # by application (never None here: joined to it)
    city: dict[int | None, Decision] = {}
    decided = await s.stream(
        select(AuditEvent.application_id, AuditEvent.action, AuditEvent.to_status, AuditEvent.at,
               AuditEvent.opinion)
        .join(Application, Application.id == AuditEvent.application_id)
        .where(listed, AuditEvent.action.in_(sorted(DISTRICT_ACTIONS | CITY_ACTIONS)),
               AuditEvent.to_status.is_not(None))
        .order_by(AuditEvent.id))
    async for events in decided.partitions(CHUNK):
        for event_app, action, to_status, at, opinion in events:  # in order: the last one of each level wins
            if to_status:
                level = district if action in DISTRICT_ACTIONS else city
                level[event_app] = Decision(action, at.astimezone(tz).date(), opinion)
    opinions: dict[int, list[tuple[str, date, str]]] = {}
    said = await s.stream(
        select(OpinionRecord.application_id, OpinionRecord.box, OpinionRecord.decided_at, OpinionRecord.text)
        .join(Application, Application.id == OpinionRecord.application_id)
        .where(listed).order_by(OpinionRecord.decided_at, OpinionRecord.id))
    async for boxes in said.partitions(CHUNK):
        for app_id, box, decided_at, text in boxes:
            opinions.setdefault(app_id, []).append((box, decided_at.astimezone(tz).date(), text))
    keyed: list[tuple[tuple[bool, str, int], RosterRow]] = []
    roster_fields = form.roster_fields()
    apps = await s.stream(  # streamed: each application's answers are decoded, read and dropped
        select(Application.id, Application.number, Application.union_id, Application.status, Application.answers,
               Application.submitted_at, Application.application_date, Application.studio_name,
               Application.plaque_on).where(listed))
    async for chunk in apps.partitions(CHUNK):
        for app_id, number, union_id, status, answers, submitted_at, application_date, studio_name, plaque_on in chunk:
            answers = answers or {}
            keyed.append(((number is None, number or "", app_id), RosterRow(
                app_id=app_id,
                number=number or "",
                fields={f.key: (unions.get(union_id, "") if union_id else "") if f.ask is Ask.UNION
                        else answers.get(f.key) for f in roster_fields},
                status=status,
                district=district.get(app_id),
                city=city.get(app_id),
                submitted_on=submitted_at.astimezone(tz).date() if submitted_at else None,
                application_date=application_date,
                opinions=opinions.get(app_id, []),
                studio_name=studio_name,
                plaque_on=plaque_on,
            )))
    keyed.sort(key=lambda kr: kr[0])
    return [row for _, row in keyed]


async def season_listing(s: AsyncSession, year: int) -> list[tuple[int, str | None, str]]:
    """(id, number, leader's name) of the season's submitted applications, in number order — what the
    export buttons need, without loading the applications."""
    leader = Application.answers["leader_name"].as_string()
    rows = (await s.execute(select(Application.id, Application.number, leader).where(
        Application.season_year == year, Application.status != Status.DRAFT.value))).all()
    return sorted(((i, n, name or "") for i, n, name in rows), key=lambda a: (a[1] is None, a[1] or "", a[0]))


# --------------------------------------------------------------------------- /stats


@dataclass
class Stats:
    year: int
    total: int  # submitted applications of the season (drafts left out)
    drafts: int
    by_union: list[tuple[str, int]]  # (union name, applications), most first
    by_status: list[tuple[str, int]]  # (status code, applications), in workflow order
    named_by_year: list[tuple[int, int]]  # (year, studios named), oldest first

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Stats:
        """As `dataclasses.asdict` wrote it into an effect (JSON gives the pairs back as lists)."""
        return cls(int(d["year"]), int(d["total"]), int(d["drafts"]), [(str(a), int(b)) for a, b in d["by_union"]],
                   [(str(a), int(b)) for a, b in d["by_status"]], [(int(a), int(b)) for a, b in d["named_by_year"]])


async def stats(s: AsyncSession, year: int, lang: str) -> Stats:
    return (await stats_in(s, year, (lang,)))[lang]


async def stats_in(s: AsyncSession, year: int, langs: Sequence[str]) -> dict[str, Stats]:
    """The figures with the union names of each of `langs`, from one set of queries."""
    # counted by the database: the season may hold thousands of applications
    rows = (await s.execute(
        select(Application.union_id, Application.status, func.count())
        .where(Application.season_year == year).group_by(Application.union_id, Application.status))).all()
    unions = {uid: (zh, en) for uid, zh, en in (await s.execute(select(Union.id, Union.name_zh, Union.name_en))).all()}
    per_union: Counter[int | None] = Counter()
    per_status: Counter[str] = Counter()
    drafts = 0
    for union_id, status, n in rows:
        if status == Status.DRAFT.value:
            drafts += n
            continue
        per_union[union_id] += n
        per_status[status] += n
    by_status = [(st.value, per_status[st.value]) for st in Status if per_status.get(st.value)]
    named = Counter(d.year for d in (await s.scalars(select(Studio.named_on))).all())
    out = {}
    for lang in dict.fromkeys(langs):
        pick = 0 if lang == "zh" else 1
        by_union = sorted(
            ((unions[uid][pick] if uid in unions else "—", n) for uid, n in per_union.items()),
            key=lambda x: (-x[1], x[0]),
        )
        out[lang] = Stats(year=year, total=sum(per_status.values()), drafts=drafts, by_union=by_union,
                          by_status=list(by_status), named_by_year=sorted(named.items()))
    return out


def local_date(when: datetime | None, tz: tzinfo) -> date | None:
    return when.astimezone(tz).date() if when else None



async def current_season(s: AsyncSession, now: datetime, tz: Any) -> int:
    """The season `/export` and `/stats` mean without a year: the one open for applications now; else
    the latest one with applications still under review; else the one new drafts go to (this year's
    until its deadline has passed, then next year's). Reads only (a missing season has the default
    dates)."""
    today = now.astimezone(tz).date()

    async def dates(year: int) -> tuple[date, date]:
        found = await s.get(Season, year)
        if found is not None:
            return found.opens_on, found.deadline
        d = calendar.default_dates(year)
        return d.opens_on, d.deadline

    opens_on, deadline = await dates(today.year)
    if calendar.is_open(opens_on, deadline, now, tz):
        return today.year
    in_review = await s.scalar(select(func.max(Application.season_year)).where(
        Application.status.not_in([Status.DRAFT.value, *(st.value for st in FINAL)])))
    if in_review is not None:
        return int(in_review)
    return today.year + 1 if calendar.is_late(deadline, now, tz) else today.year
