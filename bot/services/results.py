"""The results registry (成果): recording a result, and what eligibility (R-E5), the year report (R-D5),
oversight (R-O2), the statistics and the compilation (R-C1) read from it. No Telegram here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import results as dom
from bot.domain.workflow import EDITABLE
from bot.services import StoredFile
from storage import repo
from storage.models import Application, Attachment, Result, Studio

RECENT_DAYS = 366  # "the last year" of the R-E5 question
ELIGIBILITY = "R-E5"  # the eligibility condition whose question shows the results on record
FILE_FIELD = "result"
COMMEND_SHOWN = 5  # studios with the most recognised results shown as candidates for commendation


class Refused(Exception):
    """Refused; `key` is a locale key, `params` its placeholders."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def is_recognised(row: Result) -> bool:
    return dom.recognised(dom.record_of(row))


def _owned(studio: Studio) -> Any:
    """The studio's results, with those recorded on the application that named it."""
    if studio.application_id is None:
        return Result.studio_id == studio.id
    return or_(Result.studio_id == studio.id, Result.application_id == studio.application_id)


def _in_year(year: int) -> Any:
    return Result.on.between(date(year, 1, 1), date(year, 12, 31))


async def of_studio(s: AsyncSession, studio: Studio, year: int | None = None) -> list[Result]:
    q = select(Result).where(_owned(studio))
    if year is not None:
        q = q.where(_in_year(year))
    return list((await s.scalars(q.order_by(Result.on, Result.id))).all())


async def of_application(s: AsyncSession, app_id: int) -> list[Result]:
    return list((await s.scalars(select(Result).where(Result.application_id == app_id)
                                 .order_by(Result.on, Result.id))).all())


async def draft_of(s: AsyncSession, user_id: int) -> Application | None:
    """The newest application `user_id` may still edit (its results are recorded on it)."""
    return await s.scalar(select(Application).where(Application.applicant_id == user_id,
                                                    Application.status.in_([x.value for x in EDITABLE]))
                          .order_by(Application.id.desc()).limit(1))


async def studio_named_by(s: AsyncSession, app_id: int) -> Studio | None:
    return await s.scalar(select(Studio).where(Studio.application_id == app_id))


async def recent_recognised(s: AsyncSession, app_id: int, today: date) -> list[Result]:
    """R-E5: the application's recorded results of the last year that some body recognised."""
    since = today - timedelta(days=RECENT_DAYS)
    return [r for r in await of_application(s, app_id) if since <= r.on <= today and is_recognised(r)]


def _clean(record: Mapping[str, Any], today: date) -> dict[str, Any]:
    try:
        return dom.validate(record, today)
    except dom.Invalid as exc:
        raise Refused(exc.key, **exc.params) from None


async def add(s: AsyncSession, record: Mapping[str, Any], *, today: date, now: datetime, actor_id: int | None,
              studio: Studio | None = None, application: Application | None = None, source: str = "chat",
              certificate: StoredFile | None = None) -> Result:
    """Record a result of `studio` (or of `application`, before its studio is named); everything is
    checked again here, whatever collected it."""
    if (studio is None) == (application is None):
        raise ValueError("a result belongs to a studio or to an application")
    clean = _clean(record, today)
    att = None
    if certificate is not None:
        try:
            dom.check_size(certificate.size)
        except dom.Invalid as exc:
            raise Refused(exc.key, **exc.params) from None
        att = Attachment(application_id=None, report_id=None, field=FILE_FIELD, created_at=now,
                         **certificate.__dict__)
        s.add(att)
        await s.flush()
    values = {f.key: clean.get(f.key) for f in dom.TYPED}  # each declared field is a column of its own
    values.update(on=date.fromisoformat(clean["on"]), in_use=bool(clean.get("in_use")))
    row = Result(studio_id=studio.id if studio else None, application_id=application.id if application else None,
                 certificate_id=att.id if att else None, source=source, created_by=actor_id, created_at=now,
                 **values)
    s.add(row)
    await s.flush()
    repo.audit(s, now, "result_recorded", application_id=application.id if application else studio.application_id
               if studio else None, actor_id=actor_id,
               details={"result": row.id, "studio": studio.id if studio else None, "kind": row.kind,
                        "source": source})
    return row


