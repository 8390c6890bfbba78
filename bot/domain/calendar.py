"""Season dates and deadlines (R-D1…R-D5), in the federation's local time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

FIRST_YEAR = 2011  # the first season's deadline was 31 August (R-D1)


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
    deadline = date(year, 8, 31) if first_year else date(year, 7, 31)
    return SeasonDates(year, date(year, 7, 1), deadline, date(year, 9, 15), date(year, 12, 20), first_year)


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
