"""Reminders from the database: the snapshot the pure rules read, what is due and not yet sent,
claiming a ping before it is sent, mutes, and the texts. No Telegram here."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.domain import calendar
from bot.domain import pings as rules_
from bot.domain.pings import Kind, Ping, Rules, Snapshot
from bot.domain.workflow import LEVEL1_WAITING, LEVEL2_WAITING, REOPENED, UNSUBMITTED, Role, Status
from bot.i18n import Markup, Translator
from storage import repo
from storage.models import Application, Mute, RoleGrant, Season, Studio, Union, User, YearReport
from storage.models import Ping as PingRow

WAITING = LEVEL1_WAITING | LEVEL2_WAITING


def rules_of(settings: Settings) -> Rules:
    return Rules(tz=settings.tz, remind_days=settings.review_remind_days,
                 escalate_days=settings.review_escalate_days, quiet_start=settings.quiet_start_hour,
                 quiet_end=settings.quiet_end_hour)


# --------------------------------------------------------------------------- the snapshot


async def snapshot(s: AsyncSession, now: datetime, settings: Settings) -> Snapshot:
    """What the rules need, read in one go."""
    year = now.astimezone(settings.tz).year
    years = {year - 1, year, year + 1}
    apps = (await s.scalars(
        select(Application).where(
            (Application.status.in_([x.value for x in WAITING]))
            | (Application.season_year.in_(years) & Application.status.in_([x.value for x in rules_.UNSUBMITTED]))
        )
    )).all()
    years |= {a.season_year for a in apps}
    seasons = (await s.scalars(select(Season).where(Season.year.in_(years)).order_by(Season.year))).all()
    studios = (await s.scalars(select(Studio).where(Studio.status == "active").order_by(Studio.id))).all()
    filed: dict[int, set[int]] = {}
    for sid, y in (await s.execute(select(YearReport.studio_id, YearReport.year)
                                   .where(YearReport.filed_at.is_not(None), YearReport.year >= year - 1))).all():
        filed.setdefault(sid, set()).add(y)
    grants = (await s.execute(select(RoleGrant.user_id, RoleGrant.role, RoleGrant.union_id)
                              .where(RoleGrant.revoked_at.is_(None)).order_by(RoleGrant.user_id))).all()
    contacts = tuple(dict.fromkeys(u for u, r, _ in grants if r == Role.CONTACT.value))
    city = tuple(dict.fromkeys(u for u, r, _ in grants if r == Role.CITY.value))
    district: dict[int, tuple[int, ...]] = {}
    for u, r, union in grants:
        if r == Role.DISTRICT.value and union is not None and u not in district.get(union, ()):
            district[union] = (*district.get(union, ()), u)
    infos = {x.year: rules_.SeasonInfo(x.year, x.opens_on, x.deadline, x.review_starts, x.naming_by, x.first_year)
             for x in seasons}
    infos.setdefault(year, calendar.default_dates(year))  # this year's season runs even before anyone opens it
    invited = await _invited(s, year, studios, district)
    return Snapshot(
        seasons=tuple(infos[y] for y in sorted(infos)),
        invited=invited,
        apps=tuple(rules_.AppInfo(a.id, a.season_year, a.applicant_id, a.union_id, Status(a.status), a.status_since,
                                  a.created_at, a.inspection_on) for a in apps),
        studios=tuple(rules_.StudioInfo(x.id, x.leader_id, x.named_on, x.status == "active",
                                        frozenset(filed.get(x.id, ()))) for x in studios),
        people=rules_.People(contacts=contacts, admins=tuple(sorted(settings.admin_ids)), city=city,
                             district=district),
    )


async def _invited(s: AsyncSession, year: int, studios: Any, district: dict[int, tuple[int, ...]]
                   ) -> dict[int, tuple[int, ...]]:
    """Who is told that this year's season opens: last season's applicants, the basic unions (the
    applicants) of the named studios and their district/industry unions' reviewers; not those who
    already have an application of this season."""
    rows = (await s.execute(select(Application.applicant_id, Application.season_year)
                            .where(Application.season_year.in_((year - 1, year))))).all()
    have = {u for u, y in rows if y == year}
    people = [u for u, y in rows if y == year - 1]
    app_ids = [x.application_id for x in studios if x.application_id is not None]
    if app_ids:
        people += (await s.scalars(select(Application.applicant_id).where(Application.id.in_(app_ids)))).all()
    for x in studios:
        people += district.get(x.union_id or -1, ())
    return {year: tuple(u for u in dict.fromkeys(sorted(people)) if u not in have)}


async def muted(s: AsyncSession, user_ids: set[int] | None = None) -> set[tuple[int, str]]:
    q = select(Mute.user_id, Mute.kind)
    if user_ids is not None:
        q = q.where(Mute.user_id.in_(user_ids))
    return {(u, k) for u, k in (await s.execute(q)).all()}


async def due_pings(s: AsyncSession, now: datetime, settings: Settings) -> list[Ping]:
    """What is due at `now` and not yet sent: not recorded, not muted, recipient not blocked."""
    candidates = rules_.due_pings(await snapshot(s, now, settings), now, rules_of(settings))
    if not candidates:
        return []
    keys = [p.key for p in candidates]
    done: set[str] = set()
    for i in range(0, len(keys), 500):
        done |= set((await s.scalars(select(PingRow.key).where(PingRow.key.in_(keys[i:i + 500])))).all())
    people = {p.recipient for p in candidates}
    off = await muted(s, people)
    blocked = set((await s.scalars(select(User.id).where(User.id.in_(people), User.blocked_at.is_not(None)))).all())
    return [p for p in candidates
            if p.key not in done and (p.recipient, p.kind.value) not in off and p.recipient not in blocked]


async def upcoming_for(s: AsyncSession, now: datetime, settings: Settings, user_id: int) -> list[Ping]:
    """`user_id`'s reminders still to come (those already sent are left out)."""
    found = rules_.upcoming(await snapshot(s, now, settings), now, rules_of(settings), user_id)
    if not found:
        return []
    done = set((await s.scalars(select(PingRow.key).where(PingRow.key.in_([p.key for p in found])))).all())
    return [p for p in found if p.key not in done]


