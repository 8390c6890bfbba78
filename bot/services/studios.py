"""The studio registry (R-O, R-D5): year reports, inspections and their outcomes. No Telegram here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import pings as rules_
from bot.domain import studios as dom
from bot.domain.pings import Rules
from bot.domain.studios import ACTIVE as ACTIVE
from bot.domain.studios import DELISTED as DELISTED
from bot.domain.studios import FILES_MAX as FILES_MAX
from bot.domain.studios import KINDS as KINDS
from bot.domain.studios import OUTCOMES as OUTCOMES
from bot.domain.studios import PUBLIC as PUBLIC
from bot.domain.studios import REPORT_STEPS as REPORT_STEPS
from bot.domain.studios import WORK_MAX as WORK_MAX
from bot.domain.workflow import Role
from bot.services import StoredFile, patched
from storage import repo
from storage.models import Application, Attachment, Inspection, Studio, YearReport

IP_MAX = 1000
FINDINGS_MAX = 2000
FILE_FIELD = "report"


class Refused(Exception):
    """Refused; `key` is a locale key, `params` its placeholders."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


# --------------------------------------------------------------------------- studios


async def leader_studios(s: AsyncSession, user_id: int) -> Sequence[Studio]:
    """The studios `user_id` leads, active ones first."""
    rows = (await s.scalars(select(Studio).where(Studio.leader_id == user_id).order_by(Studio.id))).all()
    return sorted(rows, key=lambda x: (x.status != ACTIVE, x.id))


async def all_studios(s: AsyncSession) -> Sequence[Studio]:
    rows = (await s.scalars(select(Studio).order_by(Studio.named_on, Studio.id))).all()
    return sorted(rows, key=lambda x: (x.status != ACTIVE, x.named_on, x.id))


def info(studio: Studio, filed: set[int] | frozenset[int] = frozenset()) -> rules_.StudioInfo:
    return rules_.StudioInfo(studio.id, studio.leader_id, studio.named_on, studio.status == ACTIVE,
                             frozenset(filed))


async def filed_years(s: AsyncSession, studio_id: int) -> set[int]:
    return set((await s.scalars(select(YearReport.year).where(YearReport.studio_id == studio_id,
                                                               YearReport.filed_at.is_not(None)))).all())


async def required_studios(s: AsyncSession, year: int, rules: Rules) -> list[Studio]:
    """Studios that owe the report of `year` (R-D5)."""
    return [x for x in await all_studios(s) if rules_.must_report(info(x), year, rules)]


async def unfiled(s: AsyncSession, year: int, rules: Rules) -> list[Studio]:
    """Studios that owe the report of `year` and have not filed it."""
    done = set((await s.scalars(select(YearReport.studio_id).where(YearReport.year == year,
                                                                    YearReport.filed_at.is_not(None)))).all())
    return [x for x in await required_studios(s, year, rules) if x.id not in done]


# --------------------------------------------------------------------------- year reports (R-D5, R-O3)


async def report_year(s: AsyncSession, studio: Studio, today: date, rules: Rules) -> int:
    """The year a report is filed for now: this year, except in January while last year's is owed."""
    last = today.year - 1
    if today.month == 1 and rules_.must_report(info(studio), last, rules) and last not in await filed_years(
        s, studio.id
    ):
        return last
    return today.year


async def open_report(s: AsyncSession, studio: Studio, year: int) -> YearReport:
    """The studio's report of `year`, created empty (at its first step) when missing."""
    found = await s.scalar(select(YearReport).where(YearReport.studio_id == studio.id, YearReport.year == year))
    if found is None:
        found = YearReport(studio_id=studio.id, year=year, answers={"_step": REPORT_STEPS[0]})
        s.add(found)
        await s.flush()
    return found


def step_of(report: YearReport) -> str:
    return dom.step_of(report.answers)


def editing(report: YearReport) -> bool:
    return dom.editing(report.answers)


def _set(report: YearReport, **changes: Any) -> None:
    report.answers = patched(report.answers, **changes)


def goto(report: YearReport, step: str, *, edit: bool | None = None) -> None:
    if step not in (*REPORT_STEPS, "confirm"):
        raise ValueError(step)
    changes: dict[str, Any] = {"_step": step, "_album": None}
    if edit is not None:
        changes["_edit"] = True if edit else None
    _set(report, **changes)


def next_step(report: YearReport, after: str) -> str:
    if editing(report) or after == REPORT_STEPS[-1]:
        return "confirm"
    return REPORT_STEPS[REPORT_STEPS.index(after) + 1]


previous_step = dom.previous_step


def append_work(report: YearReport, text: str) -> int:
    """Add a message to the year's work (a long text may come in several messages); the new length."""
    text = text.strip()
    if not text:
        raise Refused("report.error.empty")
    old = str((report.answers or {}).get("work") or "")
    new = f"{old}\n{text}" if old else text
    if len(new) > WORK_MAX:
        raise Refused("report.error.too_long", max=WORK_MAX, length=len(new))
    _set(report, work=new)
    return len(new)


def results_done(report: YearReport, result_ids: list[int]) -> None:
    """The year's results are those on record (`bot.services.results`); the report keeps which they were."""
    _set(report, results=list(result_ids))


def no_results(report: YearReport) -> None:
    _set(report, results=[])


def clear(report: YearReport, step: str) -> None:
    if step == "work":
        _set(report, work=None)


def set_ip(report: YearReport, text: str) -> None:
    text = text.strip()
    if not text:
        raise Refused("report.error.empty")
    if len(text) > IP_MAX:
        raise Refused("report.error.too_long", max=IP_MAX, length=len(text))
    _set(report, ip=text)


