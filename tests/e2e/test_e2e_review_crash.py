"""Crash at every step of a review (faults): the real `python -m bot` is killed with SIGKILL right
after each reviewer's message or press reaches the Bot API, restarted, and the review goes on. The named
studio, its opinions and its audit trail equal those of a review without crashes, and every step was answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.callbacks import Meet, MeetingOp, Review, ReviewAux, ReviewOp
from bot.config import Settings
from bot.domain.workflow import Action
from storage.db import Database
from storage.models import Application, AuditEvent, OpinionRecord

from .driver import prepare
from .fake_api import FakeTelegramServer, FakeUser
from .test_e2e_bot import fill_application

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]

DISTRICT, CITY, APPLICANT = 1, 2, 0  # plus a base per run, so the two runs' chats stay apart


@dataclass
class Act:
    """One reviewer action: a press of `data` (formatted with the application id) or typed text."""

    who: int  # DISTRICT or CITY
    press: str | None = None
    text: str | None = None

    def send(self, api: FakeTelegramServer, users: dict[int, FakeUser], app_id: int) -> tuple[int, str | None]:
        """Queue the update; (its update id, the callback query id of a press)."""
        u = users[self.who]
        if self.text is not None:
            return api.send_text(u, self.text), None
        data = self.press.format(id=app_id)  # type: ignore[union-attr]
        for msg in reversed(api.chat(u)):
            if any(b.get("callback_data") == data for row in msg.inline_keyboard for b in row):
                cq = api.press(u, msg.message_id, data)
                return api.updates[-1]["update_id"], cq
        raise AssertionError(f"no button {data}; chat:\n{api.transcript(u)}")


REVIEW = [
    Act(DISTRICT, Review(Action.L1_APPROVE, 0).encode().replace(":0", ":{id}")),
    Act(DISTRICT, ReviewAux(ReviewOp.DEFAULT, 0).encode().replace(":0", ":{id}")),
    Act(CITY, Review(Action.SCHEDULE, 0).encode().replace(":0", ":{id}")),
    Act(CITY, text="2026-09-20"),
    Act(CITY, Review(Action.INSPECT, 0).encode().replace(":0", ":{id}")),
    Act(CITY, text="场地设备齐全。"),
    Act(CITY, Review(Action.PRELIMINARY, 0).encode().replace(":0", ":{id}")),
    Act(CITY, text="建议命名。"),
    Act(CITY, text="/meeting"),  # the meeting's list, then its record, confirmed once
    Act(CITY, Meet(MeetingOp.RECORD).encode()),
    Act(CITY, text=datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()),
    Act(CITY, Meet(MeetingOp.KIND, v="president").encode()),
    Act(CITY, text="第12号"),
    Act(CITY, Meet(MeetingOp.CONFIRM).encode()),
]


async def outcome(data_dir: Path, applicant: int) -> dict[str, Any]:
    db = Database(Settings(bot_token="1:x", data_dir=data_dir).database_url)  # type: ignore[arg-type]
    try:
        async with db.session() as s:
            app = (await s.scalars(select(Application).where(Application.applicant_id == applicant))).one()
            app_id = app.id
            opinions = (await s.scalars(select(OpinionRecord).where(OpinionRecord.application_id == app_id)
                                        .order_by(OpinionRecord.id))).all()
            audit = (await s.scalars(select(AuditEvent.action).where(AuditEvent.application_id == app_id)
                                     .order_by(AuditEvent.id))).all()
            return {"id": app_id, "status": app.status, "studio": app.studio_name, "plaque": app.plaque_on,
                    "opinions": [(o.box, o.action, o.text) for o in opinions],
                    "audit": [a for a in audit if a != "refused"]}
    finally:
        await db.dispose()


async def review(api: FakeTelegramServer, bot: Any, data_dir: Path, base: int, crash: bool) -> dict[str, Any]:
    users = {DISTRICT: api.user(base + DISTRICT, first_name="区工会"), CITY: api.user(base + CITY, first_name="市总")}
    applicant = api.user(base + APPLICANT, first_name="王建国")
    await fill_application(api, applicant, set(), bot)
    app_id = (await outcome(data_dir, base + APPLICANT))["id"]
    await api.wait_for(lambda: any(m.inline_keyboard for m in api.chat(users[DISTRICT])), timeout=15)
    for i, act in enumerate(REVIEW):
        if i == 2:  # the city's card arrives after the district's decision
            await api.wait_for(lambda: any(m.inline_keyboard for m in api.chat(users[CITY])), timeout=15)
        since = api.mark()
        uid, _ = act.send(api, users, app_id)
        if crash:
            await api.wait_fetched(uid, timeout=20)
            await bot.kill()
            await bot.start()
        try:
            await api.wait_reply(users[act.who], since=since, timeout=25, settle=0.5)
        except TimeoutError:
            raise AssertionError(f"no answer to step {i} {act}\n{api.transcript(users[act.who])}") from None
    await api.wait_for(lambda: any("公示" in (m.text or "") and m.kind == "document" for m in api.chat(applicant)),
                       timeout=20)
    return await outcome(data_dir, base + APPLICANT)


@pytest.mark.timeout(600)
async def test_crash_at_every_review_step_matches_a_clean_review(fake_api, bot_process_factory, tmp_path):
    """Faults, R-W1…R-W3: SIGKILL right after each of the fourteen review steps (district approval and
    opinion, city schedule, inspection, preliminary opinion, the meeting's list, date, kind, minute number and
    confirmation) reaches the Bot API; restart; the approved name, opinions and audit trail equal those of a
    review without crashes."""
    results = []
    for run, crash in enumerate((False, True)):
        data_dir, base = tmp_path / f"run{run}", 730 + 10 * run
        await prepare(data_dir, [(base + DISTRICT, "district_reviewer", True), (base + CITY, "city_reviewer", False)])
        bot = await bot_process_factory(data_dir=data_dir, workdir=tmp_path / f"w{run}")
        results.append(await review(fake_api, bot, data_dir, base, crash))
        await bot.stop()
    clean, crashed = results
    assert clean["status"] == "notice" and clean["studio"] == "王建国劳模创新工作室"
    assert crashed == clean
