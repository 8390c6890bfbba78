"""The way into a new season (R-D1, R-W4): a unit whose earlier application was decided or forfeited
starts this season's draft from last year's answers and files, or from a fresh form. The earlier
record stays as it was (read-only in /my)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton as Btn
from telegram import InlineKeyboardMarkup

from bot.callbacks import Codec
from bot.i18n import Translator
from bot.services import drafts
from bot.services.drafts import Standing
from storage import repo
from storage.models import Application

COPY, FRESH = "copy", "fresh"


@dataclass(frozen=True)
class NewSeason(Codec):
    """Start the draft of `year`: from the record `source` (`how` = copy) or empty (`how` = fresh)."""

    prefix: ClassVar[str] = "ns"
    year: int
    source: int
    how: str


def offer(t: Translator, st: Standing, late: date | None = None) -> tuple[str, InlineKeyboardMarkup]:
    """The new season's choice; `late`: the deadline the earlier draft missed, said first (R-D1)."""
    prev = st.previous
    assert prev is not None
    year, source = st.season.year, prev.id
    text = t("season_entry.late", year=prev.season_year, deadline=late.isoformat()) + "\n\n" if late else ""
    text += t("season_entry.offer", year=year, last=prev.season_year, status=t(f"status.{prev.status}"),
             opens=st.season.opens_on.isoformat(), deadline=st.season.deadline.isoformat())
    rows = [[Btn(t.plain("season_entry.button.copy", last=prev.season_year),
                 callback_data=NewSeason(year, source, COPY).encode())],
            [Btn(t.plain("season_entry.button.fresh"), callback_data=NewSeason(year, source, FRESH).encode())]]
    return text, InlineKeyboardMarkup(rows)


async def missed_deadline(s: AsyncSession, record: Application, now: datetime, tz: Any) -> date | None:
    """The deadline `record` was not submitted by (its year's application forfeited, R-D1), or None."""
    season = await repo.ensure_season(s, record.season_year)
    return season.deadline if drafts.forfeited(record, season, now, tz) else None


async def record_note(s: AsyncSession, t: Translator, record: Application, now: datetime, tz: Any) -> str:
    """What a button of an earlier season's record answers: it is closed; /apply is the way in."""
    season = await repo.ensure_season(s, record.season_year)
    head = t("submit.late", deadline=season.deadline) if drafts.forfeited(record, season, now, tz) \
        else t("season_entry.closed", year=record.season_year, status=t(f"status.{record.status}"))
    nxt = await drafts.season_for(s, now, tz)
    return head + "\n" + t("season_entry.apply_again", year=nxt.year)
