"""Season dates and deadlines (R-D1…R-D5), in the federation's local time.

The first-year flag of a season (R-D1, R-D4; 附件2 一 and 五):
- its deadline is 31 August instead of 31 July (`deadline_for`); setting or clearing the flag moves
  the deadline with it, and the countdown, the late refusal and the season screen read that date;
- there is no inspection or mutual inspection (检查和互检) of named studios that year (R-O1 checks,
  refused by `bot.services.studios.check_date`).
The review of that year's applications is not an inspection in that sense: 附件2 三 has the city
department assess every application "by review and on-site visit" (评审和实地考察) from mid-September,
in the first year too. So the reviewer's card keeps "安排实地考察" in a first year; only the optional
step from forwarded straight to the preliminary opinion is added for it (`workflow`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

FIRST_YEAR = 2011  # the first season's deadline was 31 August (R-D1)
REGULAR_DEADLINE = (7, 31)  # every later year (R-D1)
FIRST_YEAR_DEADLINE = (8, 31)  # the first year (R-D1)


@dataclass(frozen=True)
class SeasonDates:
    year: int
    opens_on: date
    deadline: date
    review_starts: date
    naming_by: date
    first_year: bool = False


def default_dates(year: int, *, first_year: bool = False) -> SeasonDates:
    """The rule's dates: apply in July, deadline 31 July (31 August in the first year), review from
    mid-September, naming before late December."""
    deadline = deadline_for(year, first_year)
    return SeasonDates(year, date(year, 7, 1), deadline, date(year, 9, 15), date(year, 12, 20), first_year)


def deadline_for(year: int, first_year: bool) -> date:
    """The rule's deadline of `year`: 31 August in the first year, 31 July otherwise (R-D1)."""
    month, day = FIRST_YEAR_DEADLINE if first_year else REGULAR_DEADLINE
    return date(year, month, day)


def closes_at(deadline: date, tz: ZoneInfo) -> datetime:
    """The deadline closes at the end of its day, local time."""
    return datetime.combine(deadline + timedelta(days=1), time(0, 0), tzinfo=tz)


def is_late(deadline: date, now: datetime, tz: ZoneInfo) -> bool:
    return now >= closes_at(deadline, tz)


def is_open(opens_on: date, deadline: date, now: datetime, tz: ZoneInfo) -> bool:
    return datetime.combine(opens_on, time(0, 0), tzinfo=tz) <= now < closes_at(deadline, tz)


def days_left(deadline: date, now: datetime, tz: ZoneInfo) -> int:
    """Whole days until the deadline day (0 on the day itself, negative after)."""
    return (deadline - now.astimezone(tz).date()).days


def opens_at(opens_on: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(opens_on, time(0, 0), tzinfo=tz)


def zh_date(d: date) -> str:
    """A day as the office writes it: 2026年12月18日."""
    return f"{d.year}年{d.month}月{d.day}日"


# the public holidays of a fixed date (全国年节及纪念日放假办法): New Year's Day, Labour Day, National Day
FIXED_HOLIDAYS = frozenset({(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)})


@dataclass(frozen=True)
class WorkDays:
    """Which days are worked: Monday to Friday, but for the fixed-date public holidays and the `holidays`
    the office declares (the State Council's yearly arrangement: the Spring Festival and the other days
    of the lunar calendar, the days joined to them); the weekend days worked in their stead (调休) are
    `workdays`."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def working(self, on: date) -> bool:
        if on in self.workdays:
            return True
        if on in self.holidays or (on.month, on.day) in FIXED_HOLIDAYS:
            return False
        return on.weekday() < 5


def add_working_days(start: date, days: int, cal: WorkDays = WorkDays()) -> date:
    """The `days`-th working day from `start` on, `start` counting when it is one: the last day of a
    notice of `days` working days that begins on `start`."""
    if days < 1:
        raise ValueError(days)
    on = start
    while not cal.working(on):
        on += timedelta(days=1)
    left = days - 1
    while left:
        on += timedelta(days=1)
        if cal.working(on):
            left -= 1
    return on


def next_working_day(after: date, cal: WorkDays = WorkDays()) -> date:
    on = after + timedelta(days=1)
    while not cal.working(on):
        on += timedelta(days=1)
    return on