async def remove(s: AsyncSession, row: Result, actor_id: int, now: datetime) -> None:
    repo.audit(s, now, "result_removed", application_id=row.application_id, actor_id=actor_id,
               details={"result": row.id, "studio": row.studio_id, "title": row.title})
    cert = await s.get(Attachment, row.certificate_id) if row.certificate_id else None
    await s.delete(row)
    if cert is not None:
        await s.delete(cert)
    await s.flush()


async def certificate(s: AsyncSession, row: Result) -> Attachment | None:
    return await s.get(Attachment, row.certificate_id) if row.certificate_id else None


# --------------------------------------------------------------------------- what the registry tells


@dataclass
class Figures:
    """A set of results counted (R-E5, R-C1): by kind, by level, put into use, patents, benefit."""

    total: int = 0
    recognised: int = 0
    in_use: int = 0
    patents: int = 0
    benefit: float = 0.0  # 万元 a year
    by_kind: Counter[str] = field(default_factory=Counter)
    by_level: Counter[str] = field(default_factory=Counter)

    def add(self, row: Result) -> None:
        self.total += 1
        self.recognised += is_recognised(row)
        self.in_use += bool(row.in_use)
        self.patents += row.kind in dom.PATENTS
        self.benefit += row.benefit or 0.0
        self.by_kind[row.kind] += 1
        if row.level:
            self.by_level[row.level] += 1


def figures(rows: Iterable[Result]) -> Figures:
    out = Figures()
    for r in rows:
        out.add(r)
    return out


@dataclass
class YearResults:
    """A year's results of every studio, and the figures per union."""

    year: int
    studios: list[tuple[Studio, list[Result]]]  # every studio that held the plaque in the year, named order
    unions: dict[int | None, Figures]
    total: Figures

    def recognised(self, studio_id: int) -> int:
        return next((sum(map(is_recognised, rows)) for st, rows in self.studios if st.id == studio_id), 0)

    def without_recognised(self) -> list[Studio]:
        """Active studios with no recognised result in the year (candidates for a notice, R-O2)."""
        return [st for st, rows in self.studios if st.status == "active" and not any(map(is_recognised, rows))]

    def most_recognised(self, n: int = COMMEND_SHOWN) -> list[tuple[Studio, int]]:
        """The studios with the most recognised results (candidates for commendation, R-O2)."""
        counted = [(st, sum(map(is_recognised, rows))) for st, rows in self.studios if st.status == "active"]
        counted = [x for x in counted if x[1]]
        return sorted(counted, key=lambda x: (-x[1], x[0].named_on, x[0].id))[:n]


async def year_results(s: AsyncSession, year: int) -> YearResults:
    """Every studio named by the end of `year` with its results dated that year (R-D5, R-O2, R-C1)."""
    studios = [x for x in (await s.scalars(select(Studio).order_by(Studio.named_on, Studio.id))).all()
               if x.named_on <= date(year, 12, 31)]
    rows = (await s.scalars(select(Result).where(_in_year(year)).order_by(Result.on, Result.id))).all()
    by_studio: dict[int, list[Result]] = {x.id: [] for x in studios}
    by_app = {x.application_id: x.id for x in studios if x.application_id is not None}
    apps = await repo.by_ids(s, Application, (r.application_id for r in rows if r.studio_id is None
                                              and r.application_id is not None and r.application_id not in by_app))
    unions: dict[int | None, Figures] = {}
    union_of = {x.id: x.union_id for x in studios}
    total = Figures()
    for r in rows:
        sid = r.studio_id if r.studio_id is not None else by_app.get(r.application_id or 0)
        if sid in by_studio:
            by_studio[sid].append(r)
            union = union_of[sid]
        else:
            app = apps.get(r.application_id or 0)
            union = app.union_id if app else None
        unions.setdefault(union, Figures()).add(r)
        total.add(r)
    return YearResults(year, [(x, by_studio[x.id]) for x in studios], unions, total)


def kinds_in(rows: Sequence[Result]) -> list[str]:
    return [k for k in dom.KINDS if any(r.kind == k for r in rows)]