# --------------------------------------------------------------------------- recording


async def claim(s: AsyncSession, ping: Ping) -> bool:
    """Record the ping before sending; False when it is already recorded (sent, or being sent)."""
    try:
        async with s.begin_nested():
            s.add(PingRow(key=ping.key, kind=ping.kind.value, recipient_id=ping.recipient, due_at=ping.due_at))
    except IntegrityError:
        return False
    return True


def once_key(ping: Ping) -> str:
    """The key of the ping's message among the effects: kind, recipient, then subject and occasion."""
    return f"{ping.kind.value}:{ping.recipient}:{ping.key}"[:200]


async def mark_sent(s: AsyncSession, key: str, now: datetime) -> None:
    await s.execute(update(PingRow).where(PingRow.key == key).values(sent_at=now))


async def release(s: AsyncSession, key: str) -> None:
    """Forget a claim whose sending failed for a passing reason, so the next run tries again."""
    await s.execute(delete(PingRow).where(PingRow.key == key, PingRow.sent_at.is_(None)))


async def mark_blocked(s: AsyncSession, user_id: int, now: datetime) -> None:
    await s.execute(update(User).where(User.id == user_id, User.blocked_at.is_(None)).values(blocked_at=now))


# --------------------------------------------------------------------------- mutes


async def mutes_of(s: AsyncSession, user_id: int) -> set[str]:
    return set((await s.scalars(select(Mute.kind).where(Mute.user_id == user_id))).all())


async def toggle_mute(s: AsyncSession, user_id: int, kind: Kind) -> bool:
    """Mute or unmute `kind` for `user_id`; True when it is muted now."""
    row = await s.get(Mute, (user_id, kind.value))
    if row is not None:
        await s.delete(row)
        return False
    s.add(Mute(user_id=user_id, kind=kind.value))
    return True


# --------------------------------------------------------------------------- texts


@dataclass
class Composed:
    text: str
    resume_app: int | None = None  # a button that resumes this draft
    report_studio: int | None = None  # a button that opens this studio's year report


def _figures(counts: dict[int | None, Counter[str]], unions: dict[int, Union], t: Translator) -> str:
    if not counts:
        return t("ping.figures.none")
    total: Counter[str] = Counter()
    lines = []
    order = sorted(counts, key=lambda u: (u is None, unions[u].kind if u in unions else "",
                                          unions[u].sort if u in unions else 0, u or 0))
    for u in order:
        c = counts[u]
        total.update(c)
        name = unions[u].name(t.lang) if u in unions else t("ping.figures.no_union")
        lines.append(t("ping.figures.union", union=name, drafts=c["draft"], submitted=c["submitted"],
                       l1=c["l1"], l2=c["l2"]))
    head = t("ping.figures.total", drafts=total["draft"], submitted=total["submitted"], l1=total["l1"],
             l2=total["l2"], returned=total["returned"], approved=total["approved"], rejected=total["rejected"])
    return head + "\n" + "\n".join(lines)


