"""The city's end of a season in tests: the meeting approves what is on its list, the notice runs out, the
naming job names the studios together."""

from __future__ import annotations

from sqlalchemy import select

from bot.callbacks import Meet, MeetingOp
from bot.naming import run_naming
from bot.services import meeting
from storage import repo
from storage.models import Application, Meeting
from tests.offline import Harness


async def meeting_approves(h: Harness, city: int, *, minute: str = "第1号") -> int:
    """The city reviewer's /meeting approves every candidate as proposed, held today, confirmed once; the
    mark before the confirmation."""
    c = h.user(city, name=f"U{city}")
    await h.text(c, "/meeting")
    await h.press(c, Meet(MeetingOp.RECORD).encode())
    await h.text(c, h.clock.now().astimezone(h.settings.tz).date().isoformat())
    await h.press(c, Meet(MeetingOp.KIND, v="president").encode())
    await h.text(c, minute)
    return await h.press(c, Meet(MeetingOp.CONFIRM).encode())


async def named_together(h: Harness) -> int:
    """The clock moved to the naming date of what the meetings approved; the naming job runs and what it
    owes is delivered. The mark before the job."""
    async with h.db.session() as s:
        ids = (await s.scalars(select(Application.meeting_id).where(Application.meeting_id.is_not(None)))).all()
        days = []
        for m_id in set(ids):
            m = await s.get(Meeting, m_id)
            assert m is not None
            season = await repo.ensure_season(s, m.season_year)
            days.append(meeting.naming_date(m, season.naming_by, h.settings.tz))
    today = h.clock.now().astimezone(h.settings.tz).date()
    if days and max(days) > today:
        h.clock.advance(max(days) - today)
    mark = len(h.request.calls)
    await run_naming(h.app)
    await h.app.bot_data["services"].drain()
    return mark
