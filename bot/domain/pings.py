"""Which reminders are due at an instant (R-D1…R-D5, R-O). Pure: no Telegram, no database.

Every reminder ("ping") is derived from a snapshot of the database and the rules; nothing is
scheduled. A ping has
- a stable `key` (the `Ping.key` that records it, so it is sent once, across restarts),
- `due_at`: the moment it becomes due,
- `send_at`: the first moment outside quiet hours at or after `due_at`,
- `expires_at`: after this it is no longer worth sending (a 14-day countdown is superseded by the
  7-day one; the day-before reminder by the deadline), or None for "as long as the facts hold"
  (a stalled review stays stalled until someone acts).

A ping is sendable at `now` when `send_at <= now < expires_at`. Calendar pings become due at the
start of their local day, so with the default quiet hours they go out at 09:00.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.domain.calendar import SeasonDates, closes_at
from bot.domain.workflow import UNSUBMITTED, Status, level_of


class Kind(StrEnum):
    COUNTDOWN = "countdown"  # contact: 14, 7, 3, 1 days before the deadline and on the day (R-D1)
    FINAL = "final"  # contact: the day after the deadline, the final figures (R-D1)
    REVIEW_START = "review_start"  # contact: review and inspection start (R-D2)
    NAMING = "naming"  # contact: some days before the naming date (R-D3)
    ESCALATION = "escalation"  # contact and admins: a review stalled too long
    YEAR_END = "year_end"  # contact: 31 December, the studios that have not filed (R-D5)
    DRAFT = "draft"  # applicant: an unsubmitted draft before the deadline (R-D1)
    REVIEW = "review"  # reviewer: an application waiting at their level
    REPORT = "report"  # studio leader: file the year's report (R-D5)
    OPENING = "opening"  # last season's applicants and named studios' unions: the season opens soon / now


# What the contact person may mute in /reminders.
CONTACT_KINDS: tuple[Kind, ...] = (
    Kind.COUNTDOWN, Kind.FINAL, Kind.REVIEW_START, Kind.NAMING, Kind.ESCALATION, Kind.YEAR_END,
)

@dataclass(frozen=True)
class Rules:
    tz: ZoneInfo
    remind_days: int = 3
    escalate_days: int = 7
    quiet_start: int = 20  # no pings from this hour …
    quiet_end: int = 9  # … until this hour, local time
    contact_days: tuple[int, ...] = (14, 7, 3, 1, 0)
    draft_days: tuple[int, ...] = (7, 1)
    naming_days: int = 7
    final_days: int = 7  # how long the final figures stay worth sending
    review_start_days: int = 7
    report_from: tuple[int, int] = (12, 1)  # the leaders are asked from this month and day (R-D5)
    year_end_days: int = 7  # the 31 December list stays worth sending into January
    opening_days: int = 7  # "opens soon" this many days before the opening day
    open_days: int = 14  # "open now" stays worth sending this long (not past the deadline)


SeasonInfo = SeasonDates  # the season's dates, as the calendar declares them


@dataclass(frozen=True)
class AppInfo:
    id: int
    season_year: int
    applicant_id: int
    union_id: int | None
    status: Status
    status_since: datetime | None
    created_at: datetime
    inspection_on: date | None = None


@dataclass(frozen=True)
class StudioInfo:
    id: int
    leader_id: int | None  # None: an imported studio whose leader has no account yet
    named_on: date
    active: bool = True
    filed_years: frozenset[int] = frozenset()


@dataclass(frozen=True)
class People:
    contacts: tuple[int, ...] = ()
    admins: tuple[int, ...] = ()
    city: tuple[int, ...] = ()
    district: Mapping[int, tuple[int, ...]] = field(default_factory=dict)  # union id → reviewers


@dataclass(frozen=True)
class Snapshot:
    seasons: tuple[SeasonInfo, ...] = ()
    apps: tuple[AppInfo, ...] = ()
    studios: tuple[StudioInfo, ...] = ()
    people: People = field(default_factory=People)
    # season year → who is told the season opens: last season's applicants (drafts, returned, refused,
    # approved alike) and the named studios' basic and district/industry unions, less those who already
    # have an application of that season
    invited: Mapping[int, tuple[int, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Ping:
    key: str
    kind: Kind
    recipient: int
    due_at: datetime
    send_at: datetime
    expires_at: datetime | None
    year: int | None = None
    days: int | None = None  # the nominal offset: 14, 7, … days before
    app_id: int | None = None
    studio_id: int | None = None
    level: int | None = None
    since: datetime | None = None  # when the application started waiting (review pings)

    def sendable(self, now: datetime) -> bool:
        return self.send_at <= now and (self.expires_at is None or now < self.expires_at)

    def late(self, now: datetime, tz: ZoneInfo) -> bool:
        """Sent on a later day than it was meant to go out (the bot was not running then): the text
        says so. Reminders of a stalled review are not late, they state how long it has waited."""
        if self.kind in (Kind.REVIEW, Kind.ESCALATION):
            return False
        return now.astimezone(tz).date() > self.send_at.astimezone(tz).date()


# --------------------------------------------------------------------------- time


def is_quiet(hour: int, rules: Rules) -> bool:
    start, end = rules.quiet_start, rules.quiet_end
    if start == end:
        return False
    if start > end:  # over midnight, e.g. 20 → 9
        return hour >= start or hour < end
    return start <= hour < end


def next_allowed(when: datetime, rules: Rules) -> datetime:
    """`when`, or the end of the quiet hours it falls in."""
    local = when.astimezone(rules.tz)
    if not is_quiet(local.hour, rules):
        return when
    morning = datetime.combine(local.date(), time(rules.quiet_end), tzinfo=rules.tz)
    if morning <= local:
        morning = datetime.combine(local.date() + timedelta(days=1), time(rules.quiet_end), tzinfo=rules.tz)
    return morning.astimezone(UTC)


def day_start(d: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0), tzinfo=tz).astimezone(UTC)


def waiting_since(app: AppInfo, season: SeasonInfo | None, tz: ZoneInfo) -> datetime | None:
    """When the application's reviewers became due to act.

    Level 1 from the status change; level 2 not before review starts (R-D2), and an application
    with a scheduled inspection not before the day after the inspection.
    """
    if app.status_since is None:
        return None
    since = app.status_since
    if level_of(app.status) == 2 and season is not None:
        since = max(since, day_start(season.review_starts, tz))
    if app.status is Status.INSPECTION_SCHEDULED and app.inspection_on is not None:
        since = max(since, day_start(app.inspection_on + timedelta(days=1), tz))
    return since


def must_report(studio: StudioInfo, year: int, rules: Rules) -> bool:
    """R-D5: an active studio named before the reports are asked for files that year's report;
    a studio named in December files from the next year."""
    month, day = rules.report_from
    return studio.active and studio.named_on < date(year, month, day)


# --------------------------------------------------------------------------- building


def _ping(rules: Rules, key: str, kind: Kind, recipient: int, due: datetime, expires: datetime | None,
          **extra: object) -> Ping:
    return Ping(key=key, kind=kind, recipient=recipient, due_at=due, send_at=next_allowed(due, rules),
                expires_at=expires, **extra)  # type: ignore[arg-type]


def _series(offsets: Iterable[int], deadline: date, tz: ZoneInfo) -> list[tuple[int, datetime, datetime]]:
    """(days before, due, expires) for a countdown: each one lasts until the next one is due."""
    days = sorted(set(offsets), reverse=True)
    out = []
    for i, d in enumerate(days):
        due = day_start(deadline - timedelta(days=d), tz)
        expires = (day_start(deadline - timedelta(days=days[i + 1]), tz) if i + 1 < len(days)
                   else closes_at(deadline, tz).astimezone(UTC))
        out.append((d, due, expires))
    return out


def _season_pings(s: SeasonInfo, snap: Snapshot, rules: Rules) -> list[Ping]:
    tz = rules.tz
    out: list[Ping] = []
    y = s.year
    for c in snap.people.contacts:
        for d, due, expires in _series(rules.contact_days, s.deadline, tz):
            out.append(_ping(rules, f"contact:deadline-{d}:{y}:{c}", Kind.COUNTDOWN, c, due, expires,
                             year=y, days=d))
        due = day_start(s.deadline + timedelta(days=1), tz)
        out.append(_ping(rules, f"contact:final:{y}:{c}", Kind.FINAL, c, due,
                         due + timedelta(days=rules.final_days), year=y))
        due = day_start(s.review_starts, tz)
        out.append(_ping(rules, f"contact:review-start:{y}:{c}", Kind.REVIEW_START, c, due,
                         due + timedelta(days=rules.review_start_days), year=y))
        due = day_start(s.naming_by - timedelta(days=rules.naming_days), tz)
        out.append(_ping(rules, f"contact:naming-{rules.naming_days}:{y}:{c}", Kind.NAMING, c, due,
                         closes_at(s.naming_by, tz).astimezone(UTC), year=y, days=rules.naming_days))
    opens = day_start(s.opens_on, tz)
    soon = day_start(s.opens_on - timedelta(days=rules.opening_days), tz)
    open_until = min(opens + timedelta(days=rules.open_days), closes_at(s.deadline, tz).astimezone(UTC))
    for u in snap.invited.get(y, ()):
        out.append(_ping(rules, f"season:opening-soon:{y}:{u}", Kind.OPENING, u, soon, opens, year=y,
                         days=rules.opening_days))
        out.append(_ping(rules, f"season:open:{y}:{u}", Kind.OPENING, u, opens, open_until, year=y, days=0))
    series = _series(rules.draft_days, s.deadline, tz)
    for app in snap.apps:
        if app.season_year != y or app.status not in UNSUBMITTED:
            continue
        for d, due, expires in series:
            if app.created_at >= due:  # a draft started after the reminder's day is not nagged
                continue
            out.append(_ping(rules, f"draft:deadline-{d}:{y}:{app.id}", Kind.DRAFT, app.applicant_id, due,
                             expires, year=y, days=d, app_id=app.id))
    return out


def _review_pings(snap: Snapshot, rules: Rules) -> list[Ping]:
    seasons = {s.year: s for s in snap.seasons}
    out: list[Ping] = []
    for app in snap.apps:
        level = level_of(app.status)
        if not level or app.status_since is None:
            continue
        since = waiting_since(app, seasons.get(app.season_year), rules.tz)
        if since is None:
            continue
        stamp = int(app.status_since.timestamp())
        reviewers = snap.people.city if level == 2 else snap.people.district.get(app.union_id or -1, ())
        due = since + timedelta(days=rules.remind_days)
        for r in reviewers:
            out.append(_ping(rules, f"review:remind:{app.id}:{app.status.value}:{stamp}:{r}", Kind.REVIEW, r,
                             due, None, app_id=app.id, level=level, since=since, year=app.season_year))
        due = since + timedelta(days=rules.escalate_days)
        for r in dict.fromkeys((*snap.people.contacts, *snap.people.admins)):
            out.append(_ping(rules, f"review:escalate:{app.id}:{app.status.value}:{stamp}:{r}", Kind.ESCALATION,
                             r, due, None, app_id=app.id, level=level, since=since, year=app.season_year))
    return out


def _year_end_pings(year: int, snap: Snapshot, rules: Rules) -> list[Ping]:
    tz = rules.tz
    out: list[Ping] = []
    month, day = rules.report_from
    asked = day_start(date(year, month, day), tz)
    last_day = date(year, 12, 31)
    for st in snap.studios:
        if st.leader_id is not None and must_report(st, year, rules) and year not in st.filed_years:
            out.append(_ping(rules, f"studio:report:{year}:{st.id}", Kind.REPORT, st.leader_id, asked,
                             closes_at(last_day, tz).astimezone(UTC), year=year, studio_id=st.id))
    if any(must_report(st, year, rules) for st in snap.studios):
        due = day_start(last_day, tz)
        for c in snap.people.contacts:
            out.append(_ping(rules, f"contact:year-end:{year}:{c}", Kind.YEAR_END, c, due,
                             due + timedelta(days=1 + rules.year_end_days), year=year))
    return out


def candidates(snap: Snapshot, now: datetime, rules: Rules) -> list[Ping]:
    """Every ping the snapshot implies around `now` (past, present and future), by send time."""
    year = now.astimezone(rules.tz).year
    out: list[Ping] = []
    for s in snap.seasons:
        out += _season_pings(s, snap, rules)
    out += _review_pings(snap, rules)
    for y in (year - 1, year):
        out += _year_end_pings(y, snap, rules)
    unique = {p.key: p for p in out}
    return sorted(unique.values(), key=lambda p: (p.send_at, p.key))


def due_pings(snap: Snapshot, now: datetime, rules: Rules) -> list[Ping]:
    """The pings that may be sent at `now` (the caller drops those already recorded or muted)."""
    return [p for p in candidates(snap, now, rules) if p.sendable(now)]


def upcoming(snap: Snapshot, now: datetime, rules: Rules, recipient: int) -> list[Ping]:
    """`recipient`'s pings still to come, soonest first."""
    return [p for p in candidates(snap, now, rules) if p.recipient == recipient and p.send_at > now]