def files_done(report: YearReport) -> None:
    _set(report, files_seen=True)


def album_first(report: YearReport, group: str) -> bool:
    """True for the first item of an album (only that one is answered)."""
    if (report.answers or {}).get("_album") == group:
        return False
    _set(report, _album=group)
    return True


async def report_files(s: AsyncSession, report_id: int) -> Sequence[Attachment]:
    return (await s.scalars(select(Attachment).where(Attachment.report_id == report_id).order_by(Attachment.id))).all()


def add_file(s: AsyncSession, report: YearReport, meta: StoredFile, now: datetime) -> Attachment:
    att = Attachment(application_id=None, report_id=report.id, field=FILE_FIELD, created_at=now, **meta.__dict__)
    s.add(att)
    return att


def missing(report: YearReport) -> list[str]:
    """Steps still to answer before filing (files are optional)."""
    return dom.missing(report.answers)


async def file_report(s: AsyncSession, report: YearReport, studio: Studio, actor_id: int, now: datetime) -> None:
    """File the report (R-D5); the ownership statement becomes the studio's (R-O3: recorded, not decided)."""
    if report.filed_at is not None:
        raise Refused("report.already_filed", year=report.year)
    gaps = missing(report)
    if gaps:
        raise Refused("report.error.incomplete", steps=gaps)
    report.filed_at = now
    studio.ip_statement = str(report.answers.get("ip"))
    _set(report, _step=None, _edit=None, _album=None)
    repo.audit(s, now, "year_report_filed", application_id=studio.application_id, actor_id=actor_id,
               details={"studio": studio.id, "year": report.year})


async def reports_of(s: AsyncSession, studio_id: int) -> Sequence[YearReport]:
    return (await s.scalars(select(YearReport).where(YearReport.studio_id == studio_id)
                            .order_by(YearReport.year))).all()


# --------------------------------------------------------------------------- inspections (R-O1, R-O2)


async def check_date(s: AsyncSession, studio: Studio, on: date, today: date) -> None:
    """An inspection that took place: not in the future, not before naming, not in a first year (R-D4)."""
    if on > today:
        raise Refused("studio.inspect.date_future")
    if on < studio.named_on:
        raise Refused("studio.inspect.date_before_naming", named=studio.named_on.isoformat())
    season = await repo.season(s, on.year)
    if season is not None and season.first_year:
        raise Refused("studio.inspect.first_year", year=on.year)


async def inspections_of(s: AsyncSession, studio_id: int) -> Sequence[Inspection]:
    return (await s.scalars(select(Inspection).where(Inspection.studio_id == studio_id)
                            .order_by(Inspection.on, Inspection.id))).all()


async def record_inspection(s: AsyncSession, studio: Studio, inspector_id: int, kind: str, on: date,
                            findings: str, outcome: str, now: datetime, today: date) -> Inspection:
    """Record an inspection and its outcome; delisting takes the plaque off (R-O2)."""
    if studio.status != ACTIVE:
        raise Refused("studio.inspect.not_active")
    if kind not in KINDS or outcome not in OUTCOMES:
        raise Refused("studio.inspect.bad")
    findings = findings.strip()
    if not findings or len(findings) > FINDINGS_MAX:
        raise Refused("studio.inspect.findings_length", max=FINDINGS_MAX)
    await check_date(s, studio, on, today)
    row = Inspection(studio_id=studio.id, kind=kind, on=on, findings=findings,
                     outcome=None if outcome == "none" else outcome, inspector_id=inspector_id, recorded_at=now)
    s.add(row)
    if outcome == "delisting":
        studio.status = DELISTED
    repo.audit(s, now, "studio_inspection", application_id=studio.application_id, actor_id=inspector_id,
               details={"studio": studio.id, "kind": kind, "on": on.isoformat(), "outcome": outcome})
    await s.flush()
    return row


async def basic_union_of(s: AsyncSession, studio: Studio) -> int | None:
    """The basic union's account: the applicant of the application that named the studio (R-C3)."""
    if studio.application_id is None:
        return None
    return await s.scalar(select(Application.applicant_id).where(Application.id == studio.application_id))


async def outcome_recipients(s: AsyncSession, studio: Studio, outcome: str | None, admin_ids: frozenset[int],
                             actor_id: int | None = None) -> list[int]:
    """Who hears of an inspection's outcome (R-O2): the studio's leader and its basic union always; for
    a commendation, a public notice (public by nature) or a delisting also the district/industry
    union's reviewers, the contact persons and the administrators. Not the person who recorded it
    (they see it on their screen); each once, in this order."""
    people: list[int | None] = [studio.leader_id, await basic_union_of(s, studio)]
    if (outcome or "none") in PUBLIC:
        if studio.union_id is not None:
            people += [u.id for u in await repo.users_with_role(s, Role.DISTRICT, studio.union_id)]
        people += [u.id for u in await repo.users_with_role(s, Role.CONTACT)]
        people += sorted(admin_ids)
    return [u for u in dict.fromkeys(people) if u is not None and u != actor_id]


async def notice_list(s: AsyncSession, year: int) -> list[tuple[Studio, Inspection]]:
    """The year's public notices and delistings (R-O2), by date: what is published."""
    rows = (await s.execute(
        select(Studio, Inspection).join(Inspection, Inspection.studio_id == Studio.id)
        .where(Inspection.outcome.in_(("notice", "delisting")), Inspection.on >= date(year, 1, 1),
               Inspection.on <= date(year, 12, 31))
        .order_by(Inspection.on, Inspection.id))).all()
    return [(st, row) for st, row in rows]