async def season_counts(s: AsyncSession, year: int) -> dict[int | None, Counter[str]]:
    """Per union: drafts, submitted (ever), waiting at level 1 / level 2, returned, approved, rejected."""
    rows = (await s.execute(
        select(Application.union_id, Application.status, Application.submitted_at.is_not(None), func.count())
        .where(Application.season_year == year)
        .group_by(Application.union_id, Application.status, Application.submitted_at.is_not(None))
    )).all()
    out: dict[int | None, Counter[str]] = {}
    for union_id, status, was_submitted, n in rows:
        c = out.setdefault(union_id, Counter())
        st = Status(status)
        if st is Status.DRAFT:
            c["draft"] += n
        if was_submitted:
            c["submitted"] += n
        if st in LEVEL1_WAITING:
            c["l1"] += n
        if st in LEVEL2_WAITING:
            c["l2"] += n
        if st in REOPENED:  # waiting for the applicant's changes, whoever asked for them
            c["returned"] += n
        if st in REOPENED & UNSUBMITTED:
            c["returned_l1"] += n
        if st is Status.APPROVED:
            c["approved"] += n
        if st is Status.REJECTED:
            c["rejected"] += n
        if st is Status.PRELIMINARY:
            c["preliminary"] += n
    return out


async def _unions(s: AsyncSession) -> dict[int, Union]:
    return {u.id: u for u in await repo.all_unions(s)}


def _date(d: Any) -> str:
    return d.isoformat()


async def _season(s: AsyncSession, year: int) -> Season | calendar.SeasonDates:
    """The season's dates as stored, or the rule's dates while nobody has opened that season yet."""
    return await repo.season(s, year) or calendar.default_dates(year)


async def compose(s: AsyncSession, t: Translator, ping: Ping, settings: Settings, now: datetime) -> Composed | None:
    """The text of `ping` as of `now`, or None when its subject is gone; a ping sent on a later day
    than it was meant for says so first (the bot was not running then)."""
    composed = await _compose(s, t, ping, settings, now)
    if composed is not None and ping.late(now, settings.tz):
        when = ping.send_at.astimezone(settings.tz).strftime("%Y-%m-%d")
        composed.text = t("ping.delayed.note", date=when) + "\n\n" + composed.text
    return composed


async def _compose(s: AsyncSession, t: Translator, ping: Ping, settings: Settings, now: datetime) -> Composed | None:
    """The text of a ping that is due, or None when it no longer applies."""
    for kinds, compose in _COMPOSERS:
        if ping.kind in kinds:
            return await compose(s, t, ping, settings, now)
    return None


async def _opening(s: AsyncSession, t: Translator, ping: Ping, settings: Settings, now: datetime) -> Composed | None:
    season = await _season(s, ping.year or 0)
    if await repo.application_of(s, ping.recipient, season.year) is not None:
        return None  # started meanwhile: the draft reminders take over
    left = max(calendar.days_left(season.deadline, now, settings.tz), 0)
    key = "ping.opening.soon" if ping.days else "ping.opening.open"
    return Composed(t(key, year=season.year, opens=_date(season.opens_on), deadline=_date(season.deadline),
                      days=left))


async def _season_figures(s: AsyncSession, t: Translator, ping: Ping, settings: Settings,
                          now: datetime) -> Composed | None:
    """The contact person's countdown, last day, review start and naming pings, with the season's figures."""
    tz = settings.tz
    season = await _season(s, ping.year or 0)
    counts = await season_counts(s, season.year)
    figures = Markup(_figures(counts, await _unions(s), t))
    total: Counter[str] = Counter()
    for c in counts.values():
        total.update(c)
    left = calendar.days_left(season.deadline, now, tz)
    if ping.kind is Kind.COUNTDOWN:
        key = "ping.countdown.today" if left <= 0 else "ping.countdown.days"
        return Composed(t(key, year=season.year, days=max(left, 0), deadline=_date(season.deadline),
                          figures=figures))
    if ping.kind is Kind.FINAL:
        return Composed(t("ping.final", year=season.year, deadline=_date(season.deadline), figures=figures,
                          submitted=total["submitted"], drafts=total["draft"] + total["returned_l1"]))
    if ping.kind is Kind.REVIEW_START:
        key = "ping.review_start.first_year" if season.first_year else "ping.review_start.regular"
        return Composed(t(key, year=season.year, date=_date(season.review_starts), l1=total["l1"],
                          l2=total["l2"]))
    days = (season.naming_by - now.astimezone(tz).date()).days
    return Composed(t("ping.naming", year=season.year, date=_date(season.naming_by), days=max(days, 0),
                      approved=total["approved"], preliminary=total["preliminary"],
                      open=total["l1"] + total["l2"] - total["preliminary"] + total["returned"]))


async def _draft(s: AsyncSession, t: Translator, ping: Ping, settings: Settings, now: datetime) -> Composed | None:
    app = await s.get(Application, ping.app_id)
    season = await _season(s, ping.year or 0)
    if app is None or Status(app.status) not in rules_.UNSUBMITTED:
        return None
    left = max(calendar.days_left(season.deadline, now, settings.tz), 0)
    key = "ping.draft.returned" if app.status == Status.RETURNED_L1.value else "ping.draft.open"
    return Composed(t(key, year=season.year, days=left, deadline=_date(season.deadline),
                      number=app.number or ""), resume_app=app.id)


async def _review(s: AsyncSession, t: Translator, ping: Ping, settings: Settings, now: datetime) -> Composed | None:
    app = await s.get(Application, ping.app_id)
    if app is None:
        return None
    union = await repo.union_of(s, app.union_id)
    since = ping.since or app.status_since or now
    days = max((now - since) // timedelta(days=1), 0)
    params = dict(number=app.number or "", unit=(app.answers or {}).get("applying_unit", ""),
                  union=union.name(t.lang) if union else "", status=t(f"status.{app.status}"), days=days,
                  since=since.astimezone(settings.tz).strftime("%Y-%m-%d"),
                  level=t("ping.level.l1") if ping.level == 1 else t("ping.level.l2"))
    key = "ping.review.remind" if ping.kind is Kind.REVIEW else "ping.review.escalate"
    return Composed(t(key, **params))


async def _report(s: AsyncSession, t: Translator, ping: Ping, settings: Settings, now: datetime) -> Composed | None:
    studio = await s.get(Studio, ping.studio_id)
    if studio is None or studio.status != "active":
        return None
    return Composed(t("ping.report.ask", studio=studio.name, year=ping.year or 0), report_studio=studio.id)


async def _year_end(s: AsyncSession, t: Translator, ping: Ping, settings: Settings, now: datetime) -> Composed | None:
    from bot.services import studios as svc_studios

    year = ping.year or 0
    due = await svc_studios.required_studios(s, year, rules_of(settings))
    missing = await svc_studios.unfiled(s, year, rules_of(settings))
    unions = await _unions(s)
    if not missing:
        return Composed(t("ping.year_end.all_filed", year=year, total=len(due)))
    lines = "\n".join(t("ping.year_end.line", studio=x.name,
                        union=unions[x.union_id].name(t.lang) if x.union_id in unions else "")
                      for x in missing[:60])
    return Composed(t("ping.year_end.missing", year=year, total=len(due), filed=len(due) - len(missing),
                      n=len(missing), studios=Markup(lines)))


_COMPOSERS = (
    ((Kind.OPENING,), _opening),
    ((Kind.COUNTDOWN, Kind.FINAL, Kind.REVIEW_START, Kind.NAMING), _season_figures),
    ((Kind.DRAFT,), _draft),
    ((Kind.REVIEW, Kind.ESCALATION), _review),
    ((Kind.REPORT,), _report),
    ((Kind.YEAR_END,), _year_end),
)


def describe(t: Translator, ping: Ping, numbers: dict[int, str], studios: dict[int, str]) -> str:
    """One line of /reminders for an upcoming ping (plain text)."""
    key = f"reminders.what.{ping.kind.value}"
    if ping.kind is Kind.COUNTDOWN and not ping.days:
        key = "reminders.what.countdown_today"
    return t(key, year=ping.year or "", days=ping.days or 0,
             number=numbers.get(ping.app_id or 0, ""), studio=studios.get(ping.studio_id or 0, ""))
